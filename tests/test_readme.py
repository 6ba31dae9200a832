"""Every shell command in README.md's `## Quickstart` and `## CLI tour`, run as written from a fresh clone,
and what each line promises checked in its output and in the files it leaves (not only its exit code).

The clone is `git clone` of this checkout into a temporary folder (with the working tree's uncommitted
changes laid over it, so what is tested is what would be committed), with no `shared/` folder beside it:
nothing the README runs may need the workplace's data. The first Quickstart command builds the clone's
own `.venv`; the tour then runs with that `.venv/bin` first on PATH, in a subfolder of the clone, with no
$PRIVML_WORKSPACE: it finds the workspace the Quickstart made in the clone (as git finds a repository).
The second Quickstart command runs the lint and this test suite, so running it here would recurse: the
test checks instead that CI (.ci/run) runs it, character for character.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CI_SCRIPT = REPO / ".ci" / "run"
_BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_URI = re.compile(r"s3://privml-local/\S+")


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def _commands(title: str) -> list[str]:
    """The commands of a section's ```bash blocks: one per line, comments and blank lines skipped."""
    lines = []
    for block in _BLOCK.findall(_section(title)):
        lines += [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines


def _quickstart() -> list[str]:
    blocks = _BLOCK.findall(_section("Quickstart"))
    assert len(blocks) == 2, f"Quickstart should have exactly two ```bash blocks, has {len(blocks)}"
    commands = [b.strip() for b in blocks]
    for cmd in commands:
        assert "\n" not in cmd, f"a Quickstart block should be one command line: {cmd!r}"
    return commands


@dataclass
class Ran:
    command: str
    cwd: Path
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _run(command: str, *, cwd: Path, env: dict[str, str], timeout: float) -> Ran:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    tail = "\n".join((proc.stderr + proc.stdout).strip().splitlines()[-20:])
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{tail}"
    return Ran(command, cwd, proc.stdout, proc.stderr)


# -- what each line promises ---------------------------------------------------------------------------
def _canaries(table: Path) -> list[str]:
    """Raw values of identifying columns of the sample table: none may appear in any output."""
    frame = pd.read_csv(table, dtype=str)
    return [v for col in ("name", "email", "ssn", "phone", "credit_card") for v in frame[col].head(50)]


def _no_raw_values(ran: Ran) -> None:
    leaked = [v for v in _canaries(ran.cwd / "patients.csv") if v in ran.output]
    assert not leaked, f"`{ran.command}` printed {len(leaked)} raw identifying value(s)"


def check_quickstart_run(ran: Ran) -> None:
    out = ran.stdout
    assert re.search(r"^run \S+: Succeeded$", out, re.M), out
    for step in ("Anonymize", "Train", "Evaluate"):
        assert re.search(rf"^\s+{step}\s+\S+", out, re.M), f"no {step} step in:\n{out}"
    assert re.search(r"privacy: k=\d+ ", out), "the privacy figures"
    assert re.search(r"model: \S+=", out), "the model's metrics"
    assert re.search(r"endpoint: https://\S+ .*smoke request → HTTP 200", out), "the served smoke request"
    uris = _URI.findall(out)
    assert len(uris) >= 5, "where every artifact is"
    objects = ran.cwd / ".privml" / "objects"
    html = next(objects.rglob("report.html.obj"))
    assert b"<html" not in html.read_bytes().lower(), "artifacts are stored encrypted"


def check_sample_data(ran: Ran) -> None:
    assert "wrote 2000 rows" in ran.stdout
    assert len(pd.read_csv(ran.cwd / "patients.csv")) == 2000


def check_scan(ran: Ran) -> None:
    assert re.search(r"^column\s+detected\s+conf\s+role\s+action", ran.stdout, re.M)
    assert "why:" in ran.stdout, "every verdict says why"
    assert "proposed policy written to policy.yaml" in ran.stdout
    policy = (ran.cwd / "policy.yaml").read_text()
    assert "# evidence:" in policy and "anonymity:" in policy
    _no_raw_values(ran)


def check_anonymize(ran: Ran) -> None:
    out = ran.stdout
    assert re.search(r"anonymized 2000 rows → \d+ \(\d+ suppressed\)", out)
    assert re.search(r"^\s+k = \d+$", out, re.M)
    for figure in re.findall(r"^\s+[lt] = (\S+)$", out, re.M):  # rounded for people: 3 significant digits
        assert len(figure.replace(".", "").lstrip("0")) <= 3, figure
    assert re.search(r"prosecutor risk: max [\d.<>]+%, avg [\d.<>]+%", out)
    folder = ran.cwd / "anonymized"
    for name in ("report.json", "report.html", "transformer.skops", "policy.yaml"):
        assert (folder / name).is_file(), name
    sizes = {split: len(pd.read_csv(folder / split / "data.csv")) for split in ("train", "validation", "test")}
    assert sizes["train"] > sizes["validation"] > 0 and sizes["test"] > 0  # --split 0.7,0.15,0.15
    assert "class" in (folder / "report.html").read_text().lower()
    _no_raw_values(ran)


def check_risk(ran: Ran) -> None:
    assert re.search(r"^k-anonymity: k = \d+$", ran.stdout, re.M)
    assert re.search(r"^prosecutor risk: highest [\d.<>]+%, average [\d.<>]+%$", ran.stdout, re.M)
    assert re.search(r"^sample uniqueness: [\d.<>]+% of records$", ran.stdout, re.M)
    _no_raw_values(ran)


def check_keys_create(ran: Ran) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}\n", ran.stdout), ran.stdout


