"""The Spark Anonymize step in the pipeline definition: a PySparkProcessor in the Spark processing image
chosen by `anonymize.engine: spark`, held to the same controls as the in-memory step (needs no Java)."""

from __future__ import annotations

import pytest

from pipelines.audit import audit
from pipelines.config import PipelineConfig
from pipelines.definition import build_definition
from pipelines.images import get_profile
from pipelines.packaging import read_project
from privml.errors import PrivmlError

CONTROLS = ("NetworkConfig", "Environment", "RoleArn", "ProcessingOutputConfig")


def _anonymize(definition: dict) -> dict:
    return next(s for s in definition["Steps"] if s["Name"] == "Anonymize")["Arguments"]


@pytest.fixture(scope="module")
def definitions() -> tuple[PipelineConfig, dict, dict]:
    spark = PipelineConfig.local_defaults(anonymize={"engine": "spark"})
    return spark, build_definition(PipelineConfig.local_defaults()), build_definition(spark)


def test_spark_step_runs_the_spark_image_with_the_same_controls(definitions: tuple) -> None:
    config, in_memory, on_spark = definitions
    memory_args, spark_args = _anonymize(in_memory), _anonymize(on_spark)
    app = spark_args["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["smspark-submit", "/opt/ml/processing/input/code/spark_anonymize.py"]
    assert app["ImageUri"].endswith("/sagemaker-spark-processing:3.5-cpu-py312")
    assert memory_args["AppSpecification"]["ContainerEntrypoint"][0] == "python3"
    for field in CONTROLS:  # KMS output key, isolation, VPC, inter-container encryption, key provider, role
        assert spark_args[field] == memory_args[field], field
    assert spark_args["ProcessingResources"] == memory_args["ProcessingResources"]  # volume KMS key too
    assert spark_args["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert [i["InputName"] for i in spark_args["ProcessingInputs"]] == \
        [i["InputName"] for i in memory_args["ProcessingInputs"]]
    args = app["ContainerArguments"]
    assert args[args.index("--max-partition-rows") + 1] == str(config.anonymize.max_partition_rows)
    result = audit(on_spark, config=config, waivers=())
    assert not result.blocking, [f.to_dict() for f in result.blocking]


def test_the_spark_profile_cites_its_image_and_its_python_can_run_privml() -> None:
    profile = get_profile("spark-3.5-py312")
    (source,) = profile.sources
    assert source["repository"] == "aws/sagemaker-spark-container" and len(source["commit"]) == 40
    assert "spark/processing/3.5/py3/docker/py312/Dockerfile.cpu" in source["paths"]
    assert profile.python_version == "3.12" and profile.abi == "cp312"
    assert profile.refusal(read_project().requires_python) is None
    assert profile.roles == ("processing",)


def test_spark_image_must_be_a_spark_profile() -> None:
    with pytest.raises(PrivmlError, match=r"anonymize.spark_image.*not a SageMaker Spark processing image"):
        PipelineConfig.local_defaults(anonymize={"engine": "spark", "spark_image": {"profile": "sklearn-1.9-0"}})
