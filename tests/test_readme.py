"""Every shell command in README.md's `## Quickstart` and `## CLI tour` runs as written and exits 0.

The second Quickstart command runs the lint and this test suite, so running it here would recurse: the
test checks instead that CI (.ci/run) runs it. The first one runs verbatim in a fresh copy of the checkout:
it creates its own `.venv`, installs privml and runs `privml run --local`.
"""

from __future__ import annotations

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


def _run(command: str, *, cwd: Path, env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{tail}"


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


@pytest.mark.slow
def test_cli_tour_commands_run_in_order(tmp_path: Path) -> None:
    workdir = tmp_path / "tour"
    workdir.mkdir()
    env = _env(tmp_path / "workspace")
    for command in _commands("CLI tour"):
        _run(command, cwd=workdir, env=env, timeout=300)
