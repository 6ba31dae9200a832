"""Image profiles: the checked-in descriptions, the config's choice of them, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_IMAGE_PROFILE, PipelineConfig
from pipelines.images import all_profiles, get_profile, require_usable, role_images
from pipelines.packaging import read_project
from privml.cli import main
from privml.errors import PrivmlError

from .conftest import ACCOUNT, REGION, key, make_config, raw_config

STOCK = ("sklearn-1.2-1", "sklearn-1.4-2", "sklearn-1.4-2-py312", "sklearn-1.9-0")


def test_every_supported_image_has_a_profile_that_cites_its_sources() -> None:
    profiles = all_profiles()
    assert set(STOCK) | {"privml"} <= set(profiles)
    for name in STOCK:
        profile = profiles[name]
        (source,) = profile.sources
        assert source["repository"] == "aws/sagemaker-scikit-learn-container"
        assert len(source["commit"]) == 40 and source["branch"]
        assert "requirements.txt" in source["paths"]
        assert any(path.endswith("Dockerfile.cpu") for path in source["paths"])
        assert profile.abi == f"cp{profile.python_version.replace('.', '')}"
    # What the published requirements pin, as the profiles record it.
    assert profiles["sklearn-1.2-1"].python_version == "3.9"
    assert profiles["sklearn-1.2-1"].packages["pandas"] == "1.1.3"
    assert profiles["sklearn-1.4-2"].python_version == "3.10"
    assert profiles["sklearn-1.4-2-py312"].packages["scikit-learn"] == "1.4.2"
    assert profiles["sklearn-1.9-0"].packages["scikit-learn"] == "1.9.0"


def test_profiles_whose_python_cannot_run_privml_are_listed_but_refused() -> None:
    requires = read_project().requires_python
    refused = {name for name, p in all_profiles().items() if p.refusal(requires)}
    assert refused == {"sklearn-1.2-1", "sklearn-1.4-2"}
    assert all_profiles()[DEFAULT_IMAGE_PROFILE].refusal(requires) is None


def test_platform_tags_cover_every_older_glibc() -> None:
    platforms = get_profile("sklearn-1.4-2-py312").platforms
    assert platforms[0] == "manylinux_2_39_x86_64"
    assert {"manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux1_x86_64"} <= set(
        platforms)
    options = get_profile("sklearn-1.4-2-py312").pip_target_options()
    assert options[:7] == ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi",
                           "cp312"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_stock_uris_come_from_the_sdk_image_registry(region: str) -> None:
    from sagemaker.core import image_uris

    config = make_config(region=region, kms={p: key(p, region) for p in ("data", "volume", "model", "endpoint",
                                                                         "capture")})
    chosen = role_images(config)
    expected = image_uris.retrieve("sklearn", region, version="1.4-2-py312", instance_type="ml.m5.xlarge")
    assert chosen["processing"].uri == expected and chosen["processing"].field == "images.profile"
    assert f".{region}." in expected


def test_privml_profile_uri_is_in_the_users_account() -> None:
    config = make_config(images={"profile": "privml"})
    uri = role_images(config)["training"].uri
    assert uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/privml:{read_project().version}"


def test_explicit_uri_must_name_its_profile() -> None:
    with pytest.raises(PrivmlError, match=r"images\.processing: an explicit image URI must name its image profile"):
        make_config(images={"processing": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mine:1"})
    mirror = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mine:1"
    config = make_config(images={"processing": {"uri": mirror, "profile": "sklearn-1.4-2-py312"}})
    chosen = role_images(config)["processing"]
    assert (chosen.uri, chosen.field, chosen.profile.name) == (mirror, "images.processing", "sklearn-1.4-2-py312")
    with pytest.raises(PrivmlError, match=r"images\.profile: no image profile 'sklearn-0\.1'"):
        make_config(images={"profile": "sklearn-0.1"})
    with pytest.raises(PrivmlError, match=r"images\.sklearn_version: replaced by images\.profile"):
        make_config(images={"sklearn_version": "1.2-1"})


def test_require_usable_names_the_field_that_chose_the_old_python() -> None:
    with pytest.raises(PrivmlError, match=r"^images\.profile: image profile sklearn-1\.2-1 has Python 3\.9"):
        require_usable(make_config(images={"profile": "sklearn-1.2-1"}))
    config = make_config(images={"training": {"profile": "sklearn-1.4-2"}})
    assert require_usable(config, ("processing", "inference"))
    with pytest.raises(PrivmlError, match=r"^images\.training: image profile sklearn-1\.4-2 has Python 3\.10"):
        require_usable(config)
    with pytest.raises(PrivmlError, match=r"^images\.inference: image profile sklearn-1\.4-2 does not serve"):
        role_images(make_config(images={"inference": {"profile": "sklearn-1.4-2"}}))


def _write(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config(**overrides)))
    return path


def test_run_aws_with_a_too_old_image_python_exits_2_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sdk_config_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_upload(*_a: object, **_k: object) -> None:
        raise AssertionError("nothing may be built or uploaded before the image check")

    monkeypatch.setattr("pipelines.aws.build_definition_with_artifacts", no_upload)
    config = _write(tmp_path, images={"profile": "sklearn-1.2-1"})
    assert main(["run", "--aws", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "images.profile: image profile sklearn-1.2-1 has Python 3.9; privml requires Python >=3.11" in err


def test_deploy_aws_with_a_too_old_image_python_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         sdk_config_file: Path) -> None:
    config = _write(tmp_path, images={"profile": "sklearn-1.4-2-py312", "inference": {"profile": "sklearn-1.2-1"}})
    code = main(["deploy", "--aws", "--config", str(config), "--model-data", "s3://privml-test-bucket/m.tar.gz",
                 "--dry-run"])
    assert code == 2
    assert "images.inference: image profile sklearn-1.2-1 has Python 3.9" in capsys.readouterr().err


def test_image_command_prints_build_and_push_for_the_configs_account(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sdk_config_file: Path) -> None:
    config = _write(tmp_path, region="eu-west-1",
                    kms={p: key(p, "eu-west-1") for p in ("data", "volume", "model", "endpoint", "capture")})
    assert main(["image", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    registry = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    version = read_project().version
    lines = out.splitlines()
    assert "privml wheelhouse --profile privml -o docker/wheelhouse" in lines
    assert (f"aws ecr create-repository --region eu-west-1 --repository-name privml --image-scanning-configuration "
            f"scanOnPush=true --encryption-configuration encryptionType=KMS,kmsKey={key('data', 'eu-west-1')} "
            "--image-tag-mutability IMMUTABLE") in lines
    assert (f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin "
            f"{registry}") in lines
    assert f"DOCKER_BUILDKIT=1 docker build --platform linux/amd64 -f docker/Dockerfile -t privml:{version} ." in lines
    assert f"docker tag privml:{version} {registry}/privml:{version}" in lines
    assert f"docker push {registry}/privml:{version}" in lines
    entry = out[out.index("images:"):]
    assert yaml.safe_load(entry) == {"images": {"profile": "privml"}, "code": {"wheelhouse": None}}
    # The printed entry works: a config with it resolves every role to the pushed image.
    with_entry = make_config(images={"profile": "privml"}, region="eu-west-1",
                             kms={p: key(p, "eu-west-1") for p in ("data", "volume", "model", "endpoint", "capture")})
    assert {c.uri for c in role_images(with_entry).values()} == {f"{registry}/privml:{version}"}


def test_image_command_without_config_uses_placeholders_and_lists_profiles(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["uri"] == f"<ACCOUNT_ID>.dkr.ecr.<REGION>.amazonaws.com/privml:{read_project().version}"
    assert main(["image", "--list", "--json"]) == 0
    rows = {r["profile"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sklearn-1.2-1"]["usable"] is False and "Python 3.9" in rows["sklearn-1.2-1"]["refused"]
    assert rows[DEFAULT_IMAGE_PROFILE]["default"] is True and rows[DEFAULT_IMAGE_PROFILE]["usable"] is True


def test_local_defaults_use_the_default_profile() -> None:
    config = PipelineConfig.local_defaults()
    assert {c.profile.name for c in role_images(config).values()} == {DEFAULT_IMAGE_PROFILE}


@pytest.mark.parametrize("role,kind", [("inference", "endpoint"), ("training", "training"),
                                       ("processing", "processing")])
def test_gpu_instance_with_a_cpu_only_image_is_refused_naming_both_fields(role: str, kind: str) -> None:
    """The sklearn images have no GPU build: the SDK's registry has no image for a GPU instance type."""
    config = make_config(instances={kind: {"type": "ml.g4dn.xlarge"}})
    with pytest.raises(PrivmlError) as info:
        role_images(config)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert message.startswith(f"instances.{kind}.type: ml.g4dn.xlarge is a GPU instance type"), message
    assert f"images.profile: image profile {DEFAULT_IMAGE_PROFILE} has no GPU build" in message, message
    assert role in message


