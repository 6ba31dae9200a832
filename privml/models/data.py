"""Reading the anonymized splits and checking them before any model sees them.

Every check names the split, the column and rows — never a value (invariant 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from privml.errors import PrivmlError
from privml.io import read_table
from privml.models.features import is_numeric_column, numeric_view
from privml.policy import Policy, Role

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class InputFile:
    name: str  # the channel (or input) it came from
    path: Path
    sha256: str
    bytes: int

    def lineage(self) -> dict[str, object]:
        return {"input": self.name, "file": self.path.name, "sha256": self.sha256, "bytes": self.bytes}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(name: str, path: Path) -> InputFile:
    return InputFile(name, path, sha256_file(path), path.stat().st_size)


def table_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)


def read_split(name: str, directory: Path) -> tuple[pd.DataFrame, list[InputFile]]:
    """All CSV/Parquet files of a channel, concatenated; an empty channel is an error."""
    files = table_files(directory)
    if not files:
        raise PrivmlError(f"{name} channel is empty: no CSV or Parquet file in {directory}")
    frames = []
    for path in files:
        try:
            frames.append(read_table(path))
        except PrivmlError as exc:
            raise PrivmlError(f"{name} channel: {exc}") from None
    columns = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != columns:
            raise PrivmlError(f"{name} channel: {path.name} has different columns from {files[0].name}")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return frame, [describe_file(name, p) for p in files]


def check_label(frame: pd.DataFrame, label: str, split: str) -> np.ndarray:
    """The label column as an array; missing column, missing values or a single class are errors."""
    if label not in frame.columns:
        raise PrivmlError(f"{split} split: label column '{label}' is missing (columns: {', '.join(frame.columns)})")
    values = frame[label]
    empty = np.flatnonzero(values.isna().to_numpy())
    if len(empty):
        raise PrivmlError(
            f"{split} split: label column '{label}' is empty in {len(empty)} row(s) (first: row {empty[0] + 1})"
        )
    y = values.astype(str).to_numpy()
    if split == "train" and len(np.unique(y)) < 2:
        raise PrivmlError(
            f"train split: label column '{label}' is constant (a single class); a classifier needs at least two"
        )
    return y


def declared_numeric(policy: Policy, column: str) -> bool:
    """Columns the policy says are numbers and whose values reach training unchanged.

    A quasi-identifier may be generalized into ranges ("[30-40)") by the anonymity model, and a column
    with another action is rewritten by its technique, so only kept, non-QI columns are held to it.
    """
    spec = policy.columns.get(column)
    if spec is None or spec.role is Role.QUASI_IDENTIFIER or spec.action != "keep":
        return False
    return spec.dtype == "numeric" or spec.bounds is not None


def _non_numeric_rows(values: pd.Series) -> np.ndarray:
    parsed = numeric_view(values)
    return np.flatnonzero((parsed.isna() & values.notna()).to_numpy())


def feature_types(train: pd.DataFrame, features: Sequence[str], policy: Policy) -> list[str]:
    """The numeric feature columns; a column declared numeric with text in it is an error."""
    numeric = []
    for col in features:
        if declared_numeric(policy, col):
            bad = _non_numeric_rows(train[col])
            if len(bad):
                raise PrivmlError(
                    f"train split: column '{col}' is numeric in the policy but {len(bad)} of {len(train)} "
                    f"row(s) are not numbers (first: row {bad[0] + 1})"
                )
            numeric.append(col)
        elif is_numeric_column(train[col]):
            numeric.append(col)
    return numeric


def check_columns(frame: pd.DataFrame, features: Sequence[str], numeric: Sequence[str], split: str) -> None:
    """A later split has the feature columns, and numbers where training had numbers."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise PrivmlError(f"{split} split: feature column(s) missing: {', '.join(missing)}")
    for col in numeric:
        bad = _non_numeric_rows(frame[col])
        if len(bad):
            raise PrivmlError(
                f"{split} split: column '{col}' is numeric in the train split but {len(bad)} row(s) are "
                f"not numbers (first: row {bad[0] + 1})"
            )
