"""Figures for people: three significant digits, shares as percents. `--json` keeps full precision."""

from __future__ import annotations

import math


def sig3(value: float | int | None) -> str:
    """A measure such as t or entropy l to three significant digits (0.0455577 -> 0.0456)."""
    if value is None:
        return "-"
    if isinstance(value, bool | int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:  # no exponent for a person: 12,346
        return f"{value:,.0f}"
    return f"{value:.3g}"


def percent(share: float | None) -> str:
    """A share in [0, 1] as a percent to three significant digits; never rounds a share that is not exactly
    0 or 1 to "0%" or "100%" (a record at risk must not vanish in the rounding)."""
    if share is None:
        return "-"
    if not math.isfinite(share):
        return str(share)
    if share in (0, 1):
        return f"{share * 100:.0f}%"
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{share * 100:.3g}%"
