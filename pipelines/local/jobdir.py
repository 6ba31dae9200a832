"""The per-host job directory, laid out like the container's `/opt/ml`, and the mapping of container
paths into it.

`<root>/opt/ml/...` stands for `/opt/ml/...`: every absolute container path in the request (LocalPath,
ContainerEntrypoint, ContainerArguments, Environment) is mapped under the root, as a chroot would.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.models.jobenv import LOCAL_INSTANCE_TYPE
from privml.workspace import private_dir

_CONTAINER_PATH = re.compile(r"(?<![\w./-])(/opt/ml)(?=/|\b|$)")
INSTANCE_GROUP = "homogeneousCluster"
# Exceptions whose messages carry only names and paths, never data: the sandbox's own, and import errors.
_SAFE_MESSAGES = frozenset({"SandboxViolation", "ModuleNotFoundError", "ImportError", "JobSetupError"})


@dataclass
class HostDir:
    """One host's job directory: `root` stands for the container's `/`."""

    root: Path
    host: str
    hosts: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # True: the job sees /opt/ml itself (bind-mounted from root/opt/ml in its own mount namespace), so
    # container paths stay as they are. False: container paths in arguments/environment are rewritten.
    mounted: bool = False

    def container(self, path: str) -> Path:
        """The host path for an absolute container path."""
        if not path.startswith("/"):
            raise PrivmlError(f"container path must be absolute: {path}")
        mapped = (self.root / path.lstrip("/")).resolve()
        if mapped != self.root.resolve() and self.root.resolve() not in mapped.parents:
            raise PrivmlError(f"container path escapes the job directory: {path}")
        return mapped

    def map_string(self, value: str) -> str:
        """Rewrite container paths (`/opt/ml/...`) inside an argument or environment value (only when
        the job cannot see /opt/ml itself)."""
        if self.mounted:
            return value
        return _CONTAINER_PATH.sub(lambda m: str(self.root / m.group(1).lstrip("/")), value)

    def host_path(self, job_path: str) -> Path:
        """Where a path as the job sees it lives on the host."""
        if self.mounted and (job_path == "/opt/ml" or job_path.startswith("/opt/ml/")):
            return self.container(job_path)
        return Path(job_path)

    @property
    def scratch(self) -> Path:
        return self.root / "tmp"


def make_host_dir(base: Path, host: str, hosts: list[str], *, mounted: bool) -> HostDir:
    root = base / host
    for sub in ("opt/ml", "tmp", "home"):
        private_dir(root / sub)
    return HostDir(root=root, host=host, hosts=hosts, mounted=mounted)


def _write_json(path: Path, payload: Any) -> None:
    private_dir(path.parent)
    path.write_text(json.dumps(payload, indent=2, default=str))


# --- processing ---------------------------------------------------------------------------------------

def prepare_processing(hd: HostDir, request: Mapping[str, Any]) -> None:
    """Input/output directories at their LocalPath and /opt/ml/config/{processingjobconfig,resourceconfig}.json."""
    for inp in request.get("ProcessingInputs", []):
        if "S3Input" not in inp:
            raise PrivmlError(f"processing input {inp.get('InputName')}: only S3Input is supported locally")
        private_dir(hd.container(inp["S3Input"]["LocalPath"]))
    for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        if "S3Output" not in out:
            raise PrivmlError(f"processing output {out.get('OutputName')}: only S3Output is supported locally")
        private_dir(hd.container(out["S3Output"]["LocalPath"]))
    private_dir(hd.container("/opt/ml/output"))
    _write_json(hd.container("/opt/ml/config/processingjobconfig.json"), dict(request))
    # "local", as SageMaker's local mode says: the job does not run on the instance type the request asks for
    _write_json(hd.container("/opt/ml/config/resourceconfig.json"),
                {"current_host": hd.host, "hosts": hd.hosts, "current_instance_type": LOCAL_INSTANCE_TYPE})
    hd.env.update({k: hd.map_string(str(v)) for k, v in (request.get("Environment") or {}).items()})
    if not hd.mounted:  # privml's job scripts honour this when /opt/ml itself is not there
        hd.env.setdefault("PRIVML_FAILURE_FILE", hd.map_string("/opt/ml/output/message"))


def processing_command(hd: HostDir, request: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(script path as the job sees it, its arguments) from AppSpecification; only Python entry points."""
    app = request.get("AppSpecification", {})
    entry = list(app.get("ContainerEntrypoint") or [])
    args = [hd.map_string(str(a)) for a in app.get("ContainerArguments") or []]
    if entry and Path(entry[0]).name == SPARK_SUBMIT:
        return _spark_command(hd, entry, args)
    if not entry or Path(entry[0]).name not in ("python", "python3") or len(entry) < 2:
        raise PrivmlError(
            f"processing entrypoint {entry[:1]} is not emulated locally: only `python3 SCRIPT` entry points run"
        )
    extra = [hd.map_string(str(a)) for a in entry[2:]]
    return hd.map_string(entry[1]), extra + args


