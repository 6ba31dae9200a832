"""The `anonymity:` section of a policy: privacy model targets and the algorithm that meets them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LDiversity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["distinct", "entropy", "recursive"] = "distinct"
    l: float = Field(ge=1)  # noqa: E741 - the field's name in the literature
    c: float | None = Field(default=None, gt=0, description="the c of recursive-(c,l) diversity")

    @model_validator(mode="after")
    def _recursive_needs_c(self) -> LDiversity:
        if self.kind == "recursive" and self.c is None:
            raise ValueError("l_diversity: kind 'recursive' needs `c` (recursive-(c,l) diversity)")
        return self


class TCloseness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t: float = Field(gt=0, le=1)
    distance: Literal["equal", "ordered"] = "equal"


class AnonymityPolicy(BaseModel):
    """Targets over the quasi-identifier columns; `anonymize` refuses to emit data that misses them."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["global_recoding", "mondrian"] = "mondrian"
    k: int = Field(default=5, ge=1)
    l_diversity: LDiversity | None = None
    t_closeness: TCloseness | None = None
    max_suppression: float = Field(default=0.0, ge=0, le=1, description="share of records that may be suppressed")
    max_risk: float | None = Field(default=None, gt=0, le=1, description="highest prosecutor risk allowed")
    metric: Literal["entropy", "loss", "discernibility"] = "entropy"
    risk_threshold: float = Field(
        default=0.2, gt=0, le=1, description="a record whose prosecutor risk exceeds this counts as at risk"
    )
    # `value` by default: every record stays (suppressing the records with a missing cell drops rows that
    # are rarely missing at random, which biases the training set and can drain a small table), and no
    # privacy is lost, since the missing cells form classes held to k, l and t like any other value.
    missing: Literal["value", "suppress", "error"] = Field(
        default="value",
        description="a record with an empty quasi-identifier: the empty cell is its own value (generalized only "
                    "to `*`), the record is suppressed, or it is an error; the report counts the empty cells",
    )
    population: str | None = Field(
        default=None, description="population table (path) for journalist risk, same quasi-identifier columns"
    )
