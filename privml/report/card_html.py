"""The model card as one self-contained HTML page (model_card.html): inline CSS and SVG, no scripts, no
network. The same sections as model_card.md, with plots: model against baseline, the confusion matrix as a
heat map, the reliability diagram, errors per prediction bucket, the headline metric per group. It renders
only the card's figures and names (the card holds no value of an identifying column), all HTML-escaped.
"""

from __future__ import annotations

import html
import re
from typing import Any

from privml.report.card_markdown import CONTROL_ROWS, MEMBERSHIP_MEANING, NOT_RUN, control_value, fmt
from privml.report.charts import bar_chart
from privml.report.html import _CSS

BLUE, GREY, ORANGE = "#2f80ed", "#9aa5b1", "#f2994a"
_UNIT_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "r2")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _code(text: str) -> str:
    """Escaped text with `names` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _f(value: Any) -> str:
    return _e(fmt(value))


def _table(header: list[str], rows: list[list[Any]], *, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i >= numeric_from else ""}>{_f(c)}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def reliability_chart(bins: list[dict[str, Any]], *, title: str, width: int = 420, height: int = 360) -> str:
    """Observed frequency against mean predicted probability per bin, with the diagonal of a calibrated
    model. Bins left out (too few rows) draw nothing."""
    left, bottom, top, right = 52, 44, 14, 14
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * x, top + plot_h * (1 - y)

    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" xmlns="http://www.w3.org/2000/svg">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x, y = xy(tick, tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#52606d">'
                     f"{tick:g}</text>")
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle" '
                     f'fill="#52606d">{tick:g}</text>')
    (x0, y0), (x1, y1) = xy(0, 0), xy(1, 1)
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{GREY}" stroke-dasharray="4 3"/>')
    points = [xy(b["mean_predicted"], b["observed"]) for b in bins if b.get("observed") is not None]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for b in bins:
        if b.get("observed") is None:
            continue
        x, y = xy(b["mean_predicted"], b["observed"])
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{BLUE}"><title>'
                     f'{b["low"]:.1f}–{b["high"]:.1f}: {b["rows"]} rows, predicted {b["mean_predicted"]:.3f}, '
                     f'observed {b["observed"]:.3f}</title></circle>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
                 'fill="#323f4b">mean predicted probability</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" fill="#323f4b" '
                 f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">observed frequency</text></svg>')
    return "".join(parts)


def confusion_chart(labels: list[str], counts: list[list[int]], *, title: str, cell: int = 56) -> str:
    """The confusion matrix as a heat map: each cell shaded by its share of its true class's rows."""
    n = len(labels)
    left, top = 120, 40
    width, height = left + cell * n + 10, top + cell * n + 30
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{left + cell * n / 2}" y="14" font-size="11" text-anchor="middle" fill="#323f4b">'
             "predicted class</text>"]
    for j, label in enumerate(labels):
        parts.append(f'<text x="{left + cell * j + cell / 2}" y="{top - 8}" font-size="11" text-anchor="middle" '
                     f'fill="#52606d">{_e(label[:12])}</text>')
    for i, (label, row) in enumerate(zip(labels, counts, strict=True)):
        total = sum(row) or 1
        parts.append(f'<text x="{left - 8}" y="{top + cell * i + cell / 2 + 4}" font-size="11" text-anchor="end" '
                     f'fill="#52606d">{_e(label[:16])}</text>')
        for j, count in enumerate(row):
            share = count / total
            shade = f"rgba(47,128,237,{0.08 + 0.92 * share:.3f})"
            ink = "#ffffff" if share > 0.55 else "#1f2933"
            x, y = left + cell * j, top + cell * i
            parts.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{shade}">'
                         f"<title>true {_e(label)}, predicted {_e(labels[j])}: {count} ({share:.1%} of the class)"
                         f'</title></rect><text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" font-size="12" '
                         f'text-anchor="middle" fill="{ink}">{count}</text>')
    parts.append(f'<text x="10" y="{top + cell * n / 2}" font-size="11" fill="#323f4b">true class</text></svg>')
    return "".join(parts)


