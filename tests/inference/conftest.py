"""Fixtures for the endpoint tests: one fitted model per session, one running endpoint per module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from tests.inference.model_factory import LABEL, build, raw_table

CANARIES = {
    "name": "Zyxwv Canaryname",
    "email": "canary.qq7@example.org",
    "phone": "555-013-9876",
    "ssn": "078-05-1120",
    "credit_card": "4111111111111111",
    "street_address": "77 Canarystreet Road",
    "ip_address": "203.0.113.77",
    "notes": "call Zyxwv Canaryname at canary.qq7@example.org",
    "zip_code": "90377",
}


class Spy(TransformerMixin, BaseEstimator):
    """A pass-through step that records every frame the model steps after `privacy` receive."""

    seen: list[pd.DataFrame] = []  # noqa: RUF012 - shared on purpose across clones

    def fit(self, X: Any, y: Any = None) -> Spy:
        return self

    def transform(self, X: Any) -> Any:
        Spy.seen.append(X.copy())
        return X


@pytest.fixture(scope="session")
def model_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-ws")


@pytest.fixture(scope="session")
def fitted_model(model_workspace: Path) -> Pipeline:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(model_workspace))
        return build(rows=800, kind="logreg")


def save_model_dir(model: Pipeline, directory: Path, model_workspace: Path) -> Path:
    """Save as the training job does (model.skops). Saving currently strips the in-memory key provider of
    the live PrivacyTransformer (its __getstate__ pops from the live __dict__), so rebind it afterwards
    to the workspace that holds the model's keys."""
    from privml.crypto.local_kms import LocalKms
    from privml.models.persistence import save_model

    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, directory / "model.skops")
    model.steps[0][1].set_key_provider(LocalKms.open(model_workspace))
    return directory


@pytest.fixture(scope="session")
def spied_model(fitted_model: Pipeline) -> Pipeline:
    steps = fitted_model.steps
    return Pipeline([steps[0], ("spy", Spy()), *steps[1:]])


@pytest.fixture(scope="session")
def raw_requests() -> pd.DataFrame:
    """Rows with the raw schema (no label), unseen at training."""
    return raw_table(120, seed=11).drop(columns=[LABEL])


def pii_rows(raw: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    rows = raw.head(n).copy()
    for column, value in CANARIES.items():
        rows[column] = value
    return rows


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("privml", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
