"""The Evaluate step as a library call: model + anonymized train and test splits + privacy report →
evaluation.json (the PropertyFile the ConditionStep reads), model_card.json, model_card.md,
model_card.html and report.html (the privacy report with the model's accuracy against privacy).

evaluation.json has this shape (docs/architecture.md, The evaluation property file):
{"task": "binary" | "multiclass" | "regression",
 "metrics": {accuracy, balanced_accuracy, roc_auc, f1, brier} | {rmse, mae, r2},
 "baseline": {"predictor": "majority class" | "training mean", "metrics": {same keys}},
 "quality": {metric, model, baseline, margin, threshold, threshold_metric},
 "privacy": {k, l, t, prosecutor_max, epsilon_spent},
 "membership": {members, non_members, attacks: {loss_threshold, shadow}, advantage, gate, ...},
 "gates": {quality_passed, privacy_passed, passed, reason}}
The train split is read for two things only: the baseline's training labels and the audit's members.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import PrivmlError
from privml.io import atomic_output_dir
from privml.models import archive, gates, membership
from privml.models import data as splits
from privml.models import metrics as model_scores
from privml.models.baseline import fit_baseline, predictor_name
from privml.models.card import build_card, render_markdown
from privml.models.diagnostics import card_diagnostics
from privml.models.jobenv import job_controls
from privml.models.persistence import loads_model
from privml.models.training import METADATA_FILE, MODEL_FILE
from privml.report.card_html import render_card_html
from privml.report.html import render_evaluated_report

EVALUATION_FILE = "evaluation.json"


@dataclass
class LoadedModel:
    pipeline: Any
    metadata: dict[str, Any]
    files: list[splits.InputFile]


def load_model_input(model_dir: Path) -> LoadedModel:
    """The model directory as training wrote it, or the model.tar.gz SageMaker packed from it.

    The archive is read member by member in memory (never extracted to disk), so links, absolute
    paths and `..` in it cannot touch the file system.
    """
    if (model_dir / MODEL_FILE).is_file():
        model_bytes = (model_dir / MODEL_FILE).read_bytes()
        meta_path = model_dir / METADATA_FILE
        if not meta_path.is_file():
            raise PrivmlError(f"model input: {METADATA_FILE} missing next to {MODEL_FILE} in {model_dir}")
        meta_bytes = meta_path.read_bytes()
        files = [splits.describe_file("model", model_dir / MODEL_FILE), splits.describe_file("model", meta_path)]
        source = str(model_dir / MODEL_FILE)
    else:
        archives = sorted(model_dir.glob("*.tar.gz"))
        if not archives:
            raise PrivmlError(f"model input: neither {MODEL_FILE} nor model.tar.gz in {model_dir}")
        members = _read_archive(archives[0], (MODEL_FILE, METADATA_FILE))
        model_bytes, meta_bytes = members[MODEL_FILE], members[METADATA_FILE]
        files = [splits.describe_file("model", archives[0])]
        source = f"{archives[0]}:{MODEL_FILE}"
    try:
        metadata = json.loads(meta_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PrivmlError(f"model input: {METADATA_FILE} is not valid JSON") from None
    return LoadedModel(loads_model(model_bytes, source), metadata, files)


def _read_archive(path: Path, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The wanted members of a model.tar.gz, streamed within the bounds the endpoint reads it with."""
    size = path.stat().st_size
    if size > archive.MAX_ARCHIVE_BYTES:
        raise PrivmlError(f"{path}: model archive is larger than {archive.MAX_ARCHIVE_BYTES >> 20} MiB")
    with path.open("rb") as fh:
        return archive.read_members(fh, size, str(path), wanted)


