"""The anonymity engine's configuration, built from a policy: the one place that knows both.

The engine takes an `AnonymityConfig` (privml.anonymity.config) and never sees the policy model; this
turns a validated Policy into it, resolving the paths the policy names (hierarchies, the population
table) against the policy's directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privml.anonymity.config import AnonymityConfig, LDiversityTarget, TClosenessTarget

if TYPE_CHECKING:
    from privml.policy import Policy


def anonymity_config(policy: Policy) -> AnonymityConfig:
    """The engine's configuration for `policy` (its `anonymity:` section, or the defaults without one)."""
    from privml.policy.anonymity import AnonymityPolicy

    section = policy.anonymity if policy.anonymity is not None else AnonymityPolicy()
    quasi_identifiers = policy.quasi_identifiers
    hierarchies: dict[str, str | dict] = {}
    dtypes: dict[str, str] = {}
    for column in quasi_identifiers:
        spec = policy.columns[column]
        dtypes[column] = spec.dtype
        if isinstance(spec.hierarchy, str):
            hierarchies[column] = str(policy.resolve_path(spec.hierarchy))
        elif isinstance(spec.hierarchy, dict):
            hierarchies[column] = dict(spec.hierarchy)
    diversity, closeness = section.l_diversity, section.t_closeness
    return AnonymityConfig(
        quasi_identifiers=tuple(quasi_identifiers),
        sensitive=tuple(policy.sensitive_attributes),
        algorithm=section.algorithm,
        k=section.k,
        l_diversity=LDiversityTarget(diversity.kind, diversity.l, diversity.c) if diversity else None,
        t_closeness=TClosenessTarget(closeness.t, closeness.distance) if closeness else None,
        max_suppression=section.max_suppression,
        max_risk=section.max_risk,
        metric=section.metric,
        risk_threshold=section.risk_threshold,
        population=str(policy.resolve_path(section.population)) if section.population else None,
        hierarchies=hierarchies,
        dtypes=dtypes,
        missing=section.missing,
    )
