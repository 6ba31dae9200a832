"""Inline SVG charts for the HTML report: grouped bars (linear or log scale) and a scatter of points.

Axis ticks sit at round numbers (1, 2, 2.5 or 5 times a power of ten; powers of ten on a log scale), so a
reader never has to parse 1,982 or 1,486. Every label is HTML-escaped; the charts draw only the counts,
shares and names they are given.
"""

from __future__ import annotations

import html
import math
from typing import Any

Series = tuple[str, list[float], str]  # name, one value per label, colour


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least `top` at a round step (1, 2, 2.5 or 5 × 10^n), about `count` of them."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def log_ticks(top: float) -> list[float]:
    """Powers of ten from 1 up to the first at or above `top`."""
    exponent = max(1, math.ceil(math.log10(top))) if top > 1 else 1
    return [10.0 ** i for i in range(exponent + 1)]


def tick_text(value: float, *, percent: bool) -> str:
    if percent:
        share = value * 100
        return f"{share:.0f}%" if abs(share - round(share)) < 1e-9 else f"{share:.1f}%"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def value_text(value: float, *, percent: bool) -> str:
    if percent:
        return f"{value * 100:.2f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.4g}"


def bar_chart(labels: list[str], series: list[Series], *, width: int = 900, height: int = 240,
              percent: bool = False, log: bool = False, title: str = "", y_label: str = "") -> str:
    """Grouped vertical bars. `log`: a log-10 value axis (zero values draw no bar), so small buckets
    stay visible next to large ones."""
    if not labels:
        return "<p>No data.</p>"
    top = max((max(vals) if vals else 0) for _, vals, _ in series) or 1.0
    ticks = log_ticks(top) if log else nice_ticks(top)
    axis_top = ticks[-1]
    left, bottom, pad_top = 56, 46, 18
    plot_w, plot_h = width - left - 10, height - bottom - pad_top

    def y_of(value: float) -> float:
        if log:
            share = math.log10(value) / math.log10(axis_top) if value >= 1 else 0.0
        else:
            share = value / axis_top
        return pad_top + plot_h * (1 - share)

    group_w = plot_w / len(labels)
    bar_w = max(2.0, (group_w * 0.75) / max(len(series), 1))
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg" data-scale="{"log" if log else "linear"}">']
    for tick in ticks:
        y = y_of(tick) if (tick > 0 or not log) else pad_top + plot_h
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#52606d">{_e(tick_text(tick, percent=percent))}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{pad_top + plot_h / 2:.1f}" font-size="11" fill="#52606d" '
                     f'transform="rotate(-90 12 {pad_top + plot_h / 2:.1f})" text-anchor="middle">{_e(y_label)}</text>')
    for gi, label in enumerate(labels):
        x0 = left + gi * group_w + group_w * 0.125
        for si, (name, vals, color) in enumerate(series):
            v = vals[gi] if gi < len(vals) else 0.0
            y = y_of(v)
            h = pad_top + plot_h - y
            parts.append(f'<rect class="bar" x="{x0 + si * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{_e(name)} · {_e(label)}: '
                         f'{_e(value_text(v, percent=percent))}</title></rect>')
        parts.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" '
                     f'font-size="11" text-anchor="middle" fill="#323f4b">{_e(label)}</text>')
    _legend(parts, [(name, color) for name, _, color in series], left, height)
    parts.append("</svg>")
    return "".join(parts)


def scatter_chart(points: list[dict[str, Any]], *, x_label: str, y_label: str, x_percent: bool = False,
                  y_percent: bool = True, x_line: float | None = None, y_line: float | None = None,
                  width: int = 900, height: int = 280, title: str = "") -> str:
    """Points {x, y, label}; optional dashed guide lines (a target on each axis)."""
    if not points:
        return "<p>No data.</p>"
    xs = [float(p["x"]) for p in points] + ([x_line] if x_line is not None else [])
    ys = [float(p["y"]) for p in points] + ([y_line] if y_line is not None else [])
    x_ticks, y_ticks = nice_ticks(max(xs) * 1.1 or 1.0), nice_ticks(max(ys) if max(ys) > 0 else 1.0)
    if y_percent:
        y_ticks = [t for t in nice_ticks(1.0) if t <= 1.0]
    left, bottom, pad_top, right = 56, 54, 18, 20
    plot_w, plot_h = width - left - right, height - bottom - pad_top

    def xy(x: float, y: float) -> tuple[float, float]:
        return (left + plot_w * x / x_ticks[-1], pad_top + plot_h * (1 - y / y_ticks[-1]))

    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg">']
    for t in y_ticks:
        _, y = xy(0, t)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#52606d">{_e(tick_text(t, percent=y_percent))}</text>')
    for t in x_ticks:
        x, _ = xy(t, 0)
        parts.append(f'<text class="tick" x="{x:.1f}" y="{pad_top + plot_h + 16:.1f}" font-size="11" '
                     f'text-anchor="middle" fill="#52606d">{_e(tick_text(t, percent=x_percent))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 22}" font-size="11" text-anchor="middle" '
                 f'fill="#323f4b">{_e(x_label)}</text>')
    parts.append(f'<text x="14" y="{pad_top + plot_h / 2:.1f}" font-size="11" fill="#323f4b" '
                 f'transform="rotate(-90 14 {pad_top + plot_h / 2:.1f})" text-anchor="middle">{_e(y_label)}</text>')
    if x_line is not None:
        x, _ = xy(x_line, 0)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_top}" y2="{pad_top + plot_h}" stroke="#b42318" '
                     'stroke-dasharray="4 3"/>')
    if y_line is not None:
        _, y = xy(0, y_line)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#b42318" '
                     'stroke-dasharray="4 3"/>')
    for p in points:
        x, y = xy(float(p["x"]), float(p["y"]))
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#2f80ed"><title>'
                     f'{_e(p.get("label", ""))}: {_e(value_text(float(p["y"]), percent=y_percent))}</title></circle>')
        parts.append(f'<text x="{x + 9:.1f}" y="{y - 8:.1f}" font-size="11" fill="#323f4b">{_e(p.get("label", ""))}'
                     "</text>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(parts: list[str], entries: list[tuple[str, str]], left: int, height: int) -> None:
    x = left
    for name, color in entries:
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" font-size="11" fill="#323f4b">{_e(name)}</text>')
        x += 14 + 7 * len(name) + 24
