"""Reading tables larger than memory: record batches from CSV or Parquet files, read again per pass.

`TableStream(paths).batches(columns)` yields pandas frames of at most `batch_rows` rows, the files one
after the other, each batch with the cells `read_table` would give (every column as strings, an
empty cell missing) and a RangeIndex continuing across batches and files — the row positions of the
concatenated input, which `read_table` + `pd.concat(ignore_index=True)` would give. Memory holds one
batch. Errors name the file and the line, never a value (pyarrow's parse errors quote the row: they
are replaced).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from privml.errors import PrivmlError
from privml.io import DEFAULT_BATCH_ROWS
from privml.io.tables import _check_columns, _sniff_delimiter

__all__ = ["DEFAULT_BATCH_ROWS", "TableStream"]
_PARQUET = {".parquet", ".pq"}
# Arrow parses a CSV one block at a time, and its memory pool keeps about a block per batch in flight: at
# 16 MB the stream's peak grew from 313 MB at 1M rows to 767 MB at 10M (bench_scale's rows), at 2 MB
# from 271 to 301 MB, at the same speed. A row must fit one block (a longer one is refused, naming the
# limit): 2 MB is twice the 1 MB line limit of the sampled reads scan makes
# (`privml.io.tables.DEFAULT_MAX_LINE_BYTES`).
CSV_BLOCK_BYTES = 1 << 21


@dataclass
class TableStream:
    """The input files of one table, read batch by batch. `bad_rows`: "error" (a row with the wrong
    number of fields is an error naming its line) or "skip" (left out, counted in `bad_rows_skipped`)."""

    paths: Sequence[Path]
    batch_rows: int | None = None  # None: DEFAULT_BATCH_ROWS
    bad_rows: str = "error"
    sep: str | None = None
    bad_rows_skipped: int = field(default=0, init=False)
    rows: int | None = field(default=None, init=False)  # data rows, known after one full pass

    def __post_init__(self) -> None:
        self.batch_rows = int(self.batch_rows or DEFAULT_BATCH_ROWS)
        if self.batch_rows < 1:
            raise PrivmlError("a batch needs at least one row")
        if self.bad_rows not in ("error", "skip"):
            raise ValueError("bad_rows is 'error' or 'skip'")
        self.paths = [Path(p) for p in self.paths]
        if not self.paths:
            raise PrivmlError("no input files")
        for path in self.paths:
            if path.is_dir():
                raise PrivmlError(f"{path}: is a directory, expected a CSV or Parquet file")
            if not path.is_file():
                raise PrivmlError(f"{path}: no such file")
            if path.stat().st_size == 0:
                raise PrivmlError(f"{path}: empty file")
        columns = [self._header(p) for p in self.paths]
        if any(c != columns[0] for c in columns):
            raise PrivmlError(f"{self.paths[[c != columns[0] for c in columns].index(True)]}: its columns differ "
                              f"from those of {self.paths[0]}")
        self.columns: list[str] = columns[0]

    def _header(self, path: Path) -> list[str]:
        if path.suffix.lower() in _PARQUET:
            import pyarrow.parquet as pq

            try:
                return [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
            except Exception as exc:  # pyarrow raises several unrelated types for a bad file
                raise PrivmlError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
        delimiter = self.sep or _sniff_delimiter(path)
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh, delimiter=delimiter), None)
        except UnicodeDecodeError:
            raise PrivmlError(f"{path}: not UTF-8 text; re-encode it as UTF-8") from None
        if not header:
            raise PrivmlError(f"{path}: no columns found (empty or blank file)")
        _check_columns(path, pd.DataFrame(columns=_dedupe(header)))
        return header

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """The table's rows batch by batch (only `columns`, in the table's order, when given)."""
        wanted = [c for c in self.columns if columns is None or c in set(columns)]
        unknown = [c for c in (columns or []) if c not in self.columns]
        if unknown:
            raise PrivmlError(f"column {unknown[0]}: not in the table")
        start = 0
        self.bad_rows_skipped = 0
        for path in self.paths:
            reader = self._parquet if path.suffix.lower() in _PARQUET else self._csv
            for frame in reader(path, wanted):
                frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield frame
        if start == 0:
            raise PrivmlError(f"{self.paths[0]}: has a header but no data rows")
        self.rows = start

    def _parquet(self, path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=int(self.batch_rows or DEFAULT_BATCH_ROWS),
                                                                columns=columns):
                frame = batch.to_pandas()
                yield frame.astype("string").astype(object).where(frame.notna(), None)
        except PrivmlError:
            raise
        except Exception as exc:
            raise PrivmlError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None

    def _csv(self, path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        from pyarrow import csv as pacsv

        delimiter = self.sep or _sniff_delimiter(path)
        batch_rows = int(self.batch_rows or DEFAULT_BATCH_ROWS)
        skipped: list[int] = []

        def invalid(row: pacsv.InvalidRow) -> str:
            if self.bad_rows == "error":
                return "error"
            skipped.append(1)
            return "skip"

        read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False)
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid)
        # An empty cell, quoted or not, is missing as `read_table` reads it, and nothing else is: no "NA",
        # "null" or "NaN" becomes missing. Arrow decides it while parsing, so no pass over each batch.
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(self.columns, pa.string()),
                                       include_columns=columns, null_values=[""], strings_can_be_null=True,
                                       quoted_strings_can_be_null=True)
        try:
            reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
            pending: list[pd.DataFrame] = []
            held = 0
            for batch in reader:
                pending.append(batch.to_pandas())
                held += batch.num_rows
                while held >= batch_rows:
                    frame = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                    yield frame.iloc[:batch_rows]
                    rest = frame.iloc[batch_rows:].reset_index(drop=True)
                    pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
            if held:
                yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        except pa.ArrowInvalid as exc:
            raise PrivmlError(_csv_error(path, delimiter, str(exc))) from None
        except UnicodeDecodeError:
            raise PrivmlError(f"{path}: not UTF-8 text; re-encode it as UTF-8") from None
        finally:
            self.bad_rows_skipped += len(skipped)


def _dedupe(names: list[str]) -> list[str]:
    """Header names as pandas would mangle duplicates (`a`, `a.1`), so `_check_columns` can name them."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}.{count}")
        if not name:
            out[-1] = f"Unnamed: {len(out) - 1}"
    return out


def _csv_error(path: Path, delimiter: str, message: str) -> str:
    """pyarrow's CSV error without the row text it quotes."""
    import re

    found = re.search(r"Expected (\d+) columns, got (\d+)", message)
    if found:
        expected, saw = found.groups()
        return (f"{path}: a row has {saw} fields, expected {expected} (delimiter {delimiter!r}; wrong delimiter or "
                "an unquoted separator? `bad_rows: skip` in the policy leaves such rows out)")
    if "straddling" in message:  # a row does not fit one read block
        return (f"{path}: a CSV row is longer than {CSV_BLOCK_BYTES >> 20} MB, the longest the streaming reader "
                "takes (read the table with the memory engine)")
    if "UTF8" in message or "utf8" in message.lower():
        return f"{path}: not UTF-8 text; re-encode it as UTF-8"
    return f"{path}: not a readable CSV file (delimiter {delimiter!r})"
