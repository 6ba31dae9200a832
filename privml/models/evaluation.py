"""The Evaluate step as a library call: model + anonymized test split + privacy report →
evaluation.json (the PropertyFile the ConditionStep reads), model_card.json, model_card.md,
model_card.html and report.html (the privacy report with the model's accuracy against privacy).

evaluation.json has exactly this shape (docs/architecture.md, The evaluation property file):
{"metrics": {accuracy, balanced_accuracy, roc_auc, f1, brier},
 "privacy": {k, l, t, prosecutor_max, epsilon_spent},
 "gates": {quality_passed, privacy_passed, passed, reason}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.io import atomic_output_dir
from privml.models import archive
from privml.models import data as splits
from privml.models.card import build_card, render_markdown
from privml.models.diagnostics import card_diagnostics
from privml.models.jobenv import job_controls
from privml.models.metrics import METRIC_NAMES, model_metrics
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


def gates(metrics: dict[str, float], privacy: dict[str, Any], report: dict[str, Any], *,
          quality_threshold: float, k_required: int | None) -> dict[str, Any]:
    """The quality gate (accuracy vs the threshold) and the privacy gate (k, l, t, risk vs the targets)."""
    failures = []
    quality = metrics["accuracy"] >= quality_threshold
    if not quality:
        failures.append(f"accuracy {metrics['accuracy']:.4f} < quality threshold {quality_threshold:g}")
    targets = report.get("anonymity") or {}
    k_target = k_required if k_required is not None else targets.get("k")
    privacy_failures = []
    if k_target is not None and privacy["k"] < int(k_target):
        privacy_failures.append(f"k {privacy['k']} < required {int(k_target)}")
    l_target = (targets.get("l_diversity") or {}).get("l")
    if l_target is not None and (privacy["l"] is None or privacy["l"] < float(l_target)):
        privacy_failures.append(f"l {_show(privacy['l'])} < required {float(l_target):g}")
    t_target = (targets.get("t_closeness") or {}).get("t")
    if t_target is not None and (privacy["t"] is None or privacy["t"] > float(t_target)):
        privacy_failures.append(f"t {_show(privacy['t'])} > allowed {float(t_target):g}")
    max_risk = targets.get("max_risk")
    if max_risk is not None and privacy["prosecutor_max"] > float(max_risk):
        privacy_failures.append(f"prosecutor risk {privacy['prosecutor_max']:.4f} > allowed {float(max_risk):g}")
    failures += privacy_failures
    passed = quality and not privacy_failures
    return {
        "quality_passed": int(quality),
        "privacy_passed": int(not privacy_failures),
        "passed": int(passed),
        "reason": "; ".join(failures) if failures else "all gates passed",
    }


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"


def evaluate(
    *,
    model_dir: Path,
    test_dir: Path,
    report_dir: Path,
    output_dir: Path,
    quality_threshold: float = 0.8,
    k_required: int | None = None,
    config_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate the model on the anonymized test split and write evaluation.json and the model card."""
    if not 0 <= quality_threshold <= 1:
        raise PrivmlError("--quality-threshold must be between 0 and 1")
    if k_required is not None and k_required < 1:
        raise PrivmlError("--k must be >= 1")
    loaded = load_model_input(model_dir)
    report, report_file = read_report(report_dir)
    test, test_files = splits.read_split("test", test_dir)
    meta = loaded.metadata
    try:
        label, features, numeric = meta["label"], meta["feature_columns"], meta["numeric_columns"]
    except KeyError as exc:
        raise PrivmlError(f"model input: {METADATA_FILE} lacks {exc.args[0]}") from None
    y_test = splits.check_label(test, label, "test")
    splits.check_columns(test, features, numeric, "test")
    # the test split is already anonymized: apply the model step only, not the privacy step again
    steps = dict(getattr(loaded.pipeline, "steps", []))
    if "privacy" not in steps or "model" not in steps:
        raise PrivmlError("model input: not a privml model (a Pipeline with 'privacy' and 'model' steps)")
    model = steps["model"]
    metrics = model_metrics(model, test[features], y_test)
    privacy = privacy_figures(report, meta)
    evaluation = {
        "metrics": {name: metrics[name] for name in METRIC_NAMES},
        "privacy": privacy,
        "gates": gates(metrics, privacy, report, quality_threshold=quality_threshold, k_required=k_required),
    }
    inputs = [f.lineage() for f in (*loaded.files, *test_files, report_file)]
    controls = job_controls(config_dir) if config_dir is not None else {"sources": []}
    card = build_card(
        evaluation={**evaluation, "rows": {"test": len(test)}}, metadata=meta, report=report,
        evaluation_inputs=inputs, evaluation_controls=controls,
        diagnostics=card_diagnostics(model, test, features, y_test, report=report, metadata=meta),
    )
    with atomic_output_dir(output_dir) as tmp:
        (tmp / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "model_card.md").write_text(render_markdown(card), encoding="utf-8")
        (tmp / "model_card.html").write_text(render_card_html(card), encoding="utf-8")
        # the privacy report again, now with the model's accuracy against the privacy it was trained at
        (tmp / "report.html").write_text(render_evaluated_report(report, evaluation,
                                                                 quality_threshold=quality_threshold), encoding="utf-8")
    return evaluation