def test_deploy_aws_on_a_gpu_endpoint_exits_2_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sdk_config_file: Path) -> None:
    config = _write(tmp_path, instances={"endpoint": {"type": "ml.g4dn.xlarge"}})
    code = main(["deploy", "--aws", "--config", str(config), "--model-data", "s3://privml-test-bucket/m.tar.gz",
                 "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "instances.endpoint.type: ml.g4dn.xlarge is a GPU instance type" in err
    assert "Traceback" not in err


def test_deploy_image_uri_names_its_profile_as_the_config_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sdk_config_file: Path) -> None:
    """`deploy --image URI` alone bypassed the image profiles (no Python check, no profile recorded): an
    explicit URI now names its profile (`--image-profile`), like images.inference: {uri, profile}."""
    config = _write(tmp_path)
    deploy = ["deploy", "--aws", "--config", str(config), "--model-data", "s3://privml-test-bucket/m.tar.gz",
              "--dry-run", "--json"]
    mirror = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mine:1"
    assert main([*deploy, "--image", mirror]) == 2
    assert "--image: an explicit image URI must name its image profile (--image-profile" in capsys.readouterr().err
    assert main([*deploy, "--image-profile", "sklearn-1.2-1", "--image", mirror]) == 2
    assert "--image-profile: image profile sklearn-1.2-1 has Python 3.9" in capsys.readouterr().err
    assert main([*deploy, "--image-profile", "sklearn-0.1"]) == 2
    assert "--image-profile: no image profile 'sklearn-0.1'" in capsys.readouterr().err
    assert main([*deploy, "--image-profile", "sklearn-1.4-2-py312", "--image", mirror]) == 0
    assert json.loads(capsys.readouterr().out)["CreateModel"]["PrimaryContainer"]["Image"] == mirror
    assert main([*deploy, "--image-profile", "privml"]) == 0
    image = json.loads(capsys.readouterr().out)["CreateModel"]["PrimaryContainer"]["Image"]
    assert image == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/privml:{read_project().version}"
