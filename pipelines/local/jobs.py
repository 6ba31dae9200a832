"""One processing or training job: lay out each host's job directory, stage inputs, run the hosts as
sandboxed subprocesses, read the failure reason or collect the outputs, and always wipe the job
directories (the volume-KMS emulation). Publication to the store is the executor's (all or nothing)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.local import jobdir, runner, staging
from pipelines.local.controls import JobControls, namespaces_available, record_passive_controls, wipe_tree
from privml.errors import PrivmlError


class JobFailed(PrivmlError):
    """The job ran and failed (or could not start as shipped); the message is its failure reason."""

    def __init__(self, message: str, job_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.job_seconds = job_seconds


@dataclass
class JobOutcome:
    properties: dict[str, Any]
    outputs: list[tuple[Path, str]]  # (file in the job directory, destination URI)
    property_files: dict[str, str] = field(default_factory=dict)  # name -> URI of the published file
    job_seconds: float = 0.0
    hosts: int = 1
    wheels: list[str] = field(default_factory=list)


@dataclass
class JobContext:
    store: Any
    base: Path  # this job's directory under the execution's scratch
    job_name: str
    controls: JobControls
    key_store: Path | None = None  # the local KMS key store; only for a step the definition lets call KMS
    key_provider: str | None = None  # the PRIVML_KEY_PROVIDER the step's request names
    on_host_started: Callable[[str], None] = lambda _h: None


def _hosts(count: int) -> list[str]:
    if count < 1:
        raise PrivmlError("InstanceCount must be at least 1")
    return [f"algo-{i + 1}" for i in range(count)]


def _shard(distribution: str, index: int, count: int) -> tuple[int, int] | None:
    if distribution == "ShardedByS3Key":
        return (index, count)
    if distribution in ("FullyReplicated", "", None):
        return None
    raise PrivmlError(f"S3DataDistributionType {distribution} is not supported")


def kms_access_record(ctx: JobContext) -> str:
    """How the job got its key material, for the run record (key names and paths only)."""
    provider = ctx.key_provider
    if ctx.key_store is not None and provider == "aws":
        return ("AWS KMS emulated: the local KMS key store is readable by this job alone (on AWS: GenerateMac "
                "through the VPC's KMS interface endpoint under the key-preparation role)")
    if ctx.key_store is not None:
        return ("local KMS key store readable by the job (PRIVML_KEY_PROVIDER=local)"
                + ("; NOTE: under network isolation a SageMaker job cannot reach AWS KMS"
                   if ctx.controls.network_isolation else ""))
    if provider == "file":
        return ("derived-secrets file only (PRIVML_KEY_PROVIDER=file, from its input): no key store, no "
                "credentials, no KMS call")
    if provider == "none":
        return "none: PRIVML_KEY_PROVIDER=none, the job cannot read any key"
    return "none: the job cannot read any key (its request names no PRIVML_KEY_PROVIDER)"


def _run_hosts(ctx: JobContext, launches: list[tuple[jobdir.HostDir, str, list[str], Path]],
               timeout: float | None) -> float:
    """Start every host, wait for all; raise JobFailed with the first failing host's reason."""
    ctx.controls.applied["kms_access"] = kms_access_record(ctx)
    started = [(hd, *runner.start_host(hd, script, args, cwd, ctx.controls, ctx.key_store))
               for hd, script, args, cwd in launches]
    for hd, _p, _t in started:
        ctx.on_host_started(hd.host)
    results = [(hd, runner.wait_host(hd, proc, t0, timeout)) for hd, proc, t0 in started]
    seconds = max(res.seconds for _hd, res in results)
    for hd, res in results:
        if res.timed_out:
            raise JobFailed(f"{hd.host}: MaxRuntimeInSeconds ({timeout:.0f}) exceeded", seconds)
        if res.returncode != 0:
            reason = jobdir.failure_reason(hd, res.stderr_tail, res.returncode)
            prefix = f"{hd.host}: " if len(results) > 1 else ""
            raise JobFailed(prefix + reason, seconds)
    return seconds


