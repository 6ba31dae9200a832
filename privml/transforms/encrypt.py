"""encrypt: deterministic, reversible encryption with AES-SIV (RFC 5297).

Equal values give equal ciphertexts, so the column still joins and groups, yet only a key holder can
recover a value (`privml reidentify`). Deterministic encryption reveals equality, by design; use
`tokenize` when nobody should ever get the value back. The column name is not bound to the ciphertext,
so values encrypted under the same key join across columns and tables.
"""

from __future__ import annotations

import base64

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from pydantic import BaseModel, ConfigDict, Field

from privml.errors import IntegrityError
from privml.transforms.base import Context, Technique, map_distinct, register, table_rows

_AD = b"privml/encrypt/v1"


class EncryptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="enc_", max_length=16)


@register
class Encrypt(Technique):
    name = "encrypt"
    Params = EncryptParams
    needs_key = True
    purpose = "privml/aes-siv/v1"
    secret_length = 64  # AES-256-SIV
    reversible = True

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        assert ctx.secret is not None
        siv = AESSIV(ctx.secret)
        prefix = self.params.prefix  # type: ignore[attr-defined]

        def seal(value: str) -> str:
            sealed = siv.encrypt(value.encode("utf-8"), [_AD])
            return prefix + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")

        return map_distinct(values, seal)

    def reverse(self, values: pd.Series, ctx: Context) -> pd.Series:
        """The original values, for key holders. A value that fails authentication is an error naming its row."""
        assert ctx.secret is not None
        siv = AESSIV(ctx.secret)
        prefix = self.params.prefix  # type: ignore[attr-defined]

        def open_(token: str) -> str:
            if not token.startswith(prefix):
                raise ValueError("not an encrypted value")
            body = token[len(prefix) :]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return siv.decrypt(raw, [_AD]).decode("utf-8")

        try:
            return map_distinct(values, open_)
        except (InvalidTag, ValueError) as exc:
            bad = _first_bad_row(values, open_)
            raise IntegrityError(
                f"column '{ctx.column}': row {bad} does not decrypt under this key "
                f"({'tampered or encrypted under another key' if isinstance(exc, InvalidTag) else 'malformed'})"
            ) from None


def _first_bad_row(values: pd.Series, fn) -> int:  # type: ignore[no-untyped-def]
    """The table row (1-based, `table_rows`) of the first present value `fn` refuses; 0 when none does."""
    for position, value in enumerate(values.tolist()):
        if value is None or value != value:
            continue
        try:
            fn(str(value))
        except Exception:
            return table_rows(values, [position])[0]
    return 0
