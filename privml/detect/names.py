"""A column of single names (first names only, or surnames only) whose values the lexicon only partly knows.

Each cell is one name-shaped word (a letter first, no digits, not lower-case; uncased scripts pass), and
no lexicon knows every name. What gives such a column away is how often its distinct values are in the
name lexicon compared with other proper nouns: cities, countries and colours are named after people
too, so some of them hit the lexicon by chance. That chance rate is measured, once per process, on
reference proper nouns that are not people (`lexicons.reference_proper_nouns`), never on the table; a
column whose hit rate is far above it (six standard errors, and at least half of its distinct values)
and that has many distinct values (people's names are many; a list of brands or colours is short) is a
column of names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from privml.recognizers.identifiers import far_above_chance
from privml.recognizers.lexicons import name_lexicon, reference_proper_nouns

_WORD = re.compile(r"^[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*$")
# A column of single names has at least this many distinct values: a bounded list (brands, colours, the
# cities of a chain's stores) rarely reaches it, a column of people's names over a few hundred rows does.
MIN_DISTINCT = 100
MIN_SHAPED_SHARE = 0.9
MIN_HIT_RATE = 0.5


@dataclass(frozen=True)
class SingleNames:
    distinct: int  # distinct name-shaped values
    hit_rate: float  # share of them in the name lexicon
    chance: float  # the share of reference proper nouns in the name lexicon

    def evidence(self) -> str:
        return (f"{self.hit_rate:.0%} of {self.distinct} distinct single-word values are in the name lexicon, "
                f"far above the {self.chance:.0%} of other proper nouns (cities, countries, colours)")


def name_shaped(uniq: pd.Series) -> np.ndarray:
    """Per distinct value: one word, a letter first, not lower-case (uncased scripts pass)."""
    return np.fromiter((bool(_WORD.match(v)) and len(v) >= 2 and not v[0].islower()
                        for v in uniq.to_numpy(dtype=object)), dtype=bool, count=len(uniq))


@lru_cache(maxsize=1)
def name_chance() -> float:
    """How often a one-word proper noun that is not a person is in the name lexicon."""
    reference = reference_proper_nouns()
    if not reference:
        return 0.5  # nothing to measure against: only a column mostly in the lexicon passes
    first, last = name_lexicon()
    return sum(w in first or w in last for w in reference) / len(reference)


def single_names(uniq: pd.Series, weight: np.ndarray) -> SingleNames | None:
    """The evidence that the distinct values `uniq` (row shares `weight`) are single names, or None."""
    shaped = name_shaped(uniq)
    if int(shaped.sum()) < MIN_DISTINCT or float(weight[shaped].sum()) < MIN_SHAPED_SHARE:
        return None
    first, last = name_lexicon()
    words = [v.lower() for v in uniq[shaped]]
    hit_rate = sum(w in first or w in last for w in words) / len(words)
    chance = name_chance()
    if not far_above_chance(hit_rate, chance, len(words), floor=MIN_HIT_RATE):
        return None
    return SingleNames(len(words), hit_rate, chance)
