"""Reading a user's table (CSV or Parquet) into strings, with errors that name lines, never values."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import warnings
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
    bad_rows: str = "error",
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every column as strings, empty cells as missing.

    Strings keep identifiers intact (leading zeros of postcodes, SSNs); techniques that need numbers
    parse them and report the rows that do not parse.

    A row with more or fewer fields than the header is an error naming the row (`bad_rows="error"`),
    or is left out and counted in `frame.attrs["bad_rows"]` (`"skip"`); never an implicit index column
    or a silently padded row.
    """
    if bad_rows not in ("error", "skip"):
        raise ValueError("bad_rows is 'error' or 'skip'")
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
            "stream it (--engine streaming), split the file or raise the limit with --max-size"
        )
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame = _read_parquet(path, nrows)
    else:
        frame = _read_csv(path, sep, nrows, bad_rows)
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
    # na_filter off: a present empty cell reads as "" and a cell a short row lacks as NaN, so short rows
    # can be told from empty cells; index_col=False: a long first row is never taken as an index.
    return {"sep": delimiter, "dtype": str, "na_filter": False, "index_col": False, "encoding": "utf-8",
            "encoding_errors": "strict", "engine": "c"}


def _read_csv(path: Path, sep: str | None, nrows: int | None, bad_rows: str = "error") -> pd.DataFrame:
    delimiter = sep or _sniff_delimiter(path)
    with _csv_errors(path, delimiter), warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas warns where it drops fields
        try:
            frame = pd.read_csv(path, nrows=nrows, **_csv_options(delimiter))
            parsed = True
        except (pd.errors.ParserError, pd.errors.ParserWarning):
            parsed = False
    # pandas pads a short row with empty cells and may read a long first row as an index: field counts
    # are checked apart from it, by a vectorized pass over the lines (exact where no quotes span lines).
    bad = _ragged_lines(path, delimiter, nrows)
    if not parsed and not bad:  # pandas refused the file for another reason: say so without a value
        raise PrivmlError(f"{path}: not a readable CSV file (delimiter {delimiter!r})")
    if bad:
        if bad_rows == "error":
            row, line, fields, expected = bad[0]
            more = f" ({len(bad) - 1} more such rows)" if len(bad) > 1 else ""
            raise PrivmlError(
                f"{path}: line {line} has {fields} fields, expected {expected} (data row {row}{more}; delimiter "
                f"{delimiter!r}; wrong delimiter or an unquoted separator? `bad_rows: skip` in the policy leaves "
                "such rows out)"
            )
        skip = {line - 1 for _, line, _, _ in bad}
        with _csv_errors(path, delimiter):
            frame = pd.read_csv(path, nrows=nrows, skiprows=lambda i: i in skip, **_csv_options(delimiter))
        frame.attrs["bad_rows"] = len(bad)
    return _empty_as_missing(frame)


def _empty_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    # The columns keep the dtype pandas read them with (strings): empty cells become its missing value.
    attrs = dict(frame.attrs)
    out = frame.mask(frame == "")
    out.attrs.update(attrs)
    return out


def _ragged_lines(path: Path, delimiter: str, nrows: int | None) -> list[tuple[int, int, int, int]]:
    """(data row, line, fields, header fields) of every record whose field count differs from the
    header's. Lines without a quote character are counted with numpy; lines with balanced quotes are
    parsed one by one; a quote that spans lines sends the whole file through the csv module."""
    if len(delimiter) != 1:
        return _ragged_records(path, delimiter, nrows)
    out: list[tuple[int, int, int, int]] = []
    delim = ord(delimiter)
    expected: int | None = None
    line_no = row = 0
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK_BYTES)
            data = carry + block
            arr = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            if not block and len(data):
                ends = np.append(ends, len(data))
            if not len(ends):
                if not block:
                    break
                carry = data
                continue
            begins = np.concatenate([[0], ends[:-1] + 1])
            quotes = _per_line(arr == 34, begins, ends)
            if (quotes % 2).any():
                return _ragged_records(path, delimiter, nrows)
            fields = _per_line(arr == delim, begins, ends) + 1
            lengths = ends - begins
            blank = (lengths == 0) | ((lengths == 1) & (arr[np.minimum(begins, max(len(arr) - 1, 0))] == 13))
            for i in np.flatnonzero(quotes > 0):  # quoted fields may hold the delimiter: parse those lines
                text = data[begins[i]:ends[i]].decode("utf-8", "replace")
                fields[i] = len(next(csv.reader([text], delimiter=delimiter), []))
            present = np.flatnonzero(~blank)
            if expected is None and len(present):
                expected = int(fields[present[0]])
                present = present[1:]
            rows = row + np.arange(1, len(present) + 1)
            if nrows is not None:
                present, rows = present[rows <= nrows], rows[rows <= nrows]
            wrong = fields[present] != expected
            out += [(int(r), line_no + int(i) + 1, int(fields[i]), int(expected or 0))
                    for r, i in zip(rows[wrong], present[wrong], strict=True)]
            row += len(present)
            if nrows is not None and row >= nrows:
                return out
            line_no += len(begins)
            carry = data[int(ends[-1]) + 1:]
            if not block:
                break
    return out


