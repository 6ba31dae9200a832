"""The definition: shape, security controls, and validity against botocore's own service model."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import zipfile
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from pipelines import definition as d
from pipelines.definition import build_definition, endpoint_config_request

from .conftest import ACCOUNT, Built, make_config, steps_by_name

OPERATIONS = {"Processing": "CreateProcessingJob", "Training": "CreateTrainingJob", "Model": "CreateModel"}
# Names the pipeline service sets at execution time (the SDK pops them from the step arguments).
NAMES = {"Processing": "ProcessingJobName", "Training": "TrainingJobName", "Model": "ModelName"}


def _model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _resolve(node: Any, params: dict[str, Any]) -> Any:
    """Replace pipeline expressions by values of their runtime type, as the service does at execution."""
    if isinstance(node, dict):
        if set(node) == {"Get"}:
            ref = node["Get"]
            if ref.startswith("Parameters."):
                return params[ref.removeprefix("Parameters.")]
            if ref.startswith("Execution."):
                return "execution-0001"
            if ref.startswith("Steps."):
                return "s3://privml-test-bucket/privml/runs/execution-0001/step/output"
            raise AssertionError(f"unknown reference {ref}")
        if set(node) == {"Std:Join"}:
            join = node["Std:Join"]
            return join["On"].join(str(_resolve(v, params)) for v in join["Values"])
        return {k: _resolve(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, params) for v in node]
    return node


def _validate(operation: str, request: dict) -> str:
    shape = _model().operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    return report.generate_report() if report.has_errors() else ""


def _requests(definition: dict) -> list[tuple[str, str, dict]]:
    params = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    out = []
    for step in steps_by_name(definition).values():
        if step["Type"] in OPERATIONS:
            request = _resolve(copy.deepcopy(step["Arguments"]), params)
            request[NAMES[step["Type"]]] = f"privml-{step['Name'].lower()}"
            out.append((step["Name"], OPERATIONS[step["Type"]], request))
    return out


def test_steps_and_parameters(built: Built) -> None:
    steps = steps_by_name(built.definition)
    assert {name: s["Type"] for name, s in steps.items()} == {
        "Anonymize": "Processing",
        "Train": "Training",
        "Evaluate": "Processing",
        "Gates": "Condition",
        "CreateModel": "Model",
        "GateFailed": "Fail",
    }
    params = {p["Name"]: p for p in built.definition["Parameters"]}
    assert set(params) >= {
        "InputDataUri",
        "PolicyUri",
        "K",
        "DpEpsilon",
        "QualityThreshold",
        "QualityMargin",
        "MaxMembershipAdvantage",
        "ModelKind",
        "ProcessingInstanceType",
        "ProcessingInstanceCount",
        "TrainingInstanceType",
        "TrainingInstanceCount",
    }
    assert params["K"]["Type"] == "Integer" and params["K"]["DefaultValue"] == built.config.privacy.k
    assert params["QualityThreshold"]["Type"] == "Float"
    assert params["QualityThreshold"]["DefaultValue"] == 0.0  # no absolute floor: the baseline margin gates
    assert params["QualityMargin"] == {"Name": "QualityMargin", "Type": "Float", "DefaultValue": 0.05}
    # off unless the config (or the policy, in the job) sets it: an advantage never exceeds 1
    assert params["MaxMembershipAdvantage"] == {"Name": "MaxMembershipAdvantage", "Type": "Float", "DefaultValue": 1.0}
    assert params["InputDataUri"]["DefaultValue"].startswith("s3://privml-test-bucket/")


@pytest.mark.parametrize("step", ["Anonymize", "Train", "Evaluate", "CreateModel"])
def test_step_arguments_validate_against_botocore(built: Built, step: str) -> None:
    requests = {name: (op, req) for name, op, req in _requests(built.definition)}
    operation, request = requests[step]
    assert _validate(operation, request) == ""


def test_validation_rejects_what_aws_would_reject(built: Built) -> None:
    # The check above can fail: an unknown field, a wrong type and a missing required member all fail.
    (_, operation, request), *_ = _requests(built.definition)
    bad = copy.deepcopy(request)
    bad["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] = "30"
    bad["NetworkConfig"]["EnableNetworkIsolaton"] = True
    del bad["AppSpecification"]["ImageUri"]
    report = _validate(operation, bad)
    assert "VolumeSizeInGB" in report and "EnableNetworkIsolaton" in report and "ImageUri" in report


def test_endpoint_config_request_validates_and_is_secure(built: Built) -> None:
    request = endpoint_config_request(built.config, "privml-model")
    assert _validate("CreateEndpointConfig", request) == ""
    assert request["KmsKeyId"] == built.config.kms.endpoint
    capture = request["DataCaptureConfig"]
    assert capture["KmsKeyId"] == built.config.kms.capture
    assert capture["CaptureOptions"] == [{"CaptureMode": "Output"}]
    assert capture["DestinationS3Uri"].startswith("s3://privml-test-bucket/")


def test_every_job_has_every_control(built: Built) -> None:
    steps = steps_by_name(built.definition)
    cfg = built.config
    vpc = {"Subnets": list(cfg.network.subnets), "SecurityGroupIds": list(cfg.network.security_group_ids)}
    for name in ("Anonymize", "Evaluate"):
        args = steps[name]["Arguments"]
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == cfg.kms.volume
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == cfg.kms.data
        net = args["NetworkConfig"]
        assert net["EnableNetworkIsolation"] is True and net["EnableInterContainerTrafficEncryption"] is True
        assert net["VpcConfig"] == vpc
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == cfg.kms.volume
    assert train["OutputDataConfig"]["KmsKeyId"] == cfg.kms.model
    assert train["EnableNetworkIsolation"] is True and train["EnableInterContainerTrafficEncryption"] is True
    assert train["VpcConfig"] == vpc
    model = steps["CreateModel"]["Arguments"]
    assert model["EnableNetworkIsolation"] is True and model["VpcConfig"] == vpc
    assert model["PrimaryContainer"]["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_condition_step_reads_the_evaluation_property_file(built: Built) -> None:
    steps = steps_by_name(built.definition)
    evaluate = steps["Evaluate"]
    assert evaluate["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    ref = {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}
    conditions = steps["Gates"]["Arguments"]["Conditions"]
    # every gate (baseline margin, threshold, k/l/t/risk, membership) is decided by Evaluate: one path,
    # nothing task-specific (no metrics.accuracy, which a regression model does not have)
    assert conditions == [
        {
            "Type": "Equals",
            "LeftValue": {"Std:JsonGet": {"PropertyFile": ref, "Path": "gates.passed"}},
            "RightValue": 1,
        },
    ]
    inputs = {i["InputName"]: i["S3Input"] for i in evaluate["Arguments"]["ProcessingInputs"]}
    assert inputs["train"]["S3Uri"] == {
        "Get": "Steps.Anonymize.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert inputs["train"]["LocalPath"] == "/opt/ml/processing/input/train"
    args = evaluate["Arguments"]["AppSpecification"]["ContainerArguments"]
    for flag, parameter in (("--quality-margin", "QualityMargin"), ("--quality-threshold", "QualityThreshold"),
                            ("--max-membership-advantage", "MaxMembershipAdvantage")):
        assert args[args.index(flag) + 1] == {"Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{parameter}"}]}}
    assert args[args.index("--train") + 1] == "/opt/ml/processing/input/train"
    message = steps["GateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message == ["Gate failed: ", {"Std:JsonGet": {"PropertyFile": ref, "Path": "gates.reason"}}]
    outputs = {o["OutputName"]: o for o in evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["evaluation"]["S3Output"]["LocalPath"] == "/opt/ml/processing/output/evaluation"


def test_job_contract_paths(built: Built) -> None:
    steps = steps_by_name(built.definition)
    anonymize = steps["Anonymize"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in anonymize["ProcessingInputs"]}
    assert inputs["data"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert inputs["policy"]["LocalPath"] == "/opt/ml/processing/input/policy"
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    assert anonymize["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/anonymize.py",
    ]
    outputs = {o["OutputName"]: o["S3Output"]["LocalPath"] for o in anonymize["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {
        n: f"/opt/ml/processing/output/{n}" for n in ("train", "validation", "test", "report", "transformer")
    }
    channels = {c["ChannelName"] for c in steps["Train"]["Arguments"]["InputDataConfig"]}
    assert {"train", "validation", "transformer", "code", "sm_drivers"} <= channels
    hps = steps["Train"]["Arguments"]["HyperParameters"]
    assert hps["model"] == {"Get": "Parameters.ModelKind"} and hps["dp_epsilon"] == {"Get": "Parameters.DpEpsilon"}


def test_code_input_ships_script_and_privml_wheel(built: Built) -> None:
    steps = steps_by_name(built.definition)
    for name, script in (("Anonymize", "anonymize.py"), ("Evaluate", "evaluate.py")):
        code = next(i for i in steps[name]["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
        prefix = code["S3Input"]["S3Uri"]
        assert prefix.endswith("/") and code["S3Input"]["S3DataType"] == "S3Prefix"
        shipped = {uri.removeprefix(prefix) for uri in built.artifacts.objects if uri.startswith(prefix)}
        assert script in shipped
        assert any(s.startswith("wheels/privml-") and s.endswith(".whl") for s in shipped)
        for uri in (u for u in built.artifacts.objects if u.startswith(prefix)):
            assert built.artifacts.objects[uri].kms_key_id == built.config.kms.data
    train_code = next(c for c in steps["Train"]["Arguments"]["InputDataConfig"] if c["ChannelName"] == "code")
    prefix = train_code["DataSource"]["S3DataSource"]["S3Uri"].rstrip("/") + "/"
    shipped = {uri.removeprefix(prefix) for uri in built.artifacts.objects if uri.startswith(prefix)}
    assert "train.py" in shipped and any(s.startswith("wheels/privml-") for s in shipped)


def test_shipped_wheel_is_an_importable_privml_without_sagemaker(built: Built, tmp_path: Any) -> None:
    uri, artifact = next((u, a) for u, a in built.artifacts.objects.items() if u.endswith(".whl"))
    wheel = tmp_path / uri.rsplit("/", 1)[1]
    wheel.write_bytes(artifact.data)
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "privml/__init__.py" in names and not any(n.startswith("pipelines/") for n in names)
    assert "Requires-Dist: sagemaker" not in metadata and "Requires-Dist: pydantic" in metadata
    # A pure-python wheel is importable straight from the archive: privml comes from the wheel
    # (-S: no site-packages, so not the editable install of the repository).
    out = subprocess.run(
        [sys.executable, "-S", "-c", "import privml, sys; print(privml.__file__)"],
        env={"PYTHONPATH": str(wheel)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().startswith(str(wheel))


def test_no_account_key_or_secret_beyond_the_config(built: Built) -> None:
    text = json.dumps(built.definition)
    # The only account id is the one the config's ARNs carry (moto's fake one here).
    assert "AKIA" not in text
    allowed_accounts = {ACCOUNT, "683313688378"}  # the config's, and AWS's own scikit-learn image registry
    import re

    accounts = set(re.findall(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):", text))
    accounts |= set(re.findall(r"\b(\d{12})\.dkr\.ecr\.", text))
    assert ACCOUNT in accounts and accounts <= allowed_accounts


def test_build_reaches_no_network_and_telemetry_is_off(built: Built) -> None:
    from sagemaker.core.common_utils import resolve_value_from_config
    from sagemaker.core.config.config_schema import TELEMETRY_OPT_OUT_PATH
    from sagemaker.core.telemetry import telemetry_logging

    from pipelines import telemetry

    assert built.connections == []
    assert telemetry_logging._send_telemetry_request is telemetry._drop_event
    sess_config = telemetry.with_telemetry_opt_out({"SchemaVersion": "1.0"})
    assert resolve_value_from_config(None, TELEMETRY_OPT_OUT_PATH, sagemaker_config=sess_config) is True


def test_local_store_receives_every_uploaded_object(tmp_path: Any, sdk_config_file: Any, built: Built) -> None:
    from pipelines.config import PipelineConfig
    from privml.crypto.local_kms import LocalKms
    from privml.crypto.objectstore import LocalObjectStore

    config = PipelineConfig.local_defaults(bucket="privml-local")
    kms = LocalKms.open(tmp_path)
    for purpose in ("data", "volume", "model", "endpoint", "capture"):
        kms.ensure_key(f"alias/privml-{purpose}")
    store = LocalObjectStore(tmp_path / "objects", kms)
    definition = build_definition(config, local_store=store, scripts_root=built.scripts)
    stored = store.list("s3://privml-local/")
    steps = steps_by_name(definition)
    code = next(i for i in steps["Anonymize"]["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
    prefix = code["S3Input"]["S3Uri"]
    assert f"{prefix}anonymize.py" in stored
    wheel = next(u for u in stored if u.startswith(prefix) and u.endswith(".whl"))
    assert zipfile.is_zipfile(io.BytesIO(store.get_bytes(wheel)))
    assert (
        steps["Anonymize"]["Arguments"]["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
        == "alias/privml-volume"
    )


def test_other_region_builds_with_regional_image() -> None:
    config = make_config(
        region="eu-west-1",
        kms={p: f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{p}" for p in ("data", "volume", "model", "endpoint", "capture")},
    )
    images = d.images(config)
    assert all(".eu-west-1." in uri for uri in images.values())


def test_cli_prints_the_definition(built: Built, tmp_path: Any, capsys: Any) -> None:
    import yaml

    from privml.cli import main

    from .conftest import raw_config

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw_config()))
    assert main(["pipeline", "definition", "--config", str(config)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [s["Name"] for s in printed["Steps"]] == [s["Name"] for s in built.definition["Steps"]]
    assert main(["pipeline", "endpoint-config", "--config", str(config), "--model-name", "m1"]) == 0
    assert json.loads(capsys.readouterr().out)["ProductionVariants"][0]["ModelName"] == "m1"


def test_build_stays_offline_when_an_endpoint_url_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_ENDPOINT_URL (set for a VPC endpoint, LocalStack, or the README procedure's test) must not
    pull the build's uploads out of the in-process mock: port 9 on loopback answers nothing."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    definition = build_definition(make_config(images={"profile": "privml"}))
    assert [s["Name"] for s in definition["Steps"]][:2] == ["Anonymize", "Train"]


def test_the_label_is_a_pipeline_parameter_passed_to_anonymize_and_train(built: Built) -> None:
    """`Label` is declared (empty: the policy's), Anonymize gets it as one `--label=` argument and Train as
    its `label` hyperparameter, and local mode evaluates both from the run's parameters."""
    from pipelines.local.definition_eval import EvalContext, parse_parameters, resolve

    definition = built.definition
    declared = {p["Name"]: p for p in definition["Parameters"]}
    assert declared["Label"]["Type"] == "String" and declared["Label"]["DefaultValue"] == ""
    steps = steps_by_name(definition)
    for given, expected in (({}, "--label="), ({"Label": "outcome_flag"}, "--label=outcome_flag")):
        ctx = EvalContext(parameters=parse_parameters(definition, given))
        arguments = [resolve(a, ctx) for a in steps["Anonymize"]["Arguments"]["AppSpecification"]["ContainerArguments"]]
        assert arguments[-1] == expected
        hyperparameters = steps["Train"]["Arguments"]["HyperParameters"]
        assert resolve(hyperparameters["label"], ctx) == expected.removeprefix("--label=")
