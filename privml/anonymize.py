"""The anonymization step as a library call: policy + raw table → anonymized rows, report, fitted transformer.

Both `privml anonymize` and the pipeline's processing job (processing/anonymize.py) run this, so the
command line and the pipeline cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import CheckFailed, PrivmlError
from privml.io import atomic_output_dir, write_table
from privml.policy import Policy, Role, dump_policy
from privml.report import build_report, write_reports
from privml.transformer import PrivacyTransformer

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


@dataclass
class Anonymized:
    data: pd.DataFrame  # anonymized rows, label re-attached, suppressed rows left out
    report: dict[str, Any]
    transformer: PrivacyTransformer
    policy: Policy


def ensure_local_keys(refs: Iterable[str], kms: Any = None) -> list[str]:
    """Create the missing `alias/...` keys among `refs` in the local key store; returns those created.

    Only for the local KMS: on AWS a missing key is an error, never created behind the user's back.
    Other references are left for the caller to resolve (and fail on, naming the key).
    """
    if kms is None:
        from privml.crypto.local_kms import LocalKms

        kms = LocalKms.open()
    created = []
    for ref in refs:
        if ref.startswith("alias/"):
            try:
                kms.resolve(ref)
            except PrivmlError:
                kms.ensure_key(ref)
                created.append(ref)
    return created


SAFETY_NET_SAMPLE_ROWS = 2000


def check_features(frame: pd.DataFrame, policy: Policy, *, sample_rows: int = SAFETY_NET_SAMPLE_ROWS) -> None:
    """The safety net: refuse to emit as-is a column that scan would call an identifier (by its name,
    its values, or because it is a near-unique code), whatever the policy calls it. Raises CheckFailed
    (exit 1) naming the column and why; `role: feature` with `allow_unique: true` lets a column through.

    Runs on a bounded sample of the columns kept raw, so its cost does not grow with the table."""
    from privml.detect.scan import draw_sample
    from privml.detect.verdict import IDENTIFIER_TYPES, classify_column, rules_from_policy
    from privml.transforms import technique_class

    kept = [name for name, col in policy.columns.items()
            if col.role in (Role.FEATURE, Role.SENSITIVE) and technique_class(col.action).releases_unchanged
            and not col.allow_unique and name in frame.columns]
    if not kept:
        return
    sample = draw_sample(frame[kept], sample_rows, seed=0)
    rules = rules_from_policy(policy.detection)
    for name in kept:
        verdict = classify_column(name, sample[name], rules)
        if verdict.pii_type in IDENTIFIER_TYPES:
            why = verdict.evidence.split(";")[0]
            raise CheckFailed(
                f"column '{name}': refused as a {policy.columns[name].role.value} kept as-is: it looks like an "
                f"identifier ({verdict.pii_type}: {why}); give it an identifier action, or set role: feature with "
                "allow_unique: true if it truly is not one"
            )


def suppress_missing_quasi_identifiers(frame: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, dict[str, int]]:
    """Empty quasi-identifier cells per column, and the rows to anonymize per `anonymity.missing`:
    `suppress` leaves the rows with one out; `value` keeps them (the engine treats the empty cell as
    its own value); `error` leaves them for the anonymity engine to refuse, naming the row."""
    if policy.anonymity is None:
        return frame, {}
    qis = [c for c in policy.quasi_identifiers if c in frame.columns]
    if not qis:
        return frame, {}
    empty = frame[qis].isna()
    counts = {c: int(n) for c, n in empty.sum().items() if n}
    if not counts or policy.anonymity.missing != "suppress":
        return frame, counts
    return frame.loc[~empty.any(axis=1).to_numpy()], counts


def with_label(policy: Policy, frame: pd.DataFrame, label: str) -> Policy:
    """`policy` with `label` as its label column, after checking it can be one (present, not constant,
    not an identifier). A policy naming another label is an error, not silently overridden."""
    from privml.detect.scan import check_label
    from privml.detect.verdict import rules_from_policy
    from privml.policy import ColumnPolicy

    check_label(frame, label, rules_from_policy(policy.detection))
    current = policy.label
    if current is not None and current != label:
        raise PrivmlError(f"--label {label}: the policy names '{current}' as the label")
    columns = dict(policy.columns)
    spec = columns.get(label)
    if spec is None or spec.role is not Role.LABEL:
        if spec is not None and spec.role is not Role.FEATURE:
            raise PrivmlError(f"--label {label}: the policy gives it role '{spec.role.value}'")
        columns[label] = ColumnPolicy(role=Role.LABEL, action="keep")
    return policy.model_copy(update={"columns": columns})


def anonymize_table(frame: pd.DataFrame, policy: Policy, *, key_provider: Any = None) -> Anonymized:
    check_features(frame, policy)
    rows_in = len(frame)
    bad_rows = frame.attrs.get("bad_rows")  # read_table(bad_rows="skip"): rows left out while parsing
    frame, missing = suppress_missing_quasi_identifiers(frame, policy)
    transformer = PrivacyTransformer.from_policy(policy)
    if key_provider is not None:
        transformer.set_key_provider(key_provider)
    # suppression is this release's decision: the transformer keeps every row (Pipeline-safe), we drop
    data = transformer.fit_transform(frame).drop(index=transformer.suppressed_labels_)
    label = policy.label
    if label is not None and label in frame.columns:
        data[label] = frame.loc[data.index, label]
    report = build_report(policy, transformer, rows_in=rows_in, rows_out=len(data))
    if missing:
        report["missing_quasi_identifier_rule"] = policy.anonymity.missing if policy.anonymity else None
        report["missing_quasi_identifier_rows"] = rows_in - len(frame)  # suppressed for them: 0 unless `suppress`
        report["missing_quasi_identifier_cells"] = missing
    if bad_rows:
        report["bad_rows_skipped"] = int(bad_rows)
    return Anonymized(data=data.reset_index(drop=True), report=report, transformer=transformer, policy=policy)


def split_rows(
    data: pd.DataFrame, fractions: tuple[float, float, float], *, label: str | None, seed: int
) -> dict[str, pd.DataFrame]:
    """Train/validation/test splits, stratified on the label when there is one (on its deciles when it is a
    regression target: stratified on each distinct number, a value seen once would only ever be in train)."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise PrivmlError("split fractions must be non-negative and sum to 1")
    rng = np.random.default_rng(seed)
    groups = (data.groupby(_label_strata(data[label]), sort=True).indices.values() if label in data.columns
              else [np.arange(len(data))])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for idx in groups:
        idx = rng.permutation(np.asarray(idx))
        n_train = round(len(idx) * fractions[0])
        n_val = round(len(idx) * fractions[1])
        parts["train"].append(idx[:n_train])
        parts["validation"].append(idx[n_train : n_train + n_val])
        parts["test"].append(idx[n_train + n_val :])
    return {name: data.iloc[np.sort(np.concatenate(chunks))] for name, chunks in parts.items()}


