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


def _wheel(directory: Path, filename: str, name: str) -> Path:
    import zipfile

    path = directory / filename
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    return path


def test_wheels_for_the_image_python_stay_out_of_the_local_job(tmp_path: Path) -> None:
    """A wheelhouse built for the profile (cp312) cannot load in this interpreter: the local job uses this
    interpreter's own packages instead, and only wheels that run here are unpacked."""
    import sys

    from pipelines.local import jobdir, runner

    shipped = tmp_path / "code" / "wheels"
    shipped.mkdir(parents=True)
    other = "cp39" if sys.version_info[:2] != (3, 9) else "cp312"
    _wheel(shipped, f"foreignpkg-1.0-{other}-{other}-manylinux_2_17_x86_64.whl", "foreignpkg")
    _wheel(shipped, "purepkg-1.0-py3-none-any.whl", "purepkg")
    hd = jobdir.make_host_dir(tmp_path / "job", "algo-1", ["algo-1"], mounted=False)
    assert runner.install_shipped_wheels(hd, [tmp_path / "code"]) == ["purepkg"]
    assert (hd.root / runner.IMAGE_LAYER / "purepkg").is_dir()
    assert not (hd.root / runner.IMAGE_LAYER / "foreignpkg").exists()
