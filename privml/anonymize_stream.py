"""The anonymization step for tables larger than memory: policy + a table read in batches → the same
outputs as `privml.anonymize` (train/validation/test data.csv, report.json/html, transformer.skops,
policy.yaml), written chunk by chunk, all or nothing.

What differs from the in-memory step, and only that:
- The train/validation/test split is decided per row, from the row's position in the input and the
  seed (a keyed 64-bit mix, `split_of`): a row goes to train when its uniform draw is below the train
  fraction, and so on. Split sizes are the fractions in expectation (per label too), not rounded per
  label class as `split_rows` does; the in-memory step keeps its split for tables that fit.
- The identifier safety net (`check_features`) and the `--label` check read the first batch, not a
  sample of the whole table.
The fitted transformer, the released rows and the report are those of the in-memory step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymize import SPLITS, check_features, suppress_missing_quasi_identifiers, with_label
from privml.errors import PrivmlError
from privml.io import atomic_output_dir
from privml.io.stream import TableStream
from privml.policy import Policy, dump_policy
from privml.report import build_report, write_reports
from privml.transformer import PrivacyTransformer

_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def split_of(positions: np.ndarray, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """The split of each row (0 train, 1 validation, 2 test) from its position and the seed alone
    (splitmix64 of seed and position to a uniform draw in [0, 1)), so no pass needs the whole table."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise PrivmlError("split fractions must be non-negative and sum to 1")
    with np.errstate(over="ignore"):
        z = positions.astype(np.uint64) + np.uint64(seed & (2**64 - 1)) * _MIX[0] + _MIX[0]
        z = (z ^ (z >> np.uint64(30))) * _MIX[1]
        z = (z ^ (z >> np.uint64(27))) * _MIX[2]
        z ^= z >> np.uint64(31)
    draw = (z >> np.uint64(11)).astype(np.float64) / float(2**53)
    return np.searchsorted(np.cumsum(fractions[:2]), draw, side="right").astype(np.int8)


@dataclass
class _SplitCounts:
    """Per split: rows and the sizes of its equivalence classes, counted chunk by chunk."""

    qis: list[str]
    rows: int = 0
    classes: pd.Series | None = None

    def add(self, part: pd.DataFrame) -> None:
        self.rows += len(part)
        if not self.qis or not len(part):
            return
        counted = part[self.qis].astype(str).value_counts(dropna=False)
        self.classes = counted if self.classes is None else self.classes.add(counted, fill_value=0)

    def figures(self, target: int | None) -> dict[str, Any]:
        sizes = np.zeros(0, dtype=np.int64) if self.classes is None else self.classes.to_numpy(dtype=np.int64)
        out: dict[str, Any] = {"rows": self.rows, "classes": len(sizes), "k": int(sizes.min()) if len(sizes) else None}
        if target is not None and self.rows:
            out["rows_below_k"] = float(sizes[sizes < target].sum() / self.rows)
        return out


@dataclass
class StreamedRelease:
    report: dict[str, Any]
    transformer: PrivacyTransformer
    policy: Policy
    rows_per_split: dict[str, int] = field(default_factory=dict)


def anonymize_stream(stream: TableStream, policy: Policy, outdir: Path, *, key_provider: Any = None,
                     fractions: tuple[float, float, float] | None = (0.7, 0.15, 0.15), seed: int = 0,
                     label: str = "") -> StreamedRelease:
    """Anonymize `stream` with `policy` into `outdir` (train/, validation/, test/ each with data.csv, or
    one data.csv when `fractions` is None, as `write_anonymized` without splits; report.json, report.html,
    transformer.skops, policy.yaml): two passes (three when global recoding suppresses rows); nothing
    appears in `outdir` unless every pass completes."""
    if fractions is not None:
        split_of(np.zeros(1, dtype=np.int64), fractions, seed)  # bad fractions: refused before any pass
    parts = SPLITS if fractions is not None else ("",)  # "": the one data.csv at the top of `outdir`
    with contextlib.closing(stream.batches()) as batches_of_the_table:
        first = next(batches_of_the_table)
    if label:
        policy = with_label(policy, first, label)
    check_features(first, policy)
    del first  # read for the checks only: the passes below hold one batch at a time
    totals = {"rows_in": 0, "missing_rows": 0}
    missing: dict[str, int] = {}

    def batches() -> Iterator[pd.DataFrame]:
        totals["rows_in"] = totals["missing_rows"] = 0
        missing.clear()
        for frame in stream.batches():
            kept, counts = suppress_missing_quasi_identifiers(frame, policy)
            totals["rows_in"] += len(frame)
            totals["missing_rows"] += len(frame) - len(kept)
            for column, n in counts.items():
                missing[column] = missing.get(column, 0) + n
            yield kept

    transformer = PrivacyTransformer.from_policy(policy)
    if key_provider is not None:
        transformer.set_key_provider(key_provider)
    transformer.fit_stream(batches)
    suppressed = np.sort(np.asarray(transformer.suppressed_labels_, dtype=np.int64))
    qis = [c for c in policy.quasi_identifiers]
    counts = {name: _SplitCounts(qis) for name in parts}
    with atomic_output_dir(outdir) as tmp:
        files = {}
        for name in parts:
            (tmp / name).mkdir(exist_ok=not name)
            files[name] = os.fdopen(os.open(tmp / name / "data.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                                    "w", encoding="utf-8", newline="")
        header = {name: True for name in parts}
        try:
            for frame in batches():
                released = transformer.transform(frame)
                positions = np.asarray(released.index, dtype=np.int64)
                keep = ~np.isin(positions, suppressed)
                released = released.loc[keep]
                if policy.label is not None and policy.label in frame.columns:
                    released[policy.label] = frame.loc[released.index, policy.label]
                assigned = (split_of(positions[keep], fractions, seed) if fractions is not None
                            else np.zeros(int(keep.sum()), dtype=np.int8))
                for code, name in enumerate(parts):
                    part = released.loc[assigned == code]
                    if len(part) or header[name]:
                        part.to_csv(files[name], index=False, header=header[name], lineterminator="\n")
                        header[name] = False
                    counts[name].add(part)
        finally:
            for fh in files.values():
                fh.close()
        rows_out = sum(c.rows for c in counts.values())
        report = build_report(policy, transformer, rows_in=totals["rows_in"], rows_out=rows_out)
        if missing:
            report["missing_quasi_identifier_rule"] = policy.anonymity.missing if policy.anonymity else None
            report["missing_quasi_identifier_rows"] = totals["missing_rows"]
            report["missing_quasi_identifier_cells"] = dict(missing)
        if stream.bad_rows_skipped:
            report["bad_rows_skipped"] = int(stream.bad_rows_skipped)
        if qis and fractions is not None:
            target = policy.anonymity.k if policy.anonymity is not None else None
            report["splits"] = {name: counts[name].figures(target) for name in SPLITS}
        report["engine"] = "streaming"
        write_reports(tmp, report)
        transformer.save(tmp / "transformer.skops")
        (tmp / "policy.yaml").write_text(dump_policy(policy), encoding="utf-8")
    return StreamedRelease(report, transformer, policy, {name or "data": counts[name].rows for name in parts})
