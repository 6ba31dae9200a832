"""What a column's values look like as a whole: distinct ratio, entropy, lengths and the mix of
character classes. These are the evidence for what no pattern can show: a column in which nearly every
value is distinct and that is a code (not a measurement) identifies its rows, whatever its format.

Everything here is a count or a share; nothing returns a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privml.recognizers.patterns import count_matches, fullmatch

__all__ = ["ColumnProfile", "profile_values"]

# At least this share of distinct values among the sampled non-missing ones makes a column
# near-unique; below `_MIN_VALUES` values a sample says too little to call anything unique.
NEAR_UNIQUE = 0.9
_MIN_VALUES = 30


@dataclass(frozen=True)
class ColumnProfile:
    values: int  # non-missing values in the sample
    distinct: int
    distinct_ratio: float
    entropy_bits: float  # Shannon entropy of the value distribution
    mean_length: float
    length_spread: float  # share of values whose length differs from the most common length
    digits: float  # share of characters of each class, over all characters
    letters: float
    upper: float
    spaces: float
    other: float
    numeric: float  # share of values that parse as numbers
    fractional: float  # share of numeric values with a fractional part
    leading_zero: float  # share of values that are digit strings starting with 0

    @property
    def near_unique(self) -> bool:
        return self.values >= _MIN_VALUES and self.distinct_ratio >= NEAR_UNIQUE

    def describe(self) -> str:
        return (f"distinct {self.distinct_ratio:.0%} of {self.values}, entropy {self.entropy_bits:.1f} bits, "
                f"mean length {self.mean_length:.1f}, characters {self.digits:.0%} digits / "
                f"{self.letters:.0%} letters / {self.spaces:.0%} spaces / {self.other:.0%} other")


def profile_values(text: pd.Series, counts: pd.Series, shape_counts: pd.Series | None = None) -> ColumnProfile:
    """`text`: the sampled non-missing values as stripped strings; `counts`: their value_counts;
    `shape_counts`: the value_counts of a subsample the length and character statistics may come from
    (they are shares, and a subsample estimates them well)."""
    n = int(counts.sum())
    freq = counts.to_numpy(dtype=float) / max(n, 1)
    entropy = float(-(freq * np.log2(freq)).sum()) if n else 0.0
    shape_counts = counts if shape_counts is None else shape_counts
    uniq = pd.Series(shape_counts.index.astype(str), dtype="str")
    weight = shape_counts.to_numpy(dtype=float) / max(float(shape_counts.sum()), 1.0)
    lengths = uniq.str.len().to_numpy(dtype=float)
    mean_length = float(weight @ lengths) if n else 0.0
    if n:
        by_length = pd.Series(weight).groupby(lengths).sum()
        length_spread = float(1.0 - by_length.max())
    else:
        length_spread = 0.0
    total_chars = max(float(weight @ lengths), 1e-9)

    def char_share(pattern: str) -> float:
        return float(weight @ count_matches(uniq, pattern)) / total_chars

    digits, letters = char_share(r"\d"), char_share(r"[^\W\d_]")
    upper, spaces = char_share(r"[A-Z]"), char_share(r"\s")
    numbers = pd.to_numeric(uniq, errors="coerce").to_numpy(dtype=float)
    is_number = ~np.isnan(numbers)
    numeric = float(weight[is_number].sum())
    with np.errstate(invalid="ignore"):
        fractional_mask = is_number & (np.mod(np.where(is_number, numbers, 0.0), 1.0) != 0)
    fractional = float(weight[fractional_mask].sum() / numeric) if numeric else 0.0
    fractional = max(fractional, float(weight[fullmatch(uniq, r"-?\d*\.\d*[1-9]\d*")].sum() / numeric)
                     if numeric else 0.0)
    leading_zero = float(weight[fullmatch(uniq, r"0\d+")].sum())
    return ColumnProfile(
        values=n, distinct=len(counts), distinct_ratio=len(counts) / n if n else 0.0, entropy_bits=entropy,
        mean_length=mean_length, length_spread=length_spread, digits=digits, letters=letters, upper=upper,
        spaces=spaces, other=max(0.0, 1.0 - digits - letters - spaces), numeric=numeric,
        fractional=min(fractional, 1.0), leading_zero=leading_zero,
    )


def looks_like_code(profile: ColumnProfile, uniq: pd.Series, weight: np.ndarray) -> tuple[bool, str]:
    """Whether a near-unique column is a code (an identifier) rather than a continuous measurement, and
    why. Codes: strings without spaces, digit strings with leading zeros or one fixed length, integer
    sequences. Measurements: numbers with fractions, or integers spread the way quantities are (varying
    length, a leading digit skewed toward 1 as Benford's law describes)."""
    if profile.numeric >= 0.98:
        if profile.fractional > 0.05:
            return False, "numbers with fractional parts (a measurement)"
        if profile.leading_zero > 0.05:
            return True, f"digit strings, {profile.leading_zero:.0%} with leading zeros"
        numbers = pd.to_numeric(uniq, errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(numbers)
        numbers, w = numbers[ok], weight[ok]
        if len(numbers) < 2:
            return False, "too few numbers"
        span = float(numbers.max() - numbers.min()) + 1
        if span <= 2 * len(numbers):
            return True, f"integers filling {len(numbers) / span:.0%} of their range (a sequence)"
        magnitude = np.abs(numbers)
        low, high = float(numbers.min()), float(numbers.max())
        if (low >= 9.4e8 and high <= 2.1e9) or (low >= 9.4e11 and high <= 2.1e12):
            return False, "integers that read as Unix times (2000-2036)"
        if float(magnitude.min()) >= 1e7:
            return True, "integers of 8 or more digits"
        # Five digits hold only 90,000 codes: too few to tell a table's rows apart. Six or more can.
        if profile.length_spread <= 0.05 and float(magnitude.min()) >= 1e5:
            leading = np.array([int(str(int(x))[0]) for x in magnitude])
            share = np.bincount(leading, weights=w, minlength=10)[1:] / max(w.sum(), 1e-12)
            # Uniform codes give every leading digit ~11%; a quantity has far more 1s than 9s.
            if float(share.max()) <= 0.25:
                return True, f"integers of one length ({profile.mean_length:.0f} digits) spread uniformly"
        return False, "integers spread like a quantity"
    times = fullmatch(uniq, r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?: ?[AaPp][Mm])?")
    if float(weight[times].sum()) >= 0.9:
        return False, "times of day (a measurement)"
    amounts = fullmatch(uniq, r"[-+]?[$€£¥]?\s?\d{1,3}(?:[,.' ]\d{3})*(?:[.,]\d+)?\s?[$€£¥%]?")
    if float(weight[amounts].sum()) >= 0.9:
        return False, "amounts written with digit grouping (a measurement)"
    if profile.spaces > 0.02:
        words = float(weight @ (count_matches(uniq, r"\s+") + 1))
        if words > 4:
            return False, "text of several words"
        return True, "short texts, nearly all distinct"
    if profile.mean_length < 3:
        return False, "values too short to be codes"
    return True, "codes without spaces, nearly all distinct"

