"""The policy's targets for the trained model itself (the `anonymity` section's are for the released
table): what the membership-inference audit of Evaluate may find before the gate fails the run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelPrivacyPolicy(BaseModel):
    """Privacy targets of the trained model, checked by the Evaluate step."""

    model_config = ConfigDict(extra="forbid")

    max_membership_advantage: float | None = Field(
        default=None, ge=0, le=1,
        description="highest membership-inference advantage (max TPR - FPR of the audit's attacks, train rows "
        "against test rows) the model may show; unset: audited and reported, not gated",
    )