# The SageMaker Spark processing image's entry point (PySparkProcessor): `smspark-submit [OPTIONS] APP.py`.
SPARK_SUBMIT = "smspark-submit"
SPARK_LOCAL_MASTER = "local[*]"


def _spark_command(hd: HostDir, entry: list[str], args: list[str]) -> tuple[str, list[str]]:
    """A PySparkProcessor job locally: its application runs as the job's own Python process, pyspark in
    local mode (`local[*]`, $PRIVML_SPARK_MASTER) in it, under the same sandbox and controls as every job.
    smspark-submit's own options (event logs, YARN settings) have no local meaning and are refused."""
    apps = [i for i, part in enumerate(entry) if str(part).endswith(".py")]
    if not apps or apps[0] != 1:
        raise PrivmlError(f"{SPARK_SUBMIT}: only `{SPARK_SUBMIT} APP.py` is emulated locally (no options)")
    hd.env["PRIVML_SPARK_MASTER"] = SPARK_LOCAL_MASTER
    extra = [hd.map_string(str(a)) for a in entry[2:]]
    return hd.map_string(entry[1]), extra + args


# --- training -----------------------------------------------------------------------------------------

def prepare_training(hd: HostDir, request: Mapping[str, Any], job_name: str) -> None:
    """Channels, config files and SM_* environment as the sagemaker-training-toolkit sets them up."""
    channels = [c["ChannelName"] for c in request.get("InputDataConfig", [])]
    hyper = {k: str(v) for k, v in (request.get("HyperParameters") or {}).items()}
    for ch in channels:
        private_dir(hd.container(f"/opt/ml/input/data/{ch}"))
    for sub in ("model", "output/data", "code", "checkpoints"):
        private_dir(hd.container(f"/opt/ml/{sub}"))
    resource = {
        "current_host": hd.host,
        # "local", as SageMaker's local mode says; the request (trainingjobconfig.json) keeps the type asked for
        "current_instance_type": LOCAL_INSTANCE_TYPE,
        "current_group_name": INSTANCE_GROUP,
        "hosts": hd.hosts,
        "instance_groups": [{"instance_group_name": INSTANCE_GROUP, "instance_type": LOCAL_INSTANCE_TYPE,
                             "hosts": hd.hosts}],
        "network_interface_name": "eth0",
    }
    data_config = {
        c["ChannelName"]: {
            "TrainingInputMode": c.get("InputMode", "File"),
            "S3DistributionType": c.get("DataSource", {}).get("S3DataSource", {}).get(
                "S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": c.get("RecordWrapperType", "None"),
        }
        for c in request.get("InputDataConfig", [])
    }
    # SageMaker writes the CreateTrainingJob request here too; the model card reads the job's controls from it.
    _write_json(hd.container("/opt/ml/input/config/trainingjobconfig.json"), dict(request))
    _write_json(hd.container("/opt/ml/input/config/hyperparameters.json"), hyper)
    _write_json(hd.container("/opt/ml/input/config/inputdataconfig.json"), data_config)
    _write_json(hd.container("/opt/ml/input/config/resourceconfig.json"), resource)
    cpus = os.cpu_count() or 1
    env = {
        "TRAINING_JOB_NAME": job_name,
        "SM_MODEL_DIR": "/opt/ml/model",
        "SM_OUTPUT_DIR": "/opt/ml/output",
        "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data",
        "SM_INPUT_DIR": "/opt/ml/input",
        "SM_INPUT_CONFIG_DIR": "/opt/ml/input/config",
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hyper),
        "SM_CURRENT_HOST": hd.host,
        "SM_CURRENT_INSTANCE_TYPE": resource["current_instance_type"],
        "SM_HOSTS": json.dumps(hd.hosts),
        "SM_NUM_CPUS": str(cpus),
        "SM_NUM_GPUS": "0",
        "SM_NUM_NEURONS": "0",
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_RESOURCE_CONFIG": json.dumps(resource),
        "SM_INPUT_DATA_CONFIG": json.dumps(data_config),
    }
    for ch in channels:
        env[f"SM_CHANNEL_{ch.upper()}"] = f"/opt/ml/input/data/{ch}"
    for k, v in hyper.items():
        env[f"SM_HP_{k.upper()}"] = v
    env["SM_TRAINING_ENV"] = json.dumps({
        "job_name": job_name, "model_dir": "/opt/ml/model", "output_data_dir": "/opt/ml/output/data",
        "channel_input_dirs": {ch: f"/opt/ml/input/data/{ch}" for ch in channels},
        "hyperparameters": hyper, "current_host": hd.host, "hosts": hd.hosts, "num_cpus": cpus, "num_gpus": 0,
    })
    env.update({k: str(v) for k, v in (request.get("Environment") or {}).items()})
    if not hd.mounted:  # privml's job scripts honour this when /opt/ml itself is not there
        env.setdefault("PRIVML_FAILURE_FILE", "/opt/ml/output/failure")
    hd.env.update({k: hd.map_string(v) for k, v in env.items()})