def run_processing(ctx: JobContext, request: Mapping[str, Any], property_files: list[dict[str, Any]]) -> JobOutcome:
    cluster = request.get("ProcessingResources", {}).get("ClusterConfig", {})
    hosts = _hosts(int(cluster.get("InstanceCount", 1)))
    record_passive_controls(ctx.controls)
    hds = [jobdir.make_host_dir(ctx.base, h, hosts, mounted=namespaces_available()) for h in hosts]
    launches = []
    wheels: list[str] = []
    for index, hd in enumerate(hds):
        jobdir.prepare_processing(hd, request)
        input_dirs = []
        for inp in request.get("ProcessingInputs", []):
            s3 = inp["S3Input"]
            if s3.get("S3CompressionType", "None") not in ("None", None):
                raise PrivmlError(f"input {inp['InputName']}: S3CompressionType {s3['S3CompressionType']} "
                                  "is not supported locally")
            if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise PrivmlError(f"input {inp['InputName']}: S3DataType {s3['S3DataType']} is not supported")
            dest = hd.container(s3["LocalPath"])
            staging.stage_prefix(ctx.store, s3["S3Uri"], dest, what=f"input {inp['InputName']}",
                                 shard=_shard(s3.get("S3DataDistributionType", ""), index, len(hds)))
            input_dirs.append(dest)
        try:
            wheels = runner.install_shipped_wheels(hd, input_dirs)
            script, args = jobdir.processing_command(hd, request)
        except PrivmlError as exc:
            raise JobFailed(str(exc)) from None
        launches.append((hd, script, args, hd.root))
    timeout = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    seconds = _run_hosts(ctx, launches, timeout)
    outputs = []
    for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        s3 = out["S3Output"]
        for hd in hds:
            for rel, path in staging.files_under(hd.container(s3["LocalPath"])):
                outputs.append((path, staging.join_uri(s3["S3Uri"], rel)))
    pfiles = {}
    by_output = {o["OutputName"]: o["S3Output"] for o in request.get("ProcessingOutputConfig", {}).get("Outputs", [])}
    for pf in property_files:
        if pf["OutputName"] not in by_output:
            raise PrivmlError(f"property file {pf['PropertyFileName']}: no output named {pf['OutputName']}")
        pfiles[pf["PropertyFileName"]] = staging.join_uri(by_output[pf["OutputName"]]["S3Uri"], pf["FilePath"])
    props = {
        **dict(request),
        "ProcessingJobName": ctx.job_name,
        "ProcessingJobArn": f"local:processing-job/{ctx.job_name}",
        "ProcessingJobStatus": "Completed",
    }
    return JobOutcome(properties=props, outputs=outputs, property_files=pfiles, job_seconds=seconds,
                      hosts=len(hds), wheels=wheels)


def run_training(ctx: JobContext, request: Mapping[str, Any]) -> JobOutcome:
    rc = request.get("ResourceConfig", {})
    hosts = _hosts(int(rc.get("InstanceCount", 1)))
    record_passive_controls(ctx.controls)
    hds = [jobdir.make_host_dir(ctx.base, h, hosts, mounted=namespaces_available()) for h in hosts]
    launches = []
    wheels: list[str] = []
    for index, hd in enumerate(hds):
        jobdir.prepare_training(hd, request, ctx.job_name)
        channel_dirs = []
        for ch in request.get("InputDataConfig", []):
            src = ch.get("DataSource", {}).get("S3DataSource")
            if not src:
                raise PrivmlError(f"channel {ch['ChannelName']}: only S3DataSource is supported locally")
            if ch.get("InputMode", "File") != "File":
                raise PrivmlError(f"channel {ch['ChannelName']}: only File input mode is supported locally")
            dest = hd.container(f"/opt/ml/input/data/{ch['ChannelName']}")
            staging.stage_prefix(ctx.store, src["S3Uri"], dest, what=f"channel {ch['ChannelName']}",
                                 shard=_shard(src.get("S3DataDistributionType", ""), index, len(hds)))
            channel_dirs.append(dest)
        try:
            wheels = runner.install_shipped_wheels(hd, channel_dirs)
            entry = jobdir.training_command(hd, request)
            runner.check_requirements(entry.requirements, wheels)
        except PrivmlError as exc:
            raise JobFailed(str(exc)) from None
        ctx.controls.applied["entry"] = f"honoured {entry.described_by} (sm_train.sh not run)" \
            if entry.described_by.startswith("sm_drivers") else f"ran {entry.described_by}"
        launches.append((hd, entry.script, entry.args, entry.cwd))
    timeout = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    seconds = _run_hosts(ctx, launches, timeout)
    out_path = str(request.get("OutputDataConfig", {}).get("S3OutputPath", "")).rstrip("/")
    if not out_path:
        raise PrivmlError("training job has no OutputDataConfig.S3OutputPath")
    lead = hds[0]
    model_uri = f"{out_path}/{ctx.job_name}/output/model.tar.gz"
    outputs = [(_pack(lead.container("/opt/ml/model"), lead.root / "model.tar.gz"), model_uri)]
    data_dir = lead.container("/opt/ml/output/data")
    if staging.files_under(data_dir):
        outputs.append((_pack(data_dir, lead.root / "output.tar.gz"),
                        f"{out_path}/{ctx.job_name}/output/output.tar.gz"))
    props = {
        **dict(request),
        "TrainingJobName": ctx.job_name,
        "TrainingJobArn": f"local:training-job/{ctx.job_name}",
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": [],
    }
    return JobOutcome(properties=props, outputs=outputs, job_seconds=seconds, hosts=len(hds), wheels=wheels)


def wipe_job(ctx: JobContext) -> None:
    """Once the executor has published (or abandoned) the outputs: the volume-KMS emulation."""
    wipe_tree(ctx.base, code_only=(runner.IMAGE_LAYER,))


def _pack(directory: Path, target: Path) -> Path:
    """model.tar.gz = the content of the directory (deterministic order and metadata)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for rel, path in staging.files_under(directory):
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    target.write_bytes(buf.getvalue())
    return target
