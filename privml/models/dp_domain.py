"""The input domain of a differentially private model: bounds for every numeric input and the values of
every categorical input, declared in the policy or found under DP, never read from the data outside ε.

A DP model's guarantee covers what it learns from the encoded rows; the encoding itself must not depend
on the data, or it releases what ε does not cover (a column's min and max, which rare category occurs).
So each numeric input (a numeric feature, the midpoint of a generalized range, a numeric label the model
needs bounds for) has declared `bounds` or gets DP bounds, and each categorical input has declared
`categories` or gets a DP selection; anything else is refused, naming the columns.

DP bounds: diffprivlib's quantile (the exponential mechanism of Smith, 2011) at the policy's two
quantiles (default 1st and 99th percentile), searched within the column's public outer range; the bounds
share of ε is split evenly over the columns that need it, and diffprivlib splits each column's part
evenly over its two quantiles, so each quantile costs bounds_share·ε / (2·columns). An outer range is
required because the mechanism samples from [min, max] of a range it is given: without one it would read
the range from the data (diffprivlib warns, PrivacyLeakWarning) — a range that only has to be true, not
tight (ages in [0, 150], amounts in [0, 10⁹]) is public knowledge.

DP categories: each candidate value's count plus Laplace noise of scale 1/ε_column (a row adds 1 to one
count, or 1/|set| to each member of a value set: L1 sensitivity 1), kept when it reaches the threshold
(default ln(10)/ε_column: a value no row has survives with probability at most 5%). The candidates are a
domain the data did not choose (declared `candidates`, or the labels of the declared hierarchy at the
level the anonymization released), so the selection is the only data-dependent step and it is ε-DP.

Both spend from the run's BudgetAccountant; the model gets the rest (`accountant.remaining()`), so
`accountant.total()` is the declared ε whatever the split. Noise draws use the run's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from diffprivlib.accountant import BudgetAccountant
from diffprivlib.mechanisms import Laplace
from diffprivlib.tools import quantile

from privml.errors import PrivmlError
from privml.models.cell_labels import MISSING, SUPPRESSED, range_midpoint, set_members
from privml.models.features import is_interval_column, numeric_view

__all__ = ["DomainSpec", "PrivateDomain", "dp_bounds", "private_domain", "select_categories"]


@dataclass(frozen=True)
class DomainSpec:
    """What the policy says about a DP model's input domain (see privml.models.dp_policy)."""

    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # declared
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # public outer ranges
    categories: Mapping[str, Sequence[str]] = field(default_factory=dict)  # declared
    candidates: Mapping[str, Sequence[str]] = field(default_factory=dict)  # public candidate domains
    bounds_share: float = 0.0
    categories_share: float = 0.0
    quantiles: tuple[float, float] = (0.01, 0.99)
    min_count: float | None = None
    label: str | None = None
    label_bounds: bool = False  # the model needs the label's bounds too (DP linear regression)


@dataclass
class PrivateDomain:
    """Bounds and categories every DP input is encoded with, how each was obtained, and the ε each took."""

    bounds: dict[str, tuple[float, float]]
    categories: dict[str, list[str]]
    sources: dict[str, str]  # column → "declared bounds", "DP bounds", "declared categories", "DP selection"
    epsilon_parts: dict[str, float]  # "bounds", "categories" (the model's part is added by the caller)


def dp_bounds(values: np.ndarray, *, outer: tuple[float, float], epsilon: float, accountant: BudgetAccountant,
              quantiles: tuple[float, float], seed: int) -> tuple[float, float]:
    """(low, high): DP quantiles of the present values within `outer`, spending `epsilon` in all."""
    present = values[~np.isnan(values)]
    low, high = (float(q) for q in quantile(present, list(quantiles), epsilon=epsilon, bounds=outer,
                                            random_state=seed, accountant=accountant))
    if not low < high:  # noise can cross the two; widening to the public range is post-processing
        low, high = min(low, high), max(low, high)
        if not low < high:
            low, high = float(outer[0]), float(outer[1])
    return low, high


def select_categories(labels: pd.Series, candidates: Sequence[str], *, epsilon: float,
                      accountant: BudgetAccountant, min_count: float | None, seed: int) -> list[str]:
    """The candidates whose noisy count reaches the threshold, in candidate order; spends `epsilon`."""
    if not epsilon > 0:
        raise PrivmlError("selecting categories under DP needs ε > 0")
    accountant.check(epsilon, 0)
    domain = list(dict.fromkeys(str(c) for c in candidates))
    counts = dict.fromkeys(domain, 0.0)
    tally = labels.astype(object).where(labels.notna(), MISSING).astype(str).value_counts()
    for label, count in tally.items():
        members = set_members(str(label)) if "|" in str(label) else [str(label)]
        for member in members:  # a row adds 1 in all: to its value, or 1/|set| to each member of a set
            if member in counts:
                counts[member] += count / len(members)
    threshold = min_count if min_count is not None else math.log(10) / epsilon
    mechanism = Laplace(epsilon=epsilon, sensitivity=1.0, random_state=seed)
    kept = [value for value in domain if mechanism.randomise(counts[value]) >= threshold]
    accountant.spend(epsilon, 0)
    return kept


