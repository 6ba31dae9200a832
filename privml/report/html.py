"""The privacy report as one self-contained HTML page (inline CSS and SVG, no scripts, no network).

It shows what a reviewer asks first: were the targets met, how much risk is left compared with the
input, what the anonymization cost per column, which transformation ran, and the policy. It renders
only the report's counts, ratios and names — the report holds no values from the data (invariant 1),
and everything is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;
color:#1f2933;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;
padding-bottom:.3rem}.sub{color:#52606d;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}.card{border:1px solid #d9e2ec;border-radius:8px;
padding:.6rem .9rem;min-width:140px}.card b{display:block;font-size:1.35rem}.card span{color:#52606d;font-size:.85rem}
.ok{color:#1b7f3b}.bad{color:#b42318}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e4e7eb;font-size:.92rem}
th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600}
.badge.ok{background:#e3f9e5}.badge.bad{background:#fde8e8}svg text{font-family:inherit}
footer{margin-top:2.5rem;color:#7b8794;font-size:.8rem}
"""

_RISK_ROWS = [
    ("prosecutor_max", "Highest prosecutor risk", "1 / size of the smallest class"),
    ("prosecutor_avg", "Average prosecutor risk", "classes / records"),
    ("sample_uniqueness", "Sample uniqueness", "share of records alone in their class"),
    ("records_above_threshold", "Records above threshold", "share of records whose risk exceeds the threshold"),
    ("journalist_max", "Highest journalist risk", "against the population table"),
    ("journalist_avg", "Average journalist risk", "against the population table"),
]


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
            return f"{value:,.2f}"
        return f"{value:.4g}"
    return _e(value)


def _get(report: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in report:
        return report[key]
    nested = report.get("anonymity")
    if isinstance(nested, dict) and key in nested:
        return nested[key]
    return default


def _bar_chart(labels: list[str], series: list[tuple[str, list[float], str]], *, width: int = 900,
               height: int = 240, percent: bool = False, title: str = "") -> str:
    """Grouped vertical bars as inline SVG."""
    if not labels:
        return "<p>No data.</p>"
    top = max((max(vals) if vals else 0) for _, vals, _ in series) or 1.0
    left, bottom, pad_top = 48, 46, 18
    plot_w, plot_h = width - left - 10, height - bottom - pad_top
    group_w = plot_w / len(labels)
    bar_w = max(2.0, (group_w * 0.75) / max(len(series), 1))
    parts = [f'<svg role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):
        y = pad_top + plot_h * i / 4
        value = top * (1 - i / 4)
        text = f"{value * 100:.0f}%" if percent else f"{value:,.0f}" if top >= 10 else f"{value:.2g}"
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#52606d">'
                     f'{_e(text)}</text>')
    for gi, label in enumerate(labels):
        x0 = left + gi * group_w + group_w * 0.125
        for si, (name, vals, color) in enumerate(series):
            v = vals[gi] if gi < len(vals) else 0
            h = plot_h * (v / top)
            x = x0 + si * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{pad_top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{_e(name)} · {_e(label)}: '
                         f'{_e(_fmt(v) if not percent else f"{v * 100:.2f}%")}</title></rect>')
        parts.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" '
                     f'font-size="11" text-anchor="middle" fill="#323f4b">{_e(label)}</text>')
    lx = left
    for name, _, color in series:
        parts.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{height - 7}" font-size="11" fill="#323f4b">{_e(name)}</text>')
        lx += 14 + 8 * len(name) + 20
    parts.append("</svg>")
    return "".join(parts)


def _histogram(report: dict[str, Any]) -> str:
    after = _get(report, "class_sizes") or {}
    before = _get(report, "class_sizes_before") or {}
    labels = list(after.get("buckets") or before.get("buckets") or [])
    series = []
    if before.get("records"):
        series.append(("input", [float(v) for v in before["records"]], "#9aa5b1"))
    if after.get("records"):
        series.append(("released", [float(v) for v in after["records"]], "#2f80ed"))
    chart = _bar_chart(labels, series, title="records by equivalence-class size")
    return (f"<h2>Equivalence-class sizes</h2><p class=\"sub\">Records per class-size bucket: a record in a "
            f"class of size s has prosecutor risk 1/s.</p>{chart}")


