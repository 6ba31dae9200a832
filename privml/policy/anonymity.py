"""The `anonymity:` section of a policy: privacy model targets and the algorithm that meets them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LDiversity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["distinct", "entropy", "recursive"] = Field(
        default="distinct",
        description="distinct: at least l different sensitive values per class; entropy: the values' entropy at "
        "least log(l); recursive-(c,l): the most frequent value's count below c times the sum of the counts "
        "from the l-th most frequent value on",
    )
    l: float = Field(  # noqa: E741 - the field's name in the literature
        ge=1, description="the l of l-diversity: how many well-represented sensitive values each class needs"
    )
    c: float | None = Field(default=None, gt=0, description="the c of recursive-(c,l) diversity")

    @model_validator(mode="after")
    def _recursive_needs_c(self) -> LDiversity:
        if self.kind == "recursive" and self.c is None:
            raise ValueError("l_diversity: kind 'recursive' needs `c` (recursive-(c,l) diversity)")
        return self


class TCloseness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t: float = Field(
        gt=0, le=1,
        description="largest distance allowed between a class's sensitive distribution and the whole table's",
    )
    distance: Literal["equal", "ordered"] = Field(
        default="equal",
        description="earth mover's distance with every pair of values equally far (categories) or ordered "
        "(numbers, ordinal scales)",
    )


class AnonymityPolicy(BaseModel):
    """Targets over the quasi-identifier columns; `anonymize` refuses to emit data that misses them."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["global_recoding", "mondrian"] = Field(
        default="mondrian",
        description="mondrian: multidimensional partitioning, local recoding (fast, low loss); global_recoding: "
        "the optimal full-domain generalization over the columns' hierarchies (ARX's lattice search)",
    )
    k: int = Field(default=5, ge=1, description="every record shares its quasi-identifiers with at least k-1 others")
    l_diversity: LDiversity | None = Field(
        default=None, description="l-diversity of each sensitive column within each class (a mapping: `{l: 3}`)"
    )
    t_closeness: TCloseness | None = Field(
        default=None, description="t-closeness of each sensitive column within each class (a mapping: `{t: 0.2}`)"
    )
    max_suppression: float = Field(default=0.0, ge=0, le=1, description="share of records that may be suppressed")
    max_risk: float | None = Field(default=None, gt=0, le=1, description="highest prosecutor risk allowed")
    metric: Literal["entropy", "loss", "discernibility"] = Field(
        default="entropy",
        description="information loss global recoding minimizes: non-uniform entropy, generalization loss, or "
        "discernibility (sum of squared class sizes)",
    )
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
