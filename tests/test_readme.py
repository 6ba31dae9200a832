"""Every shell command in README.md's `## Quickstart` and `## CLI tour` runs as written, exits 0 and does
what the README says it does (`_PROMISES`: what each tour command's output must show).

The second Quickstart command runs the lint and this test suite, so running it here would recurse: the
test checks instead that CI (.ci/run) runs it. The first one runs verbatim in a fresh copy of the checkout:
it creates its own `.venv`, installs privml and runs `privml run --local`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CI_SCRIPT = REPO / ".ci" / "run"
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


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


def _env(workspace: Path, *, bin_first: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env["PRIVML_WORKSPACE"] = str(workspace)
    if bin_first:
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PRIVML_DEBUG", None)
    return env


def _run(command: str, *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{tail}"
    return proc.stdout + proc.stderr


def test_readme_sections_have_the_commands_the_tests_run() -> None:
    quick = _quickstart()
    assert "privml run --local" in quick[0]
    tour = _commands("CLI tour")
    assert tour, "the CLI tour has no commands in ```bash blocks"
    for cmd in tour:
        assert cmd.startswith("privml "), f"a CLI tour command should start with `privml`: {cmd!r}"


def test_ci_runs_the_second_quickstart_command() -> None:
    command = _quickstart()[1]
    ci = CI_SCRIPT.read_text(encoding="utf-8")
    # .ci/run picks its interpreter (python3.11 when present) and names it "$PY"; everything after the
    # interpreter must be the README's command character for character.
    interpreter, _, rest = command.partition(" ")
    assert interpreter == "python3", f"the second Quickstart command should start with python3: {command!r}"
    assert command in ci or f'"$PY" {rest}' in ci, f".ci/run does not run the README's command:\n{command}"


def _fresh_checkout(target: Path) -> Path:
    """The repository's tracked files copied to `target`: what a fresh clone holds (no .venv, no workspace)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    names = [n for n in listed.stdout.decode().split("\0") if n] if listed.returncode == 0 else []
    if not names:  # not a git checkout: everything but environments and caches
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(".venv", ".git", ".privml", "__pycache__"))
        return target
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


@pytest.mark.slow
def test_first_quickstart_command_runs(tmp_path: Path) -> None:
    # Verbatim, in a copy of the checkout, so it builds its own .venv as on a fresh machine (pip's cache
    # makes the install quick after .ci/run's) and never touches the .venv this test suite runs from.
    checkout = _fresh_checkout(tmp_path / "checkout")
    env = _env(tmp_path / "workspace", bin_first=False)
    env.pop("VIRTUAL_ENV", None)
    _run(_quickstart()[0], cwd=checkout, env=env, timeout=1200)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _raw_identifiers(workdir: Path) -> set[str]:
    """Values of the sample's direct identifiers (never to be printed or written by a later command). Names
    are left out: a pseudonym is a realistic name and may be one that also occurs in the sample."""
    rows = _rows(workdir / "patients.csv")
    return {row[c] for row in rows[:200] for c in ("email", "ssn", "phone", "credit_card") if row[c]}


def _sample_data(out: str, workdir: Path, seen: dict) -> None:
    rows = _rows(workdir / "patients.csv")
    assert len(rows) == 2000 and {"name", "email", "ssn", "age", "zip_code"} <= set(rows[0]), out
    assert "wrote 2000 rows" in out


def _scan(out: str, workdir: Path, seen: dict) -> None:
    import yaml

    policy = yaml.safe_load((workdir / "policy.yaml").read_text())
    assert set(policy["columns"]) == set(_rows(workdir / "patients.csv")[0]), "a column without a verdict"
    assert policy["columns"]["ssn"]["role"] == "identifier" and policy["columns"]["email"]["action"] != "keep"
    assert "# evidence:" in (workdir / "policy.yaml").read_text() and "why:" in out
    assert not [v for v in _raw_identifiers(workdir) if v in out], "scan printed a raw value"


