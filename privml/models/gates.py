"""The gates Evaluate writes into evaluation.json for the ConditionStep: quality against the baseline,
privacy of the released table (k, l, t, prosecutor risk) and of the model (membership advantage).

Quality: the model must beat the trivial predictor (privml.models.baseline) on the same test split by
`margin` on balanced accuracy (classification) or R² (regression). Balanced accuracy, not accuracy: the
baseline's is 1 / classes whatever the class balance, so "beats the baseline by 0.05" means the same on
a 50/50 and on a 90/10 table. An absolute floor stays available (`threshold`, None = off): accuracy
for classification, as QualityThreshold always meant, R² for regression.

Every failure names the figure, its value and the bound, never a value of the data (invariant 1).
"""

from __future__ import annotations

import math
from typing import Any

REGRESSION = "regression"
DEFAULT_MARGIN = 0.05
# MaxMembershipAdvantage at 1 means "off": an advantage (max TPR - FPR) can never exceed 1.
ADVANTAGE_OFF = 1.0


def quality_metric(task: str) -> str:
    return "r2" if task == REGRESSION else "balanced_accuracy"


def threshold_metric(task: str) -> str:
    return "r2" if task == REGRESSION else "accuracy"


def quality(task: str, metrics: dict[str, float], baseline: dict[str, float], *, margin: float,
            threshold: float | None, predictor: str) -> tuple[dict[str, Any], list[str]]:
    """evaluation.json's `quality` entry and the quality failures."""
    metric = quality_metric(task)
    model_value, baseline_value = float(metrics[metric]), float(baseline[metric])
    failures = []
    needed = baseline_value + margin
    if not model_value >= needed - 1e-12:  # NaN fails too
        failures.append(f"{metric} {model_value:.4f} does not beat the {predictor} baseline {baseline_value:.4f} "
                        f"by the margin {margin:g} (needs >= {needed:.4f})")
    floor_metric = threshold_metric(task)
    if threshold is not None and not float(metrics[floor_metric]) >= threshold:
        failures.append(f"{floor_metric} {float(metrics[floor_metric]):.4f} < quality threshold {threshold:g}")
    entry = {"metric": metric, "model": model_value, "baseline": baseline_value, "margin": margin,
             "threshold": threshold, "threshold_metric": floor_metric if threshold is not None else None}
    return entry, failures


def table_privacy(privacy: dict[str, Any], report: dict[str, Any], *, k_required: int | None) -> list[str]:
    """The privacy targets of the Anonymize report (and the K parameter) against the figures."""
    targets = report.get("anonymity") or {}
    k_target = k_required if k_required is not None else targets.get("k")
    failures = []
    if k_target is not None and privacy["k"] < int(k_target):
        failures.append(f"k {privacy['k']} < required {int(k_target)}")
    l_target = (targets.get("l_diversity") or {}).get("l")
    if l_target is not None and (privacy["l"] is None or privacy["l"] < float(l_target)):
        failures.append(f"l {_show(privacy['l'])} < required {float(l_target):g}")
    t_target = (targets.get("t_closeness") or {}).get("t")
    if t_target is not None and (privacy["t"] is None or privacy["t"] > float(t_target)):
        failures.append(f"t {_show(privacy['t'])} > allowed {float(t_target):g}")
    max_risk = targets.get("max_risk")
    if max_risk is not None and privacy["prosecutor_max"] > float(max_risk):
        failures.append(f"prosecutor risk {privacy['prosecutor_max']:.4f} > allowed {float(max_risk):g}")
    return failures


def advantage_limit(parameter: float | None, report: dict[str, Any]) -> tuple[float | None, str]:
    """The membership-advantage bound in force and where it comes from.

    The policy's `model_privacy.max_membership_advantage` (carried by the Anonymize report) turns the
    gate on; the MaxMembershipAdvantage parameter can turn it on or tighten it, never loosen the
    policy's bound: the policy is the data owner's commitment, a run parameter is not.
    """
    declared = (report.get("model_privacy") or {}).get("max_membership_advantage")
    candidates = []
    if parameter is not None and parameter < ADVANTAGE_OFF:
        candidates.append((float(parameter), "MaxMembershipAdvantage parameter"))
    if declared is not None:
        candidates.append((float(declared), "policy model_privacy.max_membership_advantage"))
    if not candidates:
        return None, "off"
    return min(candidates)


def membership(audit: dict[str, Any], limit: float | None, source: str) -> list[str]:
    """The membership gate's failure, if any, naming the attack that reached the advantage."""
    if limit is None:
        return []
    advantage = float(audit["advantage"])
    if not math.isfinite(advantage) or advantage > limit:
        attack = max((a for a in audit["attacks"] if audit["attacks"][a] is not None),
                     key=lambda name: audit["attacks"][name]["advantage"])
        return [f"membership advantage {advantage:.4f} ({attack.replace('_', ' ')} attack) > allowed {limit:g} "
                f"({source})"]
    return []


def combine(quality_failures: list[str], privacy_failures: list[str]) -> dict[str, Any]:
    """evaluation.json's `gates`: what the ConditionStep reads (passed) and the Fail step shows (reason)."""
    failures = quality_failures + privacy_failures
    return {
        "quality_passed": int(not quality_failures),
        "privacy_passed": int(not privacy_failures),
        "passed": int(not failures),
        "reason": "; ".join(failures) if failures else "all gates passed",
    }


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"
