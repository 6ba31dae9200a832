"""The one runner of every privml job: Anonymize, PrepareKeys, Evaluate (processing) and Train (training).

Shipped in every job bundle as `job_runner.py`, beside the entry script (pipelines/packaging.py), so it
runs before privml is importable: this module imports nothing but the standard library at load time.
A job module keeps only its own work (its arguments, its `run`, its summary line) and hands them over as
a `Job`; `run_job` does the rest, the same way for every job:

1. where the failure reason goes, found from the container contract before anything can fail:
   `PRIVML_FAILURE_FILE` when set (local mode, when /opt/ml is not the real one); training:
   `$SM_OUTPUT_DIR/failure` (SageMaker's FailureReason of DescribeTrainingJob, `/opt/ml/output/failure`);
   processing: `<ml>/output/message` of the `<ml>/processing/...` paths the job was given
   (`/opt/ml/output/message` on AWS, its FailureReason of DescribeProcessingJob);
2. the dependency bootstrap: when the image lacks privml, `pip install --no-index --isolated
   --find-links <bundle>/wheels privml`, the install `privml wheelhouse --check` proves for the image
   profile (pipelines/wheelhouse.py); nothing is fetched (the jobs run in network isolation);
3. the job's own argument parsing and work;
4. one exit code per outcome, the same as the `privml` CLI (privml/cli): 0 done, 1 a check failed
   (`CheckFailed`), 2 bad input or bad usage (`PrivmlError`), 3 an internal error (anything else,
   a failed bootstrap included);
5. on failure, one bounded line `privml <job> failed: <reason>` in the failure file and on stderr. The
   reason of a PrivmlError is its message (they name files, columns and rows, never a value:
   invariant 1); of any other exception only its type and innermost frame, since a library's message
   may quote a data value. No output is left: each job writes its outputs last, through a staging
   directory or atomic writes.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
# SageMaker keeps at most 1024 characters of FailureReason; one line, so a log scraper sees all of it.
MAX_REASON_CHARS = 1024
FAILURE_FILE_ENV = "PRIVML_FAILURE_FILE"
WHEELS_DIR = "wheels"  # the bundle's wheelhouse, beside the entry script and this file
CONTAINER_BASE = Path("/opt/ml")

Contract = Literal["processing", "training"]


@dataclass(frozen=True)
class Job:
    """What a job module hands the runner: its name, its contract and its own work."""

    name: str  # as in the failure reason: "privml <name> failed: ..."
    contract: Contract
    parse: Callable[[list[str]], Any]  # argv -> the job's arguments; raises PrivmlError for bad input
    run: Callable[[Any], Any]  # the work; returns what `summary` reports
    summary: Callable[[Any], str]  # one line for the log: counts and figures, never a data value


# --- exit codes and value-free reasons (the CLI uses the same two functions) ------------------------------

def exit_code(exc: BaseException) -> int:
    """1 a check failed, 2 bad input (the PrivmlError family carries its code), 3 anything else."""
    from privml.errors import PrivmlError

    return int(exc.exit_code) if isinstance(exc, PrivmlError) else EXIT_INTERNAL


def where(exc: BaseException) -> str:
    """file:line of the innermost frame: enough to find a bug, and no data value in it."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown location"


def internal_reason(exc: BaseException) -> str:
    """An unexpected exception told without its message: its type, a missing module's name, its place."""
    detail = f" ({exc.name})" if isinstance(exc, ImportError) and exc.name else ""  # a module name, no data
    return f"internal error: {type(exc).__name__}{detail} at {where(exc)}"


def reason(exc: BaseException) -> str:
    """The failure reason of an exception: a PrivmlError's own (value-free) message, else `internal_reason`."""
    from privml.errors import PrivmlError

    return str(exc) if isinstance(exc, PrivmlError) else internal_reason(exc)


