"""The policy's say on a DP model's input domain: the DomainSpec training uses, and the check a run makes
before any job starts (`privml run --local|--aws` with a DP model).

The check reads the policy only (no data: `run --aws` has none at hand, and what runs on AWS is what
local mode checked). A feature column, and the label for a model that needs the label's bounds, is
covered when it declares `bounds` or `categories`, or has what an ε share needs: a public `range` with
`differential_privacy.bounds_share`, or a candidate domain (`candidates`, or a hierarchy file) with
`categories_share`. Train still checks each column against the anonymized split (a column may turn out
numeric, or a range) and refuses there with the same words.
"""

from __future__ import annotations

from typing import Any

from privml.errors import PrivmlError
from privml.models.dp_domain import DomainSpec
from privml.policy import Policy, Role

__all__ = ["check_dp_policy", "domain_gaps", "domain_spec"]


def domain_spec(policy: Policy, *, label: str | None, transformer: Any = None) -> DomainSpec:
    """The DomainSpec of `policy`; `transformer` (fitted) adds, for a quasi-identifier generalized along a
    hierarchy file by global recoding, that hierarchy's labels at the released level as candidates."""
    dp = policy.differential_privacy
    candidates = {name: list(col.candidates) for name, col in policy.columns.items() if col.candidates}
    for name, labels in _released_hierarchy_labels(policy, transformer).items():
        candidates.setdefault(name, labels)
    return DomainSpec(
        bounds={n: c.bounds for n, c in policy.columns.items() if c.bounds is not None},
        ranges={n: c.range for n, c in policy.columns.items() if c.range is not None},
        categories={n: list(c.categories) for n, c in policy.columns.items() if c.categories is not None},
        candidates=candidates,
        bounds_share=dp.bounds_share if dp else 0.0,
        categories_share=dp.categories_share if dp else 0.0,
        quantiles=dp.bounds_quantiles if dp else (0.01, 0.99),
        min_count=dp.category_min_count if dp else None,
        label=label,
    )


def domain_gaps(policy: Policy, *, label_bounds: bool = False, label: str | None = None) -> list[str]:
    """The model inputs (feature columns; the label with `label_bounds`) the policy gives a DP model no
    domain for: neither declared nor an ε share that can find it."""
    dp = policy.differential_privacy
    bounds_share = dp is not None and dp.bounds_share > 0
    categories_share = dp is not None and dp.categories_share > 0
    label = label or policy.label
    gaps = []
    for name, col in policy.columns.items():
        if col.role is Role.IDENTIFIER or col.action == "drop":
            continue  # never a model feature
        if name == label:
            if label_bounds and col.bounds is None and not (bounds_share and col.range is not None):
                gaps.append(name)
            continue
        declared = col.bounds is not None or col.categories is not None
        found = ((bounds_share and col.range is not None)
                 or (categories_share and (col.candidates is not None or isinstance(col.hierarchy, str))))
        if not (declared or found):
            gaps.append(name)
    return gaps


def check_dp_policy(policy: Policy, *, label_bounds: bool = False, label: str | None = None,
                    source: str = "policy") -> None:
    """Refuse (PrivmlError, exit 2) a DP run whose policy leaves a model input's domain to the data."""
    gaps = domain_gaps(policy, label_bounds=label_bounds, label=label)
    if gaps:
        raise PrivmlError(
            f"{source}: a differentially private model needs each input's domain without reading the data; "
            "declare `bounds` (numeric) or `categories` (categorical), or give an ε share to find them "
            "(differential_privacy.bounds_share with a public `range`, categories_share with `candidates`): "
            f"missing for {', '.join(gaps)}"
        )


def _released_hierarchy_labels(policy: Policy, transformer: Any) -> dict[str, list[str]]:
    """column → the labels of its hierarchy file at the level global recoding released. Hierarchy files
    are declared (public), and the level is part of the released transformer; built-in hierarchies are
    materialized from the data's values, so they are no candidate domain."""
    engine = transformer.anonymity_engine() if transformer is not None else None
    if engine is None or not getattr(engine, "levels_", None):
        return {}
    out = {}
    for name, hierarchy in getattr(engine, "hierarchies_", {}).items():
        col = policy.columns.get(name)
        level = engine.levels_.get(name)
        if col is None or not isinstance(col.hierarchy, str) or level is None or hierarchy.spec is not None:
            continue
        from privml.anonymity.missing import MISSING

        out[name] = list(dict.fromkeys(row[level] for row in hierarchy.rows if row[0] != MISSING))
    return out
