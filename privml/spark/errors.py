"""PrivmlError across Spark's Python-worker boundary.

An exception raised in a worker reaches the driver as a PythonException whose text is the worker's whole
traceback — which may quote a data value. A privml check in a worker (a value missing from a hierarchy, a
row that is not a number) is therefore raised as a marked line carrying its exit code and its message
(privml messages name columns and rows, never values), and the driver turns it back into the same
PrivmlError; any other worker failure becomes an internal error that says only where it happened.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from privml.errors import CheckFailed, PrivmlError

_MARK = "privml-worker-error"
_MARKED = re.compile(_MARK + r"\[(\d)\]: ([^\n]*)")
T = TypeVar("T")


class WorkerError(RuntimeError):
    """A privml error raised inside a Spark worker, in a form the driver can read back."""


def in_worker(function: Callable[[Any], Iterator[T]]) -> Callable[[Any], Iterator[T]]:
    """Wrap a batches -> batches function Spark runs in its Python workers (mapInPandas)."""

    @functools.wraps(function)
    def wrapped(batches: Any) -> Any:
        try:
            yield from function(batches)
        except PrivmlError as exc:
            raise WorkerError(f"{_MARK}[{exc.exit_code}]: {exc}") from None

    return wrapped  # type: ignore[return-value]


def in_worker_frame(function: Callable[[Any], T]) -> Callable[[Any], T]:
    """As `in_worker`, for a function of one frame returning one frame (applyInPandas, which reads the
    function's arity: hence one named argument)."""

    @functools.wraps(function)
    def wrapped(frame: Any) -> Any:
        try:
            return function(frame)
        except PrivmlError as exc:
            raise WorkerError(f"{_MARK}[{exc.exit_code}]: {exc}") from None

    return wrapped  # type: ignore[return-value]


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """Around a Spark action: a worker's privml error comes back as itself, anything else Spark raises
    as an internal error naming `what` (the stage) and the exception type, never its text."""
    try:
        yield
    except PrivmlError:
        raise
    except Exception as exc:
        marked = _MARKED.search(str(exc))
        if marked is None:
            raise RuntimeError(f"Spark failed during {what} ({type(exc).__name__})") from None
        code, message = int(marked.group(1)), marked.group(2)
        if code == CheckFailed.exit_code:
            raise CheckFailed(message) from None
        raise PrivmlError(message) from None
