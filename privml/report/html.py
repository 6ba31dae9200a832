"""The privacy report as one self-contained HTML page (inline CSS and SVG, no scripts, no network).

It shows what a reviewer asks first: is anything weak (warnings, each with what to change in the policy),
were the targets met, how much risk is left compared with the input, what the anonymization cost per
column, which transformation ran, and the policy. When the run also evaluated a model, a chart puts its
accuracy against the privacy it was trained under. It renders only the report's counts, ratios and names —
the report holds no values from the data (invariant 1), and everything is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from privml.report.charts import bar_chart, scatter_chart
from privml.report.verdicts import privacy_warnings

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;
color:#1f2933;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;
padding-bottom:.3rem}.sub{color:#52606d;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}.card{border:1px solid #d9e2ec;border-radius:8px;
padding:.6rem .9rem;min-width:140px}.card b{display:block;font-size:1.35rem}.card span{color:#52606d;font-size:.85rem}
.card.flag{border-color:#f0b429;background:#fffbea}
.ok{color:#1b7f3b}.bad{color:#b42318}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e4e7eb;font-size:.92rem}
th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.flag td{background:#fffbea}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600}
.badge.ok{background:#e3f9e5}.badge.bad{background:#fde8e8}svg text{font-family:inherit}
.warnings{margin:1rem 0}.warning{border:1px solid #f0b429;border-left:6px solid #de911d;background:#fffbea;
border-radius:6px;padding:.6rem .9rem;margin:.5rem 0}.warning b{color:#8d2b0b}.warning .fix{display:block;
color:#513c06;font-size:.9rem;margin-top:.2rem}.warning .fix::before{content:"What to change: ";font-weight:600}
.warning code{background:#fff3c4;padding:0 .25rem;border-radius:3px;font-size:.85rem}
.allclear{border:1px solid #a3d9a5;background:#e3f9e5;border-radius:6px;padding:.5rem .9rem}
footer{margin-top:2.5rem;color:#7b8794;font-size:.8rem}
"""

# key, label, how it is computed; every one of them is a share (a probability or a fraction of records)
_RISK_ROWS = [
    ("prosecutor_max", "Highest prosecutor risk", "1 / size of the smallest class"),
    ("prosecutor_avg", "Average prosecutor risk", "classes / records"),
    ("sample_uniqueness", "Sample uniqueness", "share of records alone in their class"),
    ("records_above_threshold", "Records above threshold", "share of records whose risk exceeds the threshold"),
    ("journalist_max", "Highest journalist risk", "against the population table"),
    ("journalist_avg", "Average journalist risk", "against the population table"),
]


_FLAG = ' class="flag"'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
        return f"{value:.4g}"
    return _e(value)


def _pct(value: Any) -> str:
    """A share as a percent: 0.196 → 19.6%; tiny non-zero shares keep two significant digits."""
    if value is None:
        return "—"
    share = float(value) * 100
    if share == 0:
        return "0%"
    if abs(share) < 0.1:
        return f"{share:.2g}%"
    return f"{share:.1f}%".replace(".0%", "%")