def _risk_section(report: dict[str, Any]) -> str:
    after = _get(report, "risk") or {}
    before = _get(report, "risk_before") or {}
    rows = []
    chart_labels, chart_before, chart_after = [], [], []
    for key, label, help_text in _RISK_ROWS:
        if key not in after and key not in before:
            continue
        rows.append(f"<tr><td>{_e(label)}<br><small class=\"sub\">{_e(help_text)}</small></td>"
                    f"<td class=\"num\">{_fmt(before.get(key))}</td><td class=\"num\">{_fmt(after.get(key))}</td></tr>")
        if key in before and key in after:
            chart_labels.append(label.replace(" risk", ""))
            chart_before.append(float(before[key]))
            chart_after.append(float(after[key]))
    threshold = after.get("threshold", before.get("threshold"))
    chart = _bar_chart(chart_labels, [("input", chart_before, "#9aa5b1"), ("released", chart_after, "#2f80ed")],
                       percent=True, height=220, title="risk before and after") if chart_labels else ""
    return ("<h2>Re-identification risk</h2>"
            + (f"<p class=\"sub\">Risk threshold: {_fmt(threshold)}.</p>" if threshold is not None else "")
            + "<table><tr><th>Measure</th><th>Input</th><th>Released</th></tr>" + "".join(rows) + "</table>"
            + chart)


def _targets_section(report: dict[str, Any]) -> str:
    targets = _get(report, "targets") or {}
    risk = _get(report, "risk") or {}
    rows = []

    def row(name: str, target: Any, achieved: Any, met: bool | None) -> None:
        badge = "" if met is None else ('<span class="badge ok">met</span>' if met
                                         else '<span class="badge bad">missed</span>')
        rows.append(f"<tr><td>{_e(name)}</td><td class=\"num\">{_fmt(target)}</td>"
                    f"<td class=\"num\">{_fmt(achieved)}</td><td>{badge}</td></tr>")

    k = _get(report, "k")
    if targets.get("k") is not None:
        row("k-anonymity (k)", targets["k"], k, k is not None and k >= targets["k"])
    ld = targets.get("l_diversity")
    if ld:
        achieved = _get(report, "l_entropy") if ld.get("kind") == "entropy" else _get(report, "l")
        met = None if ld.get("kind") == "recursive" else (achieved is not None and achieved >= ld["l"] - 1e-9)
        row(f"{ld.get('kind', 'distinct')} l-diversity (l)", ld.get("l"), achieved, met)
    tc = targets.get("t_closeness")
    if tc:
        t = _get(report, "t")
        row(f"t-closeness, {tc.get('distance', 'equal')} distance (t)", tc.get("t"), t,
            t is not None and t <= tc["t"] + 1e-9)
    rows_in = _get(report, "rows_in") or 0
    suppressed = _get(report, "suppressed_rows") or 0
    if targets.get("max_suppression") is not None:
        share = suppressed / rows_in if rows_in else 0.0
        row("suppressed records (share)", targets["max_suppression"], share,
            share <= targets["max_suppression"] + 1e-12)
    if targets.get("max_risk") is not None:
        row("highest prosecutor risk", targets["max_risk"], risk.get("prosecutor_max"),
            risk.get("prosecutor_max", 1) <= targets["max_risk"] + 1e-12)
    if not rows:
        return ""
    return ("<h2>Privacy targets</h2><table><tr><th>Model</th><th>Target</th><th>Achieved</th><th></th></tr>"
            + "".join(rows) + "</table>")


def _utility_section(report: dict[str, Any]) -> str:
    utility = _get(report, "utility") or {}
    if not utility:
        return ""
    cards = [
        ("information loss", utility.get("information_loss"), f"metric: {utility.get('metric', '')}"),
        ("NCP", utility.get("ncp"), "0 = nothing lost, 1 = all"),
        ("discernibility", utility.get("discernibility"), "sum of class size²"),
        ("average class size", utility.get("avg_class_size"), "records per class"),
    ]
    out = ["<h2>Utility</h2><div class=\"cards\">"]
    for name, value, note in cards:
        if value is not None:
            out.append(f"<div class=\"card\"><span>{_e(name)}</span><b>{_fmt(value)}</b><span>{_e(note)}</span></div>")
    out.append("</div>")
    per_col = utility.get("ncp_per_column") or {}
    metric_col = utility.get("per_column") or {}
    if per_col:
        names = list(per_col)
        out.append("<p class=\"sub\">Information lost per quasi-identifier (normalized certainty penalty).</p>")
        out.append(_bar_chart(names, [("NCP", [float(per_col[n]) for n in names], "#f2994a")], percent=True,
                              height=220, title="information loss per column"))
        out.append("<table><tr><th>Column</th><th>NCP</th>"
                   + (f"<th>{_e(utility.get('metric', 'metric'))}</th>" if metric_col else "") + "</tr>")
        for n in names:
            out.append(f"<tr><td>{_e(n)}</td><td class=\"num\">{_fmt(float(per_col[n]))}</td>"
                       + (f"<td class=\"num\">{_fmt(metric_col.get(n))}</td>" if metric_col else "") + "</tr>")
        out.append("</table>")
    return "".join(out)


