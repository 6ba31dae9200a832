"""The model card: what the model is, what it was trained on (hashes, not data), what privacy it has
(k, l, t, re-identification risk, ε spent), how well it does, and the controls its jobs ran under.
Written as JSON (for machines) and Markdown (for people). Never contains a value from the data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def build_card(
    *,
    evaluation: dict[str, Any],
    metadata: dict[str, Any],
    report: dict[str, Any],
    evaluation_inputs: list[dict[str, Any]],
    evaluation_controls: dict[str, Any],
) -> dict[str, Any]:
    from privml.report.verdicts import warnings_json

    risk = report.get("risk") or {}
    warnings = report["warnings"] if isinstance(report.get("warnings"), list) else warnings_json(report)
    return {
        "model": {
            "kind": metadata.get("model"),
            "description": metadata.get("model_description"),
            "label": metadata.get("label"),
            "classes": metadata.get("classes"),
            "feature_columns": metadata.get("feature_columns"),
            "input_columns": metadata.get("input_columns"),
            "trained_at": metadata.get("created_at"),
            "seed": metadata.get("seed"),
            "versions": metadata.get("versions"),
            "artifact": "scikit-learn Pipeline [privacy: fitted PrivacyTransformer, model: encoder + classifier], "
            "saved with skops (no pickle); loaded with an explicit trusted-type list",
        },
        "intended_use": (
            "Predicting the label from anonymized features. The model never saw identifiers; serving applies "
            "the same fitted anonymization to every request before the model sees it."
        ),
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
            "dp_scope": metadata.get("dp_scope"),
            "quasi_identifiers": report.get("quasi_identifiers", []),
            "sensitive_attributes": report.get("sensitive_attributes", []),
            "suppressed_rows": report.get("suppressed_rows"),
            "anonymity_policy": report.get("anonymity"),
            "warnings": warnings,
        },
        "metrics": {
            "test": evaluation["metrics"],
            **{split: m for split, m in (metadata.get("metrics") or {}).items()},
        },
        "gates": evaluation["gates"],
        "controls": {"training": metadata.get("controls"), "evaluation": evaluation_controls},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _fmt(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(card: dict[str, Any]) -> str:
    model, privacy, gates = card["model"], card["privacy"], card["gates"]
    lines = [
        f"# Model card: {model['kind']}",
        "",
        f"{model['description']}. Label `{model['label']}`; classes {', '.join(map(str, model['classes'] or []))}.",
        "",
        card["intended_use"],
        "",
        f"Gates: **{'passed' if gates['passed'] else 'FAILED'}** — {gates['reason']}",
        "",
        "## Metrics",
        "",
    ]
    splits = list(card["metrics"])
    names = list(card["metrics"]["test"])
    lines += ["| metric | " + " | ".join(splits) + " |", "| --- |" + " --- |" * len(splits)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(card["metrics"][s].get(name)) for s in splits) + " |")
    lines += ["", "## Privacy", ""]
    for warning in privacy.get("warnings") or []:
        lines += [f"> **Warning:** {warning['message']}.", f"> *What to change:* {warning['fix']}.", ""]
    lines += ["| measure | value |", "| --- | --- |"]
    for name in ("k", "l", "t", "prosecutor_max", "prosecutor_avg", "sample_uniqueness", "differential_privacy",
                 "dp_epsilon", "epsilon_spent", "suppressed_rows"):
        lines.append(f"| {name} | {_fmt(privacy.get(name))} |")
    lines += [
        "",
        f"Quasi-identifiers: {', '.join(privacy['quasi_identifiers']) or '—'}. "
        f"Sensitive attributes: {', '.join(privacy['sensitive_attributes']) or '—'}.",
        *(["", f"Differential privacy: {privacy['dp_scope']}."] if privacy.get("dp_scope") else []),
        "",
        "## Data lineage (SHA-256)",
        "",
        "| step | input | file | bytes | sha256 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for step, key in (("train", "training_inputs"), ("evaluate", "evaluation_inputs")):
        for item in card["data_lineage"][key]:
            lines.append(f"| {step} | {item['input']} | {item['file']} | {item['bytes']} | `{item['sha256']}` |")
    lines += ["", "## Controls", "", "| control | training | evaluation |", "| --- | --- | --- |"]
    train_c = card["controls"]["training"] or {}
    eval_c = card["controls"]["evaluation"] or {}
    for name in ("network_isolation", "inter_container_encryption", "vpc", "volume_kms_key", "output_kms_key",
                 "instance_type", "sources"):
        t, e = train_c.get(name), eval_c.get(name)
        t = ", ".join(t) if isinstance(t, list) and t else t
        e = ", ".join(e) if isinstance(e, list) and e else e
        lines.append(f"| {name} | {_fmt(t)} | {_fmt(e)} |")
    lines += ["", "— means not recorded by any job configuration file (not assumed on or off).", ""]
    return "\n".join(lines)
