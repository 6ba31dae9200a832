"""The model card as Markdown (model_card.md): every section of the card, as tables and sentences."""

from __future__ import annotations

from typing import Any

NOT_RUN = "not run"


def fmt(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


MEMBERSHIP_MEANING = (
    "An attacker guesses, from the model's output on a row, whether that row was in the training data (members: "
    "the train split; non-members: the test split). AUC 0.5 means the attacker does no better than a coin; the "
    "true-positive rate at 0.1% and 1% false-positive rate is the share of members it identifies while almost "
    "never wrongly accusing a non-member — the figure that matters for a single person (Carlini et al., "
    "Membership Inference Attacks From First Principles, 2022). Advantage = max(TPR − FPR).")
CONTROL_ROWS = ("execution", "network_isolation", "inter_container_encryption", "vpc", "volume_kms_key",
                "output_kms_key", "instance_type", "requested_instance_type", "sources")


def control_value(controls: dict[str, Any], execution: str, name: str) -> str:
    if name == "execution":
        return execution
    value = (controls or {}).get(name)
    return fmt(", ".join(value) if isinstance(value, list) and value else value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(fmt(c) if not isinstance(c, str) else (c or "—") for c in row) + " |" for row in rows)]


def metrics_section(card: dict[str, Any]) -> list[str]:
    splits = list(card["metrics"])
    names = list(card["metrics"]["test"])
    baseline = (card.get("baseline") or {}).get("metrics") or {}
    header = ["metric", *splits, *(["baseline (test)"] if baseline else [])]
    rows = [[name, *(card["metrics"][s].get(name) for s in splits), *([baseline.get(name)] if baseline else [])]
            for name in names]
    lines = ["## Metrics", "", *_table(header, rows), ""]
    quality = card.get("quality")
    predictor = (card.get("baseline") or {}).get("predictor")
    if predictor:
        lines.append(f"Baseline: the {predictor} predictor on the same test split.")
    else:
        lines.append("Baseline: not computed by this evaluation.")
    if quality:
        lines.append(f"Quality gate: {quality.get('metric')} {fmt(quality.get('model'))} against "
                     f"{quality['against']} (baseline {fmt(quality.get('baseline'))}, threshold "
                     f"{fmt(quality.get('threshold'))}).")
    return [*lines, ""]


def diagnostics_section(diag: dict[str, Any] | None) -> list[str]:
    if not diag:
        return ["## Diagnostics", "", "Not computed by this evaluation.", ""]
    lines: list[str] = []
    floor = diag.get("min_group_rows")
    if "confusion_matrix" in diag:
        cm = diag["confusion_matrix"]
        lines += ["## Confusion matrix (test split)", "", "Rows: true class; columns: predicted class.", "",
                  *_table(["true \\ predicted", *cm["labels"]],
                          [[label, *row] for label, row in zip(cm["labels"], cm["counts"], strict=True)]), ""]
        cal = diag["calibration"]
        lines += ["## Calibration", "", f"Reliability on the {cal['kind']}; expected calibration error (ECE) "
                  f"**{fmt(cal['ece'])}** (0 = predicted probabilities match observed frequencies).", "",
                  *_table(["predicted", "rows", "mean predicted", "observed"],
                          [[f"{b['low']:.1f}–{b['high']:.1f}", b["rows"], b["mean_predicted"], b["observed"]]
                           for b in cal["bins"]]), ""]
        if cal["suppressed_bins"]:
            lines += [f"{cal['suppressed_bins']} bin(s) with fewer than {floor} rows are not shown (still in the ECE).",
                      ""]
    if "residuals" in diag:
        res = diag["residuals"]
        lines += ["## Residuals (test split)", "",
                  f"Residual = label − prediction. RMSE {fmt(res['rmse'])}, MAE {fmt(res['mae'])}, mean "
                  f"{fmt(res['mean'])} (bias), standard deviation {fmt(res['std'])}.", "",
                  *_table(list(res["quantiles"]), [list(res["quantiles"].values())]), "",
                  *_table(["prediction from", "to", "rows", "RMSE", "MAE", "mean residual"],
                          [[b["prediction_from"], b["prediction_to"], b["rows"], b["rmse"], b["mae"],
                            b["mean_residual"]] for b in res["by_prediction_bucket"]]), ""]
    lines += groups_section(diag)
    return lines


def groups_section(diag: dict[str, Any]) -> list[str]:
    lines = ["## Per group of each sensitive attribute", ""]
    per_group = diag.get("per_group") or {}
    if not per_group:
        return [*lines, "No declared sensitive attribute is in the test split.", ""]
    floor = diag.get("min_group_rows")
    for name, result in per_group.items():
        lines.append(f"### {name}")
        lines.append("")
        groups = result["groups"]
        if groups:
            metrics = [k for k in groups[0] if k not in ("group", "rows")]
            lines += _table(["group", "rows", *metrics], [[g["group"], g["rows"], *(g[m] for m in metrics)]
                                                         for g in groups])
            lines.append("")
        gap = result.get("largest_gap")
        if gap:
            lines.append(f"Largest gap in {gap['metric']}: **{fmt(gap['gap'])}** (highest {gap['highest']}, "
                         f"lowest {gap['lowest']}).")
        else:
            lines.append("Fewer than two groups large enough to compare: no gap is reported.")
        lines.append("")
        if result["suppressed_groups"]:
            lines += [f"{result['suppressed_groups']} group(s) with fewer than {floor} test rows "
                      f"({result['suppressed_rows']} rows) are not shown: a small group's figure can reveal someone.",
                      ""]
    return lines


