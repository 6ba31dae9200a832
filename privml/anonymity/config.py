"""AnonymityConfig: what the anonymity engine is asked to do, as one typed object.

The engine reads its targets and its columns from this and from nothing else: it does not know the
policy model (`privml.policy.engine_config` builds this from a Policy). A fitted engine keeps it in its
state as plain data (`to_state`, the same mapping fitted models have always held), so a model trained
before this type existed loads unchanged; a state with a setting this version does not know is refused,
never half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from privml.anonymity.risk import DEFAULT_THRESHOLD
from privml.errors import PrivmlError


@dataclass(frozen=True)
class LDiversityTarget:
    kind: Literal["distinct", "entropy", "recursive"]
    l: float  # noqa: E741 - the parameter's name in the literature
    c: float | None = None  # the c of recursive-(c,l) diversity


@dataclass(frozen=True)
class TClosenessTarget:
    t: float
    distance: Literal["equal", "ordered"] = "equal"


@dataclass(frozen=True)
class AnonymityConfig:
    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...] = ()
    algorithm: Literal["global_recoding", "mondrian"] = "mondrian"
    k: int = 5
    l_diversity: LDiversityTarget | None = None
    t_closeness: TClosenessTarget | None = None
    max_suppression: float = 0.0
    max_risk: float | None = None
    metric: Literal["entropy", "loss", "discernibility"] = "entropy"
    risk_threshold: float = DEFAULT_THRESHOLD  # prosecutor risk above it: at risk
    population: str | None = None  # path of the population table for journalist risk
    # per quasi-identifier: an ARX CSV path or a built-in spec (absent: a flat hierarchy)
    hierarchies: Mapping[str, str | dict[str, Any]] = field(default_factory=dict)
    dtypes: Mapping[str, str] = field(default_factory=dict)  # per quasi-identifier, as the policy declares
    # a missing quasi-identifier cell: "value" makes it its own value (privml.anonymity.missing); any other
    # rule (or None, in states fitted before the rule existed) leaves the engine refusing missing cells
    missing: Literal["value", "suppress", "error"] | None = None

    def to_state(self) -> dict[str, Any]:
        """Plain, JSON-able data: the mapping a fitted engine's state holds under "config"."""
        state = asdict(self)
        state["quasi_identifiers"] = list(self.quasi_identifiers)
        state["sensitive"] = list(self.sensitive)
        state["hierarchies"] = {c: dict(h) if isinstance(h, dict) else h for c, h in self.hierarchies.items()}
        state["dtypes"] = dict(self.dtypes)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AnonymityConfig:
        unknown = sorted(set(state) - {f.name for f in fields(cls)})
        if unknown:
            raise PrivmlError(
                f"anonymity: the fitted engine has settings this version does not know ({', '.join(unknown)}); "
                "load it with the privml version that trained it"
            )
        ld, tc = state.get("l_diversity"), state.get("t_closeness")
        return cls(
            quasi_identifiers=tuple(state["quasi_identifiers"]),
            sensitive=tuple(state.get("sensitive", ())),
            algorithm=state.get("algorithm", "mondrian"),
            k=int(state.get("k", 5)),
            l_diversity=LDiversityTarget(**ld) if ld else None,
            t_closeness=TClosenessTarget(**tc) if tc else None,
            max_suppression=float(state.get("max_suppression") or 0.0),
            max_risk=state.get("max_risk"),
            metric=state.get("metric") or "entropy",
            risk_threshold=float(state.get("risk_threshold") or DEFAULT_THRESHOLD),
            population=state.get("population"),
            hierarchies=dict(state.get("hierarchies") or {}),
            dtypes=dict(state.get("dtypes") or {}),
            missing=state.get("missing"),
        )
