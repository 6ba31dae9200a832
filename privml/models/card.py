"""The model card: what the model is and is for, what it was trained on (hashes, not data), what privacy it
has (k, l, t, re-identification risk per split, ε and its parts, the membership audit), how well it does
(against the trivial baseline, its confusion matrix and calibration or its residuals, per group of each
declared sensitive attribute), what the gates checked and what they do not, and the controls its jobs
really ran under (a local run says local). Written as JSON (for machines), Markdown and HTML (for the
reviewer who signs it; privml/report/card_html.py). Never contains a value of an identifying column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _columns_by(report: dict[str, Any], *, role: str | None = None, action: str | None = None) -> list[str]:
    columns = report.get("columns") or {}
    return [name for name, spec in columns.items()
            if (role is None or spec.get("role") == role) and (action is None or spec.get("action") == action)]


def data_policy(report: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """What the policy made of each column, and the anonymity targets the Anonymize step was held to."""
    targets = report.get("anonymity") or {}
    return {
        "quasi_identifiers": list(report.get("quasi_identifiers") or []),
        "sensitive_attributes": list(report.get("sensitive_attributes") or []),
        "identifiers": _columns_by(report, role="identifier"),
        "dropped": _columns_by(report, action="drop"),
        "excluded_from_model": list(metadata.get("excluded_identifier_columns") or []),
        "targets": {
            "k": targets.get("k"),
            "l": (targets.get("l_diversity") or {}).get("l"),
            "t": (targets.get("t_closeness") or {}).get("t"),
            "max_risk": targets.get("max_risk"),
        },
    }


def _split_privacy(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """k per split from the Anonymize report, with the prosecutor risk it implies (1/k): a reader holding
    only one split sees these figures, not the whole table's."""
    out = {}
    for name, figures in (report.get("splits") or {}).items():
        k = figures.get("k")
        out[name] = {**figures, "prosecutor_max": round(1 / k, 6) if k else None}
    return out


def _describe_target(name: str, value: Any) -> str:
    return f"{name} ≥ {value}" if name in ("k", "l") else f"{name} ≤ {value}"


def limitations(card: dict[str, Any]) -> list[str]:
    """The limitations a reviewer signs off, written from the policy, the gates and the figures."""
    policy, privacy, gates = card["data_policy"], card["privacy"], card["gates"]
    task = card["model"].get("task") or "classification"
    out = []
    qis = [q for q in policy["quasi_identifiers"] if q not in policy["dropped"]]
    targets = {k: v for k, v in policy["targets"].items() if v is not None}
    if qis and targets:
        out.append(f"Trained on data anonymized over the quasi-identifiers {', '.join(qis)} to "
                   f"{', '.join(_describe_target(k, v) for k, v in targets.items())} (measured: k = "
                   f"{privacy.get('k')}): the model sees their released values only, and serving transforms every "
                   "request the same way; it cannot tell apart people the anonymization made alike.")
    elif qis:
        out.append(f"The quasi-identifiers {', '.join(qis)} were transformed column by column as the policy says, "
                   f"but no k-anonymity target was set (measured: k = {privacy.get('k')}): a combination of them "
                   "may single a person out in the training data.")
    else:
        out.append("No quasi-identifier is released: no k-anonymity target applies to the training data.")
    never = sorted(set(policy["identifiers"]) | set(policy["dropped"]) | set(policy["excluded_from_model"]))
    if never:
        out.append(f"The model never saw {', '.join(never)} (identifiers or dropped columns): it must not be used "
                   "to decide anything that depends on them.")
    if policy["sensitive_attributes"]:
        out.append(f"Sensitive attributes {', '.join(policy['sensitive_attributes'])}: the per-group figures below "
                   "show how the model differs between their groups; no gate checks those differences.")
    out.append("k, l and t protect the released table, not the model: what the trained model reveals about who "
               "was in its training data is measured by the membership audit"
               + (" (not run for this model)." if card["membership"] is None else "."))
    if privacy.get("differential_privacy"):
        out.append(f"ε-differentially private (ε spent {privacy.get('epsilon_spent')}): "
                   f"{privacy.get('dp_scope') or 'see the DP scope'}.")
    else:
        out.append("Not differentially private: the model has no formal bound on what it memorized.")
    checked = [f"quality ({card['quality']['metric']} against {card['quality']['against']})"
               if card.get("quality") else "quality (test accuracy against the Evaluate step's threshold)"]
    checked.append("privacy (" + ", ".join(["k", "l", "t", "re-identification risk"]
                                             + (["membership advantage"] if card["membership"] else [])) + ")")
    out.append(f"The gates checked {' and '.join(checked)}; they do not check calibration, differences between "
               "groups, drift after deployment, performance on people unlike the training data, or whether the "
               "policy gave each column the right role.")
    if not gates.get("passed"):
        out.append(f"The gates FAILED ({gates.get('reason')}): this model is not fit for deployment.")
    if task == "regression":
        out.append("A regression model: predictions outside the range of the training labels are extrapolations.")
    return out