def _label_strata(values: pd.Series) -> pd.Series:
    from privml.models.features import numeric_view
    from privml.models.tasks import looks_like_regression

    if not looks_like_regression(values):
        return values
    ranks = numeric_view(values).rank(method="first")
    return pd.Series(pd.qcut(ranks, q=10, labels=False), index=values.index)


def split_anonymity(splits: dict[str, pd.DataFrame], policy: Policy) -> dict[str, dict[str, Any]]:
    """Per split: rows, equivalence classes on the quasi-identifiers, the smallest class (the split's own
    k), the share of its rows in classes smaller than the policy's k, and its distinct l. A split of a k-anonymous table
    is not k-anonymous by itself: a reader holding only the test split sees these figures, not the
    whole table's."""
    from privml.anonymity.risk import class_ids_of

    target = policy.anonymity.k if policy.anonymity is not None else None
    qis = list(policy.quasi_identifiers)
    out: dict[str, dict[str, Any]] = {}
    for name, part in splits.items():
        ids, n_classes = class_ids_of(part, [c for c in qis if c in part.columns])
        sizes = np.bincount(ids, minlength=n_classes)
        figures: dict[str, Any] = {"rows": len(part), "classes": int(n_classes),
                                   "k": int(sizes.min()) if n_classes else None}
        if target is not None and len(part):
            figures["rows_below_k"] = float(sizes[sizes < target].sum() / len(part))
        sensitive = [c for c in policy.sensitive_attributes if c in part.columns]
        if sensitive and n_classes:  # distinct l of the split: the fewest sensitive values in one of its classes
            figures["l"] = int(min(pd.Series(part[c].to_numpy()).groupby(ids).nunique(dropna=False).min()
                                   for c in sensitive))
        out[name] = figures
    return out


def write_anonymized(result: Anonymized, outdir: Path, *, splits: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write data, reports, the fitted transformer and the policy; all or nothing.

    Layout: `data.csv` (or `train/`, `validation/`, `test/` each with data.csv), `report.json`,
    `report.html`, `transformer.skops`, `policy.yaml`.
    """
    report = result.report
    if splits is not None and result.policy.quasi_identifiers:
        report = {**report, "splits": split_anonymity(splits, result.policy)}
    with atomic_output_dir(outdir) as tmp:
        if splits is None:
            write_table(result.data, tmp / "data.csv")
        else:
            for name, part in splits.items():
                (tmp / name).mkdir()
                write_table(part, tmp / name / "data.csv")
        write_reports(tmp, report)
        result.transformer.save(tmp / "transformer.skops")
        (tmp / "policy.yaml").write_text(dump_policy(result.policy), encoding="utf-8")
    return outdir
