"""Execute a pipeline definition locally, step by step, in dependency order.

Processing and Training steps run as sandboxed jobs (jobs.py); Condition steps pick a branch; a Fail
step fails the execution with its message; a Model step (CreateModel) is checked and recorded. The first
failure stops the execution: nothing downstream runs and the failed step publishes nothing. Steps with
`CacheConfig.Enabled` are not re-run when their resolved arguments and the stored inputs they read are
unchanged and their outputs are still in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.local import jobs, records, staging
from pipelines.local.controls import controls_of, resolve_output_key, wipe_tree
from pipelines.local.definition_eval import (
    DefinitionError,
    EvalContext,
    evaluate_conditions,
    parse_parameters,
    resolve,
)
from pipelines.local.graph import StepNode, build_graph, topological_order
from pipelines.local.progress import Progress
from privml.errors import PrivmlError
from privml.workspace import private_dir, process_alive

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "Pending"  # Executing | Succeeded | Failed | Skipped | NotRun
    seconds: float = 0.0
    job_seconds: float = 0.0
    controls: dict[str, str] = field(default_factory=dict)
    failure_reason: str | None = None
    cache: str | None = None  # hit | miss | disabled
    outputs: list[str] = field(default_factory=list)
    hosts: int | None = None
    outcome: bool | None = None  # ConditionStep
    job_name: str | None = None


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text or "")
    if not m or not any(m.groups()):
        raise DefinitionError(f"CacheConfig ExpireAfter {text!r} is not an ISO 8601 duration")
    y, mo, w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)


def recover(workspace: Path, store: Any) -> list[str]:
    """Clean up after runners that died: roll back half-done publications, wipe their job directories,
    mark their records interrupted. Returns what was rolled back (URIs)."""
    rolled: list[str] = []
    scratch = workspace / "scratch"
    if scratch.is_dir():
        for run in sorted(p for p in scratch.iterdir() if p.is_dir()):
            owner = run / "owner.pid"
            try:
                pid = int(owner.read_text())
            except (OSError, ValueError):
                pid = 0
            if process_alive(pid):
                continue
            for journal in sorted(run.glob("journal-*.json")):
                rolled += staging.roll_back(store, journal)
            wipe_tree(run, code_only=("_image",))
    records.mark_interrupted(workspace)
    return rolled


class LocalExecutor:
    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        store: Any,
        kms: Any,
        workspace: Path,
        parameters: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        pipeline_name: str = "privml",
        progress: Progress | None = None,
        record_extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.definition = definition
        self.store, self.kms, self.workspace = store, kms, workspace
        self.nodes = build_graph(definition)
        self.order = topological_order(self.nodes)
        self.run_id = run_id or records.new_run_id()
        now = datetime.now(UTC)
        self.ctx = EvalContext(
            parameters=parse_parameters(definition, parameters),
            execution={
                "PipelineName": pipeline_name,
                "PipelineExecutionId": self.run_id,
                "PipelineExecutionArn": f"local:pipeline/{pipeline_name}/execution/{self.run_id}",
                "StartDateTime": now.isoformat(),
                "CurrentDateTime": now.isoformat(),
            },
        )
        self.steps = {n: StepRecord(name=n, type=self.nodes[n].type) for n in self.order}
        self.progress = progress or Progress(len(self.order), enabled=False)
        self.scratch = workspace / "scratch" / self.run_id
        self.record: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline": pipeline_name,
            "mode": "local",
            "status": "Executing",
            "pid": os.getpid(),
            "started_at": now.isoformat(),
            "parameters": self.ctx.parameters,
            **dict(record_extra or {}),
        }

    # -- bookkeeping --------------------------------------------------------------------------------
    def _save(self) -> None:
        self.record["steps"] = [asdict(s) for s in self.steps.values()]
        records.write_record(self.workspace, self.record)

    def preflight(self) -> None:
        """Before anything runs: every output key a job names (as a literal) exists locally."""
        for node in self.nodes.values():
            if node.type not in ("Processing", "Training"):
                continue
            args = node.spec.get("Arguments", {})
            raw = (args.get("ProcessingOutputConfig") or args.get("OutputDataConfig") or {}).get("KmsKeyId")
            if raw is None or isinstance(raw, str):
                resolve_output_key(self.kms, raw, node.name)

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        self.record["recovered"] = recover(self.workspace, self.store) or None
        self.preflight()
        private_dir(self.scratch)  # scratch/ itself 0700 too, not the umask's mode
        (self.scratch / "owner.pid").write_text(str(os.getpid()))
        self._save()
        failed: StepRecord | None = None
        try:
            for name in self.order:
                rec, node = self.steps[name], self.nodes[name]
                if failed is not None:
                    rec.status = "NotRun"
                    continue
                if self._skipped(node):
                    rec.status = "Skipped"
                    self.progress.step_finished(name, "Skipped", 0.0, "branch not taken")
                    continue
                self._run_step(node, rec)
                if rec.status == "Failed":
                    failed = rec
                self._save()
        except BaseException as exc:  # a bug or an interrupt: the record must not stay "Executing"
            self.record.update(status="Failed", failure_reason=f"internal error: {type(exc).__name__}")
            for rec in self.steps.values():
                if rec.status == "Executing":
                    rec.status, rec.failure_reason = "Failed", f"internal error: {type(exc).__name__}"
            self.record.pop("pid", None)
            self._save()
            raise
        finally:
            wipe_tree(self.scratch, code_only=("_image",))
            self.progress.close()
        total = time.perf_counter() - started
        jobs_time = sum(s.job_seconds for s in self.steps.values() if s.cache != "hit")
        self.record.update({
            "status": "Failed" if failed else "Succeeded",
            "failure_reason": f"{failed.name}: {failed.failure_reason}" if failed else None,
            "finished_at": datetime.now(UTC).isoformat(),
            "timing": {"total_seconds": round(total, 3), "jobs_seconds": round(jobs_time, 3),
                       "executor_overhead_seconds": round(total - jobs_time, 3)},
        })
        self.record.pop("pid", None)
        self._save()
        return self.record

    def _skipped(self, node: StepNode) -> bool:
        if node.branch is not None:
            cond = self.steps[node.branch[0]]
            if cond.status != "Succeeded" or cond.outcome != (node.branch[1] == "IfSteps"):
                return True
        return any(self.steps[d].status == "Skipped" for d in node.depends_on)

    def _run_step(self, node: StepNode, rec: StepRecord) -> None:
        t0 = time.perf_counter()
        rec.status = "Executing"
        self.progress.step_started(node.name, node.type)
        self._save()
        note = ""
        try:
            if node.type in ("Processing", "Training"):
                note = self._run_job(node, rec)
            elif node.type == "Condition":
                rec.outcome = evaluate_conditions(node.spec["Arguments"].get("Conditions", []), self.ctx)
                self.ctx.step_properties[node.name] = {"Outcome": str(rec.outcome).lower()}
                note = f"conditions {'met' if rec.outcome else 'not met'}"
            elif node.type == "Fail":
                message = resolve(node.spec.get("Arguments", {}).get("ErrorMessage", ""), self.ctx)
                raise jobs.JobFailed(str(message) or "FailStep reached")
            elif node.type == "Model":
                note = self._model_step(node, rec)
            rec.status = "Succeeded"
        except (jobs.JobFailed, PrivmlError) as exc:
            rec.status = "Failed"
            rec.failure_reason = str(exc)
            rec.job_seconds = getattr(exc, "job_seconds", 0.0)
        rec.seconds = round(time.perf_counter() - t0, 3)
        rec.job_seconds = round(rec.job_seconds, 3)
        self.progress.step_finished(node.name, rec.status, rec.seconds, rec.failure_reason or note)

    def _model_step(self, node: StepNode, rec: StepRecord) -> str:
        request = resolve(node.spec.get("Arguments", {}), self.ctx)
        containers = [request.get("PrimaryContainer")] if request.get("PrimaryContainer") else []
        containers += request.get("Containers") or []
        sources = []
        for c in containers:
            url = c.get("ModelDataUrl")
            if url and not staging.store_exists(self.store, url):
                raise jobs.JobFailed(f"ModelDataUrl {url} is not in the store")
            for source in c.get("AdditionalModelDataSources") or []:
                uri = (source.get("S3DataSource") or {}).get("S3Uri")
                if not uri or not staging.store_exists(self.store, uri):
                    raise jobs.JobFailed(f"AdditionalModelDataSources {source.get('ChannelName')}: {uri} is not "
                                         "in the store")
                sources.append(f"{source.get('ChannelName')}: {uri}")
        provider = next((c.get("Environment", {}).get("PRIVML_KEY_PROVIDER") for c in containers), None)
        rec.controls = {
            "network_isolation": "recorded: the model is served by the local endpoint, which makes no "
            "outbound call" if request.get("EnableNetworkIsolation") else "not requested",
            "vpc": "recorded; no local meaning" if request.get("VpcConfig") else "none requested",
            "kms_access": (f"derived-secrets object as a separate model data source ({'; '.join(sources)}); the "
                           "local endpoint of `run --local` reads only it, never a key store" if sources
                           else f"none: PRIVML_KEY_PROVIDER={provider or 'unset'}"),
        }
        name = f"{node.name}-{self.run_id}"[:63]
        self.ctx.step_properties[node.name] = {**request, "ModelName": name, "ModelArn": f"local:model/{name}"}
        return "model recorded"

    # -- jobs ---------------------------------------------------------------------------------------
    def _run_job(self, node: StepNode, rec: StepRecord) -> str:
        request = resolve(node.spec.get("Arguments", {}), self.ctx)
        controls = controls_of(node.type, request)
        key_id = resolve_output_key(self.kms, controls.output_kms_key, node.name)
        controls.applied["output_kms"] = (
            f"enforced: outputs encrypted in the local store under {controls.output_kms_key}")
        cache_cfg = node.spec.get("CacheConfig") or {}
        cache_key = self._cache_key(node, request) if cache_cfg.get("Enabled") else None
        rec.cache = "disabled" if cache_key is None else "miss"
        if cache_key is not None:
            hit = self._cache_lookup(cache_key, cache_cfg.get("ExpireAfter"))
            if hit is not None:
                rec.cache = "hit"
                rec.controls = {**hit.get("controls", {}), "cache": "hit: outputs of a previous identical run reused"}
                rec.outputs, rec.job_name = hit["outputs"], hit["job_name"]
                self._publish_properties(node, hit["properties"], hit["property_files"])
                return f"cache hit ({hit['job_name']})"
        job_name = re.sub(r"[^A-Za-z0-9-]", "-", f"{node.name}-{self.run_id}")[:63]
        # Key material as the definition says: a step naming PRIVML_KEY_PROVIDER=aws (the key-preparation
        # step) or local reads the local KMS, and only it; every other job gets none (file: its input).
        provider = str((request.get("Environment") or {}).get("PRIVML_KEY_PROVIDER") or "") or None
        if provider == "aws" and controls.network_isolation:
            raise jobs.JobFailed("PRIVML_KEY_PROVIDER=aws under network isolation: on SageMaker an isolated "
                                 "container cannot reach KMS (give it the key-preparation step's output instead)")
        reads_kms = provider in ("aws", "local")
        controls.kms_only_network = provider == "aws" and not controls.network_isolation
        base = self.scratch / node.name

        def follow_first_host(host: str) -> None:  # its log's progress lines (runner.start_host writes it)
            if host == "algo-1":
                self.progress.follow_job_log(node.name, base / host / "logs" / "stderr")

        ctx = jobs.JobContext(store=self.store, base=base, job_name=job_name, controls=controls,
                              key_store=Path(self.kms.path) if reads_kms else None, key_provider=provider,
                              on_host_started=follow_first_host)
        rec.job_name = job_name
        try:
            if node.type == "Processing":
                outcome = jobs.run_processing(ctx, request, node.spec.get("PropertyFiles") or [])
            else:
                outcome = jobs.run_training(ctx, request)
            rec.job_seconds, rec.hosts = outcome.job_seconds, outcome.hosts
            rec.controls = controls.record()
            context = {"pipeline": str(self.ctx.execution["PipelineName"]), "step": node.name}
            pub = staging.Publication(items=outcome.outputs, key_id=key_id)
            staging.publish(self.store, pub, self.scratch / f"journal-{node.name}.json", context)
            rec.outputs = pub.uris()
        except BaseException:
            rec.controls = controls.record()
            raise
        finally:
            self.progress.stop_following()  # before the wipe: the job log is read to its end first
            jobs.wipe_job(ctx)
        self._publish_properties(node, outcome.properties, outcome.property_files)
        if cache_key is not None:
            self._cache_store(cache_key, node.name, rec, outcome)
        return f"{outcome.hosts} host(s), job {outcome.job_seconds:.1f}s" + (
            f", wheels: {', '.join(outcome.wheels)}" if outcome.wheels else "")

    def _publish_properties(self, node: StepNode, properties: dict[str, Any], pfiles: Mapping[str, str]) -> None:
        self.ctx.step_properties[node.name] = properties
        for name, uri in pfiles.items():
            self.ctx.property_files[(node.name, name)] = _loader(self.store, uri)

    # -- cache --------------------------------------------------------------------------------------
    def _cache_dir(self) -> Path:
        path = self.workspace / "cache"
        path.mkdir(exist_ok=True, mode=0o700)
        return path

    def _cache_key(self, node: StepNode, request: Mapping[str, Any]) -> str:
        if node.type == "Processing":
            uris = [i["S3Input"]["S3Uri"] for i in request.get("ProcessingInputs", []) if "S3Input" in i]
        else:
            uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in request.get("InputDataConfig", [])
                    if "S3DataSource" in c.get("DataSource", {})]
        material = {
            "type": node.type,
            "arguments": request,
            "property_files": node.spec.get("PropertyFiles"),
            "inputs": [staging.fingerprint(self.store, u) for u in uris],
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()

    def _cache_lookup(self, key: str, expire_after: str | None) -> dict[str, Any] | None:
        path = self._cache_dir() / f"{key}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if expire_after:
            created = datetime.fromisoformat(entry["created"])
            if datetime.now(UTC) - created > parse_duration(expire_after):
                return None
        if not staging.all_exist(self.store, entry["outputs"]):
            return None
        return entry

    def _cache_store(self, key: str, step: str, rec: StepRecord, outcome: jobs.JobOutcome) -> None:
        entry = {"step": step, "created": datetime.now(UTC).isoformat(), "job_name": rec.job_name,
                 "outputs": rec.outputs, "properties": outcome.properties,
                 "property_files": outcome.property_files, "controls": rec.controls}
        records.write_json(self._cache_dir() / f"{key}.json", entry)


def _loader(store: Any, uri: str) -> Any:
    def load() -> Any:
        try:
            return json.loads(store.get_bytes(uri))
        except ValueError as exc:
            raise DefinitionError(f"property file {uri} is not JSON") from exc
    return load


__all__ = ["LocalExecutor", "StepRecord", "parse_duration", "recover"]