def _hp_cli_args(hyper: Mapping[str, str]) -> list[str]:
    """As sm_drivers' hyperparameters_to_cli_args: JSON-decode each value, re-encode non-strings."""
    args: list[str] = []
    for key, raw in hyper.items():
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            value = raw
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


@dataclass
class TrainingEntry:
    script: str  # as the job sees it
    args: list[str]
    cwd: Path  # on the host
    requirements: Path | None
    described_by: str  # "sm_drivers/sourcecode.json" or "SAGEMAKER_PROGRAM"


def training_command(hd: HostDir, request: Mapping[str, Any]) -> TrainingEntry:
    """What the container would run. For SDK v3 ModelTrainer jobs (an `sm_drivers` channel), honour what
    sourcecode.json and distributed.json describe instead of running sm_train.sh and the drivers, which
    hard-code /opt/ml."""
    hyper = {k: str(v) for k, v in (request.get("HyperParameters") or {}).items()}
    drivers = hd.container("/opt/ml/input/data/sm_drivers")
    if (drivers / "sourcecode.json").is_file():
        source = json.loads((drivers / "sourcecode.json").read_text() or "{}")
        distributed = json.loads((drivers / "distributed.json").read_text() or "{}") \
            if (drivers / "distributed.json").is_file() else {}
        if distributed:
            raise PrivmlError(
                f"distributed training driver {distributed.get('smdistributed_settings') or sorted(distributed)} "
                "is not emulated locally: only the basic script driver runs"
            )
        if source.get("command"):
            raise PrivmlError("SourceCode.command is not emulated locally: use entry_script")
        entry = source.get("entry_script") or ""
        if not entry.endswith(".py"):
            raise PrivmlError(f"training entry script {entry!r}: only .py entry scripts run locally")
        workdir = "/opt/ml/input/data/code" if source.get("source_dir") else "/opt/ml/code"
        cwd = hd.container(workdir)
        req = source.get("requirements")
        args = _hp_cli_args(hyper) + [hd.map_string(str(a)) for a in source.get("args") or []]
        return TrainingEntry(script=hd.map_string(f"{workdir}/{entry}"), args=args, cwd=cwd,
                             requirements=(cwd / req) if req else None,
                             described_by="sm_drivers/sourcecode.json")
    program = (request.get("Environment") or {}).get("SAGEMAKER_PROGRAM") or hyper.get("sagemaker_program")
    if not program:
        raise PrivmlError("training job has neither an sm_drivers channel nor SAGEMAKER_PROGRAM: nothing to run")
    program = json.loads(program) if program.startswith('"') else program
    return TrainingEntry(script=hd.map_string(f"/opt/ml/input/data/code/{program}"), args=_hp_cli_args(hyper),
                         cwd=hd.container("/opt/ml/input/data/code"), requirements=None,
                         described_by="SAGEMAKER_PROGRAM")


def failure_reason(hd: HostDir, stderr_tail: str, returncode: int) -> str:
    """/opt/ml/output/failure (training), /opt/ml/output/message (processing), else the stderr's last line."""
    for name in ("/opt/ml/output/failure", "/opt/ml/output/message"):
        path = hd.container(name)
        if path.is_file():
            text = path.read_text(errors="replace").strip()
            if text:
                return text[:1024]
    last = [ln for ln in stderr_tail.strip().splitlines() if ln.strip()]
    if not last:
        return f"exit code {returncode}: no failure reason written"
    line = last[-1].strip()[:1024]
    kind, sep, _message = line.partition(":")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", kind) and kind.rsplit(".", 1)[-1] not in _SAFE_MESSAGES:
        # An uncaught exception's message may quote a data value (invariant 1): keep only its type.
        return f"exit code {returncode}: {kind} (message withheld: it may quote data; the job wrote no failure reason)"
    return f"exit code {returncode}: {line}"
