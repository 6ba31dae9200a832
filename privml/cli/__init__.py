"""The `privml` command line: one dispatcher, one module per command group.

Each command module exposes `register(subparsers)`; it adds its parsers and sets `func` on them.
The library's own command groups are listed here; the orchestration packages (pipelines/, inference/)
declare theirs as entry points of the group `privml.commands` in pyproject.toml, read from the installed
package's metadata, so the library never imports the code that orchestrates it.
Heavy imports happen inside the command functions so that `privml --help` stays fast.
Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input, 3 an internal error: the same as every
job's (privml.job_runner, which both use to map an exception to its code and its value-free reason).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from typing import Any

from privml import job_runner
from privml.errors import PrivmlError

# Order is the order of `privml --help`: these, then the entry points by name (pyproject.toml: "40-pipeline", ...).
COMMAND_MODULES = [
    "privml.cli.data",  # sample-data, scan, anonymize, reidentify
    "privml.cli.risk",  # risk
    "privml.cli.keys",  # keys, encrypt, decrypt
    "privml.cli.objects",  # get, ls
    "privml.cli.policy",  # policy schema, policy reference
]
COMMAND_GROUP = "privml.commands"  # pipeline, audit, iam-policy, run, runs, image, wheelhouse, serve, ...

log = logging.getLogger("privml")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # on every (sub)command, so `privml -v run` and `privml run -v` both work; SUPPRESS keeps a
        # subcommand's parser from resetting what the top level parsed
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="log progress to stderr")

    def error(self, message: str) -> None:  # argparse's own exit code is already 2; keep one line
        self.print_usage(sys.stderr)
        self.exit(2, f"privml: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="privml", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"privml {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> Iterator[Callable[[Any], None]]:
    """The library's command groups, then the installed packages' `privml.commands` entry points. A group
    whose package is not installed (a privml wheel without orchestration) is left out."""
    for name in COMMAND_MODULES:
        module = _optional(name, lambda name=name: importlib.import_module(name))
        if module is not None:
            yield module.register
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda entry: entry.name):
        register = _optional(entry.module, entry.load)
        if register is not None:
            yield register


def _optional(module: str, load: Callable[[], Any]) -> Any:
    """`load()`, or None when `module` itself (or a package above it) is not there to import."""
    try:
        return load()
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(f"{exc.name}.")):
            raise
        return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("privml")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="privml: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        if getattr(args, "needs_workspace", None):  # never create an empty store for a command that reads one
            _require_workspace(keys=args.needs_workspace == "keys")
        _wipe_stale_scratch()
        _exit_cleanly_on_sigterm()
        return int(args.func(args) or 0)
    except PrivmlError as exc:
        print(f"privml: error: {exc}", file=sys.stderr)
        return job_runner.exit_code(exc)
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("privml: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Messages of unexpected errors (pandas, numpy, ...) may quote data values, so they are not printed
        # unless PRIVML_DEBUG is set on purpose by someone allowed to see the data.
        if os.environ.get("PRIVML_DEBUG"):
            raise
        print(
            f"privml: {job_runner.internal_reason(exc)}; the message is withheld because it may "
            "contain data values (set PRIVML_DEBUG=1 to see it)",
            file=sys.stderr,
        )
        return job_runner.exit_code(exc)


def _require_workspace(*, keys: bool) -> None:
    from privml.workspace import require_workspace

    require_workspace(keys=keys)


def _wipe_stale_scratch() -> None:
    """Every command first wipes the job data a killed local run left in the workspace's scratch."""
    from privml.workspace import wipe_stale_scratch

    with contextlib.suppress(OSError):
        wiped = wipe_stale_scratch()
        if wiped:
            logging.getLogger("privml").warning("wiped the scratch data of %d interrupted run(s)", len(wiped))


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (and SIGHUP) unwind like Ctrl-C, so every `finally` (scratch wipes, partial outputs,
    run records) runs; Python's default would end the process on the spot."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                signal.signal(getattr(signal, name), interrupt)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
