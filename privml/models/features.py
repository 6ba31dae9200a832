"""FeatureEncoder: an anonymized table → a numeric matrix a classifier can learn from.

Categorical columns (and generalized quasi-identifier values such as "[30-40)" or "*") are one-hot
encoded; numeric columns are scaled. A numeric column with bounds declared in the policy is clipped to
them and mapped to [0, 1] with them — the bounds are never learned from the data, which is what lets a
differentially private model state its sensitivity. With `block_norm`, every row is divided by
sqrt(number of parts): each part contributes at most 1/sqrt(n) to the row's L2 norm, so every row's norm
is at most 1 by construction (the data norm diffprivlib's logistic regression needs).

Generalized values keep what they still say (`expand_generalized`): a column of numbers and ranges
("[30-40)", "25-34", "*") also gets the range's midpoint as a numeric feature, and a column of value
sets ("Divorced|Separated", as Mondrian releases categorical boxes) also gets one feature per member
value, weighted 1/|set|. One-hot of the generalized label alone would treat "25-34" and "26-35" as
unrelated and waste most of what k-anonymous data still says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from privml.errors import PrivmlError
from privml.models.cell_labels import MISSING, SUPPRESSED, is_range_label, range_midpoint, set_members
from privml.models.row_encoder import RowEncoder


def numeric_view(values: pd.Series) -> pd.Series:
    """The column as floats; values that are not numbers become NaN (missing stays NaN)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def is_interval_column(values: pd.Series) -> bool:
    """Numbers and ranges only (with "*" for fully generalized), at least one of them a range."""
    labels = [str(v) for v in pd.unique(values.dropna())]
    labels = [v for v in labels if v != SUPPRESSED]
    if not labels:
        return False
    mids = [range_midpoint(v) for v in labels]
    return all(not math.isnan(m) for m in mids) and any(is_range_label(v) for v in labels)


def is_numeric_column(values: pd.Series) -> bool:
    """True when every present value of the column is a number (a column of only missing values is not)."""
    present = values.dropna()
    if present.empty:
        return False
    if pd.api.types.is_numeric_dtype(present.dtype) and not pd.api.types.is_bool_dtype(present.dtype):
        return True
    return bool(numeric_view(present).notna().all())


