"""Reading user tables and writing outputs atomically.

The table functions load pandas on first use only: the crypto layer writes through `privml.io.atomic`
and must stay light (its streaming paths promise a small memory footprint).
"""

from __future__ import annotations

from typing import Any

from privml.io.atomic import atomic_output, atomic_output_dir, atomic_write_bytes, atomic_write_text

# Rows per batch of `privml.io.stream.TableStream`; here, not there, so that the CLI can show it in its
# help without loading pandas.
DEFAULT_BATCH_ROWS = 1 << 17

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_MAX_BYTES",
    "atomic_output",
    "atomic_output_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_table",
    "sample_table",
    "write_table",
]

_TABLES = {"DEFAULT_MAX_BYTES", "read_table", "sample_table", "write_table"}


def __getattr__(name: str) -> Any:
    if name in _TABLES:
        from privml.io import tables

        return getattr(tables, name)
    raise AttributeError(f"module 'privml.io' has no attribute {name!r}")
