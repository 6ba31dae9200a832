"""The `detection:` section of a policy: an organisation's own identifiers and value lists for `scan`.

    detection:
      recognizers:
        - name: employee_id
          regex: 'EMP-\\d{6}'
          validator: luhn        # optional: luhn, mod97, mod11, verhoeff, or a built-in type's check
          hints: [employee, staff_no]
      allow: ['N/A', 'unknown']  # values never flagged (placeholders)
      deny: ['sha256:…']         # values always flagged; scan records them as SHA-256 digests

A regex that does not compile or a validator privml does not know is an error naming the field.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CustomRecognizerPolicy", "DetectionPolicy"]


class CustomRecognizerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="the type name scan reports")
    regex: str = Field(max_length=1000, description="a value of this type matches it in full (Python `re`)")
    validator: str | None = Field(
        default=None, description="a check a matching value must also pass (a checksum or a built-in type's check)"
    )
    hints: list[str] = Field(default_factory=list, description="words in a column name that say this id")
    min_share: float = Field(default=0.5, gt=0, le=1, description="share of values that must match")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile ({exc.msg} at position {exc.pos})") from None
        return value

    @field_validator("validator")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        # the recognizers below the policy layer are the one list of checks (imported here, when a policy
        # names one, because their patterns compile on import)
        from privml.recognizers.identifiers import validator_names

        known = validator_names()
        if value is not None and value not in known:
            raise ValueError(f"unknown validator {value[:40]!r} (known: {', '.join(known)})")
        return value


class DetectionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recognizers: list[CustomRecognizerPolicy] = Field(
        default_factory=list, description="custom identifier types, judged with the built-in ones"
    )
    allow: list[str] = Field(default_factory=list, description="values never flagged (placeholders such as N/A)")
    deny: list[str] = Field(
        default_factory=list, description="values always flagged; the proposed policy records them as SHA-256 digests"
    )