def _metrics(card: dict[str, Any]) -> str:
    splits = list(card["metrics"])
    names = list(card["metrics"]["test"])
    baseline = (card.get("baseline") or {}).get("metrics") or {}
    rows = [[n, *(card["metrics"][s].get(n) for s in splits), *([baseline.get(n)] if baseline else [])] for n in names]
    out = ["<h2>Metrics</h2>", _table(["metric", *splits, *(["baseline (test)"] if baseline else [])], rows)]
    unit = [n for n in names if n in _UNIT_METRICS and all(
        isinstance(v, int | float) and 0 <= v <= 1 for v in (card["metrics"]["test"].get(n), baseline.get(n, 0)))]
    if unit:
        series = [("model (test)", [float(card["metrics"]["test"][n]) for n in unit], BLUE)]
        if baseline:
            series.append(((card["baseline"].get("predictor") or "baseline"), [float(baseline[n]) for n in unit], GREY))
        out.append(bar_chart(unit, series, percent=True, title="model against the baseline", height=220))
    predictor = (card.get("baseline") or {}).get("predictor")
    out.append(f"<p>Baseline: {('the ' + _e(predictor) + ' predictor on the same test split') if predictor else 'not computed by this evaluation'}.</p>")  # noqa: E501
    quality = card.get("quality")
    if quality:
        out.append(f"<p>Quality gate: {_e(quality.get('metric'))} {_f(quality.get('model'))} against "
                   f"{_e(quality['against'])} (baseline {_f(quality.get('baseline'))}, threshold "
                   f"{_f(quality.get('threshold'))}).</p>")
    return "".join(out)


def _diagnostics(diag: dict[str, Any] | None) -> str:
    if not diag:
        return "<h2>Diagnostics</h2><p>Not computed by this evaluation.</p>"
    out = []
    floor = diag.get("min_group_rows")
    if "confusion_matrix" in diag:
        cm = diag["confusion_matrix"]
        out += ["<h2>Confusion matrix (test split)</h2>", confusion_chart(cm["labels"], cm["counts"],
                                                                        title="confusion matrix")]
        cal = diag["calibration"]
        out += [f"<h2>Calibration</h2><p>Reliability on the {_e(cal['kind'])}. Expected calibration error (ECE) "
                f"<b>{_f(cal['ece'])}</b>: 0 means predicted probabilities match observed frequencies; the dashed "
                "line is a perfectly calibrated model.</p>",
                reliability_chart(cal["bins"], title="reliability diagram"),
                _table(["predicted", "rows", "mean predicted", "observed"],
                       [[f"{b['low']:.1f}–{b['high']:.1f}", b["rows"], b["mean_predicted"], b["observed"]]
                        for b in cal["bins"]])]
        if cal["suppressed_bins"]:
            out.append(f"<p>{cal['suppressed_bins']} bin(s) with fewer than {_f(floor)} rows are not shown "
                       "(they still count in the ECE).</p>")
    if "residuals" in diag:
        res = diag["residuals"]
        buckets = [b for b in res["by_prediction_bucket"] if b.get("rows")]
        out += ["<h2>Residuals (test split)</h2>",
                f"<p>Residual = label − prediction. RMSE {_f(res['rmse'])}, MAE {_f(res['mae'])}, mean "
                f"{_f(res['mean'])} (bias), standard deviation {_f(res['std'])}.</p>",
                _table(list(res["quantiles"]), [list(res["quantiles"].values())], numeric_from=0)]
        if buckets:
            labels = [f"{fmt(b['prediction_from'])}–{fmt(b['prediction_to'])}" for b in buckets]
            out.append(bar_chart(labels, [("RMSE", [float(b["rmse"]) for b in buckets], BLUE),
                                          ("MAE", [float(b["mae"]) for b in buckets], ORANGE)],
                                 title="errors per prediction bucket", y_label="error", height=240))
        out.append(_table(["prediction from", "to", "rows", "RMSE", "MAE", "mean residual"],
                          [[b["prediction_from"], b["prediction_to"], b["rows"], b["rmse"], b["mae"],
                            b["mean_residual"]] for b in res["by_prediction_bucket"]], numeric_from=0))
    out.append(_groups(diag))
    return "".join(out)