def membership_section(membership: dict[str, Any] | None) -> list[str]:
    lines = ["## Membership-inference audit", ""]
    if membership is None:
        return [*lines, f"Membership audit: {NOT_RUN}.", ""]
    attacks = membership.get("attacks") or {}
    lines += [f"{membership.get('members')} members (train split) against {membership.get('non_members')} "
              f"non-members (test split); method: {membership.get('method') or '—'}.", "",
              *_table(["attack", "AUC", "TPR at 0.1% FPR", "TPR at 1% FPR", "advantage"],
                      [[name, a.get("auc"), a.get("tpr_at_0.1pct_fpr"), a.get("tpr_at_1pct_fpr"), a.get("advantage")]
                       for name, a in attacks.items()]), "",
              f"Highest advantage: **{fmt(membership.get('advantage'))}**.", "", MEMBERSHIP_MEANING, ""]
    return lines


def privacy_section(card: dict[str, Any]) -> list[str]:
    privacy = card["privacy"]
    lines = ["## Privacy", ""]
    for warning in privacy.get("warnings") or []:
        lines += [f"> **Warning:** {warning['message']}.", f"> *What to change:* {warning['fix']}.", ""]
    lines += _table(["measure", "value"], [[name, privacy.get(name)] for name in (
        "k", "l", "t", "prosecutor_max", "prosecutor_avg", "sample_uniqueness", "differential_privacy",
        "dp_epsilon", "epsilon_spent", "suppressed_rows")])
    parts = privacy.get("epsilon_parts")
    if parts:
        lines += ["", "ε spent, by what it was spent on: "
                  + ", ".join(f"{name} {fmt(value)}" for name, value in parts.items()) + "."]
    if privacy.get("splits"):
        lines += ["", "Per split (a reader holding one split sees these figures, not the whole table's):", "",
                  *_table(["split", "rows", "equivalence classes", "k", "l (distinct)", "rows below the k target",
                           "prosecutor max"],
                          [[name, s.get("rows"), s.get("classes"), s.get("k"), s.get("l"), s.get("rows_below_k"),
                            s.get("prosecutor_max")] for name, s in privacy["splits"].items()])]
    policy = card.get("data_policy") or {}
    lines += [
        "",
        f"Quasi-identifiers: {', '.join(privacy['quasi_identifiers']) or '—'}. "
        f"Sensitive attributes: {', '.join(privacy['sensitive_attributes']) or '—'}. "
        f"Identifiers: {', '.join(policy.get('identifiers') or []) or '—'}. "
        f"Dropped: {', '.join(policy.get('dropped') or []) or '—'}.",
        *(["", f"Differential privacy: {privacy['dp_scope']}."] if privacy.get("dp_scope") else []),
        "",
    ]
    return lines


def markdown(card: dict[str, Any]) -> str:
    model, gates = card["model"], card["gates"]
    classes = f"; classes {', '.join(map(str, model['classes']))}" if model.get("classes") else ""
    lines = [
        f"# Model card: {model['kind']}",
        "",
        f"{model['description']}. Task: {model.get('task') or '—'}. Label `{model['label']}`{classes}.",
        "",
        f"Gates: **{'passed' if gates.get('passed') else 'FAILED'}** — {gates.get('reason')}",
        "",
        "## Intended use and limitations",
        "",
        card["intended_use"],
        "",
        *(f"- {text}" for text in card.get("limitations") or []),
        "",
        *metrics_section(card),
        *diagnostics_section(card.get("diagnostics")),
        *membership_section(card.get("membership")),
        *privacy_section(card),
        "## Data lineage (SHA-256)",
        "",
        "| step | input | file | bytes | sha256 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for step, key in (("train", "training_inputs"), ("evaluate", "evaluation_inputs")):
        for item in card["data_lineage"][key]:
            lines.append(f"| {step} | {item['input']} | {item['file']} | {item['bytes']} | `{item['sha256']}` |")
    controls = card["controls"]
    execution = controls.get("execution") or {}
    lines += ["", "## Controls", "",
              f"Training ran {execution.get('training', 'not recorded')}; evaluation ran "
              f"{execution.get('evaluation', 'not recorded')}.", "",
              "| control | training | evaluation |", "| --- | --- | --- |"]
    for name in CONTROL_ROWS:
        lines.append(f"| {name} | {control_value(controls['training'] or {}, execution.get('training', '—'), name)} | "
                     f"{control_value(controls['evaluation'] or {}, execution.get('evaluation', '—'), name)} |")
    lines += ["", "— means not recorded by any job configuration file (not assumed on or off).", "",
              *([controls["note"], ""] if controls.get("note") else [])]
    return "\n".join(lines)
