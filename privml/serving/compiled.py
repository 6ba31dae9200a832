"""A loaded model, compiled for scoring a few rows at a time.

The column-wise pipeline (pandas in the privacy transform and the encoder, scikit-learn's validated
predict) has a fixed cost of several milliseconds per call, which dominates a one-row request. The
compiled form does the same arithmetic row by row in plain Python and numpy:

    raw cells → technique cell functions (only for the columns the model reads) → anonymity routing
    → feature row → classifier (class probabilities) or regressor (numbers)

Each stage is the row form its fitted component owns (`Technique.cell_function`,
`AnonymityEngine.row_router`, `FeatureEncoder.row_encoder`, `compile_classifier`); this module only
assembles them. It is built at load time, lives only in memory, and computes only the columns the model
reads: identifier columns are never touched. Whenever an input is not the plain case, it
raises `NotCompiled` and the caller scores that batch with the pipeline itself, which owns every edge
case and error message; tests check that both paths agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from privml.models.features import FeatureEncoder
from privml.rowform import CellFunction, NotCompiled, unchanged
from privml.serving.cells import cell_functions, cell_text
from privml.transformer import PrivacyTransformer

__all__ = ["CompiledModel", "NotCompiled", "compile_model"]


def _flat_steps(model: Any) -> list[Any]:
    steps: list[Any] = []
    for _, step in getattr(model, "steps", []):
        steps.extend(_flat_steps(step) if hasattr(step, "steps") else [step])
    return steps


class CompiledModel:
    """`predict_proba(values, n_rows)`: raw request columns (as parsed) → class probabilities; for a
    regressor (`regression`), `predict(values, n_rows)` → numbers."""

    def __init__(self, privacy: PrivacyTransformer, encoder: FeatureEncoder, classifier: Any) -> None:
        from privml.models.compiled import compile_classifier, compile_regressor

        self.encoder = encoder.row_encoder()
        self.regression = not hasattr(classifier, "predict_proba")
        if self.regression:
            self.classes: list[Any] | None = None
            regressor = compile_regressor(classifier)
            self._predict = (regressor or classifier).predict
            self._predict_one = (regressor.predict_one if regressor is not None
                                 else lambda x: float(classifier.predict(np.array([x]))[0]))
        else:
            self.classes = list(np.asarray(classifier.classes_).tolist())
            compiled = compile_classifier(classifier)
            self._proba = (compiled or classifier).predict_proba
            self._proba_one = (compiled.predict_proba_one if compiled is not None
                               else lambda x: classifier.predict_proba(np.array([x]))[0].tolist())
        engine = privacy.anonymity_engine()
        self._route = engine.row_router() if engine is not None else None
        self._qis: list[int] = []
        needed = list(self.encoder.columns)
        if engine is not None:
            needed += [c for c in engine.quasi_identifiers if c not in needed]
            self._qis = [needed.index(c) for c in engine.quasi_identifiers]
        self.columns = needed
        self._cells: list[CellFunction] = cell_functions(privacy, needed)
        self._width = len(self.encoder.columns)

    def predict_proba(self, values: Mapping[str, list[Any]], n_rows: int) -> np.ndarray:
        return np.asarray(self._proba(self._features(values, n_rows)))

    def predict(self, values: Mapping[str, list[Any]], n_rows: int) -> np.ndarray:
        """A regressor's numbers for the rows."""
        return np.asarray(self._predict(self._features(values, n_rows)), dtype=float)

    def _features(self, values: Mapping[str, list[Any]], n_rows: int) -> Any:
        missing = [None] * n_rows
        # CSV cells are non-empty strings already; JSON numbers and empty cells are normalized
        columns = [
            [v if type(v) is str and v else cell_text(v) for v in values.get(column, missing)] if fn is unchanged
            else [fn(v if type(v) is str and v else cell_text(v)) for v in values.get(column, missing)]
            for fn, column in zip(self._cells, self.columns, strict=True)
        ]
        if self._route is not None:
            released = [self._route(cells) for cells in zip(*(columns[i] for i in self._qis), strict=True)]
            for i, column in zip(self._qis, zip(*released, strict=True), strict=True):
                columns[i] = list(column)
        return self.encoder.encode(columns[: self._width], n_rows)

    def predict_proba_one(self, value_of: Callable[[str], Any]) -> list[float]:
        """`predict_proba` for a request of one row, given its raw value of a column (None when absent),
        without numpy where the classifier allows."""
        return self._proba_one(self._feature_row(value_of))

    def predict_one(self, value_of: Callable[[str], Any]) -> float:
        """A regressor's number for a request of one row (as predict_proba_one)."""
        return self._predict_one(self._feature_row(value_of))

    def _feature_row(self, value_of: Callable[[str], Any]) -> list[float]:
        row = [fn(v if type(v) is str and v else cell_text(v))
               for fn, v in zip(self._cells, map(value_of, self.columns), strict=True)]
        if self._route is not None:
            for i, cell in zip(self._qis, self._route([row[i] for i in self._qis]), strict=True):
                row[i] = cell
        return self.encoder.encode_one(row[: self._width])


def compile_model(model: Any) -> CompiledModel | None:
    """The compiled form of a served pipeline [privacy, encoder, classifier], or None when the model
    has any other shape or a step this module cannot reproduce exactly."""
    steps = _flat_steps(model)
    if len(steps) != 3:
        return None
    privacy, encoder, classifier = steps
    if type(privacy) is not PrivacyTransformer or type(encoder) is not FeatureEncoder:
        return None
    if not hasattr(classifier, "predict_proba") and not hasattr(classifier, "predict"):
        return None
    try:
        return CompiledModel(privacy, encoder, classifier)
    except NotCompiled:
        return None