def _groups(diag: dict[str, Any]) -> str:
    out = ["<h2>Per group of each sensitive attribute</h2>"]
    per_group = diag.get("per_group") or {}
    if not per_group:
        return out[0] + "<p>No declared sensitive attribute is in the test split.</p>"
    floor = diag.get("min_group_rows")
    for name, result in per_group.items():
        out.append(f"<h3>{_e(name)}</h3>")
        groups, gap = result["groups"], result.get("largest_gap")
        if groups:
            metrics = [k for k in groups[0] if k not in ("group", "rows")]
            headline = "mae" if "mae" in metrics else "accuracy"
            shown = [g for g in groups if g.get(headline) is not None]
            if shown:
                out.append(bar_chart([str(g["group"]) for g in shown],
                                     [(headline, [float(g[headline]) for g in shown], BLUE)],
                                     percent=headline == "accuracy", title=f"{headline} per group of {name}",
                                     height=220))
            out.append(_table(["group", "rows", *metrics], [[g["group"], g["rows"], *(g[m] for m in metrics)]
                                                           for g in groups]))
        out.append(f"<p>Largest gap in {_e(gap['metric'])}: <b>{_f(gap['gap'])}</b> (highest {_e(gap['highest'])}, "
                   f"lowest {_e(gap['lowest'])}).</p>" if gap else
                   "<p>Fewer than two groups large enough to compare: no gap is reported.</p>")
        if result["suppressed_groups"]:
            out.append(f"<p>{result['suppressed_groups']} group(s) with fewer than {_f(floor)} test rows "
                       f"({result['suppressed_rows']} rows) are not shown: a small group's figure can reveal "
                       "someone.</p>")
    return "".join(out)


def _membership(membership: dict[str, Any] | None) -> str:
    if membership is None:
        return f"<h2>Membership-inference audit</h2><p>Membership audit: {NOT_RUN}.</p>"
    attacks = membership.get("attacks") or {}
    return ("<h2>Membership-inference audit</h2>"
            f"<p>{_f(membership.get('members'))} members (train split) against {_f(membership.get('non_members'))} "
            f"non-members (test split); method: {_e(membership.get('method') or '—')}.</p>"
            + _table(["attack", "AUC", "TPR at 0.1% FPR", "TPR at 1% FPR", "advantage"],
                     [[n, a.get("auc"), a.get("tpr_at_0.1pct_fpr"), a.get("tpr_at_1pct_fpr"), a.get("advantage")]
                      for n, a in attacks.items()])
            + f"<p>Highest advantage: <b>{_f(membership.get('advantage'))}</b>.</p><p>{_e(MEMBERSHIP_MEANING)}</p>")


