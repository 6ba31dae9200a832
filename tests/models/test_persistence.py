"""skops persistence: the round trip of a whole model pipeline, and the refusal of anything untrusted."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from privml.errors import PrivmlError
from privml.models.estimators import MODEL_KINDS, fit_model
from privml.models.persistence import load_model, save_model, trusted_types
from tests.models.jobs import JobDir


class Smuggled(TransformerMixin, BaseEstimator):
    """A class privml never put in a model file."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def _table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(20, 70, n).astype(str),
        "band": rng.choice(["[30-40)", "[40-50)", "*"], n),
        "city": rng.choice(["a", "b", "c"], n),
    })
    y = np.where(rng.random(n) < 0.5, "yes", "no")
    return frame, y


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_every_model_kind_round_trips(kind: str, tmp_path: Path) -> None:
    X, y = _table()
    regression = "binary" not in MODEL_KINDS[kind].tasks
    if regression:  # a regression-only kind: a numeric target
        y = X["age"].astype(float).to_numpy() * 2 + np.arange(len(X)) % 7
    private = MODEL_KINDS[kind].private  # a DP model's categories are declared, never read from the data
    fitted = fit_model(kind, X, y, columns=list(X.columns), numeric=["age"], bounds={"age": (0, 100)},
                       epsilon=1.0 if private else 0.0, seed=0,
                       task="regression" if regression else None, label_bounds=(0, 250),
                       categories={"band": ["[30-40)", "[40-50)", "*"], "city": ["a", "b", "c"]} if private else None)
    path = tmp_path / "model.skops"
    save_model(fitted.pipeline, path)
    loaded = load_model(path)
    if regression:
        assert np.array_equal(loaded.predict(X), fitted.pipeline.predict(X))
    else:
        assert np.array_equal(loaded.predict_proba(X), fitted.pipeline.predict_proba(X))


@pytest.mark.parametrize("kind", ["hgb", "ridge"])
def test_a_regressor_round_trips(kind: str, tmp_path: Path) -> None:
    X, _ = _table()
    y = X["age"].astype(float).to_numpy() * 3.5 + 1
    fitted = fit_model(kind, X, y, columns=list(X.columns), numeric=["age"], bounds={}, task="regression")
    save_model(fitted.pipeline, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert not hasattr(loaded, "predict_proba")
    assert np.array_equal(loaded.predict(X), fitted.pipeline.predict(X))


def test_the_trained_artifact_round_trips(trained_job: JobDir, tmp_path: Path) -> None:
    pipeline = load_model(trained_job.model_dir / "model.skops")
    save_model(pipeline, tmp_path / "again.skops")
    again = load_model(tmp_path / "again.skops")
    frame = pd.read_csv(trained_job.channel("validation") / "data.csv", dtype=str)
    model, model_again = pipeline.named_steps["model"], again.named_steps["model"]
    assert np.array_equal(model.predict_proba(frame), model_again.predict_proba(frame))


def test_untrusted_class_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    X, y = _table()
    fitted = fit_model("logreg", X, y, columns=list(X.columns), numeric=None, bounds={}, seed=0)
    pipeline = Pipeline([("smuggled", Smuggled()), ("model", fitted.pipeline)])
    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps(pipeline))  # written by someone else, not save_model
    with pytest.raises(PrivmlError, match=r"refusing to load a model with untrusted types: .*Smuggled"):
        load_model(path)


def test_a_function_that_runs_commands_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps(Pipeline([("run", FunctionTransformer(func=os.system))])))
    with pytest.raises(PrivmlError, match=r"untrusted types: .*system"):
        load_model(path)


def test_save_model_refuses_what_it_could_not_load(tmp_path: Path) -> None:
    with pytest.raises(PrivmlError, match="untrusted types"):
        save_model(Pipeline([("x", Smuggled())]), tmp_path / "m.skops")
    assert not (tmp_path / "m.skops").exists()


def test_garbage_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"\x80\x04 not a model")
    with pytest.raises(PrivmlError, match="not a readable skops model file"):
        load_model(path)
    with pytest.raises(PrivmlError, match="cannot read model file"):
        load_model(tmp_path / "missing.skops")


def test_trusted_list_is_explicit_and_includes_the_transformer() -> None:
    types = trusted_types()
    assert "privml.transformer.PrivacyTransformer" in types
    assert all("." in t and "*" not in t for t in types)