def check_keys_list(ran: Ran) -> None:
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["KEY", "ID", "STATE", "VERSIONS", "ALIASES"]
    assert any("alias/reports" in line and "Enabled" in line for line in lines[1:])


def check_encrypt(ran: Ran) -> None:
    sealed = (ran.cwd / "report.json.enc").read_bytes()
    plain = (ran.cwd / "anonymized" / "report.json").read_bytes()
    assert sealed[:1] == b"\x02" and plain[:64] not in sealed  # an Encryption SDK v2 message, no plaintext


def check_decrypt(ran: Ran) -> None:
    assert (ran.cwd / "report-copy.json").read_bytes() == (ran.cwd / "anonymized" / "report.json").read_bytes()


def check_definition(ran: Ran) -> None:
    assert "building the pipeline definition" in ran.stderr  # says what it is doing before the SDK's build
    definition = json.loads((ran.cwd / "definition.json").read_text())
    names = [step["Name"] for step in definition["Steps"]]
    assert {"Anonymize", "Train", "Evaluate"} <= set(names), names


def check_audit(ran: Ran) -> None:
    assert re.search(r"\b0 (error|finding)s?\b|passed|no findings", ran.output, re.I), ran.output


def check_tour_run(ran: Ran) -> None:
    assert re.search(r"^run \S+: Succeeded$", ran.stdout, re.M)
    assert "smoke request" not in ran.stdout  # --no-endpoint
    assert "created a new workspace" not in ran.stderr  # found the Quickstart's, in the folder above


def check_runs_list(ran: Ran) -> None:
    runs = [line for line in ran.stdout.splitlines() if " Succeeded " in line]
    assert len(runs) == 2, ran.stdout  # the Quickstart's run and the tour's: one workspace, found from below


def check_runs_open(ran: Ran) -> None:
    page = (ran.cwd / "report.html").read_text()
    assert page.lstrip().lower().startswith(("<!doctype html", "<html")) and "</html>" in page.lower()
    assert re.search(r"decrypted from s3://privml-local/\S+report\.html", ran.stdout)


def check_ls(ran: Ran) -> None:
    uris = _URI.findall(ran.stdout)
    assert any(u.endswith("/model.tar.gz") for u in uris) and any(u.endswith("report.html") for u in uris)
    assert all(re.match(r"^\s*[\d,]+\s+s3://", line) for line in ran.stdout.splitlines())