def read_report(report_dir: Path) -> tuple[dict[str, Any], splits.InputFile]:
    path = report_dir / "report.json" if report_dir.is_dir() else report_dir
    if not path.is_file():
        raise PrivmlError(f"report input: no report.json in {report_dir}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PrivmlError(f"report input: {path.name} is not valid JSON") from None
    if not isinstance(report, dict):
        raise PrivmlError(f"report input: {path.name} is not a JSON object")
    return report, splits.describe_file("report", path)


def _number(value: Any) -> float | None:
    if isinstance(value, dict):  # l-diversity may be reported per kind
        value = value.get("value", value.get("l"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def privacy_figures(report: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """k, l, t and the highest prosecutor risk from the Anonymize report; ε spent from training.

    A report without k means no k-anonymity was applied: k = 1 and the highest prosecutor risk is 1
    (a record may be unique), never a flattering default.
    """
    k_value = _number(report.get("k"))
    k = int(k_value) if k_value is not None and k_value >= 1 else 1
    risk = report.get("risk") or {}
    prosecutor = _number(risk.get("prosecutor_max"))
    spent = metadata.get("epsilon_spent")
    return {
        "k": k,
        "l": _number(report.get("l")),
        "t": _number(report.get("t")),
        "prosecutor_max": prosecutor if prosecutor is not None else 1.0 / k,
        "epsilon_spent": float(spent) if spent is not None else None,
    }


def evaluate(
    *,
    model_dir: Path,
    train_dir: Path,
    test_dir: Path,
    report_dir: Path,
    output_dir: Path,
    quality_margin: float = gates.DEFAULT_MARGIN,
    quality_threshold: float | None = None,
    max_membership_advantage: float | None = None,
    k_required: int | None = None,
    config_dir: Path | None = None,
    audit_seed: int = 0,
) -> dict[str, Any]:
    """Evaluate the model on the anonymized test split and write evaluation.json and the model card.

    `quality_threshold` None or 0: no absolute floor (the baseline margin is the quality gate);
    `max_membership_advantage` None or 1: no membership gate unless the policy declares one.
    """
    if not 0 <= quality_margin <= 1:
        raise PrivmlError("--quality-margin must be between 0 and 1")
    if quality_threshold is not None and not 0 <= quality_threshold <= 1:
        raise PrivmlError("--quality-threshold must be between 0 and 1 (0 = no absolute threshold)")
    if max_membership_advantage is not None and not 0 <= max_membership_advantage <= 1:
        raise PrivmlError("--max-membership-advantage must be between 0 and 1 (1 = no membership gate)")
    if k_required is not None and k_required < 1:
        raise PrivmlError("--k must be >= 1")
    threshold = quality_threshold or None
    loaded = load_model_input(model_dir)
    report, report_file = read_report(report_dir)
    train, train_files = splits.read_split("train", train_dir)
    test, test_files = splits.read_split("test", test_dir)
    meta = loaded.metadata
    try:
        label, features, numeric = meta["label"], meta["feature_columns"], meta["numeric_columns"]
    except KeyError as exc:
        raise PrivmlError(f"model input: {METADATA_FILE} lacks {exc.args[0]}") from None
    # the splits are already anonymized: apply the model step only, not the privacy step again
    steps = dict(getattr(loaded.pipeline, "steps", []))
    if "privacy" not in steps or "model" not in steps:
        raise PrivmlError("model input: not a privml model (a Pipeline with 'privacy' and 'model' steps)")
    model = steps["model"]
    task = model_task(meta, model)
    y_train = _labels(train, label, "train", task)
    y_test = _labels(test, label, "test", task)
    splits.check_columns(train, features, numeric, "train")
    splits.check_columns(test, features, numeric, "test")

    metrics = score(model, test[features], y_test, task)
    predictor = predictor_name(task)
    baseline = score(fit_baseline(y_train, task), test[features], y_test, task)
    quality, quality_failures = gates.quality(task, metrics, baseline, margin=quality_margin, threshold=threshold,
                                              predictor=predictor)
    privacy = privacy_figures(report, meta)
    privacy_failures = gates.table_privacy(privacy, report, k_required=k_required)
    audit = membership.audit(model, (train[features], y_train), (test[features], y_test), task=task,
                             seed=audit_seed)
    limit, source = gates.advantage_limit(max_membership_advantage, report)
    membership_failures = gates.membership(audit, limit, source)
    audit["gate"] = {"max_advantage": limit, "source": source,
                     "passed": None if limit is None else int(not membership_failures)}
    evaluation = {
        "task": task,
        "metrics": metrics,
        "baseline": {"predictor": predictor, "metrics": baseline},
        "quality": quality,
        "privacy": privacy,
        "membership": audit,
        "gates": gates.combine(quality_failures, privacy_failures + membership_failures),
    }
    inputs = [f.lineage() for f in (*loaded.files, *train_files, *test_files, report_file)]
    controls = job_controls(config_dir) if config_dir is not None else {"sources": []}
    card = build_card(
        evaluation={**evaluation, "rows": {"test": len(test)}}, metadata=meta, report=report,
        evaluation_inputs=inputs, evaluation_controls=controls,
        diagnostics=card_diagnostics(model, test, features, y_test, report=report, metadata=meta),
    )
    # the HTML chart draws an accuracy floor only: R² thresholds are not on its axis
    accuracy_floor = threshold if task != gates.REGRESSION else None
    with atomic_output_dir(output_dir) as tmp:
        (tmp / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "model_card.md").write_text(render_markdown(card), encoding="utf-8")
        (tmp / "model_card.html").write_text(render_card_html(card), encoding="utf-8")
        # the privacy report again, now with the model's accuracy against the privacy it was trained at
        (tmp / "report.html").write_text(render_evaluated_report(report, evaluation,
                                                                 quality_threshold=accuracy_floor), encoding="utf-8")
    return evaluation


def model_task(metadata: dict[str, Any], model: Any) -> str:
    """The task training recorded; a model saved before tasks existed is a classifier."""
    task = metadata.get("task")
    if task is not None:
        return str(task)
    return "binary" if len(getattr(model, "classes_", [])) == 2 else "multiclass"


def _labels(frame: Any, label: str, split: str, task: str) -> np.ndarray:
    y = splits.check_label(frame, label, split)
    if task != gates.REGRESSION:
        return y
    numbers = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise PrivmlError(f"{split} split: regression label '{label}' is not a number in {len(bad)} row(s) "
                          f"(first: row {bad[0] + 1})")
    return numbers


def score(model: Any, X: Any, y: np.ndarray, task: str) -> dict[str, float]:
    """The metrics of `task` (metrics.model_metrics), for the model and the baseline alike."""
    return dict(model_scores.model_metrics(model, X, y, task=task))
