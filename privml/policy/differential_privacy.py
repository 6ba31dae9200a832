"""The `differential_privacy:` section of a policy: how much of a DP model's ε may be spent finding its
input domain (numeric bounds, categorical values) when the policy does not declare it.

A differentially private model needs, for every numeric input, bounds that were not read from the data,
and for every categorical input, a set of values that was not read from the data; otherwise which values
occur (or the data's min and max) is released outside ε. Each is declared per column (`bounds`,
`categories`), or spent for here: a share of the run's ε buys DP quantiles within the column's public
`range`, or a DP selection (noisy counts above a threshold) from a candidate domain that does not depend
on the data (the declared hierarchy's labels). The model gets what is left, so the run spends exactly ε.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DifferentialPrivacyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bounds_share: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="share of the run's ε spent on DP bounds (two DP quantiles within the column's public "
        "`range`) of each numeric column, the label included, that declares no `bounds`; 0 = bounds must be declared",
    )
    bounds_quantiles: tuple[float, float] = Field(
        default=(0.01, 0.99),
        description="the quantiles DP bounds are taken at: a little inside the range clips the tails, which "
        "costs less utility than scaling by outliers",
    )
    categories_share: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="share of the run's ε spent selecting, under DP, the values of each categorical column "
        "that declares no `categories`, from its declared hierarchy's labels; 0 = categories must be declared",
    )
    category_min_count: float | None = Field(
        default=None, gt=0,
        description="a candidate value is kept when its noisy count reaches this; default ln(10)/ε_column, "
        "at which a value no row has is kept with probability at most 5%",
    )

    @field_validator("bounds_quantiles")
    @classmethod
    def _ordered_quantiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= value[0] < value[1] <= 1.0:
            raise ValueError("bounds_quantiles must be [low, high] with 0 <= low < high <= 1")
        return value

    @model_validator(mode="after")
    def _model_keeps_a_share(self) -> DifferentialPrivacyPolicy:
        if self.bounds_share + self.categories_share >= 1.0:
            raise ValueError("bounds_share + categories_share must be below 1 (the model needs the rest of ε)")
        return self