PROMISES: list[tuple[str, Callable[[Ran], None]]] = [
    ("privml sample-data ", check_sample_data),
    ("privml scan ", check_scan),
    ("privml anonymize ", check_anonymize),
    ("privml risk ", check_risk),
    ("privml keys create ", check_keys_create),
    ("privml keys list", check_keys_list),
    ("privml encrypt ", check_encrypt),
    ("privml decrypt ", check_decrypt),
    ("privml pipeline definition ", check_definition),
    ("privml audit ", check_audit),
    ("privml run --local ", check_tour_run),
    ("privml runs list", check_runs_list),
    ("privml runs open ", check_runs_open),
    ("privml ls ", check_ls),
]


def _promise(command: str) -> Callable[[Ran], None]:
    for prefix, check in PROMISES:
        if command.startswith(prefix):
            return check
    raise AssertionError(f"README command with no promise checked in tests/test_readme.py: {command!r}")


# -- the tests -------------------------------------------------------------------------------------------
def test_readme_sections_have_the_commands_the_tests_run() -> None:
    quick = _quickstart()
    assert "privml run --local" in quick[0]
    tour = _commands("CLI tour")
    assert tour, "the CLI tour has no commands in ```bash blocks"
    for cmd in tour:
        assert cmd.startswith("privml "), f"a CLI tour command should start with `privml`: {cmd!r}"
        _promise(cmd)  # every line has its promise checked


def test_ci_runs_the_second_quickstart_command() -> None:
    command = _quickstart()[1]
    ci = CI_SCRIPT.read_text(encoding="utf-8")
    # .ci/run picks its interpreter (python3.11 when present) and names it "$PY"; everything after the
    # interpreter must be the README's command character for character.
    interpreter, _, rest = command.partition(" ")
    assert interpreter == "python3", f"the second Quickstart command should start with python3: {command!r}"
    assert command in ci or f'"$PY" {rest}' in ci, f".ci/run does not run the README's command:\n{command}"


def _git_clone(target: Path) -> Path:
    """`git clone` of this checkout, with the working tree's uncommitted and untracked (not ignored) files
    laid over it; a plain copy of the tracked files where this is not a git checkout."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=False)
    if listed.returncode != 0:
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(".venv", ".git", ".privml", "__pycache__"))
        return target
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(target)], check=True,
                   capture_output=True, timeout=300)
    for name in (n for n in listed.stdout.decode().split("\0") if n):
        source, copy = REPO / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        elif copy.exists():  # deleted in the working tree
            copy.unlink()
    return target


def test_nothing_in_the_repository_reads_the_workplace_shared_folder() -> None:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    if listed.returncode == 0:
        names = listed.stdout.split()
    else:  # not a git checkout: every file but environments and caches
        skip = {".venv", ".git", ".privml", "__pycache__", "node_modules"}
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if not skip & set(p.relative_to(REPO).parts)]
    assert len(names) > 50, "the repository's files were not found"
    offenders = []
    for name in names:
        path = REPO / name
        if path.suffix in {".py", ".yaml", ".yml", ".ipynb", ".md", ".toml", ".cfg", ""} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            if name != "tests/test_readme.py" and ("../shared" in text or "/work/shared" in text):
                offenders.append(name)
    assert not offenders, f"files that read the workplace's shared folder: {offenders}"


@pytest.mark.slow
def test_readme_commands_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = _git_clone(tmp_path / "privml")
    assert not (clone.parent / "shared").exists() and not (clone / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PRIVML_WORKSPACE", "PRIVML_DEBUG", "VIRTUAL_ENV")}
    env["PRIVML_CEILING_DIRECTORIES"] = str(tmp_path)  # the search for a workspace stops at the clone
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)

    # Quickstart, verbatim: it builds the clone's own .venv (pip's cache makes the install quick after
    # .ci/run's) and never touches the .venv this test suite runs from.
    quick = _run(_quickstart()[0], cwd=clone, env=env, timeout=1500)
    check_quickstart_run(quick)
    assert (clone / ".privml").is_dir() and "created a new workspace" in quick.stderr

    tour = clone / "tour"
    tour.mkdir()
    env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    for command in _commands("CLI tour"):
        _promise(command)(_run(command, cwd=tour, env=env, timeout=600))
    assert not (tour / ".privml").exists(), "the tour used the Quickstart's workspace, found from below"
