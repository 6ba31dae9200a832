"""Why a fit failed, said in terms of the policy: the targets missed and the field to change.

Messages name columns and targets, never a value of the table.
"""

from __future__ import annotations

import math

import numpy as np

from privml.anonymity.models import Constraints, SensitiveColumn, distinct_l, entropy_l, recursive_cl_ok


def unmet_message(c: Constraints, max_supp: float, what: str) -> str:
    parts = [f"k={c.k}"]
    if c.l_kind:
        parts.append(f"{c.l_kind} l-diversity l={c.l:g}" + (f" c={c.c:g}" if c.c else ""))
    if c.t is not None:
        parts.append(f"t-closeness t={c.t:g} ({c.t_distance} distance)")
    return f"anonymity: {what} meets {', '.join(parts)} within a suppression budget of {max_supp:.2%}"


def whole_table_message(c: Constraints, sensitive: list[SensitiveColumn]) -> str:
    """Why Mondrian cannot start: even the whole table as one class misses a target. Only l-diversity
    can (k is checked against the row count first; one class is at distance 0 from the table), so the
    message names the sensitive column, what the whole table reaches, and the policy field to change."""
    one_class = np.zeros(len(sensitive[0].codes) if sensitive else 0, dtype=np.int64)
    for col in sensitive:
        if c.l_kind == "distinct":
            reached = int(distinct_l(one_class, 1, col)[0])
            if reached < c.l:
                return (f"anonymity: the targets cannot be met: sensitive column {col.name} has {reached} "
                        f"distinct values in the whole table, fewer than distinct l-diversity l={c.l:g} needs "
                        f"even with every row in one class. Lower `anonymity.l_diversity.l` to at most {reached}, "
                        "or choose a sensitive column with more distinct values")
        elif c.l_kind == "entropy":
            reached_entropy = float(entropy_l(one_class, 1, col)[0])
            if reached_entropy < c.l * (1 - 1e-12):
                return (f"anonymity: the targets cannot be met: sensitive column {col.name} reaches entropy "
                        f"l={reached_entropy:.3g} over the whole table, below entropy l-diversity l={c.l:g} even "
                        f"with every row in one class. Lower `anonymity.l_diversity.l` to at most "
                        f"{math.floor(reached_entropy * 100 + 1e-6) / 100:g}, or use kind: distinct")
        elif c.l_kind == "recursive" and not recursive_cl_ok(one_class, 1, col, c.c or 1.0, c.l)[0]:
            return (f"anonymity: the targets cannot be met: sensitive column {col.name} misses recursive "
                    f"(c={c.c or 1.0:g}, l={c.l:g})-diversity over the whole table, even with every row in one "
                    "class (its most common value outweighs the rest). Raise `anonymity.l_diversity.c` or "
                    "lower `anonymity.l_diversity.l`")
    return "anonymity: the targets cannot be met even with every row in one class: " + \
        unmet_message(c, 0.0, "no partition").removeprefix("anonymity: ")
