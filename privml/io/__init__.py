"""Reading user tables and writing outputs atomically."""

from privml.io.atomic import atomic_output, atomic_output_dir, atomic_write_bytes, atomic_write_text
from privml.io.tables import DEFAULT_MAX_BYTES, read_table, write_table

__all__ = [
    "DEFAULT_MAX_BYTES",
    "atomic_output",
    "atomic_output_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_table",
    "write_table",
]