def _ragged_records(path: Path, delimiter: str, nrows: int | None) -> list[tuple[int, int, int, int]]:
    """The exact, slow pass, for files whose quoted fields span lines."""
    out = []
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        row = 0
        for record in reader:
            if not record:  # a blank line is no row (pandas skips it too)
                continue
            row += 1
            if nrows is not None and row > nrows:
                break
            if len(record) != len(header):
                out.append((row, reader.line_num, len(record), len(header)))
    return out


DEFAULT_MAX_LINE_BYTES = 1 << 20  # one CSV line; a longer one is an error naming the line
_SAMPLE_BYTES = 256 << 20  # the sampled lines together
_BLOCK_BYTES = 16 << 20


def sample_table(
    path: str | os.PathLike[str], rows: int, *, seed: int = 0, sep: str | None = None, chunk_rows: int | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> tuple[pd.DataFrame, int]:
    """A uniform random sample of at most `rows` data rows of a table of any size, in file order, and the
    number of data rows the table has.

    Memory is bounded by the sample, whatever the file: a CSV is read in blocks, each line gets a seeded
    random key and the offsets of the lines with the smallest keys are kept (sampling without
    replacement); only those lines are then read again and parsed. A line over `max_line_bytes` is an
    error naming the line. Every line whose fields can be counted without parsing (no quote character)
    is checked against the header's field count. A file whose quoted fields span lines, and Parquet, are
    read in chunks of bounded size instead. The head of a file is no sample: files are often sorted.
    """
    path = Path(path)
    if rows < 1:
        raise PrivmlError("the sample needs at least one row")
    if not path.exists():
        raise PrivmlError(f"{path}: no such file")
    if path.is_dir():
        raise PrivmlError(f"{path}: is a directory, expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise PrivmlError(f"{path}: empty file")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return _sample_chunks(path, rows, seed, sep, chunk_rows or 100_000)
    delimiter = sep or _sniff_delimiter(path)
    picked = _pick_lines(path, rows, seed, delimiter, max_line_bytes)
    if picked is None:  # quoted fields span lines: records are not lines
        return _sample_chunks(path, rows, seed, delimiter, chunk_rows or _chunk_rows(path))
    header, offsets, total = picked
    if total == 0:
        read_table(path, sep=delimiter, nrows=1, max_bytes=1 << 62)  # the messages of a whole read
    body = bytearray(header)
    line_numbers = []
    with open(path, "rb") as fh:
        for line_no, start, length in offsets:
            fh.seek(start)
            body += fh.read(length).rstrip(b"\r\n") + b"\n"
            line_numbers.append(line_no)
    # The sampled lines' field counts, by the csv module (pandas would pad a short row). Counting every
    # line's would cost more than the rest of a scan; anonymize reads the whole file and counts them all.
    text = bytes(body).decode("utf-8", "replace").split("\n")
    counts = [len(fields) for fields in csv.reader(text[:-1], delimiter=delimiter)]
    wrong = [i for i, count in enumerate(counts[1:]) if count != counts[0]]
    if wrong:
        raise PrivmlError(
            f"{path}: line {line_numbers[wrong[0]]} has {counts[wrong[0] + 1]} fields, the header has {counts[0]} "
            f"(delimiter {delimiter!r}; wrong delimiter or an unquoted separator?)")
    with _csv_errors(path, delimiter):
        frame = pd.read_csv(io.BytesIO(bytes(body)), **_csv_options(delimiter))
    _check_columns(path, frame)
    return _empty_as_missing(frame), total


def _chunk_rows(path: Path) -> int:
    """Rows per chunk so that one chunk holds about 32 MB of text, judged from the head of the file."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    lines = max(head.count(b"\n"), 1)
    return int(max(1000, min(100_000, (32 << 20) // max(len(head) // lines, 1))))


def _pick_lines(path: Path, rows: int, seed: int, delimiter: str,
                max_line_bytes: int) -> tuple[bytes, list[tuple[int, int, int]], int] | None:
    """(header line, [(line number, offset, length)] of the sampled data lines in file order, number of
    data lines), or None when a line holds an odd number of quotes (a quoted field spans lines)."""
    rng = np.random.default_rng(seed)
    header = b""
    keys = np.empty(0)
    starts = np.empty(0, dtype=np.int64)
    lengths = np.empty(0, dtype=np.int64)
    numbers = np.empty(0, dtype=np.int64)
    total = 0
    line_no = 0  # physical lines seen so far
    carry = b""
    carry_start = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK_BYTES)
            # Not ASCII: the whole file must be UTF-8, not just the sampled lines.
            if block and int(np.frombuffer(block, dtype=np.uint8).max()) >= 0x80:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    line = _utf8_error_line(path)
                    raise PrivmlError(f"{path}: not UTF-8 text (invalid bytes on line {line}); "
                                      "re-encode it as UTF-8") from None
            data = carry + block
            base = carry_start
            arr = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            if not block:  # the last line may lack its newline
                if len(data):
                    ends = np.append(ends, len(data))
                if not len(ends):
                    break
            if not len(ends):
                if len(data) > max_line_bytes:
                    raise PrivmlError(f"{path}: line {line_no + 1} is longer than the "
                                      f"{_human(max_line_bytes)} limit for one line")
                carry, carry_start = data, base
                continue
            begins = np.concatenate([[0], ends[:-1] + 1])
            lens = ends - begins
            too_long = np.flatnonzero(lens > max_line_bytes)
            if len(too_long):
                raise PrivmlError(f"{path}: line {line_no + int(too_long[0]) + 1} is longer than the "
                                  f"{_human(max_line_bytes)} limit for one line")
            quotes = _per_line(arr == 34, begins, ends)
            if (quotes % 2).any():
                return None
            numbers_here = np.arange(line_no + 1, line_no + len(begins) + 1)
            blank = (lens == 0) | ((lens == 1) & (arr[np.minimum(begins, len(arr) - 1)] == 13))
            if line_no == 0 and not header:
                first = int(np.flatnonzero(~blank)[0]) if (~blank).any() else None
                if first is None:
                    raise PrivmlError(f"{path}: no columns found (empty or blank file)")
                header = data[begins[first]:ends[first]].rstrip(b"\r") + b"\n"
                if len(header) > max_line_bytes:
                    raise PrivmlError(f"{path}: line 1 is longer than the {_human(max_line_bytes)} limit for one line")
                blank[: first + 1] = True
            keep = ~blank
            idx = np.flatnonzero(keep)
            total += len(idx)
            new_keys = rng.random(len(idx))
            keys = np.concatenate([keys, new_keys])
            starts = np.concatenate([starts, base + begins[idx]])
            lengths = np.concatenate([lengths, lens[idx]])
            numbers = np.concatenate([numbers, numbers_here[idx]])
            if len(keys) > 4 * rows:
                best = np.argpartition(keys, rows - 1)[:rows]
                keys, starts, lengths, numbers = keys[best], starts[best], lengths[best], numbers[best]
            line_no += len(begins)
            tail = int(ends[-1]) + 1
            carry, carry_start = data[tail:], base + tail
            if not block:
                break
    if len(keys) > rows:
        best = np.argpartition(keys, rows - 1)[:rows]
        keys, starts, lengths, numbers = keys[best], starts[best], lengths[best], numbers[best]
    # Bound the bytes read back: drop the lines with the largest keys until the sample fits.
    order = np.argsort(keys)
    within = np.cumsum(lengths[order]) <= _SAMPLE_BYTES
    chosen = np.sort(order[within]) if len(order) else order
    chosen = chosen[np.argsort(starts[chosen])]
    return header, [(int(numbers[i]), int(starts[i]), int(lengths[i])) for i in chosen], total


def _per_line(mask: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many bytes of each line [begin, end) `mask` marks (by the positions of the marked bytes: a
    cumulative sum over every byte is several times slower)."""
    positions = np.flatnonzero(mask)
    return np.searchsorted(positions, ends) - np.searchsorted(positions, begins)


def _sample_chunks(path: Path, rows: int, seed: int, sep: str | None, chunk_rows: int) -> tuple[pd.DataFrame, int]:
    read_table(path, sep=sep, nrows=1, max_bytes=1 << 62)  # the checks and messages of a whole read
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for chunk in _chunks(path, sep, chunk_rows):
        ragged = chunk.isna().any(axis=1).to_numpy() if path.suffix.lower() not in {".parquet", ".pq"} else None
        if ragged is not None and ragged.any():
            raise PrivmlError(f"{path}: data row {total + int(np.flatnonzero(ragged)[0]) + 1} has fewer fields "
                              "than the header")
        chunk.index = pd.RangeIndex(total, total + len(chunk))
        total += len(chunk)
        kept = chunk if kept is None else pd.concat([kept, chunk])
        keys = np.concatenate([keys, rng.random(len(chunk))])
        if len(kept) > rows:
            best = np.sort(np.argpartition(keys, rows - 1)[:rows])
            kept, keys = kept.iloc[best], keys[best]
    assert kept is not None  # read_table refused a table without data rows
    _check_columns(path, kept)
    kept = kept.sort_index().reset_index(drop=True)
    if path.suffix.lower() not in {".parquet", ".pq"}:
        kept = _empty_as_missing(kept)
    return kept, total


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


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The CSV every output table is written as (UTF-8, a header, no index): `write_table`'s bytes, and
    the Spark release's parts."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write CSV atomically (the file appears whole or not at all)."""
    atomic_write_bytes(path, csv_bytes(frame), mode=0o600)
