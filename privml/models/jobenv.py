"""The SageMaker job contracts as seen from inside a job: where the channels, hyperparameters, model
directory, failure file and job configuration are, and which security controls the job ran under.

Paths follow the sagemaker-training-toolkit environment (`SM_*`), falling back to the container layout
under /opt/ml. The local executor sets the same variables, pointing into its job directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.job_runner import CONTAINER_BASE, container_root, training_output_dir


@dataclass(frozen=True)
class TrainingEnv:
    model_dir: Path
    output_dir: Path
    input_dir: Path
    config_dir: Path
    channels: dict[str, Path]
    hyperparameters: dict[str, str]

    @property
    def failure_path(self) -> Path:
        return self.output_dir / "failure"

    def channel(self, name: str) -> Path:
        return self.channels.get(name, self.input_dir / "data" / name)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, argv: Sequence[str] = ()) -> TrainingEnv:
        env = os.environ if environ is None else environ
        model_dir = Path(env.get("SM_MODEL_DIR") or CONTAINER_BASE / "model")
        base = model_dir.parent
        input_dir = Path(env.get("SM_INPUT_DIR") or base / "input")
        output_dir = training_output_dir(env)
        config_dir = Path(env.get("SM_INPUT_CONFIG_DIR") or input_dir / "config")
        channels = {
            key.removeprefix("SM_CHANNEL_").lower(): Path(value)
            for key, value in env.items()
            if key.startswith("SM_CHANNEL_") and value
        }
        data_dir = input_dir / "data"
        if data_dir.is_dir():
            for sub in data_dir.iterdir():
                if sub.is_dir():
                    channels.setdefault(sub.name, sub)
        return cls(model_dir, output_dir, input_dir, config_dir, channels,
                   _hyperparameters(config_dir, env, argv))


def _decode(value: Any) -> str:
    """A hyperparameter as a string; SDKs may JSON-encode strings ('"hgb"'), SageMaker passes strings."""
    if not isinstance(value, str):
        return json.dumps(value) if isinstance(value, dict | list | bool) or value is None else str(value)
    try:
        decoded = json.loads(value)
    except (json.JSONDecodeError, ValueError):
        return value
    return decoded if isinstance(decoded, str) else value


def _hyperparameters(config_dir: Path, env: Mapping[str, str], argv: Sequence[str]) -> dict[str, str]:
    """hyperparameters.json, then SM_HPS, then `--name value` arguments (as the SDK's drivers pass them)."""
    hps: dict[str, str] = {}
    path = config_dir / "hyperparameters.json"
    if path.is_file():
        hps.update({k: _decode(v) for k, v in _read_json(path).items()})
    if env.get("SM_HPS"):
        try:
            from_env = json.loads(env["SM_HPS"])
        except json.JSONDecodeError:
            raise PrivmlError("SM_HPS is not valid JSON") from None
        if not isinstance(from_env, dict):
            raise PrivmlError("SM_HPS is not a JSON object")
        hps.update({k: _decode(v) for k, v in from_env.items()})
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise PrivmlError(f"unexpected argument at position {i + 1}: expected --name value")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise PrivmlError(f"argument --{name} has no value")
            value = args[i + 1]
            i += 1
        hps[name.replace("-", "_")] = _decode(value)
        i += 1
    return hps


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrivmlError(f"{path}: not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise PrivmlError(f"{path}: expected a JSON object")
    return data


# --- the controls a job ran under -------------------------------------------------------------------------

CONFIG_FILES = ("trainingjobconfig.json", "processingjobconfig.json", "resourceconfig.json")
LOCAL_INSTANCE_TYPE = "local"  # resourceconfig.json's current_instance_type in a local execution
_ACCOUNT_IN_ARN = re.compile(r"^(arn:aws[\w-]*:kms:[\w-]*:)\d{12}(:)")


def _key_ref(value: Any) -> str | None:
    """A KMS key reference as recorded in a card: the account id of an ARN is masked."""
    if not value:
        return None
    return _ACCOUNT_IN_ARN.sub(r"\1<account>\2", str(value))


def job_controls(config_dir: Path) -> dict[str, Any]:
    """Security controls from the job's configuration files; unknown (None) when no file says.

    Training: trainingjobconfig.json (the CreateTrainingJob request) when SageMaker provides it.
    Processing: processingjobconfig.json (the CreateProcessingJob request). resourceconfig.json gives
    the hosts and the instance the job runs on. Nothing is assumed: a control no file mentions is recorded
    as null, never as on or off.

    Where the job ran: the request names the instance type the definition asks for; a local execution
    (privml's executor, as SageMaker's own local mode) writes `current_instance_type: "local"` in
    resourceconfig.json, so `instance_type` is "local" and `execution` "local" there, and the type asked
    for is kept as `requested_instance_type`. On SageMaker both name the instance.
    """
    controls: dict[str, Any] = {
        "network_isolation": None, "inter_container_encryption": None, "vpc": None,
        "volume_kms_key": None, "output_kms_key": None, "instance_type": None, "hosts": None,
        "execution": None, "requested_instance_type": None, "sources": [],
    }
    ran_on = None
    for name in CONFIG_FILES:
        path = config_dir / name
        if not path.is_file():
            continue
        data = _read_json(path)
        controls["sources"].append(name)
        if name == "resourceconfig.json":
            controls["hosts"] = len(data.get("hosts") or []) or None
            ran_on = data.get("current_instance_type")
            continue
        if name == "trainingjobconfig.json":
            network = data
            vpc = data.get("VpcConfig")
            resources = data.get("ResourceConfig") or {}
            volume_key = resources.get("VolumeKmsKeyId")
            output_key = (data.get("OutputDataConfig") or {}).get("KmsKeyId")
        else:
            network = data.get("NetworkConfig") or {}
            vpc = network.get("VpcConfig")
            resources = (data.get("ProcessingResources") or {}).get("ClusterConfig") or {}
            volume_key = resources.get("VolumeKmsKeyId")
            output_key = (data.get("ProcessingOutputConfig") or {}).get("KmsKeyId")
        controls["network_isolation"] = bool(network.get("EnableNetworkIsolation", False))
        controls["inter_container_encryption"] = bool(network.get("EnableInterContainerTrafficEncryption", False))
        controls["vpc"] = bool(vpc and vpc.get("Subnets"))
        controls["volume_kms_key"] = _key_ref(volume_key)
        controls["output_kms_key"] = _key_ref(output_key)
        controls["requested_instance_type"] = resources.get("InstanceType")
    controls["instance_type"] = ran_on or controls["requested_instance_type"]
    if controls["sources"]:
        controls["execution"] = "local" if ran_on == LOCAL_INSTANCE_TYPE else "SageMaker"
    return controls


def processing_config_dir(any_container_path: Path) -> Path:
    """/opt/ml/config for a processing job, found from one of its /opt/ml/processing/... paths."""
    return (container_root([str(any_container_path)]) or CONTAINER_BASE) / "config"
