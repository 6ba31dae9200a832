"""Reading a user's table (CSV or Parquet) into strings, with errors that name lines, never values."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import PrivmlError
from privml.io.atomic import atomic_write_bytes

DEFAULT_MAX_BYTES = 1 << 30  # one table in memory; larger inputs should be split or sampled
_DELIMITERS = [",", ";", "\t", "|"]
_SNIFF_BYTES = 64 * 1024


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def read_table(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    nrows: int | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every column as strings, empty cells as missing.

    Strings keep identifiers intact (leading zeros of postcodes, SSNs); techniques that need numbers
    parse them and report the rows that do not parse.
    """
    path = Path(path)
    if not path.exists():
        raise PrivmlError(f"{path}: no such file")
    if path.is_dir():
        raise PrivmlError(f"{path}: is a directory, expected a CSV or Parquet file")
    size = path.stat().st_size
    if size == 0:
        raise PrivmlError(f"{path}: empty file")
    if size > max_bytes:
        raise PrivmlError(
            f"{path}: {_human(size)} is over the {_human(max_bytes)} limit for one table; "
            "split the file or raise the limit with --max-size"
        )
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame = _read_parquet(path, nrows)
    else:
        frame = _read_csv(path, sep, nrows)
    _check_columns(path, frame)
    if frame.empty:
        raise PrivmlError(f"{path}: has a header but no data rows")
    return frame


def _read_parquet(path: Path, nrows: int | None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise PrivmlError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    frame = table.to_pandas()
    if nrows is not None:
        frame = frame.head(nrows)
    return frame.astype("string").astype(object).where(frame.notna(), None)


def _sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="ignore")
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and len(head) == _SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _utf8_error_line(path: Path) -> int:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: exc.start].count(b"\n")
            line += chunk.count(b"\n")
    return line


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@contextlib.contextmanager
def _csv_errors(path: Path, delimiter: str) -> Iterator[None]:
    """pandas' CSV errors as one line naming the file and the line, never a value."""
    try:
        yield
    except UnicodeDecodeError:
        line = _utf8_error_line(path)
        raise PrivmlError(f"{path}: not UTF-8 text (invalid bytes on line {line}); re-encode it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise PrivmlError(f"{path}: no columns found (empty or blank file)") from None
    except pd.errors.ParserError as exc:
        m = _FIELDS.search(str(exc))
        if m:
            expected, line, saw = m.groups()
            raise PrivmlError(
                f"{path}: line {line} has {saw} fields, expected {expected} "
                f"(delimiter {delimiter!r}; wrong delimiter or an unquoted separator?)"
            ) from None
        raise PrivmlError(f"{path}: not a readable CSV file (delimiter {delimiter!r})") from None


def _csv_options(delimiter: str) -> dict[str, Any]:
    return {"sep": delimiter, "dtype": str, "keep_default_na": False, "na_values": [""], "encoding": "utf-8",
            "encoding_errors": "strict", "engine": "c"}


def _read_csv(path: Path, sep: str | None, nrows: int | None) -> pd.DataFrame:
    delimiter = sep or _sniff_delimiter(path)
    with _csv_errors(path, delimiter):
        return pd.read_csv(path, nrows=nrows, **_csv_options(delimiter))


def sample_table(
    path: str | os.PathLike[str], rows: int, *, seed: int = 0, sep: str | None = None, chunk_rows: int = 100_000,
) -> tuple[pd.DataFrame, int]:
    """A uniform random sample of at most `rows` data rows of a table of any size, in file order, and the
    number of data rows the table has.

    One pass in chunks with bounded memory: every row gets a seeded random key and the rows with the
    smallest keys are kept, which is sampling without replacement. The head of a file is no sample: files
    are often sorted, and a column whose values change kind further down would be misjudged.
    """
    path = Path(path)
    if rows < 1:
        raise PrivmlError("the sample needs at least one row")
    read_table(path, sep=sep, nrows=1, max_bytes=1 << 62)  # the checks and messages of a whole read
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for chunk in _chunks(path, sep, chunk_rows):
        chunk.index = pd.RangeIndex(total, total + len(chunk))
        total += len(chunk)
        kept = chunk if kept is None else pd.concat([kept, chunk])
        keys = np.concatenate([keys, rng.random(len(chunk))])
        if len(kept) > rows:
            best = np.sort(np.argpartition(keys, rows - 1)[:rows])
            kept, keys = kept.iloc[best], keys[best]
    assert kept is not None  # read_table refused a table without data rows
    _check_columns(path, kept)
    return kept.sort_index().reset_index(drop=True), total


def _chunks(path: Path, sep: str | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if path.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                yield frame.astype("string").astype(object).where(frame.notna(), None)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise PrivmlError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
        return
    delimiter = sep or _sniff_delimiter(path)
    with _csv_errors(path, delimiter), pd.read_csv(path, chunksize=chunk_rows, **_csv_options(delimiter)) as reader:
        yield from reader


def _check_columns(path: Path, frame: pd.DataFrame) -> None:
    names = [str(c) for c in frame.columns]
    mangled = [n for n in names if re.fullmatch(r".+\.\d+", n) and n.rsplit(".", 1)[0] in names]
    if mangled:
        raise PrivmlError(f"{path}: duplicate column names ({', '.join(mangled)})")
    unnamed = [i for i, n in enumerate(names) if n.startswith("Unnamed: ")]
    if unnamed:
        raise PrivmlError(f"{path}: column {unnamed[0] + 1} has no name in the header")


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write CSV atomically (the file appears whole or not at all)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"), mode=0o600)
