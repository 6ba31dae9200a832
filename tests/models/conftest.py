"""Fixtures for the tests of privml.models: one real anonymization of sample data and one trained model,
shared by the tests of this directory (both are read-only for the tests that use them)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from tests.models.jobs import JobDir, make_anonymized, make_training_job, run_training


@pytest.fixture(scope="session", autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """HGB's OpenMP threads spin when the shared machine is oversubscribed (10x slower): use one."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def anonymized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Anonymize output laid out as the Anonymize job writes it: train/ validation/ test/ report/ transformer/."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(tmp_path_factory.mktemp("anon-workspace")))
        return make_anonymized(tmp_path_factory.mktemp("anonymized") / "out")


@pytest.fixture(scope="session")
def trained_job(tmp_path_factory: pytest.TempPathFactory, anonymized: Path) -> JobDir:
    """train.py run once through the training contract with the default model."""
    root = tmp_path_factory.mktemp("trained") / "opt_ml"
    job = make_training_job(root, anonymized, {"model": "hgb", "seed": "3"})
    result = run_training(job, {"model": "hgb", "seed": "3"}, cwd=root.parent)
    assert result.returncode == 0, result.stderr
    return job


@pytest.fixture
def job_copy(tmp_path: Path, anonymized: Path) -> JobDir:
    """A fresh training job directory a test may break."""
    return make_training_job(tmp_path / "opt_ml", anonymized)


@pytest.fixture
def model_dir_copy(tmp_path: Path, trained_job: JobDir) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(trained_job.model_dir, dest)
    return dest