def _get(report: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in report:
        return report[key]
    nested = report.get("anonymity")
    if isinstance(nested, dict) and key in nested:
        return nested[key]
    return default


def _code(text: str) -> str:
    """Escaped text with `policy snippets` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _warnings_section(report: dict[str, Any]) -> str:
    warnings = privacy_warnings(report)
    if not warnings:
        return ('<section class="warnings"><div class="allclear" role="status">No privacy warnings: l, t, the '
                "splits and the re-identification risk are within the limits privml flags.</div></section>")
    items = "".join(f'<div class="warning" role="alert" data-code="{_e(w.code)}"><b>⚠ {_e(w.message)}</b>'
                    f'<span class="fix">{_code(w.fix)}</span></div>' for w in warnings)
    return f'<section class="warnings"><h2>Warnings ({len(warnings)})</h2>{items}</section>'


def _histogram(report: dict[str, Any]) -> str:
    after = _get(report, "class_sizes") or {}
    before = _get(report, "class_sizes_before") or {}
    labels = list(after.get("buckets") or before.get("buckets") or [])
    series = []
    if before.get("records"):
        series.append(("input", [float(v) for v in before["records"]], "#9aa5b1"))
    if after.get("records"):
        series.append(("released", [float(v) for v in after["records"]], "#2f80ed"))
    chart = bar_chart(labels, series, log=True, title="records by equivalence-class size", y_label="records (log)")
    return ("<h2>Equivalence-class sizes</h2><p class=\"sub\">Records per class-size bucket, on a log scale so "
            "small buckets stay visible: a record in a class of size s has prosecutor risk 1/s.</p>" + chart)


def _risk_section(report: dict[str, Any]) -> str:
    after = _get(report, "risk") or {}
    before = _get(report, "risk_before") or {}
    threshold = after.get("threshold", before.get("threshold"))
    rows = []
    chart_labels, chart_before, chart_after = [], [], []
    for key, label, help_text in _RISK_ROWS:
        if key not in after and key not in before:
            continue
        flag = key == "records_above_threshold" and bool(after.get(key))
        rows.append(f"<tr{_FLAG if flag else ''}><td>{_e(label)}<br><small class=\"sub\">"
                    f"{_e(help_text)}</small></td><td class=\"num\">{_pct(before.get(key))}</td>"
                    f"<td class=\"num\">{_pct(after.get(key))}</td></tr>")
        if key in before and key in after:
            chart_labels.append(label.replace(" risk", ""))
            chart_before.append(float(before[key]))
            chart_after.append(float(after[key]))
    chart = bar_chart(chart_labels, [("input", chart_before, "#9aa5b1"), ("released", chart_after, "#2f80ed")],
                      percent=True, height=220, title="risk before and after") if chart_labels else ""
    return ("<h2>Re-identification risk</h2>"
            + (f"<p class=\"sub\">Risk threshold: {_pct(threshold)} (a class of fewer than "
               f"{_fmt(math.ceil(1 / threshold - 1e-9))} records is above it).</p>"
               if threshold else "")
            + "<table><tr><th>Measure</th><th>Input</th><th>Released</th></tr>" + "".join(rows) + "</table>"
            + chart)


def _targets_section(report: dict[str, Any]) -> str:
    targets = _get(report, "targets") or {}
    risk = _get(report, "risk") or {}
    rows = []

    def row(name: str, target: str, achieved: str, met: bool | None) -> None:
        badge = "" if met is None else ('<span class="badge ok">met</span>' if met
                                         else '<span class="badge bad">missed</span>')
        rows.append(f"<tr><td>{_e(name)}</td><td class=\"num\">{target}</td>"
                    f"<td class=\"num\">{achieved}</td><td>{badge}</td></tr>")

    k = _get(report, "k")
    if targets.get("k") is not None:
        row("k-anonymity (k)", _fmt(targets["k"]), _fmt(k), k is not None and k >= targets["k"])
    ld = targets.get("l_diversity")
    if ld:
        achieved = _get(report, "l_entropy") if ld.get("kind") == "entropy" else _get(report, "l")
        met = None if ld.get("kind") == "recursive" else (achieved is not None and achieved >= ld["l"] - 1e-9)
        row(f"{ld.get('kind', 'distinct')} l-diversity (l)", _fmt(ld.get("l")), _fmt(achieved), met)
    tc = targets.get("t_closeness")
    if tc:
        t = _get(report, "t")
        row(f"t-closeness, {tc.get('distance', 'equal')} distance (t)", _fmt(tc.get("t")), _fmt(t),
            t is not None and t <= tc["t"] + 1e-9)
    rows_in = _get(report, "rows_in") or 0
    suppressed = _get(report, "suppressed_rows") or 0
    if targets.get("max_suppression") is not None:
        share = suppressed / rows_in if rows_in else 0.0
        row("suppressed records (share)", _pct(targets["max_suppression"]), _pct(share),
            share <= targets["max_suppression"] + 1e-12)
    if targets.get("max_risk") is not None:
        row("highest prosecutor risk", _pct(targets["max_risk"]), _pct(risk.get("prosecutor_max")),
            risk.get("prosecutor_max", 1) <= targets["max_risk"] + 1e-12)
    if not rows:
        return ""
    return ("<h2>Privacy targets</h2><table><tr><th>Model</th><th>Target</th><th>Achieved</th><th></th></tr>"
            + "".join(rows) + "</table>")


def _utility_section(report: dict[str, Any]) -> str:
    utility = _get(report, "utility") or {}
    if not utility:
        return ""
    metric = utility.get("metric", "")
    # Mondrian measures its loss as NCP itself: one card and one column then, not the same figure twice
    same = metric == "ncp"
    cards = [
        (f"information loss ({metric})" if not same else "information loss (NCP)",
         utility.get("information_loss"), "0 = nothing lost, 1 = all" if same else f"the search's metric: {metric}"),
        *([] if same else [("NCP", utility.get("ncp"), "0 = nothing lost, 1 = all")]),
        ("discernibility", utility.get("discernibility"), "sum of class size²"),
        ("average class size", utility.get("avg_class_size"), "records per class"),
    ]
    out = ["<h2>Utility</h2><div class=\"cards\">"]
    for name, value, note in cards:
        if value is not None:
            shown = _pct(value) if name.startswith(("information loss (NCP)", "NCP")) else _fmt(value)
            out.append(f"<div class=\"card\"><span>{_e(name)}</span><b>{shown}</b><span>{_e(note)}</span></div>")
    out.append("</div>")
    per_col = utility.get("ncp_per_column") or {}
    metric_col = {} if same else (utility.get("per_column") or {})
    if per_col:
        names = list(per_col)
        out.append("<p class=\"sub\">Information lost per quasi-identifier (normalized certainty penalty).</p>")
        out.append(bar_chart(names, [("NCP", [float(per_col[n]) for n in names], "#f2994a")], percent=True,
                             height=220, title="information loss per column"))
        out.append("<table><tr><th>Column</th><th>NCP</th>"
                   + (f"<th>{_e(metric)}</th>" if metric_col else "") + "</tr>")
        for n in names:
            out.append(f"<tr><td>{_e(n)}</td><td class=\"num\">{_pct(per_col[n])}</td>"
                       + (f"<td class=\"num\">{_fmt(metric_col.get(n))}</td>" if metric_col else "") + "</tr>")
        out.append("</table>")
    return "".join(out)


def _transformation_section(report: dict[str, Any]) -> str:
    transformation = _get(report, "transformation") or {}
    if not transformation:
        return ""
    if transformation.get("algorithm") == "mondrian":
        boxes = transformation.get("partitions")
        classes = (_get(report, "utility") or {}).get("classes") or (_get(report, "risk") or {}).get("classes")
        merged = ""
        if classes is not None and boxes is not None and classes != boxes:
            merged = (f" They release as <b>{_fmt(classes)}</b> equivalence classes: boxes whose labels coincide "
                      "(two sets of categories with the same lowest common generalization, or ranges that round "
                      "to the same label) hold records that look the same, so they form one class. k, l, t and "
                      "the risk are measured on those classes.")
        return ("<h2>Transformation</h2><p>Strict Mondrian multidimensional partitioning into "
                f"<b>{_fmt(boxes)}</b> boxes; each released record shows its box's range per quasi-identifier. "
                f"New records are routed to the same boxes.{merged}</p>")
    rows = "".join(f"<tr><td>{_e(c)}</td><td class=\"num\">{_fmt(level)}</td></tr>"
                   for c, level in transformation.items())
    return ("<h2>Transformation</h2><p class=\"sub\">Full-domain generalization: the hierarchy level applied "
            "to each quasi-identifier (0 = unchanged).</p><table><tr><th>Column</th><th>Level</th></tr>"
            + rows + "</table>")


def _policy_section(report: dict[str, Any]) -> str:
    columns = report.get("columns") or {}
    # the policy's own `anonymity:` section as written (report.json keeps it), else the engine's targets
    settings = report.get("anonymity") if isinstance(report.get("anonymity"), dict) else None
    settings = settings or _get(report, "targets") or {}
    out = ["<h2>Policy</h2>"]
    if settings:
        items = []
        for k, v in settings.items():
            if v is None:
                continue
            text = _e(_dict_text(v)) if isinstance(v, dict) else _fmt(v)
            if k == "metric" and settings.get("algorithm") == "mondrian":
                text += " <small class=\"sub\">(the global-recoding search's metric; Mondrian reports NCP)</small>"
            items.append(f"<tr><td>{_e(k)}</td><td>{text}</td></tr>")
        out.append("<table><tr><th>Setting</th><th>Value</th></tr>" + "".join(items) + "</table>")
    if columns:
        out.append("<table><tr><th>Column</th><th>Role</th><th>Action</th></tr>")
        for name, col in columns.items():
            col = col if isinstance(col, dict) else {"role": col}
            out.append(f"<tr><td>{_e(name)}</td><td>{_e(col.get('role', ''))}</td>"
                       f"<td>{_e(col.get('action', ''))}</td></tr>")
        out.append("</table>")
    else:
        qis = _get(report, "quasi_identifiers") or []
        sens = _get(report, "sensitive_attributes") or []
        out.append(f"<p>Quasi-identifiers: {_e(', '.join(qis)) or '—'}<br>"
                   f"Sensitive attributes: {_e(', '.join(sens)) or '—'}</p>")
    return "".join(out)


def _dict_text(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items() if v is not None)


def _splits_section(report: dict[str, Any]) -> str:
    splits = report.get("splits") or {}
    if not splits:
        return ""
    k = (_get(report, "targets") or {}).get("k")
    rows = "".join(
        f"<tr{_FLAG if s.get('rows_below_k') else ''}><td>{_e(name)}</td>"
        f"<td class=\"num\">{_fmt(s.get('rows'))}</td>"
        f"<td class=\"num\">{_fmt(s.get('classes'))}</td><td class=\"num\">{_fmt(s.get('k'))}</td>"
        f"<td class=\"num\">{_pct(s.get('rows_below_k'))}</td></tr>"
        for name, s in splits.items()
    )
    return ("<h2>Splits</h2><p class=\"sub\">Each split on its own: the whole table is k-anonymous, a split "
            f"is not necessarily (share of a split's records in classes below k = {_fmt(k)}).</p>"
            "<table><tr><th>Split</th><th>Records</th><th>Classes</th><th>Smallest class</th>"
            "<th>Records below k</th></tr>" + rows + "</table>")


def _evaluation_section(report: dict[str, Any]) -> str:
    """Accuracy against privacy, when the run evaluated a model (`evaluation`: the Evaluate step's figures)."""
    evaluation = report.get("evaluation") or {}
    metrics = evaluation.get("metrics") or {}
    if "accuracy" not in metrics or _get(report, "k") is None:
        return ""
    privacy = evaluation.get("privacy") or {}
    targets = _get(report, "targets") or {}
    epsilon = privacy.get("epsilon_spent")
    label = f"this model (ε={epsilon:g})" if epsilon else "this model (no DP)"
    points = [{"x": _get(report, "k"), "y": metrics["accuracy"], "label": label}]
    points += [{"x": p["k"], "y": p["accuracy"], "label": p.get("label", "")}
               for p in evaluation.get("compared", []) if "k" in p and "accuracy" in p]
    threshold = evaluation.get("quality_threshold")
    chart = scatter_chart(points, x_label="k achieved (records in the smallest class)", y_label="test accuracy",
                          x_line=targets.get("k"), y_line=threshold, title="accuracy against privacy")
    gates = evaluation.get("gates") or {}
    return ("<h2>Accuracy against privacy</h2><p class=\"sub\">The model's test accuracy against the k it was "
            "trained at; dashed lines: the k target" + (" and the quality gate" if threshold is not None else "")
            + ". Up and right is better on both.</p>" + chart
            + (f"<p>Gates: <b>{'passed' if gates.get('passed') else 'failed'}</b> — {_e(gates.get('reason', ''))}</p>"
               if gates else ""))


def render_report(report: dict[str, Any]) -> str:
    """The report as a complete HTML document."""
    rows_in = _get(report, "rows_in")
    rows_out = report.get("rows_out", _get(report, "rows_out"))
    suppressed = _get(report, "suppressed_rows")
    algorithm = _get(report, "algorithm") or (_get(report, "transformation") or {}).get("algorithm", "")
    risk = _get(report, "risk") or {}
    flagged = {w.code for w in privacy_warnings(report)}
    l_value, t_value = _get(report, "l"), _get(report, "t")
    cards = [
        ("records in", _fmt(rows_in), False), ("records out", _fmt(rows_out), False),
        ("suppressed", _fmt(suppressed), False), ("k", _fmt(_get(report, "k")), "split_below_k" in flagged),
        ("l (distinct)", _fmt(l_value), "l_one" in flagged), ("t", _fmt(t_value), "t_near_one" in flagged),
        ("highest risk", _pct(risk.get("prosecutor_max")) if risk.get("prosecutor_max") is not None else None,
         "risk_above_threshold" in flagged),
    ]
    raw = {"records in": rows_in, "records out": rows_out, "suppressed": suppressed, "k": _get(report, "k"),
           "l (distinct)": l_value, "t": t_value, "highest risk": risk.get("prosecutor_max")}
    card_html = "".join(f"<div class=\"card{' flag' if flag else ''}\"><span>{_e(n)}</span><b>{v}</b></div>"
                        for n, v, flag in cards if raw[n] is not None)
    body = [
        "<h1>Privacy report</h1>",
        f"<p class=\"sub\">Anonymity over {len(_get(report, 'quasi_identifiers') or [])} quasi-identifiers"
        + (f" · {_e(algorithm.replace('_', ' '))}" if algorithm else "") + "</p>",
        f"<div class=\"cards\">{card_html}</div>",
        _warnings_section(report),
        _targets_section(report),
        _risk_section(report),
        _histogram(report),
        _splits_section(report),
        _evaluation_section(report),
        _utility_section(report),
        _transformation_section(report),
        _policy_section(report),
        "<footer>Generated by privml. This page contains counts, ratios and column names only — "
        "no values from the data.</footer>",
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>privml privacy report</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>")


def render_evaluated_report(report: dict[str, Any], evaluation: dict[str, Any], *,
                            quality_threshold: float | None = None) -> str:
    """The report once the run has evaluated its model: the same page plus accuracy against privacy."""
    return render_report({**report, "evaluation": {**evaluation, "quality_threshold": quality_threshold}})
