"""The audit: privml's own definition passes; removing exactly one control fails exactly that rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.audit import RULES, audit, audit_definition
from pipelines.definition import endpoint_config_request
from privml.cli import main
from privml.errors import PrivmlError

from .conftest import Built, raw_config, steps_by_name


def _endpoint(built: Built) -> dict:
    return endpoint_config_request(built.config, "privml-model")


def _args(definition: dict, step: str) -> dict:
    return steps_by_name(definition)[step]["Arguments"]


def _del(path: str) -> Callable[[dict, dict], None]:
    step, *keys = path.split(".")

    def mutate(definition: dict, _endpoint: dict) -> None:
        node = _args(definition, step)
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def _set(path: str, value: Any) -> Callable[[dict, dict], None]:
    step, *keys = path.split(".")

    def mutate(definition: dict, _endpoint: dict) -> None:
        node = _args(definition, step)
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return mutate


def _endpoint_del(*keys: str) -> Callable[[dict, dict], None]:
    def mutate(_definition: dict, endpoint: dict) -> None:
        node = endpoint
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def _capture_inputs(_definition: dict, endpoint: dict) -> None:
    endpoint["DataCaptureConfig"]["CaptureOptions"] = [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]


def _input_outside_bucket(definition: dict, _endpoint: dict) -> None:
    param = next(p for p in definition["Parameters"] if p["Name"] == "InputDataUri")
    param["DefaultValue"] = "s3://someone-elses-bucket/data/"


def _default(name: str, value: Any) -> Callable[[dict, dict], None]:
    def mutate(definition: dict, _endpoint: dict) -> None:
        next(p for p in definition["Parameters"] if p["Name"] == name)["DefaultValue"] = value

    return mutate


def _endpoint_type(instance_type: str) -> Callable[[dict, dict], None]:
    def mutate(_definition: dict, endpoint: dict) -> None:
        endpoint["ProductionVariants"][0]["InstanceType"] = instance_type

    return mutate


MUTATIONS: list[tuple[str, str, Callable[[dict, dict], None]]] = [
    ("PRIVML-JOB-006", "local-storage processing default with a volume key",
     _default("ProcessingInstanceType", "ml.r5d.xlarge")),
    ("PRIVML-JOB-006", "local-storage training default with a volume key",
     _default("TrainingInstanceType", "ml.g4dn.xlarge")),
    ("PRIVML-JOB-006", "literal local-storage type with a volume key",
     _set("Train.ResourceConfig.InstanceType", "ml.p3dn.24xlarge")),
    ("PRIVML-JOB-006", "an instance type the API does not accept", _default("ProcessingInstanceType", "ml.m5.huge")),
    ("PRIVML-JOB-007", "two instances on replicated inputs", _default("ProcessingInstanceCount", 2)),
    ("PRIVML-JOB-007", "two training instances", _set("Train.ResourceConfig.InstanceCount", 2)),
    ("PRIVML-EP-004", "endpoint key on a local-storage type", _endpoint_type("ml.g4dn.xlarge")),
    ("PRIVML-JOB-001", "processing volume key", _del("Anonymize.ProcessingResources.ClusterConfig.VolumeKmsKeyId")),
    ("PRIVML-JOB-001", "training volume key", _del("Train.ResourceConfig.VolumeKmsKeyId")),
    ("PRIVML-JOB-002", "processing output key", _del("Evaluate.ProcessingOutputConfig.KmsKeyId")),
    ("PRIVML-JOB-002", "training output key", _del("Train.OutputDataConfig.KmsKeyId")),
    ("PRIVML-JOB-003", "processing isolation", _set("Anonymize.NetworkConfig.EnableNetworkIsolation", False)),
    ("PRIVML-JOB-003", "training isolation", _del("Train.EnableNetworkIsolation")),
    ("PRIVML-JOB-003", "model isolation", _set("CreateModel.EnableNetworkIsolation", False)),
    ("PRIVML-JOB-003", "isolation as a parameter", _set("Train.EnableNetworkIsolation", {"Get": "Parameters.X"})),
    ("PRIVML-JOB-004", "processing vpc", _del("Evaluate.NetworkConfig.VpcConfig")),
    ("PRIVML-JOB-004", "training vpc", _del("Train.VpcConfig")),
    ("PRIVML-JOB-004", "model vpc", _del("CreateModel.VpcConfig")),
    ("PRIVML-JOB-005", "processing ICE", _set("Anonymize.NetworkConfig.EnableInterContainerTrafficEncryption", False)),
    ("PRIVML-JOB-005", "training ICE", _set("Train.EnableInterContainerTrafficEncryption", False)),
    ("PRIVML-EP-001", "endpoint key", _endpoint_del("KmsKeyId")),
    ("PRIVML-EP-002", "capture key", _endpoint_del("DataCaptureConfig", "KmsKeyId")),
    ("PRIVML-EP-003", "capture inputs", _capture_inputs),
    ("PRIVML-URI-001", "http argument", _set("Anonymize.AppSpecification.ContainerArguments", ["--src", "http://x/y"])),
    ("PRIVML-SEC-001", "secret env name", _set("Anonymize.Environment", {"DB_PASSWORD": "hunter2-not-real"})),
    ("PRIVML-SEC-001", "secret hyperparameter", _set("Train.HyperParameters.api_key", "k")),
    ("PRIVML-SEC-001", "access key value", _set("Train.Environment", {"X": "AKIAABCDEFGHIJKLMNOP"})),
    ("PRIVML-S3-001", "input outside bucket", _input_outside_bucket),
]


def test_privml_definition_passes(built: Built) -> None:
    result = audit(built.definition, config=built.config, endpoint_configs=[_endpoint(built)])
    assert result.findings == [] and result.waived == []


def test_every_rule_is_exercised() -> None:
    assert {rule for rule, _, _ in MUTATIONS} == set(RULES)


@pytest.mark.parametrize(("rule_id", "label", "mutate"), MUTATIONS, ids=[f"{r}:{label}" for r, label, _ in MUTATIONS])
def test_removing_one_control_fails_exactly_that_rule(
    built: Built, rule_id: str, label: str, mutate: Callable[[dict, dict], None]
) -> None:
    definition, endpoint = copy.deepcopy(built.definition), _endpoint(built)
    mutate(definition, endpoint)
    findings = audit_definition(definition, config=built.config, endpoint_configs=[endpoint])
    assert {f.rule_id for f in findings} == {rule_id}, label
    finding = findings[0]
    assert finding.fix and finding.severity == RULES[rule_id].severity and finding.location


def test_findings_never_quote_the_secret(built: Built) -> None:
    definition = copy.deepcopy(built.definition)
    _set("Anonymize.Environment", {"DB_PASSWORD": "hunter2-not-real"})(definition, {})
    text = json.dumps([f.to_dict() for f in audit_definition(definition)])
    assert "hunter2" not in text and "DB_PASSWORD" in text


def test_waiver_moves_finding_aside_and_unknown_waiver_is_refused(built: Built) -> None:
    definition = copy.deepcopy(built.definition)
    _del("Train.VpcConfig")(definition, {})
    result = audit(definition, config=built.config, waivers=["privml-job-004"])
    assert result.findings == [] and [f.rule_id for f in result.waived] == ["PRIVML-JOB-004"]
    with pytest.raises(PrivmlError, match="PRIVML-NOPE"):
        audit(definition, waivers=["PRIVML-NOPE"])


def test_not_a_definition_is_bad_input() -> None:
    with pytest.raises(PrivmlError, match="Steps"):
        audit_definition({"Version": "2020-12-01"})


def test_capture_warning_does_not_fail(built: Built) -> None:
    endpoint = _endpoint(built)
    _capture_inputs({}, endpoint)
    result = audit(built.definition, endpoint_configs=[endpoint])
    assert [f.rule_id for f in result.findings] == ["PRIVML-EP-003"] and result.blocking == []


# --- through the command line -----------------------------------------------------------------------
def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_cli_audit_pass_fail_waive_json(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _write(tmp_path / "good.json", built.definition)
    endpoint = _write(tmp_path / "endpoint.json", _endpoint(built))
    assert main(["audit", str(good), "--endpoint-config", str(endpoint)]) == 0
    assert "passed" in capsys.readouterr().out

    bad_definition = copy.deepcopy(built.definition)
    _set("Train.EnableNetworkIsolation", False)(bad_definition, {})
    bad = _write(tmp_path / "bad.json", bad_definition)
    assert main(["audit", str(bad)]) == 1
    assert "PRIVML-JOB-003" in capsys.readouterr().out

    assert main(["audit", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["findings"][0]["rule_id"] == "PRIVML-JOB-003"
    assert "aws_config" in report["findings"][0]["counterparts"] or report["findings"][0]["counterparts"]

    assert main(["audit", str(bad), "--waive", "PRIVML-JOB-003", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["waived"][0]["rule_id"] == "PRIVML-JOB-003"


def test_cli_audit_bucket_rule_uses_config(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    definition = copy.deepcopy(built.definition)
    _input_outside_bucket(definition, {})
    path = _write(tmp_path / "def.json", definition)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw_config()))
    assert main(["audit", str(path)]) == 0  # without a config the bucket is unknown
    assert "PRIVML-S3-001" not in capsys.readouterr().out
    assert main(["audit", str(path), "--config", str(config), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["rule_id"] for f in findings] == ["PRIVML-S3-001"], findings


@pytest.mark.parametrize("content", ["{not json", '{"Version": "2020-12-01"}'])
def test_cli_audit_bad_input_exits_2(tmp_path: Path, content: str, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "def.json"
    path.write_text(content)
    assert main(["audit", str(path)]) == 2
    assert main(["audit", str(tmp_path / "missing.json")]) == 2
    assert "privml: error:" in capsys.readouterr().err


def test_local_storage_type_without_volume_key_is_not_a_finding(built: Built) -> None:
    """The instance store of those types is hardware-encrypted; no volume key is the right request."""
    definition = copy.deepcopy(built.definition)
    _default("ProcessingInstanceType", "ml.r5d.xlarge")(definition, {})
    for step in ("Anonymize", "Evaluate"):
        del _args(definition, step)["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
    endpoint = _endpoint(built)
    endpoint["ProductionVariants"][0]["InstanceType"] = "ml.g5.xlarge"
    del endpoint["KmsKeyId"]
    assert audit_definition(definition, config=built.config, endpoint_configs=[endpoint]) == []


def test_cli_audit_refuses_a_local_storage_default_with_a_volume_key(built: Built, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    definition = copy.deepcopy(built.definition)
    _default("ProcessingInstanceType", "ml.r5d.xlarge")(definition, {})
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    assert main(["audit", str(path)]) == 1
    out = capsys.readouterr().out
    assert "PRIVML-JOB-006" in out and "ProcessingResources.ClusterConfig.VolumeKmsKeyId" in out
    assert "ProcessingInstanceType" in out
