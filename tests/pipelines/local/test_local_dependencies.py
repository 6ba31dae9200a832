"""Local mode's dependency check: each step's image profile, before any job starts, recorded per step."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import DEFAULT_IMAGE_PROFILE, PipelineConfig
from pipelines.local.dependencies import DependencyCheck
from pipelines.wheelhouse import check_against_index
from privml.errors import PrivmlError
from tests.pipelines.conftest import Built
from tests.pipelines.test_wheelhouse import default_wheelhouse  # noqa: F401 - the session fixture


def test_an_image_python_too_old_is_refused_before_anything_runs() -> None:
    config = PipelineConfig.local_defaults(images={"profile": "sklearn-1.2-1"})
    with pytest.raises(PrivmlError, match=r"^images\.profile: image profile sklearn-1\.2-1 has Python 3\.9"):
        DependencyCheck(config)


def test_an_unreachable_index_is_unchecked_not_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # only the index below, not this machine's
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    from pipelines.images import get_profile

    resolution = check_against_index(get_profile(DEFAULT_IMAGE_PROFILE))
    assert resolution.how == "unchecked"
    assert resolution.detail.startswith("unchecked: no wheelhouse is configured and pip could not reach")
    assert not list((tmp_path / "cache").glob("**/*.json"))  # an unchecked answer is never cached


@pytest.mark.slow
def test_every_step_is_checked_against_its_profile_and_recorded(
        built: Built, default_wheelhouse: Path) -> None:  # noqa: F811
    config = PipelineConfig.local_defaults(code={"wheelhouse": str(default_wheelhouse)})
    checks = DependencyCheck(config).result(built.definition)
    assert set(checks) == {"Anonymize", "Train", "Evaluate", "CreateModel"}
    assert {c["role"] for c in checks.values()} == {"processing", "training", "inference"}
    for check in checks.values():
        assert check["profile"] == DEFAULT_IMAGE_PROFILE and check["checked"] == "wheelhouse"
        assert check["detail"].startswith("resolved offline by pip against the wheelhouse")


@pytest.mark.slow
def test_without_a_wheelhouse_the_index_resolution_is_recorded_as_such(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.images import get_profile

    monkeypatch.setenv("PRIVML_CACHE_DIR", str(tmp_path / "cache"))
    resolution = check_against_index(get_profile(DEFAULT_IMAGE_PROFILE))
    if resolution.how == "unchecked":
        pytest.skip("the package index is not reachable from this machine")
    assert resolution.how == "index"
    assert "against the package index, not a wheelhouse" in resolution.detail
    assert resolution.packages["scikit-learn"].startswith("1.7.")
    again = check_against_index(get_profile(DEFAULT_IMAGE_PROFILE))
    assert again.detail.endswith("(cached on this machine)") and again.packages == resolution.packages
