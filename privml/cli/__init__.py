"""The `privml` command line: one dispatcher, one module per command group.

Each command module exposes `register(subparsers)`; it adds its parsers and sets `func` on them.
Heavy imports happen inside the command functions so that `privml --help` stays fast.
Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input, 3 an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from privml.errors import PrivmlError

# Order is the order of `privml --help`.
COMMAND_MODULES = [
    "privml.cli.data",  # sample-data, scan, anonymize, reidentify
    "privml.cli.risk",  # risk
    "privml.cli.keys",  # keys, encrypt, decrypt
    "privml.cli.objects",  # get, ls
    "privml.cli.policy",  # policy schema, policy reference
    "pipelines.cli",  # pipeline definition, audit, iam-policy
    "pipelines.run_cli",  # run --local/--aws, runs
    "pipelines.images_cli",  # image, wheelhouse
    "inference.cli",  # serve, credentials, capture, deploy, invoke
]

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
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not built yet
                continue
            raise
        module.register(sub)
    return parser


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
        return exc.exit_code
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
        where = _innermost_frame(exc)
        print(
            f"privml: internal error: {type(exc).__name__} at {where}; the message is withheld because it may "
            "contain data values (set PRIVML_DEBUG=1 to see it)",
            file=sys.stderr,
        )
        return 3


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


def _innermost_frame(exc: BaseException) -> str:
    tb = exc.__traceback__
    if tb is None:
        return "unknown location"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