def _transformation_section(report: dict[str, Any]) -> str:
    transformation = _get(report, "transformation") or {}
    if not transformation:
        return ""
    if transformation.get("algorithm") == "mondrian":
        return ("<h2>Transformation</h2><p>Strict Mondrian multidimensional partitioning into "
                f"<b>{_fmt(transformation.get('partitions'))}</b> boxes; each released record shows its "
                "box's range per quasi-identifier. New records are routed to the same boxes.</p>")
    rows = "".join(f"<tr><td>{_e(c)}</td><td class=\"num\">{_fmt(level)}</td></tr>"
                   for c, level in transformation.items())
    return ("<h2>Transformation</h2><p class=\"sub\">Full-domain generalization: the hierarchy level applied "
            "to each quasi-identifier (0 = unchanged).</p><table><tr><th>Column</th><th>Level</th></tr>"
            + rows + "</table>")


def _policy_section(report: dict[str, Any]) -> str:
    columns = report.get("columns") or {}
    targets = _get(report, "targets") or {}
    out = ["<h2>Policy</h2>"]
    if targets:
        items = "".join(f"<tr><td>{_e(k)}</td><td>{_fmt(v) if not isinstance(v, dict) else _e(_dict_text(v))}</td></tr>"
                        for k, v in targets.items() if v is not None)
        out.append("<table><tr><th>Setting</th><th>Value</th></tr>" + items + "</table>")
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
        f"<tr><td>{_e(name)}</td><td class=\"num\">{_fmt(s.get('rows'))}</td>"
        f"<td class=\"num\">{_fmt(s.get('classes'))}</td><td class=\"num\">{_fmt(s.get('k'))}</td>"
        f"<td class=\"num\">{_fmt(s.get('rows_below_k'))}</td></tr>"
        for name, s in splits.items()
    )
    return ("<h2>Splits</h2><p class=\"sub\">Each split on its own: the whole table is k-anonymous, a split "
            f"is not necessarily (share of a split's records in classes below k = {_fmt(k)}).</p>"
            "<table><tr><th>Split</th><th>Records</th><th>Classes</th><th>Smallest class</th>"
            "<th>Records below k</th></tr>" + rows + "</table>")


def render_report(report: dict[str, Any]) -> str:
    """The report as a complete HTML document."""
    rows_in = _get(report, "rows_in")
    rows_out = report.get("rows_out", _get(report, "rows_out"))
    suppressed = _get(report, "suppressed_rows")
    algorithm = _get(report, "algorithm") or (_get(report, "transformation") or {}).get("algorithm", "")
    risk = _get(report, "risk") or {}
    cards = [
        ("records in", rows_in), ("records out", rows_out), ("suppressed", suppressed),
        ("k", _get(report, "k")), ("l (distinct)", _get(report, "l")), ("t", _get(report, "t")),
        ("highest risk", risk.get("prosecutor_max")),
    ]
    card_html = "".join(f"<div class=\"card\"><span>{_e(n)}</span><b>{_fmt(v)}</b></div>"
                        for n, v in cards if v is not None)
    body = [
        "<h1>Privacy report</h1>",
        f"<p class=\"sub\">Anonymity over {len(_get(report, 'quasi_identifiers') or [])} quasi-identifiers"
        + (f" · {_e(algorithm.replace('_', ' '))}" if algorithm else "") + "</p>",
        f"<div class=\"cards\">{card_html}</div>",
        _targets_section(report),
        _risk_section(report),
        _histogram(report),
        _splits_section(report),
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