def private_domain(X: pd.DataFrame, y: np.ndarray | None, *, columns: Sequence[str], numeric: Sequence[str],
                   spec: DomainSpec, epsilon: float, accountant: BudgetAccountant,
                   seed: int = 0) -> PrivateDomain:
    """Every DP input's bounds and categories (declared, or spent for from `accountant`); raises
    PrivmlError naming the columns that have neither and no ε share to find them."""
    numeric_set = set(numeric)
    categorical = [c for c in columns if c not in numeric_set]
    intervals = [c for c in categorical if is_interval_column(_present_labels(X[c]))
                 # a range column with declared labels and no bounds to find is one-hot over those labels
                 and (c in spec.bounds or c not in spec.categories or (c in spec.ranges and spec.bounds_share > 0))]
    # a generalized range is encoded by its midpoint alone under DP (see FeatureEncoder.require_categories)
    needs_bounds = [c for c in columns if c in numeric_set or c in intervals]
    needs_categories = [c for c in categorical if c not in intervals]
    if spec.label_bounds:
        if spec.label is None or y is None:
            raise PrivmlError("this differentially private model needs the label's bounds: name the label column")
        needs_bounds.append(spec.label)
    bounds = {c: tuple(map(float, spec.bounds[c])) for c in needs_bounds if c in spec.bounds}
    categories = {c: [str(v) for v in spec.categories[c]] for c in needs_categories if c in spec.categories}
    sources = {c: "declared bounds" for c in bounds} | {c: "declared categories" for c in categories}
    to_bound = [c for c in needs_bounds if c not in bounds]
    to_select = [c for c in needs_categories if c not in categories]
    _refuse_gaps(to_bound, to_select, spec)
    parts = {"bounds": 0.0, "categories": 0.0}
    rng = np.random.default_rng(seed)
    if to_bound:
        share = spec.bounds_share * epsilon / len(to_bound)
        for column in to_bound:
            values = (numeric_view(pd.Series(y)) if column == spec.label and column not in X.columns
                      else _numeric_values(X[column], midpoints=column in intervals))
            bounds[column] = dp_bounds(values.to_numpy(dtype=float), outer=spec.ranges[column], epsilon=share,
                                       accountant=accountant, quantiles=spec.quantiles,
                                       seed=int(rng.integers(2**31)))
            sources[column] = "DP bounds"
        parts["bounds"] = share * len(to_bound)
    if to_select:
        share = spec.categories_share * epsilon / len(to_select)
        for column in to_select:
            categories[column] = select_categories(X[column], spec.candidates[column], epsilon=share,
                                                   accountant=accountant, min_count=spec.min_count,
                                                   seed=int(rng.integers(2**31)))
            sources[column] = "DP selection"
        parts["categories"] = share * len(to_select)
    return PrivateDomain(bounds, categories, sources, parts)


def _refuse_gaps(to_bound: list[str], to_select: list[str], spec: DomainSpec) -> None:
    problems = []
    no_range = [c for c in to_bound if c not in spec.ranges]
    if to_bound and not spec.bounds_share > 0:
        problems.append("numeric column(s) without declared bounds (columns.<name>.bounds, or a public "
                        f"`range` and differential_privacy.bounds_share): {', '.join(to_bound)}")
    elif no_range:
        problems.append("DP bounds need a public outer range (columns.<name>.range) for: " + ", ".join(no_range))
    no_candidates = [c for c in to_select if c not in spec.candidates]
    if to_select and not spec.categories_share > 0:
        problems.append("categorical column(s) without declared categories (columns.<name>.categories, or "
                        f"candidates and differential_privacy.categories_share): {', '.join(to_select)}")
    elif no_candidates:
        problems.append("DP category selection needs a candidate domain the data did not choose "
                        "(columns.<name>.candidates, or a hierarchy file under global recoding) for: "
                        + ", ".join(no_candidates))
    if problems:
        raise PrivmlError("differentially private training would read its input domain from the data, outside ε; "
                          + "; ".join(problems))


def _present_labels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna()).dropna().astype(str)


def _numeric_values(values: pd.Series, *, midpoints: bool) -> pd.Series:
    if not midpoints:
        return numeric_view(values)
    labels = values.astype(object).where(values.notna(), SUPPRESSED).astype(str)
    return labels.map(lambda label: math.nan if label == SUPPRESSED else range_midpoint(label)).astype(float)
