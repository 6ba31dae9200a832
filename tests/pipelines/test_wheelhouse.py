"""The wheelhouse for an image profile, built by `privml wheelhouse` and proved by pip's own resolver.

The wheelhouse is downloaded once per machine (per requirement set and profile) into a cache directory
($PRIVML_TEST_CACHE, default ~/.cache/privml/test-wheelhouses), so CI downloads it once."""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

from pipelines import packaging
from pipelines.config import DEFAULT_IMAGE_PROFILE
from pipelines.images import get_profile
from pipelines.wheelhouse import _cache_key, check_wheelhouse
from privml.cli import main
from privml.errors import PrivmlError

from .conftest import raw_config


def test_wheel_declares_the_slim_job_requirement_set(tmp_path: Path) -> None:
    wheel = packaging.build_privml_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        meta = Parser().parsestr(archive.read(next(n for n in archive.namelist() if n.endswith("METADATA"))).decode())
    requires = meta.get_all("Requires-Dist")
    plain = {packaging.requirement_name(r) for r in requires if "extra ==" not in r}
    serve = {packaging.requirement_name(r) for r in requires if 'extra == "serve"' in r}
    # Orchestration and test doubles never reach a job; the serving stack only through the `serve` extra.
    assert not plain & {"sagemaker", "moto", "uvicorn", "starlette", "httptools", "uvloop", "packaging"}
    assert {"scikit-learn", "diffprivlib", "pandas", "numpy", "skops", "cryptography", "faker"} <= plain
    assert serve == {"uvicorn", "httptools", "uvloop", "starlette"}
    assert meta.get_all("Provides-Extra") == ["serve"]
    assert "sys_platform" in next(r for r in requires if r.startswith("uvloop"))
    assert meta["Requires-Python"] == packaging.read_project().requires_python


def test_requirement_groups_name_only_declared_dependencies(tmp_path: Path) -> None:
    text = (packaging.REPO_ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('orchestration = ["sagemaker"', 'orchestration = ["nope"'))
    with pytest.raises(PrivmlError, match=r"names nope, which are not in project\.dependencies"):
        packaging.read_project(tmp_path)


def _cache_root() -> Path:
    return Path(os.environ.get("PRIVML_TEST_CACHE") or Path.home() / ".cache" / "privml" / "test-wheelhouses")


@pytest.fixture(scope="session")
def default_wheelhouse() -> Iterator[Path]:
    """A real wheelhouse for the default profile, made by `privml wheelhouse` (cached per machine)."""
    profile = get_profile(DEFAULT_IMAGE_PROFILE)
    directory = _cache_root() / f"{profile.name}-{_cache_key(profile)}"
    marker = directory / ".complete"
    if not marker.is_file():
        shutil.rmtree(directory, ignore_errors=True)
        code = main(["wheelhouse", "--profile", profile.name, "-o", str(directory)])
        assert code == 0, "privml wheelhouse failed (it needs the package index once per machine)"
        marker.write_text("")
    yield directory