def bounded(message: str) -> str:
    """One line of at most MAX_REASON_CHARS characters."""
    line = " ".join(message.split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."


# --- where the failure reason goes -------------------------------------------------------------------------

def container_root(paths: Sequence[str]) -> Path | None:
    """The `<ml>` of the first `<ml>/processing/...` path among a processing job's arguments (`/opt/ml` on
    AWS; a job directory's mapped copy locally), None when no argument is such a path."""
    for value in paths:
        if "/processing" not in value:
            continue
        for parent in Path(value.split("=", 1)[-1]).resolve().parents:
            if parent.name == "processing" and parent.parent.name == "ml":
                return parent.parent
    return None


def training_output_dir(environ: Mapping[str, str]) -> Path:
    """/opt/ml/output as the sagemaker-training-toolkit names it: SM_OUTPUT_DIR, or the parent of
    SM_OUTPUT_DATA_DIR, or beside SM_MODEL_DIR."""
    if environ.get("SM_OUTPUT_DIR"):
        return Path(environ["SM_OUTPUT_DIR"])
    if environ.get("SM_OUTPUT_DATA_DIR"):
        return Path(environ["SM_OUTPUT_DATA_DIR"]).parent
    model_dir = Path(environ.get("SM_MODEL_DIR") or CONTAINER_BASE / "model")
    return model_dir.parent / "output"


def failure_file(contract: Contract, argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Path:
    """Where SageMaker reads the job's failure reason (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get(FAILURE_FILE_ENV):
        return Path(env[FAILURE_FILE_ENV])
    if contract == "training":
        return training_output_dir(env) / "failure"
    return (container_root(argv) or CONTAINER_BASE) / "output" / "message"


def write_failure(path: Path, message: str) -> None:
    """Write the reason atomically; a job with no writable failure file still has stderr."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(bounded(message) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        return


# --- the dependency bootstrap ------------------------------------------------------------------------------

def bootstrap_command(wheels: Path) -> list[str]:
    """The install `privml wheelhouse --check` proves: offline, pip's configuration and PIP_* ignored."""
    return [sys.executable, "-m", "pip", "install", "--no-index", "--isolated", "--disable-pip-version-check",
            "--no-input", "--find-links", str(wheels), "privml"]


def bootstrap(code_dir: Path) -> None:
    """Install privml from the bundle's wheels when the image lacks it (a stock image); an image that
    holds privml (the privml image, local mode's job interpreter) is used as it is."""
    try:
        import privml  # noqa: F401
    except ImportError:
        subprocess.run(bootstrap_command(code_dir / WHEELS_DIR), check=True, stdin=subprocess.DEVNULL)


# --- argument parsing --------------------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are bad input (exit 2 with a failure reason) rather than a bare exit, and
    never quote an argument's value."""

    def error(self, message: str) -> NoReturn:
        from privml.errors import PrivmlError

        raise PrivmlError(f"arguments: {_without_values(message)}")


def _without_values(message: str) -> str:
    # "argument --k: invalid int value: 'x'" -> "argument --k: invalid int value";
    # "unrecognized arguments: --a b" -> "unrecognized arguments"
    head = message.split(": invalid", 1)
    if len(head) == 2:
        return head[0] + ": invalid " + head[1].split(":", 1)[0].strip()
    if message.startswith("unrecognized arguments"):
        return "unrecognized arguments"
    return message


# --- the runner ---------------------------------------------------------------------------------------------

def entry_point(job: Job, script: str) -> Callable[[Sequence[str] | None], int]:
    """The job's `main(argv=None) -> exit code`; `script` is the entry script's `__file__`, whose
    directory holds the bundle's wheels."""
    code_dir = Path(script).resolve().parent

    def main(argv: Sequence[str] | None = None) -> int:
        return run_job(job, argv, code_dir=code_dir)

    main.__doc__ = f"Run the {job.name} job; returns its exit code (0, 1, 2 or 3)."
    return main


def run_job(job: Job, argv: Sequence[str] | None = None, *, code_dir: Path) -> int:
    """Run one job under the contract; returns its exit code (the entry script passes it to sys.exit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    failure = failure_file(job.contract, args)
    try:
        bootstrap(code_dir)
    except (OSError, subprocess.CalledProcessError) as exc:
        return _failed(job, failure, f"internal error: privml could not be installed from {WHEELS_DIR}/ "
                                     f"({type(exc).__name__})", EXIT_INTERNAL)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        result = job.run(job.parse(args))
        line = job.summary(result)
    except Exception as exc:
        return _failed(job, failure, reason(exc), exit_code(exc))
    print(f"{job.name}: {line}")
    return EXIT_OK


def _failed(job: Job, failure: Path, why: str, code: int) -> int:
    message = bounded(f"privml {job.name} failed: {why}")
    write_failure(failure, message)
    print(message, file=sys.stderr)
    return code