def _anonymize(out: str, workdir: Path, seen: dict) -> None:
    report = json.loads((workdir / "anonymized" / "report.json").read_text())
    splits = {name: len(_rows(workdir / "anonymized" / name / "data.csv")) for name in ("train", "validation", "test")}
    assert sum(splits.values()) == report["rows_out"] == 2000 - report["suppressed_rows"]
    assert abs(splits["train"] / report["rows_out"] - 0.7) < 0.02, splits
    outputs = workdir / "anonymized"
    assert all((outputs / name).is_file() for name in ("report.html", "transformer.skops", "policy.yaml"))
    written = "".join((workdir / "anonymized" / name / "data.csv").read_text() for name in splits) + out
    assert not [v for v in _raw_identifiers(workdir) if v in written], "a raw identifier left the Anonymize step"


def _risk(out: str, workdir: Path, seen: dict) -> None:
    assert re.search(r"k-anonymity: k = \d+", out) and "prosecutor risk" in out, out
    assert not [v for v in _raw_identifiers(workdir) if v in out]


def _keys_create(out: str, workdir: Path, seen: dict) -> None:
    seen["key"] = out.strip()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", seen["key"]), out


def _keys_list(out: str, workdir: Path, seen: dict) -> None:
    assert any(seen["key"] in line and "alias/reports" in line for line in out.splitlines()), out


def _encrypt(out: str, workdir: Path, seen: dict) -> None:
    message = (workdir / "report.json.enc").read_bytes()
    assert message[:3] == b"\x02\x04\x78", "not an Encryption SDK v2 message with the committing suite 0x0478"
    assert b"rows_in" not in message, "the report's plaintext is in the encrypted file"


def _decrypt(out: str, workdir: Path, seen: dict) -> None:
    assert (workdir / "report-copy.json").read_bytes() == (workdir / "anonymized" / "report.json").read_bytes()


def _definition(out: str, workdir: Path, seen: dict) -> None:
    steps = [step["Name"] for step in json.loads((workdir / "definition.json").read_text())["Steps"]]
    assert {"Anonymize", "Train", "Evaluate", "Gates"} <= set(steps), steps


def _audit(out: str, workdir: Path, seen: dict) -> None:
    assert out.startswith("audit: passed"), out


def _run_local(out: str, workdir: Path, seen: dict) -> None:
    match = re.search(r"^run (\S+): Succeeded$", out, re.MULTILINE)
    assert match and re.search(r"privacy: k=\d+", out) and re.search(r"model: accuracy=0\.\d+", out), out[-2000:]
    seen["run"] = match.group(1)


def _runs_list(out: str, workdir: Path, seen: dict) -> None:
    assert any(line.split()[:2] == [seen["run"], "Succeeded"] for line in out.splitlines()), out


# What each tour command promises, checked after it runs (keyed by the command's first words).
_PROMISES = {
    "privml sample-data": _sample_data, "privml scan": _scan, "privml anonymize": _anonymize,
    "privml risk": _risk, "privml keys create": _keys_create, "privml keys list": _keys_list,
    "privml encrypt": _encrypt, "privml decrypt": _decrypt, "privml pipeline definition": _definition,
    "privml audit": _audit, "privml run --local": _run_local, "privml runs list": _runs_list,
}


def _promise(command: str):
    matches = [prefix for prefix in _PROMISES if command == prefix or command.startswith(prefix + " ")]
    assert matches, f"the CLI tour runs `{command}`, and tests/test_readme.py does not know what it promises"
    return _PROMISES[max(matches, key=len)]


def test_every_tour_command_has_a_promise() -> None:
    for command in _commands("CLI tour"):
        _promise(command)


@pytest.mark.slow
def test_cli_tour_commands_run_in_order(tmp_path: Path) -> None:
    workdir = tmp_path / "tour"
    workdir.mkdir()
    env = _env(tmp_path / "workspace")
    seen: dict[str, str] = {}
    for command in _commands("CLI tour"):
        # `run --local` takes about 25 s on an idle machine and took over 5 minutes at a load average of 18
        _promise(command)(_run(command, cwd=workdir, env=env, timeout=900), workdir, seen)
