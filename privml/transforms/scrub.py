"""scrub: free text with every PII span replaced by its kind in brackets: `[EMAIL]`, `[PHONE]`, `[NAME]`, ...

Detection is `privml.recognizers.text` (the same validators the scanner uses: Luhn for cards, SSA ranges for
SSNs, `ipaddress`, IBAN mod-97, a first+last name lexicon). Scrubbing is best effort by nature: a name
that is not in the lexicon survives. Free text that must never leak should be dropped instead.
"""

from __future__ import annotations

import pandas as pd

from privml.recognizers.text import scrub_text
from privml.transforms.base import Context, Technique, map_distinct, register


@register
class Scrub(Technique):
    name = "scrub"

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        return map_distinct(values, scrub_text)
