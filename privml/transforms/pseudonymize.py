"""pseudonymize: a consistent, realistic-looking stand-in for each value, chosen by a keyed hash.

The same value under the same key always gets the same pseudonym, so records of one person stay linked;
a different key gives an unrelated mapping. Pseudonyms come from Faker's name lists (en_US), emails use
the reserved `example.com` domain and phone numbers the fictional 555 exchange, so a pseudonym is never a
real person's contact. Pseudonyms are not guaranteed unique (the name space is finite): use `tokenize`
when the column must stay a unique key.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from privml.transforms.base import Context, Technique, map_distinct, register


class PseudonymizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["name", "first_name", "last_name", "email", "phone", "generic"] = "name"


@lru_cache(maxsize=1)
def _name_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from faker.providers.person.en_US import Provider

    firsts = sorted(set(Provider.first_names_female) | set(Provider.first_names_male))
    lasts = sorted(set(Provider.last_names))
    return tuple(firsts), tuple(lasts)


@register
class Pseudonymize(Technique):
    name = "pseudonymize"
    Params = PseudonymizeParams
    needs_key = True
    purpose = "privml/pseudonymize/v1"

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        assert ctx.secret is not None
        key = ctx.secret
        kind = self.params.kind  # type: ignore[attr-defined]
        firsts, lasts = _name_lists()
        blake = hashlib.blake2b

        def pseudonym(value: str) -> str:
            n = int.from_bytes(blake(value.encode("utf-8"), key=key, digest_size=8).digest(), "big")
            first = firsts[n % len(firsts)]
            last = lasts[(n // len(firsts)) % len(lasts)]
            rest = n // (len(firsts) * len(lasts))
            if kind == "name":
                return f"{first} {last}"
            if kind == "first_name":
                return first
            if kind == "last_name":
                return last
            if kind == "email":
                return f"{first.lower()}.{last.lower()}{rest % 1000}@example.com"
            if kind == "phone":
                return f"+1-555-{rest % 1000:03d}-{(rest // 1000) % 10000:04d}"
            return f"subject-{n % 10**10:010d}"

        return map_distinct(values, pseudonym)
