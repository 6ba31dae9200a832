"""tokenize: a keyed, deterministic, one-way token per value.

token = prefix + hex(AES-256-CMAC(key, value))[:length] — CMAC is a standard keyed PRF (NIST SP 800-38B),
computed for all distinct values at once (see `privml.transforms.prf`). Same value and key → same token, so tokenized
columns still join and group; a different key gives unrelated tokens; without the key a token cannot be
linked back to its value by guessing (unlike a plain hash of a small domain such as phone numbers).

Collision bound: with `length` hex characters (b = 4·length bits) and n distinct values, the chance
that any two values share a token is at most n²/2^(b+1). The default length 16 (64 bits) keeps that
below 3·10⁻⁸ for a million distinct values; `collision_bound(n, length)` computes it.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from privml.transforms.base import Context, Technique, map_distinct_batch, register
from privml.transforms.prf import cmac_digests, hex_strings


class TokenizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    length: int = Field(default=16, ge=8, le=32, description="hex characters kept (4 bits each)")
    prefix: str = Field(default="tok_", max_length=16)


def collision_bound(distinct_values: int, length: int) -> float:
    """Upper bound on the probability that two of `distinct_values` values share a token."""
    bits = 4 * length
    return min(1.0, distinct_values * (distinct_values - 1) / 2 / 2.0**bits)


@register
class Tokenize(Technique):
    name = "tokenize"
    Params = TokenizeParams
    needs_key = True
    purpose = "privml/tokenize/v1"

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        assert ctx.secret is not None
        params: TokenizeParams = self.params  # type: ignore[assignment]
        key = ctx.secret
        return map_distinct_batch(
            values, lambda uniques: hex_strings(cmac_digests(uniques, key), params.length, params.prefix)
        )