def _quality(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    quality = evaluation.get("quality")
    if not isinstance(quality, dict):
        return None
    baseline = (evaluation.get("baseline") or {}).get("predictor")
    against = ("an absolute threshold" if quality.get("threshold") is not None and quality.get("margin") is None
               else f"the {baseline or 'trivial'} baseline + margin {quality.get('margin')}")
    return {**quality, "against": against}


LOCAL_CONTROLS_NOTE = (
    "In a local run the table shows the controls each job's request declares; how privml's executor applied each "
    "of them here (enforced, emulated or recorded only) is in the run record: `privml runs show RUN_ID`.")


def _execution(controls: dict[str, Any] | None) -> str:
    if not controls or not controls.get("sources"):
        return "not recorded"
    if controls.get("execution") == "local":
        asked = controls.get("requested_instance_type")
        return "local (privml's local executor)" + (f"; the definition asks {asked} on SageMaker" if asked else "")
    return f"SageMaker, {controls.get('instance_type') or 'instance type not recorded'}"


def build_card(
    *,
    evaluation: dict[str, Any],
    metadata: dict[str, Any],
    report: dict[str, Any],
    evaluation_inputs: list[dict[str, Any]],
    evaluation_controls: dict[str, Any],
    diagnostics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from privml.report.verdicts import warnings_json

    risk = report.get("risk") or {}
    warnings = report["warnings"] if isinstance(report.get("warnings"), list) else warnings_json(report)
    classes = metadata.get("classes")
    task = evaluation.get("task") or metadata.get("task") or (
        None if not classes else "binary" if len(classes) == 2 else "multiclass")
    training_controls = metadata.get("controls")
    card: dict[str, Any] = {
        "model": {
            "kind": metadata.get("model"),
            "description": metadata.get("model_description"),
            "task": task,
            "label": metadata.get("label"),
            "classes": classes,
            "feature_columns": metadata.get("feature_columns"),
            "input_columns": metadata.get("input_columns"),
            "trained_at": metadata.get("created_at"),
            "seed": metadata.get("seed"),
            "versions": metadata.get("versions"),
            "artifact": "scikit-learn Pipeline [privacy: fitted PrivacyTransformer, model: encoder + estimator], "
            "saved with skops (no pickle); loaded with an explicit trusted-type list",
        },
        "intended_use": (
            f"Predicting `{metadata.get('label')}` from anonymized features. The model never saw identifiers; "
            "serving applies the same fitted anonymization to every request before the model sees it."
        ),
        "data_policy": data_policy(report, metadata),
        "data_lineage": {
            "training_inputs": metadata.get("inputs", []),
            "evaluation_inputs": evaluation_inputs,
            "rows": {**(metadata.get("rows") or {}), "test": evaluation.get("rows", {}).get("test")},
        },
        "privacy": {
            **evaluation["privacy"],
            "prosecutor_avg": risk.get("prosecutor_avg"),
            "sample_uniqueness": risk.get("sample_uniqueness"),
            "differential_privacy": bool(metadata.get("differential_privacy")),
            "dp_epsilon": metadata.get("dp_epsilon"),
            "epsilon_parts": metadata.get("epsilon_parts"),
            "dp_scope": metadata.get("dp_scope"),
            "quasi_identifiers": report.get("quasi_identifiers", []),
            "sensitive_attributes": report.get("sensitive_attributes", []),
            "suppressed_rows": report.get("suppressed_rows"),
            "anonymity_policy": report.get("anonymity"),
            "splits": _split_privacy(report),
            "warnings": warnings,
        },
        "metrics": {
            "test": evaluation["metrics"],
            **{split: m for split, m in (metadata.get("metrics") or {}).items()},
        },
        "baseline": evaluation.get("baseline"),
        "quality": _quality(evaluation),
        "diagnostics": diagnostics,
        "membership": evaluation.get("membership"),
        "gates": evaluation["gates"],
        "controls": {
            "training": training_controls, "evaluation": evaluation_controls,
            "execution": {"training": _execution(training_controls), "evaluation": _execution(evaluation_controls)},
            "note": LOCAL_CONTROLS_NOTE if "local" in ((training_controls or {}).get("execution"),
                                                        (evaluation_controls or {}).get("execution")) else None,
        },
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    card["limitations"] = limitations(card)
    return card


def render_markdown(card: dict[str, Any]) -> str:
    """model_card.md (privml/report/card_markdown.py)."""
    from privml.report.card_markdown import markdown

    return markdown(card)
