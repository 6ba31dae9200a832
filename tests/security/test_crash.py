"""Finding 5: a crash left personal data in plaintext (the raw input in scratch until the next run, a
hidden `.partial` of `decrypt`), and a killed run stayed `Executing` forever."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAIN = b"Zyxwv Canaryname,078-05-1120,4111111111111111\n"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _privml(*args: str, workspace: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVML_WORKSPACE": str(workspace)}
    kwargs.setdefault("timeout", 120)
    return subprocess.run([sys.executable, "-m", "privml", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, **kwargs)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def test_partial_output_leaves_nothing_after_kill_9(tmp_path: Path) -> None:
    """A writer killed mid-write (SIGKILL: no cleanup runs) leaves no file holding what it wrote."""
    out = tmp_path / "out"
    out.mkdir()
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from privml.io.atomic import atomic_output\n"
        f"with atomic_output(Path({str(out / 'plain.csv')!r})) as fd:\n"
        f"    os.write(fd, {PLAIN!r} * 1000)\n"
        "    print('written', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert list(out.iterdir()) == []


def test_decrypt_killed_mid_way_leaves_no_plaintext(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    src, enc, dst = tmp_path / "plain.csv", tmp_path / "data.enc", tmp_path / "out" / "plain.csv"
    src.write_bytes(PLAIN * 20000)
    dst.parent.mkdir()
    created = _privml("keys", "create", "--alias", "crash-test", workspace=workspace)
    assert created.returncode == 0, created.stderr
    encrypted = _privml("encrypt", str(src), str(enc), "--key", "alias/crash-test", "--frame-length",
                        "4096", workspace=workspace)
    assert encrypted.returncode == 0, encrypted.stderr
    # decrypt in a process whose sink stalls after its first frame, then SIGKILL it there
    script = (
        "import time\n"
        "from privml.crypto import envelope, streams\n"
        "from privml.crypto.providers import default_key_provider\n"
        "original = streams.FileSink.commit\n"
        "def stalled(self, n):\n"
        "    original(self, n)\n"
        "    print('frame', flush=True)\n"
        "    time.sleep(60)\n"
        "streams.FileSink.commit = stalled\n"
        f"envelope.decrypt_file({str(enc)!r}, {str(dst)!r}, provider=default_key_provider())\n"
    )
    env = {**os.environ, "PRIVML_WORKSPACE": str(workspace)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "frame"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert _files_holding(dst.parent, b"Canaryname") == []


def test_scratch_of_a_killed_run_is_wiped_by_the_next_command(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    run = workspace / "scratch" / "20260101-000000-abcdef"
    (run / "Anonymize" / "input").mkdir(parents=True)
    (run / "Anonymize" / "input" / "raw.csv").write_bytes(PLAIN)
    (run / "owner.pid").write_text(str(_dead_pid()))
    (run / "journal-Anonymize.json").write_text("{}")
    listed = _privml("runs", "list", workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    assert _files_holding(workspace, b"Canaryname") == []
    assert (run / "journal-Anonymize.json").exists()  # kept for the run's own roll-back


def test_scratch_of_a_live_run_is_left_alone(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    run = workspace / "scratch" / "20260101-000000-abcdef"
    run.mkdir(parents=True)
    (run / "raw.csv").write_bytes(PLAIN)
    (run / "owner.pid").write_text(str(os.getpid()))
    assert _privml("runs", "list", workspace=workspace).returncode == 0
    assert (run / "raw.csv").read_bytes() == PLAIN


def test_killed_run_is_marked_interrupted_when_records_are_read(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    run_id = "20260101-000000-abcdef"
    (workspace / "runs" / run_id).mkdir(parents=True)
    record = {"run_id": run_id, "status": "Executing", "pid": _dead_pid(), "started_at": "2026-01-01T00:00:00",
              "steps": [{"name": "Anonymize", "status": "Executing"}]}
    (workspace / "runs" / run_id / "record.json").write_text(json.dumps(record))
    listed = _privml("runs", "list", "--json", workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "Failed" and "interrupted" in row["failure_reason"]
    shown = _privml("runs", "show", run_id, "--json", workspace=workspace)
    assert json.loads(shown.stdout)["steps"][0]["status"] == "Failed"


def test_sigterm_unwinds_like_ctrl_c(tmp_path: Path) -> None:
    """SIGTERM runs the `finally` blocks (scratch wipes, partial outputs), as Ctrl-C does."""
    marker = tmp_path / "cleaned"
    script = (
        "import sys, time\n"
        "from privml import cli\n"
        "def slow(args):\n"
        "    try:\n"
        "        print('ready', flush=True)\n"
        "        time.sleep(60)\n"
        "    finally:\n"
        f"        open({str(marker)!r}, 'w').write('yes')\n"
        "cli._exit_cleanly_on_sigterm()\n"
        "try:\n"
        "    slow(None)\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 130
    assert marker.read_text() == "yes"


def test_workspace_directories_are_private(tmp_path: Path, security_model) -> None:
    """capture/, scratch/, runs/, tls/, endpoint/: 0700 at every level privml creates."""
    from inference.capture import CaptureConfig
    from inference.server import start_local_endpoint
    from privml.workspace import private_dir

    workspace = tmp_path / "ws"
    private_dir(workspace / "scratch" / "run" / "job")
    with start_local_endpoint(security_model, workspace=workspace, capture=CaptureConfig.from_options("Input")):
        pass
    time.sleep(0.1)
    loose = [p for p in [workspace, *workspace.rglob("*")]
             if p.is_dir() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []



# The runner process under an audit hook that logs every directory it asks the OS to create, with the
# mode asked for (a dir_fd-relative call is logged as such): the job directories are wiped when the run
# ends, so looking afterwards would miss them.
MKDIR_WATCH = """
import json, os, sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event == "os.mkdir" and not os.path.lexists(args[0]):  # one that exists is not created (EEXIST)
        log.write(json.dumps([str(args[0]), args[1], args[2] != -1]) + "\\n"); log.flush()
sys.addaudithook(hook)
from privml.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_every_directory_a_local_run_creates_is_private(tmp_path: Path) -> None:
    """A whole `run --local` under umask 022: every directory privml creates in the workspace (key store,
    object store, run records, TLS, the jobs' `/opt/ml` trees in scratch) is created 0700, at every level:
    `mkdir(parents=True, mode=0o700)` gives the levels above the last the umask's 0755."""
    workspace = tmp_path / "ws"
    mkdirs = tmp_path / "mkdir.log"
    env = {**os.environ, "PRIVML_WORKSPACE": str(workspace)}
    old_umask = os.umask(0o022)  # the runner and its jobs inherit it
    try:
        proc = subprocess.run([sys.executable, "-c", MKDIR_WATCH, str(mkdirs), "run", "--local", "--rows", "400",
                               "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    finally:
        os.umask(old_umask)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["status"] == "Succeeded"
    created = [json.loads(line) for line in mkdirs.read_text().splitlines()]
    inside = [(Path(path), mode) for path, mode, relative in created
              if not relative and (Path(path) == workspace or workspace in Path(path).parents)]
    assert any(workspace / "scratch" in path.parents for path, _ in inside)  # the jobs' directories are seen
    loose = sorted({f"{path.relative_to(tmp_path)} {oct(mode)}" for path, mode in inside if mode & 0o077})
    assert loose == []
    left = [workspace, *(p for p in workspace.rglob("*") if p.is_dir() and not p.is_symlink())]
    assert {"kms", "objects", "runs", "tls"} <= {p.name for p in left}
    assert [p for p in left if stat.S_IMODE(p.stat().st_mode) & 0o077] == []
