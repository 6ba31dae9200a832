"""The config file: good input loads, bad input is one clear line naming the field, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.config import PipelineConfig, sdk_defaults
from privml.cli import main
from privml.errors import PrivmlError

from .conftest import ACCOUNT, key, raw_config

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, raw: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_good_config_loads(tmp_path: Path, sdk_config_file: Path) -> None:
    config = PipelineConfig.load(_write(tmp_path, raw_config()))
    assert config.account_id == ACCOUNT and config.key_arn("data") == key("data")
    assert config.default_input_data_uri == "s3://privml-test-bucket/privml/input/data/"


BAD = [
    ("role_arn", {"role_arn": "arn:aws:iam::12345:role/x"}),
    ("role_arn", {"role_arn": "arn:aws:iam::123456789012:user/alice"}),
    ("network.security_group_ids", {"network": {"subnets": ["subnet-0123456789abcdef0"]}}),
    ("network.subnets", {"network": {"security_group_ids": ["sg-0123456789abcdef0"]}}),
    ("kms.capture", {"kms": {**raw_config()["kms"], "capture": key("capture", region="eu-west-1")}}),
    ("kms.volume", {"kms": {**raw_config()["kms"], "volume": "alias/privml-volume"}}),
    ("kms.model", {"kms": {**raw_config()["kms"], "model": "not-a-key"}}),
    ("region", {"region": "mars-1"}),
    ("bucket", {"bucket": "Not_A_Bucket"}),
    ("input_data_uri", {"input_data_uri": "s3://another-bucket/data/"}),
    ("instances.training.type", {"instances": {"training": {"type": "m5.xlarge"}}}),
    ("privacy.k", {"privacy": {"k": 1}}),
    ("surprise", {"surprise": True}),
]


@pytest.mark.parametrize(("field", "change"), BAD, ids=[f for f, _ in BAD])
def test_bad_config_names_the_field_and_exits_2(
    tmp_path: Path, sdk_config_file: Path, capsys: pytest.CaptureFixture, field: str, change: dict
) -> None:
    path = _write(tmp_path, raw_config(**change))
    assert main(["pipeline", "definition", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("privml: error:") and field in err and len(err.splitlines()) == 1


def test_missing_kms_section_names_it(tmp_path: Path, sdk_config_file: Path) -> None:
    raw = raw_config()
    del raw["kms"]
    with pytest.raises(PrivmlError, match="kms"):
        PipelineConfig.load(_write(tmp_path, raw))


@pytest.mark.parametrize("content", ["region: [unclosed", "- just\n- a list\n"])
def test_unreadable_config_exits_2(tmp_path: Path, sdk_config_file: Path, content: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    assert main(["pipeline", "definition", "--config", str(path)]) == 2
    assert main(["iam-policy", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_example_template_is_refused_until_filled(sdk_config_file: Path, capsys: pytest.CaptureFixture) -> None:
    template = REPO / "examples" / "aws-config.yaml"
    assert main(["pipeline", "definition", "--config", str(template)]) == 2
    err = capsys.readouterr().err
    assert "placeholder" in err and "role_arn" in err
    # Filled in, the same template is a valid config: only the placeholders were wrong.
    text = template.read_text()
    for placeholder, value in {
        "<ACCOUNT_ID>": ACCOUNT,
        "<REGION>": "us-east-1",
        "<BUCKET>": "privml-test-bucket",
        "<DATA_KEY_ID>": "1111",
        "<VOLUME_KEY_ID>": "2222",
        "<MODEL_KEY_ID>": "3333",
        "<ENDPOINT_KEY_ID>": "4444",
        "<CAPTURE_KEY_ID>": "5555",
        "<HMAC_KEY_ID>": "6666",
        "<SECRETS_KEY_ID>": "7777",
        "<SUBNET_ID>": "subnet-0123456789abcdef0",
        "<SECURITY_GROUP_ID>": "sg-0123456789abcdef0",
    }.items():
        text = text.replace(placeholder, value)
    assert "<" not in yaml.safe_dump(yaml.safe_load(text))
    PipelineConfig.from_mapping(yaml.safe_load(text), sdk_config={})


def test_sdk_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    sdk = {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "ProcessingJob": {
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/from-sdk-config",
                "NetworkConfig": {
                    "VpcConfig": {"Subnets": ["subnet-0aaaaaaaaaaaaaaaa"], "SecurityGroupIds": ["sg-0bbbbbbbbbbbbbbbb"]}
                },
            },
            "PythonSDK": {"Modules": {"Session": {"DefaultS3Bucket": "sdk-default-bucket"}}},
        },
    }
    raw = raw_config()
    for field in ("role_arn", "network", "bucket"):
        del raw[field]
    config = PipelineConfig.from_mapping(raw, sdk_config=sdk)
    assert config.role_arn.endswith("role/from-sdk-config") and config.bucket == "sdk-default-bucket"
    assert config.network.subnets == ("subnet-0aaaaaaaaaaaaaaaa",)
    # privml's own file wins over the SDK's defaults.
    assert PipelineConfig.from_mapping(raw_config(), sdk_config=sdk).bucket == "privml-test-bucket"
    assert sdk_defaults({}) == {}


def test_sdk_config_file_is_read_through_its_own_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_file = tmp_path / "sdk.yaml"
    sdk_file.write_text(
        yaml.safe_dump(
            {
                "SchemaVersion": "1.0",
                "SageMaker": {"TrainingJob": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/from-sdk-file"}},
            }
        )
    )
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(sdk_file))
    monkeypatch.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", str(sdk_file))
    raw = raw_config()
    del raw["role_arn"]
    assert PipelineConfig.load(_write(tmp_path, raw)).role_arn.endswith("role/from-sdk-file")


def test_local_defaults_use_local_aliases_and_no_real_account() -> None:
    config = PipelineConfig.local_defaults()
    assert config.local and config.kms.data == "alias/privml-data" and config.account_id == "000000000000"
    with pytest.raises(PrivmlError, match=r"kms\.data"):
        PipelineConfig.from_mapping({**raw_config(), "kms": {**raw_config()["kms"], "data": "alias/x"}}, sdk_config={})
