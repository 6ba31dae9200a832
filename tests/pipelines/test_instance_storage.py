"""Instance types with local NVMe storage never get a volume key; jobs that cannot shard run on one instance;
the definition carries no experiment config. Checked in the config, the definition, and at run start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.audit import audit
from pipelines.aws import run_on_aws
from pipelines.definition import build_definition, endpoint_config_request
from pipelines.instance_storage import (
    EBS_ONLY_FAMILIES,
    ENUM_OF_KIND,
    LOCAL_STORAGE_FAMILIES,
    UnknownInstanceFamily,
    accepted_types,
    family,
    has_local_storage,
)
from privml.cli import main
from privml.errors import PrivmlError

from .conftest import Built, make_config, raw_config, steps_by_name
from .test_aws import aws, moto_endpoint  # noqa: F401  (fixtures)


def test_table_names_only_families_the_api_knows_and_no_family_twice() -> None:
    families = {family(t) for kind in ENUM_OF_KIND for t in accepted_types(kind)}
    assert families.issuperset(LOCAL_STORAGE_FAMILIES | EBS_ONLY_FAMILIES)
    assert not LOCAL_STORAGE_FAMILIES & EBS_ONLY_FAMILIES
    # The examples and AWS's own (ml.p4d, ml.g4dn, ml.g5 have NVMe; ml.c5, ml.p2 are EBS-only).
    for instance_type in ("ml.m5d.xlarge", "ml.c5d.2xlarge", "ml.r5d.large", "ml.g4dn.xlarge", "ml.p3dn.24xlarge",
                          "ml.g5.xlarge", "ml.p4d.24xlarge"):
        assert has_local_storage(instance_type), instance_type
    for instance_type in ("ml.m5.xlarge", "ml.c5.xlarge", "ml.p2.xlarge", "ml.t3.medium"):
        assert not has_local_storage(instance_type), instance_type
    unclassified = families - LOCAL_STORAGE_FAMILIES - EBS_ONLY_FAMILIES
    for name in unclassified:  # refused by name, never guessed
        with pytest.raises(UnknownInstanceFamily, match=name):
            has_local_storage(f"ml.{name}.xlarge")
    assert len(unclassified) <= 6


def _params(definition: dict) -> dict[str, Any]:
    return {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}


def test_definition_has_no_experiment_config(built: Built) -> None:
    assert built.definition.get("PipelineExperimentConfig") is None


def test_local_storage_defaults_build_without_a_volume_key_and_pass_the_audit(sdk_config_file: Path) -> None:
    config = make_config(instances={"processing": {"type": "ml.r5d.xlarge"}, "training": {"type": "ml.m5.xlarge"},
                                    "endpoint": {"type": "ml.m5d.large"}})
    definition = build_definition(config)
    steps = steps_by_name(definition)
    for name in ("Anonymize", "Evaluate"):
        assert "VolumeKmsKeyId" not in steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
    assert steps["Train"]["Arguments"]["ResourceConfig"]["VolumeKmsKeyId"] == config.key_arn("volume")
    endpoint = endpoint_config_request(config, "privml-model")
    assert "KmsKeyId" not in endpoint and endpoint["DataCaptureConfig"]["KmsKeyId"] == config.key_arn("capture")
    result = audit(definition, config=config, endpoint_configs=[endpoint])
    assert result.findings == []


@pytest.mark.parametrize(
    ("instances", "field"),
    [
        ({"processing": {"type": "ml.m5.xlarge", "count": 2}}, "instances.processing.count"),
        ({"training": {"type": "ml.m5.xlarge", "count": 3}}, "instances.training.count"),
        ({"processing": {"type": "ml.m5.huge"}}, "instances.processing.type"),
        ({"endpoint": {"type": "ml.p3dn.24xlarge"}}, "instances.endpoint.type"),  # a training-only type
    ],
)
def test_config_refuses_what_the_jobs_cannot_run(tmp_path: Path, sdk_config_file: Path, capsys: pytest.CaptureFixture,
                                                 instances: dict, field: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config(instances=instances)))
    assert main(["pipeline", "definition", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert field in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("ProcessingInstanceType", "ml.r5d.xlarge", "ProcessingResources.ClusterConfig.VolumeKmsKeyId"),
        ("ProcessingInstanceType", "ml.m5d.xlarge", "not an instance type SageMaker accepts for processing"),
        ("TrainingInstanceType", "ml.g4dn.xlarge", "ResourceConfig.VolumeKmsKeyId"),
        ("ProcessingInstanceCount", "2", "ProcessingResources.ClusterConfig.InstanceCount"),
        ("TrainingInstanceType", "ml.m5.huge", "ResourceConfig.InstanceType"),
        ("NoSuchParameter", "1", "not a parameter of the pipeline"),
    ],
)
def test_run_aws_refuses_a_bad_override_before_anything_is_uploaded(
        aws: dict[str, Any], sdk_config_file: Path, param: str, value: str, expected: str) -> None:  # noqa: F811
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-refused")
    before = aws["s3"].list_objects_v2(Bucket=config.bucket).get("KeyCount", 0)
    with pytest.raises(PrivmlError) as caught:
        run_on_aws(config, parameters={param: value}, boto_session=aws["session"], endpoint_url=aws["endpoint"])
    message = str(caught.value)
    assert caught.value.exit_code == 2 and f"--param {param}" in message and expected in message
    assert aws["s3"].list_objects_v2(Bucket=config.bucket).get("KeyCount", 0) == before
    names = [p["PipelineName"] for p in aws["sagemaker"].list_pipelines().get("PipelineSummaries", [])]
    assert "privml-refused" not in names


def test_cli_run_aws_local_storage_type_with_volume_key_exits_2(tmp_path: Path, sdk_config_file: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """The must-show bad input, through the command line: refused with the field named, exit 2, and no
    AWS client was ever made (the refusal comes before the session)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config(images={"profile": "privml"})))
    code = main(["run", "--aws", "--config", str(path), "--param", "ProcessingInstanceType=ml.g4dn.xlarge"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--param ProcessingInstanceType" in err and "ProcessingResources.ClusterConfig.VolumeKmsKeyId" in err
    assert "local NVMe instance storage" in err


def test_run_aws_passes_a_good_override_to_the_execution(aws: dict[str, Any], sdk_config_file: Path) -> None:  # noqa: F811
    config = make_config(images={"profile": "privml"}, pipeline_name="privml-override")
    record = run_on_aws(config, parameters={"ProcessingInstanceType": "ml.c5.2xlarge", "K": "10"},
                        boto_session=aws["session"], endpoint_url=aws["endpoint"])
    assert record["parameters"] == {"K": "10", "ProcessingInstanceType": "ml.c5.2xlarge"}
    described = aws["sagemaker"].describe_pipeline_execution(PipelineExecutionArn=record["execution_arn"])
    assert described["PipelineExecutionArn"] == record["execution_arn"]
