"""mask: hide characters but keep the value's shape.

Characters that are letters or digits are masked; separators (`-`, ` `, `(`, `.`, `@`, ...) stay where they
are, so a masked value has the input's length and format. `keep_first`/`keep_last` leave that many
characters readable; `keep_email_domain` keeps everything after the `@`. With `classes: true` masked
characters keep their class (`9` for digits, `X`/`x` for letters) instead of becoming `char`.
Vectorized with Arrow string kernels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from privml.transforms.base import Context, Technique, arrow_strings, from_arrow, register


class MaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_first: int = Field(default=0, ge=0)
    keep_last: int = Field(default=0, ge=0)
    keep_email_domain: bool = False
    char: str = "*"
    classes: bool = False

    @field_validator("char")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1 or value.isalnum():
            raise ValueError("char must be one character that is not a letter or digit")
        return value


SEPARATORS = " \t\n\r\f\v-_.@()/+,:#"


def _lookup_table(params: MaskParams) -> np.ndarray:
    """Byte → byte for ASCII text: the same mapping as the regular expressions below."""
    table = np.arange(256, dtype=np.uint8)
    for byte in range(128):
        ch = chr(byte)
        if params.classes:
            if ch.isdigit():
                table[byte] = ord("9")
            elif ch.isupper():
                table[byte] = ord("X")
            elif ch.islower():
                table[byte] = ord("x")
        elif ch not in SEPARATORS:
            table[byte] = ord(params.char)
    return table


def _translate_ascii(arr: pa.Array, table: np.ndarray) -> pa.Array:
    """Map every byte of an all-ASCII string array through `table`: offsets and lengths are unchanged,
    so this is one numpy gather over the data buffer instead of a regex replacement per character."""
    validity, offsets, data = arr.buffers()
    if data is None:
        return arr
    mapped = table[np.frombuffer(data, dtype=np.uint8)]
    return pa.Array.from_buffers(arr.type, len(arr), [validity, offsets, pa.py_buffer(mapped)], offset=arr.offset)


def _mask_all(arr: pa.Array, params: MaskParams) -> pa.Array:
    if params.char.isascii() and pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return _translate_ascii(arr, _lookup_table(params))
    if params.classes:
        arr = pc.replace_substring_regex(arr, r"[0-9]", "9")
        arr = pc.replace_substring_regex(arr, r"[A-Z]", "X")
        arr = pc.replace_substring_regex(arr, r"[a-z]", "x")
        return pc.replace_substring_regex(arr, r"[^\x00-\x7F]", "x")
    return pc.replace_substring_regex(arr, r"[^\s\-_.@()/+,:#]", params.char)


def _mask_keeping_ends(arr: pa.Array, params: MaskParams) -> pa.Array:
    length = pc.utf8_length(arr)
    first = params.keep_first
    last = params.keep_last
    # A value shorter than what would be kept is masked whole: keeping it would reveal all of it.
    too_short = pc.less_equal(length, first + last)
    head = pc.utf8_slice_codeunits(arr, 0, first)
    tail = pc.utf8_slice_codeunits(arr, -last) if last else pc.utf8_slice_codeunits(arr, 0, 0)
    middle = pc.utf8_slice_codeunits(arr, first, -last if last else None)
    kept = pc.binary_join_element_wise(head, _mask_all(middle, params), tail, pa.scalar("", arr.type))
    return pc.if_else(too_short, _mask_all(arr, params), kept)


@register
class Mask(Technique):
    name = "mask"
    Params = MaskParams

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        params: MaskParams = self.params  # type: ignore[assignment]
        arr = arrow_strings(values)
        if params.keep_email_domain:
            at = pc.find_substring(arr, "@")
            has_at = pc.greater_equal(at, 0)
            local = pc.replace_substring_regex(arr, r"@[^@]*$", "")  # up to the last @
            domain = pc.extract_regex(arr, r"(?P<d>@[^@]*)$").field("d")
            masked_local = _mask_keeping_ends(local, params)
            joined = pc.binary_join_element_wise(masked_local, domain, pa.scalar("", arr.type))
            result = pc.if_else(has_at, joined, _mask_keeping_ends(arr, params))
        elif params.keep_first or params.keep_last:
            result = _mask_keeping_ends(arr, params)
        else:
            result = _mask_all(arr, params)
        return from_arrow(result, values)