class FeatureEncoder(TransformerMixin, BaseEstimator):
    """One-hot for categoricals, bounded or standardized scaling for numerics; see the module docstring.

    Parameters
    ----------
    columns: the feature columns, in order. Other columns of the input (the label, dropped ones) are ignored.
    numeric: the columns to treat as numeric; None = every column whose values are all numbers at fit.
    bounds: column → (min, max) declared in the policy. Numeric columns (and range midpoints) listed here
        are clipped and scaled with these bounds; others are standardized with the training mean and
        standard deviation.
    require_bounds: refuse to fit when a numeric column has no declared bounds (differential privacy);
        range columns without bounds then get no midpoint feature.
    block_norm: divide every row by sqrt(number of parts) so that each row's L2 norm is at most 1.
    expand_generalized: add midpoint features for range columns and member features for set columns.
    categories: column → the values declared in the policy. A categorical column listed here is one-hot
        encoded over exactly these values (plus missing), and a value-set column's members are these, so
        the encoding does not depend on which values occur in the data; unlisted columns use the values
        seen at fit. Values outside the declared list encode as all zeros.
    require_categories: differential privacy: nothing of the layout may come from the data. A categorical
        column without `categories` is refused, and a range column with bounds is encoded by its bounded
        midpoint alone (the one-hot of its labels would list which ranges occur).
    """

    # an encoder saved before this parameter existed loads without it: it read its categories as given
    require_categories: bool = False

    def __init__(
        self,
        columns: Sequence[str] = (),
        numeric: Sequence[str] | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        require_bounds: bool = False,
        block_norm: bool = False,
        expand_generalized: bool = True,
        categories: Mapping[str, Sequence[str]] | None = None,
        require_categories: bool = False,
    ) -> None:
        self.columns = columns
        self.numeric = numeric
        self.bounds = bounds
        self.require_bounds = require_bounds
        self.block_norm = block_norm
        self.expand_generalized = expand_generalized
        self.categories = categories
        self.require_categories = require_categories

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # strings and categories are what it encodes; a missing value is a category (or the scaling centre)
        tags.input_tags.string = tags.input_tags.categorical = tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureEncoder:
        X = _as_table(X)
        self.n_features_in_ = X.shape[1]
        columns = self._check(X, list(self.columns) or [str(c) for c in X.columns])
        bounds = dict(self.bounds or {})
        if self.numeric is None:
            numeric = [c for c in columns if is_numeric_column(X[c])]
        else:
            numeric = [c for c in columns if c in set(self.numeric)]
        unbounded = [c for c in numeric if c not in bounds]
        if self.require_bounds and unbounded:
            raise PrivmlError(
                "differentially private training needs declared bounds for numeric columns "
                f"(policy columns.<name>.bounds): missing for {', '.join(unbounded)}"
            )
        categorical = [c for c in columns if c not in set(numeric)]
        declared = {str(c): [str(v) for v in values] for c, values in (self.categories or {}).items()}
        frame = self._categorical_frame(X, categorical)
        intervals, members = [], {}
        if self.expand_generalized:
            intervals = [c for c in categorical if is_interval_column(frame[c].where(frame[c] != MISSING))
                         and (c in bounds or not self.require_bounds)]
        midpoint_only = [c for c in intervals if c in bounds] if self.require_categories else []
        if midpoint_only:
            categorical = [c for c in categorical if c not in midpoint_only]
            frame = frame[categorical]
        undeclared = [c for c in categorical if c not in declared]
        if self.require_categories and undeclared:
            raise PrivmlError(
                "differentially private training needs declared categories for categorical columns "
                f"(policy columns.<name>.categories, or selected under DP): missing for {', '.join(undeclared)}"
            )
        if self.expand_generalized:
            for c in categorical:
                labels = pd.unique(frame[c])
                if any("|" in v for v in labels):
                    members[c] = list(declared[c]) if c in declared else sorted(
                        {m for v in labels for m in set_members(v)})
        self.feature_columns_ = columns
        self.numeric_columns_ = numeric
        self.categorical_columns_ = categorical
        self.interval_columns_ = intervals
        self.set_members_ = members
        self._fit_scaling(X, bounds)
        self.declared_categories_ = [c for c in categorical if c in declared]
        self.onehot_: OneHotEncoder | None = None
        if categorical:
            # declared: exactly the policy's values and missing; otherwise the values seen here
            levels = [np.asarray(list(dict.fromkeys([*declared[c], MISSING])) if c in declared
                                 else np.unique(frame[c]), dtype=object) for c in categorical]
            self.onehot_ = OneHotEncoder(categories=levels, handle_unknown="ignore", sparse_output=False,
                                         dtype=np.float64)
            self.onehot_.fit(frame)
        # a midpoint-only range column is one part (its midpoint), not two
        parts = len(columns) + len(intervals) - len(midpoint_only) + len(members)
        self.row_scale_ = 1.0 / math.sqrt(parts) if self.block_norm and parts else 1.0
        self.n_features_out_ = (
            len(numeric) + len(intervals) + sum(len(m) for m in members.values())
            + (sum(len(c) for c in self.onehot_.categories_) if self.onehot_ is not None else 0)
        )
        return self

    def _fit_scaling(self, X: pd.DataFrame, bounds: Mapping[str, tuple[float, float]]) -> None:
        lows, highs, centers, clipped = [], [], [], []
        for col, values in zip(self._scaled_names(), self._scaled_values(X), strict=True):
            if col in bounds:
                low, high = (float(b) for b in bounds[col])
                center = (low + high) / 2
            else:
                present = values[~np.isnan(values)]
                center = float(present.mean()) if len(present) else 0.0
                std = float(present.std()) if len(present) > 1 else 0.0
                # standardization expressed as the same affine map: (x - low) / (high - low)
                low, high = center, center + (std if std > 0 else 1.0)
            lows.append(low)
            highs.append(high)
            centers.append(center)
            clipped.append(col in bounds)
        self.numeric_low_ = np.asarray(lows, dtype=float)
        self.numeric_high_ = np.asarray(highs, dtype=float)
        self.numeric_fill_ = np.asarray(centers, dtype=float)
        self.numeric_clipped_ = np.asarray(clipped, dtype=bool)

    def _scaled_names(self) -> list[str]:
        return [*self.numeric_columns_, *self.interval_columns_]

    def _scaled_values(self, X: pd.DataFrame) -> list[np.ndarray]:
        values = [numeric_view(X[c]).to_numpy(dtype=float) for c in self.numeric_columns_]
        for col in self.interval_columns_:
            labels = X[col].astype(object).where(X[col].notna(), SUPPRESSED).astype(str)
            codes, uniques = pd.factorize(labels)
            mids = np.asarray([range_midpoint(u) for u in uniques], dtype=float)
            values.append(mids[codes] if len(uniques) else np.zeros(len(X)))
        return values

    @staticmethod
    def _check(X: object, columns: list[str]) -> list[str]:
        if not isinstance(X, pd.DataFrame):
            raise PrivmlError("FeatureEncoder expects a table with named columns")
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise PrivmlError(f"feature columns missing from the data: {', '.join(missing)}")
        return columns

    @staticmethod
    def _categorical_frame(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        frame = X[columns].astype(object)
        return frame.where(frame.notna(), MISSING).astype(str)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "feature_columns_")
        table = _as_table(X)
        if table is not X and table.shape[1] != self.n_features_in_:  # positional input: the width must match
            raise ValueError(f"X has {table.shape[1]} features, but FeatureEncoder is expecting "
                             f"{self.n_features_in_} features as input")
        X = table
        self._check(X, self.feature_columns_)
        parts = []
        scaled = self._scaled_values(X)
        if scaled:
            raw = np.column_stack(scaled)
            raw = np.where(np.isnan(raw), self.numeric_fill_, raw)
            raw = np.where(self.numeric_clipped_, np.clip(raw, self.numeric_low_, self.numeric_high_), raw)
            parts.append((raw - self.numeric_low_) / (self.numeric_high_ - self.numeric_low_))
        if self.onehot_ is not None:
            frame = self._categorical_frame(X, self.categorical_columns_)
            parts.append(self.onehot_.transform(frame))
            for col, vocabulary in self.set_members_.items():
                parts.append(_member_matrix(frame[col], vocabulary))
        matrix = np.hstack(parts) if parts else np.zeros((len(X), 0))
        return matrix * self.row_scale_

    def row_encoder(self) -> RowEncoder:
        """`transform` for a few rows of released cells without pandas, built from the fitted state (the
        released cells of `feature_columns_` → the same features); raises `privml.rowform.NotCompiled`
        for an input or a fitted layout it does not cover."""
        check_is_fitted(self, "feature_columns_")
        return RowEncoder(self)

    def output_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per output feature (min, max), from the encoding and the declared bounds alone (no data)."""
        check_is_fitted(self, "feature_columns_")
        if not self.numeric_clipped_.all():
            raise PrivmlError("output bounds are only known when every numeric column has declared bounds")
        n = self.n_features_out_
        return np.zeros(n), np.full(n, self.row_scale_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "feature_columns_")
        names = [*self.numeric_columns_, *(f"{c}_midpoint" for c in self.interval_columns_)]
        if self.onehot_ is not None:
            names += list(self.onehot_.get_feature_names_out(self.categorical_columns_))
        for col, vocabulary in self.set_members_.items():
            names += [f"{col}_has_{m}" for m in vocabulary]
        return np.asarray(names, dtype=object)


def _as_table(X: object) -> pd.DataFrame:
    """A DataFrame as it is; a 2-D array as a table of columns x0, x1, ... (scikit-learn's default names),
    after scikit-learn's own validation (sparse, complex, empty or 1-D input is refused with its message)."""
    if isinstance(X, pd.DataFrame):
        return X
    from sklearn.utils.validation import check_array

    array = check_array(X, dtype=None, ensure_all_finite="allow-nan")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _member_matrix(labels: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Each row: 1/|set| on the members of its label's value set (members unseen at fit are ignored)."""
    index = {m: i for i, m in enumerate(vocabulary)}
    codes, uniques = pd.factorize(labels)
    table = np.zeros((len(uniques), len(vocabulary)))
    for row, label in enumerate(uniques):
        members = set_members(label)
        for member in members:
            if member in index:
                table[row, index[member]] = 1.0 / len(members)
    return table[codes] if len(uniques) else np.zeros((len(labels), len(vocabulary)))
