"""Privacy verdicts a person notices: the weak spots of a report, each with what to change in the policy.

One function, `privacy_warnings(figures)`, reads the measures of a privacy report (report.json, the
`risk` command's result, a run record's privacy figures) and returns the warnings every surface shows
alike: the CLI (`anonymize`, `risk`, `run`), report.html and the model card. A warning names measures,
columns and splits, never a value from the data (invariant 1): its text is built only from figures.

What is flagged, and why:

- distinct l = 1: some equivalence class holds a single sensitive value, so anyone who can place a
  person in that class learns the value outright (homogeneity attack), whatever k is.
- t at or above T_NEAR_ONE (0.5): t is the largest distance between a class's distribution of a
  sensitive attribute and the whole table's (total variation for `equal`, normalized earth mover's for
  `ordered`), from 0 (identical) to 1 (disjoint). At 0.5 or more some class is nearer to disjoint from the
  table than to like it: knowing a person's class moves an attacker's belief about the sensitive value by
  half the probability mass or more. The t-closeness literature and ARX use targets of 0.15 to 0.3.
- a split with records in classes smaller than k: the whole table is k-anonymous, but a reader holding only
  one split (the test set handed to an evaluator) sees that split's own, smaller classes.
- records above the risk threshold: a record whose prosecutor risk 1/(class size) exceeds the threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

T_NEAR_ONE = 0.5
DEFAULT_RISK_THRESHOLD = 0.2


@dataclass(frozen=True)
class PrivacyWarning:
    code: str  # l_one, t_near_one, split_below_k, risk_above_threshold
    message: str  # what is weak, in figures
    fix: str  # what to change in the policy

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def text(self) -> str:
        return f"{self.message} — {self.fix}"


def _figure(figures: dict[str, Any], key: str) -> Any:
    if key in figures:
        return figures[key]
    nested = figures.get("anonymity")
    return nested.get(key) if isinstance(nested, dict) else None


def privacy_warnings(figures: dict[str, Any]) -> list[PrivacyWarning]:
    """The warnings for a report's figures (report.json, `risk`'s result, a run record's `privacy`)."""
    warnings: list[PrivacyWarning] = []
    targets = _figure(figures, "targets") or {}
    k_target = targets.get("k")
    sensitive = _figure(figures, "sensitive_attributes") or []
    columns = f" ({', '.join(map(str, sensitive))})" if sensitive else ""

    l_distinct = _figure(figures, "l")
    if l_distinct is not None and l_distinct <= 1:
        warnings.append(PrivacyWarning(
            "l_one",
            f"l = 1: at least one equivalence class has a single value of a sensitive attribute{columns}, "
            "so placing a person in that class reveals it outright",
            "add `l_diversity: {kind: distinct, l: 2}` (or higher) under `anonymity:` in the policy, or "
            "generalize the quasi-identifiers further (a larger k or coarser hierarchies)",
        ))

    t = _figure(figures, "t")
    if t is not None and t >= T_NEAR_ONE:
        t_target = (targets.get("t_closeness") or {}).get("t")
        fix = ("lower `t_closeness.t` under `anonymity:` (0.15 to 0.3 is usual)" if t_target is not None
               else "add `t_closeness: {t: 0.3}` under `anonymity:` in the policy")
        warnings.append(PrivacyWarning(
            "t_near_one",
            f"t = {t:.3g} (at or above {T_NEAR_ONE:g}): some class's distribution of a sensitive "
            f"attribute{columns} is nearer to disjoint from the whole table's than to like it",
            fix + ", or generalize the quasi-identifiers further",
        ))

    splits = figures.get("splits") or {}
    below = {name: s.get("rows_below_k") for name, s in splits.items() if s.get("rows_below_k")}
    if below and k_target is not None:
        shares = ", ".join(f"{name} {share:.1%}" for name, share in below.items())
        smallest = min(s.get("rows") or 0 for s in splits.values()) or 1
        total = sum(s.get("rows") or 0 for s in splits.values()) or 1
        needed = math.ceil(k_target * total / smallest)
        warnings.append(PrivacyWarning(
            "split_below_k",
            f"splits below k={k_target}: share of each split's records in classes smaller than k: {shares}; "
            "a reader of one split alone sees those smaller classes",
            f"raise `anonymity.k` to about {needed} (k divided by the smallest split's fraction) so classes "
            "keep about k records in every split, or release the splits only together",
        ))

    risk = _figure(figures, "risk") or {}
    threshold = risk.get("threshold", DEFAULT_RISK_THRESHOLD)
    above = risk.get("records_above_threshold")
    if above:
        needed = math.ceil(1.0 / threshold - 1e-9) if threshold else None  # risk 1/s <= threshold
        warnings.append(PrivacyWarning(
            "risk_above_threshold",
            f"{above:.1%} of records have a prosecutor risk above the threshold {threshold:g} "
            f"(highest {risk.get('prosecutor_max', 0):.3g})",
            (f"raise `anonymity.k` to at least {needed} or set `anonymity.max_risk: {threshold:g}`" if needed
             else "raise `anonymity.k`"),
        ))
    return warnings


def warnings_json(figures: dict[str, Any]) -> list[dict[str, str]]:
    return [w.as_dict() for w in privacy_warnings(figures)]


def warning_lines(warnings: list[PrivacyWarning] | list[dict[str, str]], indent: str = "  ") -> list[str]:
    """Warnings as CLI lines: `WARNING <message>` and, under it, `fix: <what to change>`."""
    lines = []
    for w in warnings:
        item = w.as_dict() if isinstance(w, PrivacyWarning) else w
        lines.append(f"{indent}WARNING {item['message']}")
        lines.append(f"{indent}  fix: {item['fix']}")
    return lines
