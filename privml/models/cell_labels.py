"""What a label of a released cell says to a model: a number, a generalized range, a value set, or nothing.

Anonymization releases quasi-identifiers as labels: a range ("[30-40)", "25-34"), a value set
("Divorced|Separated", as Mondrian releases categorical boxes) or "*" for a fully suppressed value. The
column-wise encoder (privml/models/features.py), the row encoder that serves it (row_encoder.py) and the
private domain (dp_domain.py) must read a label the same way, so they all read it here; this module
imports nothing else of privml.
"""

from __future__ import annotations

import math
import re

__all__ = ["MISSING", "SUPPRESSED", "is_range_label", "range_midpoint", "set_members"]

# The category a missing value encodes as (one-hot and value sets); not a label anonymization writes.
MISSING = "<missing>"
SUPPRESSED = "*"
_RANGE = re.compile(r"^[\[(]?\s*(-?\d+(?:\.\d+)?)\s*(?:-|,|–)\s*(-?\d+(?:\.\d+)?)\s*[\])]?$")


def is_range_label(label: str) -> bool:
    """A range of two numbers ("[30-40)", "25-34", "(1.5, 2.5]"), not a single number."""
    return _RANGE.match(label.strip()) is not None


def range_midpoint(label: str) -> float:
    """The midpoint of a number or a range label ("[30-40)", "25-34", "39"); NaN for anything else."""
    text = label.strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _RANGE.match(text)
    if match is None:
        return math.nan
    low, high = float(match.group(1)), float(match.group(2))
    return (low + high) / 2 if low <= high else math.nan


def set_members(label: str) -> list[str]:
    """The values of a value-set label ("Divorced|Separated"); none for a missing or suppressed cell."""
    return [] if label in (SUPPRESSED, MISSING) else label.split("|")
