"""pseudonymize: a consistent, realistic-looking stand-in for each value, chosen by a keyed hash.

The same value under the same key always gets the same pseudonym, so records of one person stay linked;
a different key gives an unrelated mapping. Pseudonyms come from Faker's name lists (en_US), emails use
the reserved `example.com` domain and phone numbers the fictional 555 exchange, so a pseudonym is never a
real person's contact. Pseudonyms are not guaranteed unique (the name space is finite): use `tokenize`
when the column must stay a unique key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from privml.transforms.base import Context, Technique, map_distinct_batch, register
from privml.transforms.prf import cmac_digests, digest_integers


class PseudonymizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["name", "first_name", "last_name", "email", "phone", "generic"] = "name"


@lru_cache(maxsize=1)
def _name_lists() -> tuple[np.ndarray, np.ndarray]:
    from faker.providers.person.en_US import Provider

    firsts = sorted(set(Provider.first_names_female) | set(Provider.first_names_male))
    lasts = sorted(set(Provider.last_names))
    return np.array(firsts, dtype=object), np.array(lasts, dtype=object)


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

        def pseudonyms(uniques: pa.Array) -> pa.Array | list[str]:
            numbers = digest_integers(cmac_digests(uniques, key))
            n_first, n_last = np.uint64(len(firsts)), np.uint64(len(lasts))
            first = firsts[(numbers % n_first).astype(np.intp)]
            last = lasts[((numbers // n_first) % n_last).astype(np.intp)]
            rest = (numbers // (n_first * n_last)).astype(np.int64)
            if kind == "name":
                return pc.binary_join_element_wise(
                    pa.array(first, pa.large_string()),
                    pa.array(last, pa.large_string()),
                    pa.scalar(" ", pa.large_string()),
                )
            if kind == "first_name":
                return first.tolist()
            if kind == "last_name":
                return last.tolist()
            if kind == "email":
                return [
                    f"{f.lower()}.{la.lower()}{r % 1000}@example.com"
                    for f, la, r in zip(first, last, rest.tolist(), strict=True)
                ]
            if kind == "phone":
                return [f"+1-555-{r % 1000:03d}-{(r // 1000) % 10000:04d}" for r in rest.tolist()]
            return [f"subject-{r % 10**10:010d}" for r in rest.tolist()]

        return map_distinct_batch(values, pseudonyms)