def _privacy(card: dict[str, Any]) -> str:
    privacy, policy = card["privacy"], card.get("data_policy") or {}
    out = ["<h2>Privacy</h2>"]
    out += [f'<div class="warning" role="alert"><b>⚠ {_e(w["message"])}</b><span class="fix">{_e(w["fix"])}</span>'
            "</div>" for w in privacy.get("warnings") or []]
    out.append(_table(["measure", "value"], [[n, privacy.get(n)] for n in (
        "k", "l", "t", "prosecutor_max", "prosecutor_avg", "sample_uniqueness", "differential_privacy", "dp_epsilon",
        "epsilon_spent", "suppressed_rows")]))
    if privacy.get("epsilon_parts"):
        out.append("<p>ε spent, by what it was spent on: " + ", ".join(
            f"{_e(n)} {_f(v)}" for n, v in privacy["epsilon_parts"].items()) + ".</p>")
    if privacy.get("dp_scope"):
        out.append(f"<p>Differential privacy: {_e(privacy['dp_scope'])}.</p>")
    if privacy.get("splits"):
        out.append("<h3>Per split</h3><p>A reader holding one split sees these figures, not the whole table's.</p>"
                   + _table(["split", "rows", "equivalence classes", "k", "l (distinct)", "rows below the k target",
                           "prosecutor max"],
                            [[n, s.get("rows"), s.get("classes"), s.get("k"), s.get("l"), s.get("rows_below_k"),
                              s.get("prosecutor_max")] for n, s in privacy["splits"].items()]))
    names = [("Quasi-identifiers", policy.get("quasi_identifiers")), ("Sensitive attributes",
             policy.get("sensitive_attributes")), ("Identifiers", policy.get("identifiers")),
             ("Dropped", policy.get("dropped"))]
    out.append("<p>" + " ".join(f"{label}: {_e(', '.join(v or []) or '—')}." for label, v in names) + "</p>")
    return "".join(out)


def _controls(card: dict[str, Any]) -> str:
    controls = card["controls"]
    execution = controls.get("execution") or {}
    rows = [[n, control_value(controls["training"] or {}, execution.get("training", "—"), n),
             control_value(controls["evaluation"] or {}, execution.get("evaluation", "—"), n)] for n in CONTROL_ROWS]
    return ("<h2>Controls</h2>"
            f"<p>Training ran <b>{_e(execution.get('training', 'not recorded'))}</b>; evaluation ran "
            f"<b>{_e(execution.get('evaluation', 'not recorded'))}</b>.</p>"
            + _table(["control", "training", "evaluation"], rows, numeric_from=9)
            + "<p>— means not recorded by any job configuration file (not assumed on or off).</p>"
            + (f"<p>{_code(controls['note'])}</p>" if controls.get("note") else ""))


def _lineage(card: dict[str, Any]) -> str:
    rows = [[step, i["input"], i["file"], i["bytes"], i["sha256"]]
            for step, key in (("train", "training_inputs"), ("evaluate", "evaluation_inputs"))
            for i in card["data_lineage"][key]]
    return "<h2>Data lineage (SHA-256)</h2>" + _table(["step", "input", "file", "bytes", "sha256"], rows,
                                                      numeric_from=3)


def render_card_html(card: dict[str, Any]) -> str:
    model, gates = card["model"], card["gates"]
    passed = bool(gates.get("passed"))
    classes = f" · classes {_e(', '.join(map(str, model['classes'])))}" if model.get("classes") else ""
    limits = "".join(f"<li>{_e(text)}</li>" for text in card.get("limitations") or [])
    body = [
        f"<h1>Model card: {_e(model['kind'])}</h1>",
        f'<p class="sub">{_e(model.get("description"))} · task {_e(model.get("task") or "—")} · label '
        f"<code>{_e(model.get('label'))}</code>{classes}</p>",
        f'<p>Gates: <span class="badge {"ok" if passed else "bad"}">{"passed" if passed else "FAILED"}</span> '
        f"{_e(gates.get('reason'))}</p>",
        f"<h2>Intended use and limitations</h2><p>{_code(card['intended_use'])}</p><ul>{limits}</ul>",
        _metrics(card), _diagnostics(card.get("diagnostics")), _membership(card.get("membership")),
        _privacy(card), _controls(card), _lineage(card),
        f"<footer>Generated by privml at {_e(card.get('generated_at'))}. This page holds metrics, counts, column "
        "names and the values of declared sensitive attributes as released — no value of an identifying column."
        "</footer>",
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>privml model card: {_e(model['kind'])}</title><style>{_CSS}h3{{font-size:1rem}}</style></head>"
            "<body>" + "".join(body) + "</body></html>")