@pytest.mark.slow
def test_default_profile_resolves_offline_from_the_built_wheelhouse(default_wheelhouse: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    profile = get_profile(DEFAULT_IMAGE_PROFILE)
    resolution = check_wheelhouse(profile, default_wheelhouse)
    assert resolution.how == "wheelhouse"
    assert resolution.packages["privml"] == packaging.read_project().version
    assert resolution.packages["scikit-learn"].startswith("1.7.")
    assert resolution.packages["diffprivlib"] == "0.6.6"
    assert int(resolution.packages["pandas"].split(".")[0]) >= 3
    assert not {"sagemaker", "moto", "uvicorn", "starlette"} & set(resolution.packages)
    assert resolution.replaces["scikit-learn"].startswith("1.4.2 -> 1.7.")
    # every wheel is for the profile's ABI (cp312, or the stable abi3), or pure
    abis = {w.name.removesuffix(".whl").rsplit("-", 2)[1] for w in default_wheelhouse.glob("*.whl")}
    assert abis <= {"none", "abi3", "cp312"}, abis
    assert main(["wheelhouse", "--profile", profile.name, "-o", str(default_wheelhouse), "--check"]) == 0
    assert "resolved offline by pip against the wheelhouse" in capsys.readouterr().out


@pytest.mark.slow
def test_the_same_wheelhouse_does_not_resolve_for_main_s_old_default_python(default_wheelhouse: Path) -> None:
    """main's default image, sklearn 1.2-1, is Python 3.9: pip's resolver refuses privml there, whatever the
    wheelhouse holds (the profile refusal is bypassed here to show the resolver's own answer)."""
    with pytest.raises(PrivmlError, match=r"does not resolve for image profile sklearn-1\.2-1 \(Python 3\.9"):
        check_wheelhouse(get_profile("sklearn-1.2-1"), default_wheelhouse)


@pytest.fixture
def wheelhouse_missing_jmespath(default_wheelhouse: Path, tmp_path: Path) -> Path:
    """The real wheelhouse minus one transitive dependency (jmespath, required by boto3 and botocore)."""
    broken = tmp_path / "wheelhouse"
    broken.mkdir()
    dropped = []
    for wheel in default_wheelhouse.iterdir():
        if wheel.name.lower().startswith("jmespath-"):
            dropped.append(wheel.name)
            continue
        if wheel.suffix == ".whl":
            os.link(wheel, broken / wheel.name)
    assert dropped, "the default wheelhouse should hold jmespath"
    return broken


@pytest.mark.slow
def test_a_missing_transitive_dependency_is_named_by_the_resolver(wheelhouse_missing_jmespath: Path) -> None:
    with pytest.raises(PrivmlError, match=r"^code\.wheelhouse: .* no wheel satisfies jmespath"):
        check_wheelhouse(get_profile(DEFAULT_IMAGE_PROFILE), wheelhouse_missing_jmespath)


@pytest.mark.slow
def test_run_aws_refuses_that_wheelhouse_before_any_upload(
        wheelhouse_missing_jmespath: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        sdk_config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw_config(code={"wheelhouse": str(wheelhouse_missing_jmespath)})))
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="privml-test-bucket")
        code = main(["run", "--aws", "--config", str(config)])
        listed = s3.list_objects_v2(Bucket="privml-test-bucket").get("KeyCount", 0)
        pipelines_listed = boto3.client("sagemaker", region_name="us-east-1").list_pipelines()["PipelineSummaries"]
    assert code == 2
    err = capsys.readouterr().err
    assert "code.wheelhouse:" in err and "jmespath" in err
    assert listed == 0 and pipelines_listed == []


@pytest.mark.slow
def test_the_pre_upload_check_passes_with_the_complete_wheelhouse(default_wheelhouse: Path) -> None:
    from pipelines.aws import check_images
    from pipelines.config import PipelineConfig

    config = PipelineConfig.from_mapping(raw_config(code={"wheelhouse": str(default_wheelhouse)}), sdk_config={})
    checks = check_images(config)
    assert set(checks) == {"processing", "training", "inference"}
    assert {c["profile"] for c in checks.values()} == {DEFAULT_IMAGE_PROFILE}
    assert {c["check"] for c in checks.values()} == {"wheelhouse"}
    assert all(c["field"] == "images.profile" for c in checks.values())


@pytest.mark.slow
def test_privml_image_wheelhouse_holds_the_serving_stack_and_the_build_requirements(tmp_path: Path) -> None:
    profile = get_profile("privml")
    directory = _cache_root() / f"{profile.name}-{_cache_key(profile)}"
    if not (directory / ".complete").is_file():
        shutil.rmtree(directory, ignore_errors=True)
        assert main(["wheelhouse", "--profile", "privml", "-o", str(directory)]) == 0
        (directory / ".complete").write_text("")
    resolution = check_wheelhouse(profile, directory)  # privml[serve], as docker/Dockerfile installs it
    assert {"uvicorn", "starlette", "httptools"} <= set(resolution.packages)
    assert not {"sagemaker", "moto"} & set(resolution.packages)
    built_with = (directory / "build-requirements.txt").read_text()
    assert "setuptools>=74.1" in built_with and any(w.name.startswith("setuptools-") for w in directory.iterdir())
    listed = (directory / "requirements.txt").read_text()
    assert "uvicorn" in listed and "sagemaker" not in listed
