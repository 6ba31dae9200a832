"""The training contract as the job sees it: paths from SM_* (or the /opt/ml layout), hyperparameters
from hyperparameters.json, SM_HPS and arguments, and the controls from the job's configuration files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privml.errors import PrivmlError
from privml.models.jobenv import TrainingEnv, job_controls, processing_config_dir
from privml.models.training import parse_hyperparameters


def test_paths_follow_sm_variables_and_fall_back_to_the_layout(tmp_path: Path) -> None:
    base = tmp_path / "opt" / "ml"
    (base / "input" / "data" / "train").mkdir(parents=True)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"model": '"logreg"', "seed": "4"}))
    env = TrainingEnv.from_environ({"SM_MODEL_DIR": str(base / "model")})
    assert env.output_dir == base / "output" and env.failure_path == base / "output" / "failure"
    assert env.channel("train") == base / "input" / "data" / "train"
    assert env.hyperparameters == {"model": "logreg", "seed": "4"}  # JSON-encoded strings are decoded
    other = tmp_path / "elsewhere"
    env = TrainingEnv.from_environ({
        "SM_MODEL_DIR": str(base / "model"), "SM_CHANNEL_TRAIN": str(other), "SM_OUTPUT_DIR": str(tmp_path / "o"),
        "SM_INPUT_CONFIG_DIR": str(base / "input" / "config"), "SM_HPS": json.dumps({"seed": "5"}),
    }, argv=["--dp_epsilon", "0.5", "--label=y"])
    assert env.channel("train") == other and env.failure_path == tmp_path / "o" / "failure"
    assert env.hyperparameters == {"model": "logreg", "seed": "5", "dp_epsilon": "0.5", "label": "y"}


def test_bad_arguments_and_hyperparameters_are_clear_errors() -> None:
    with pytest.raises(PrivmlError, match="--seed has no value"):
        TrainingEnv.from_environ({}, argv=["--seed"])
    with pytest.raises(PrivmlError, match="SM_HPS is not valid JSON"):
        TrainingEnv.from_environ({"SM_HPS": "{"})
    with pytest.raises(PrivmlError, match="dp_epsilon: not a number"):
        parse_hyperparameters({"dp_epsilon": "lots"})
    with pytest.raises(PrivmlError, match="seed: not an integer"):
        parse_hyperparameters({"seed": "1.5"})
    with pytest.raises(PrivmlError, match="must be finite"):
        parse_hyperparameters({"dp_epsilon": "inf"})
    request = parse_hyperparameters({"dp_epsilon": "2", "sagemaker_program": "train.py"})
    assert request.model == "dp_logreg" and request.ignored == ("sagemaker_program",)


def test_controls_from_a_training_job_request(tmp_path: Path) -> None:
    (tmp_path / "trainingjobconfig.json").write_text(json.dumps({
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": False,
        "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "VolumeKmsKeyId": "alias/privml-volume"},
        "OutputDataConfig": {"KmsKeyId": "arn:aws:kms:us-east-1:123456789012:alias/privml-out"},
    }))
    controls = job_controls(tmp_path)
    assert controls == {
        "network_isolation": True, "inter_container_encryption": False, "vpc": True,
        "volume_kms_key": "alias/privml-volume", "output_kms_key": "arn:aws:kms:us-east-1:<account>:alias/privml-out",
        "instance_type": "ml.m5.xlarge", "hosts": None, "execution": "SageMaker",
        "requested_instance_type": "ml.m5.xlarge", "sources": ["trainingjobconfig.json"],
    }
    assert "123456789012" not in json.dumps(controls)


def test_a_local_job_says_local_not_the_instance_type_it_asked_for(tmp_path: Path) -> None:
    """The local executor's own job directory: the request asks ml.m5.xlarge, the job ran here."""
    from pipelines.local.jobdir import make_host_dir, prepare_processing, prepare_training

    request = {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}, "InputDataConfig": [],
               "OutputDataConfig": {"S3OutputPath": "s3://b/out"}}
    host = make_host_dir(tmp_path / "train", "algo-1", ["algo-1"], mounted=False)
    prepare_training(host, request, "train-1")
    controls = job_controls(host.container("/opt/ml/input/config"))
    assert controls["execution"] == "local" and controls["instance_type"] == "local"
    assert controls["requested_instance_type"] == "ml.m5.xlarge"
    assert host.env["SM_CURRENT_INSTANCE_TYPE"] == "local"

    processing = {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}},
                  "ProcessingInputs": [], "ProcessingOutputConfig": {"Outputs": []}}
    host = make_host_dir(tmp_path / "eval", "algo-1", ["algo-1"], mounted=False)
    prepare_processing(host, processing)
    controls = job_controls(host.container("/opt/ml/config"))
    assert (controls["execution"], controls["instance_type"]) == ("local", "local")
    assert controls["requested_instance_type"] == "ml.m5.xlarge"


def test_no_configuration_means_unknown_not_off(tmp_path: Path) -> None:
    controls = job_controls(tmp_path)
    assert controls["sources"] == [] and controls["network_isolation"] is None and controls["vpc"] is None


def test_processing_config_dir_is_found_from_a_mapped_path(tmp_path: Path) -> None:
    out = tmp_path / "job" / "opt" / "ml" / "processing" / "output" / "evaluation"
    out.mkdir(parents=True)
    assert processing_config_dir(out) == (tmp_path / "job" / "opt" / "ml" / "config").resolve()
    assert processing_config_dir(tmp_path) == Path("/opt/ml/config")
