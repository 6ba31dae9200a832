"""`privml run --local`: sample or user data → policy → definition (built offline) → audit → local
execution → the model artifact served as the serving container loads it + smoke request → run record.

Nothing here reaches the network beyond loopback: the definition is built under moto with the SDK's
telemetry off, the jobs run without network, the endpoint listens on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import json
import ssl
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.local import records
from pipelines.local.dependencies import DependencyCheck
from pipelines.local.executor import LocalExecutor
from pipelines.local.progress import Progress
from pipelines.local.serving import ServeArtifact, installed_artifact_server
from privml.errors import CheckFailed, PrivmlError
from privml.workspace import private_dir

DEFAULT_ROWS = 20_000  # the same default as `privml sample-data`
DEFAULT_SEED = 0
_SMOKE_ROWS = 3


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"privml: {text}", file=sys.stderr)


def _config(config_path: Path | None) -> Any:
    from pipelines.config import PipelineConfig

    if config_path is None:
        return PipelineConfig.local_defaults(), True
    return PipelineConfig.load(config_path), False


def _keys(kms: Any, config: Any, create: bool) -> None:
    """Local-defaults keys are created on first use (the local KMS is privml's own); a user config's
    keys must already exist in the local key store."""
    from pipelines.config import KEY_PREPARATION_PURPOSES, KEY_PURPOSES
    from pipelines.local.controls import local_key_ref

    for purpose in KEY_PURPOSES + KEY_PREPARATION_PURPOSES:
        if getattr(config.kms, purpose) is None:
            continue
        ref = local_key_ref(getattr(config.kms, purpose))
        if create and ref.startswith("alias/"):
            kms.ensure_key(ref)
        else:
            kms.resolve(ref)  # KeyUnavailable names the key


def _raw_table(data: Path | None, rows: int, seed: int) -> tuple[Any, bytes, str, str]:
    """(DataFrame, the bytes to store, file name, description) — sample data is never written to disk."""
    from privml.io import read_table

    if data is None:
        from privml.sampledata import generate

        df = generate(rows=rows, seed=seed)
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return df, buf.getvalue().encode(), "data.csv", f"sample data ({rows} rows, seed {seed})"
    if not data.is_file():
        raise PrivmlError(f"{data}: data file not found")
    df = read_table(data)
    return df, data.read_bytes(), f"data{data.suffix.lower() or '.csv'}", f"{data.name} ({len(df)} rows)"


def _policy(df: Any, policy: Path | None, run_dir: Path, quiet: bool, label: str | None = None) -> tuple[bytes, str]:
    from privml.policy import dump_policy, load_policy

    if policy is not None:
        loaded = load_policy(policy)  # validate before anything is stored
        missing = [name for name in loaded.columns if name not in df.columns]
        if missing:  # names only: column names come from the policy, not from the data's cells
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise PrivmlError(f"{policy}: the policy names column(s) the data does not have: {shown}")
        if label is None:
            _needs_label(loaded)
            return policy.read_bytes(), str(policy)
        from privml.anonymize import with_label

        with_label(loaded, df, label)  # checked here; the Label parameter carries it, the policy is stored as given
        return policy.read_bytes(), f"{policy} (label {label}: the run's Label parameter)"
    from privml.detect import propose_policy, scan_table

    proposed = propose_policy(scan_table(df, label=label))
    _needs_label(proposed)
    text = dump_policy(proposed)
    private_dir(run_dir)
    out = run_dir / "policy.yaml"
    out.write_text(text)
    _say(quiet, f"no --policy given: using the policy `privml scan` proposes; review it at {out}")
    return text.encode(), str(out)


def _needs_label(policy: Any) -> None:
    """Training needs a label: say so before any job starts, not after Anonymize has run."""
    if policy.label is None:
        raise PrivmlError("no label column: the policy names none; name it with --label COLUMN "
                          "(or give it role: label in the policy)")


def _policy_keys(kms: Any, policy_text: bytes, *, create: bool, quiet: bool) -> list[str]:
    """The keys the policy's keyed transforms use; with local defaults, aliases are created on first use."""
    import yaml

    from pipelines.local.controls import local_key_ref
    from privml.anonymize import ensure_local_keys

    refs = [local_key_ref(str(r)) for r in ((yaml.safe_load(policy_text) or {}).get("keys") or {}).values()]
    for ref in ensure_local_keys(refs, kms) if create else []:
        _say(quiet, f"created local key {ref} for the policy's keyed transforms")
    for ref in refs:
        kms.resolve(ref)  # an unknown key that was not created fails here, naming it
    return refs


def check_key_preparation(config: Any, policy_text: bytes, *, local_defaults: bool) -> Any:
    """Refuse a keyed policy without the key-preparation path before anything is stored; with local
    defaults, the HMAC key is the one the policy names. Returns the config to build the definition from."""
    from pipelines.key_preparation import refuse_keyed_policy_without_path

    references = refuse_keyed_policy_without_path(config, policy_text)
    if local_defaults and len(references) == 1:
        from pipelines.config import PipelineConfig

        return PipelineConfig.local_defaults(kms={"hmac": references[0]})
    return config


def _audit(definition: dict, config: Any, waivers: Sequence[str]) -> dict[str, Any]:
    from pipelines.audit import audit

    result = audit(definition, config=config, waivers=waivers)
    if result.blocking:
        ids = ", ".join(sorted({f.rule_id for f in result.blocking}))
        raise CheckFailed(f"the pipeline definition fails the audit ({ids}); fix it or waive with --waive ID")
    return {"findings": [f.to_dict() for f in result.findings],
            "waived": [f.to_dict() for f in result.waived]}


def _outputs(record: dict[str, Any], step: str) -> list[str]:
    return next((s["outputs"] for s in record.get("steps", []) if s["name"] == step), [])


def _artifacts(record: dict[str, Any]) -> dict[str, Any]:
    anonymize = _outputs(record, "Anonymize")

    def under(kind: str) -> str | None:
        hits = sorted(u for u in anonymize if f"/{kind}/" in u)
        return hits[0] if hits else None

    model = _outputs(record, "Train")
    evaluation = _outputs(record, "Evaluate")
    return {k: v for k, v in {
        "train": under("train"), "validation": under("validation"), "test": under("test"),
        "report": next((u for u in anonymize if u.endswith("/report.json")), None),
        "report_html": next((u for u in anonymize if u.endswith("/report.html")), None),
        "transformer": next((u for u in anonymize if u.endswith(".skops")), None),
        "model": next((u for u in model if u.endswith("model.tar.gz")), None),
        "evaluation": next((u for u in evaluation if u.endswith("evaluation.json")), None),
        "model_card": next((u for u in evaluation if u.endswith("model_card.md")), None),
        "card_html": next((u for u in evaluation if u.endswith("model_card.html")), None),
        "run_report": next((u for u in evaluation if u.endswith("/report.html")), None),
        "serving_keys": next((u for u in _outputs(record, "PrepareKeys") if "/serving/" in u), None),
    }.items() if v}


def _figures(store: Any, artifacts: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    privacy = metrics = None
    if "report" in artifacts:
        report = json.loads(store.get_bytes(artifacts["report"]))
        privacy = {"k": report.get("k"), "l": report.get("l"), "t": report.get("t"), "risk": report.get("risk"),
                   "rows_in": report.get("rows_in"), "rows_out": report.get("rows_out"),
                   "suppressed_rows": report.get("suppressed_rows"), "warnings": report.get("warnings") or []}
    if "evaluation" in artifacts:
        evaluation = json.loads(store.get_bytes(artifacts["evaluation"]))
        metrics = evaluation.get("metrics")
        if privacy is not None and evaluation.get("privacy", {}).get("epsilon_spent") is not None:
            privacy["epsilon_spent"] = evaluation["privacy"]["epsilon_spent"]
    return privacy, metrics


def _dp_spend(store: Any, artifacts: dict[str, Any], data_sha256: str) -> dict[str, Any]:
    """ε this run spent on its input data (None: no DP model was trained), from the model's metadata:
    a model that failed a gate still spent its ε. `runs list` adds it up over runs on the same data."""
    import tarfile

    spent = parts = None
    if "model" in artifacts:
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(artifacts["model"])), mode="r:gz") as archive:
            member = archive.extractfile("metadata.json")
            metadata = json.loads(member.read()) if member is not None else {}
        spent, parts = metadata.get("epsilon_spent"), metadata.get("epsilon_parts")
    return {"data_sha256": data_sha256, "epsilon_spent": spent, "epsilon_parts": parts}


def _endpoint(model_uri: str, workspace: Path, df: Any, policy_text: bytes, store: Any,
              serving_keys: str | None = None, label: str | None = None,
              serve_artifact: ServeArtifact | None = None) -> dict[str, Any]:
    """Serve the model artifact the way the serving container does and send it a smoke request of a few
    raw rows (the model's PrivacyTransformer anonymizes them before the model sees them).

    Key material as the AWS endpoint gets it: only the serving derived-secrets object (the model's
    additional data source), decrypted in memory from the local store; never the local key store."""
    import yaml

    from privml.crypto.key_file import FileKeyProvider
    from privml.crypto.providers import NoKeys

    label = label or next((name for name, col in (yaml.safe_load(policy_text) or {}).get("columns", {}).items()
                           if (col or {}).get("role") == "label"), None)
    rows = df.head(_SMOKE_ROWS).drop(columns=[label] if label in df.columns else [])
    provider = (FileKeyProvider.from_bytes(store.get_bytes(serving_keys), serving_keys)
                if serving_keys else NoKeys("the run has no key-preparation output"))
    result = smoke_request(store.get_bytes(model_uri), workspace, rows.to_csv(index=False).encode(), len(rows),
                           key_provider=provider, serve_artifact=serve_artifact)
    result["kms_access"] = (f"derived-secrets object {serving_keys} only (the model's additional data source); "
                            "no key store" if serving_keys else "none: no key material")
    return result


def smoke_request(archive: bytes, workspace: Path, body: bytes, rows: int, *,
                  key_provider: Any = None, serve_artifact: ServeArtifact | None = None) -> dict[str, Any]:
    """model.tar.gz served the way the serving container serves it (`serve_artifact`, by default the
    installed one: pipelines/local/serving.py), with the environment the pipeline gives the model, on
    https loopback; one CSV request sent."""
    from pipelines.definition import SERVING_ENV

    serve = serve_artifact or installed_artifact_server()
    with serve(archive, SERVING_ENV, workspace=workspace, key_provider=key_provider) as served:
        context = ssl.create_default_context(cafile=str(served.ca_bundle))
        if not served.url.startswith("https://127.0.0.1:"):
            raise PrivmlError(f"the serving container is not on https loopback: {served.url}")
        request = urllib.request.Request(f"{served.url}/invocations", data=body, method="POST",  # noqa: S310
                                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as resp:  # noqa: S310 - https, loopback
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, b""
        smoke = {"status": status, "rows": rows, "seconds": round(time.perf_counter() - t0, 3),
                 "predictions": len(json.loads(payload).get("predictions", [])) if status == 200 and payload
                 and payload.startswith(b"{") else None}
    return {"url": served.url, "ca_bundle": str(served.ca_bundle), "smoke_request": smoke,
            "serving": {"program": SERVING_ENV["SAGEMAKER_PROGRAM"],
                        "loaded": "as the serving container does: unpacked artifact, code/ copied, offline "
                                  "requirements checked, program imported by name from the copy"},
            "status": "stopped after the smoke request; `privml serve MODEL` serves it again"}


def run_local(
    *,
    data: Path | None = None,
    policy: Path | None = None,
    config_path: Path | None = None,
    waivers: Sequence[str] = (),
    workspace: Path | None = None,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    quiet: bool = False,
    endpoint: bool = True,
    parameters: dict[str, str] | None = None,
    label: str | None = None,
    serve_artifact: ServeArtifact | None = None,  # how the model is served; default: the installed one
) -> dict[str, Any]:
    from pipelines.audit import validate_waivers
    from pipelines.definition import build_definition
    from privml.crypto.local_kms import LocalKms
    from privml.crypto.objectstore import LocalObjectStore
    from privml.workspace import workspace_dir

    wall = time.perf_counter()
    waivers = validate_waivers(waivers)
    kind_given = (parameters or {}).get("ModelKind")
    parameters = _checked_model_parameters(dict(parameters or {}), quiet)
    label = _label_parameter(label, parameters)
    for path, what in ((data, "data"), (policy, "policy"), (config_path, "config")):
        if path is not None and not Path(path).is_file():
            raise PrivmlError(f"{path}: {what} file not found")
    ws = workspace_dir(workspace)
    config, local_defaults = _config(config_path)
    if config.anonymize.engine == "spark":  # before any job: one line saying what to install, exit 2
        from privml.spark.session import require_spark

        require_spark()
    kms = LocalKms.open(ws)
    _keys(kms, config, create=local_defaults)
    store = LocalObjectStore(ws / "objects", kms)
    store.set_bucket_key(config.bucket, config.kms.data)
    run_id = records.new_run_id()
    run_dir = records.run_dir(ws, run_id)

    df, raw, raw_name, described = _raw_table(data, rows, seed)
    data_sha256 = hashlib.sha256(raw).hexdigest()  # which runs trained on the same data: ε adds up across them
    policy_text, policy_source = _policy(df, policy, run_dir, quiet, label)
    if label:
        parameters["Label"] = label
    task = _checked_task(df, policy_text, label, parameters, kind_given, quiet)
    from pipelines.dp_preflight import check_dp_policy_text

    check_dp_policy_text(policy_text, source=policy_source, parameters=parameters,
                         default_model=config.privacy.model, default_epsilon=config.privacy.dp_epsilon)
    config = check_key_preparation(config, policy_text, local_defaults=local_defaults)
    _policy_keys(kms, policy_text, create=local_defaults, quiet=quiet)
    base = f"s3://{config.bucket}/{config.prefix}/runs/{run_id}/input"
    data_key = config.kms.data
    store.put_bytes(f"{base}/data/{raw_name}", raw, key_id=data_key)
    store.put_bytes(f"{base}/policy/policy.yaml", policy_text, key_id=data_key)
    del raw

    # Each step's image profile, proved while the definition builds; refused before any job starts.
    dependency_check = DependencyCheck(config)
    _say(quiet, "building the pipeline definition (offline) …")
    t0 = time.perf_counter()
    definition = build_definition(config, local_store=store)
    build_seconds = time.perf_counter() - t0
    image_checks = dependency_check.result(definition)
    for profile in dependency_check.unchecked():
        _say(quiet, f"dependencies UNCHECKED for image profile {profile}: no wheelhouse is configured and pip "
                    "could not reach the package index (the run record says so)")
    from pipelines.audit.resources import check_run_parameters

    check_run_parameters(definition, parameters)  # the same refusals as run --aws, before any job starts
    audit_result = _audit(definition, config, waivers)
    # The exact definition this run executed (the one `privml run --aws` would upsert): re-auditable with
    # `privml audit`. It holds URIs, key aliases and settings, no data and no secrets (the audit checks).
    private_dir(run_dir)  # not yet there when --policy was given
    records.write_json(run_dir / "definition.json", definition)

    progress = Progress(_count_steps(definition), enabled=not quiet)
    executor = LocalExecutor(
        definition, store=store, kms=kms, workspace=ws, run_id=run_id, pipeline_name=config.pipeline_name,
        parameters={**(parameters or {}), "InputDataUri": f"{base}/data/", "PolicyUri": f"{base}/policy/policy.yaml"},
        progress=progress,
        record_extra={"data": described, "policy": policy_source, "audit": audit_result,
                      "image_checks": image_checks,
                      "waivers": list(waivers), "build_seconds": round(build_seconds, 3)},
    )
    record = executor.run()
    record["task"] = task
    epsilon = (record.get("parameters") or {}).get("DpEpsilon")
    if isinstance(epsilon, str):  # a String parameter (hyperparameters are strings); the record keeps the number
        record["parameters"]["DpEpsilon"] = float(epsilon)
    record["artifacts"] = _artifacts(record)
    record["privacy"], record["metrics"] = _figures(store, record["artifacts"])
    record["dp"] = _dp_spend(store, record["artifacts"], data_sha256)
    if endpoint and record["status"] == "Succeeded" and "model" in record["artifacts"]:
        _say(quiet, "serving the model artifact as the serving container loads it, for a smoke request …")
        try:
            record["endpoint"] = _endpoint(record["artifacts"]["model"], ws, df, policy_text, store,
                                           record["artifacts"].get("serving_keys"), label, serve_artifact)
        except PrivmlError as exc:  # what the serving container would fail on: the run does not pass
            record["endpoint"] = {"status": f"not served: {exc}"}
        smoke = record["endpoint"].get("smoke_request") or {}
        if smoke.get("status") != 200:
            record["status"] = "Failed"
            record["failure_reason"] = (f"serving: {record['endpoint']['status']}" if not smoke else
                                        f"serving: the smoke request got HTTP {smoke.get('status')}")
    elif endpoint:
        record["endpoint"] = {"status": "not started: the execution produced no model"}
    record["timing"]["wall_seconds"] = round(time.perf_counter() - wall, 3)
    records.write_record(ws, record)
    return record


def _checked_model_parameters(parameters: dict[str, str], quiet: bool) -> dict[str, str]:
    """Refuse contradictory model parameters before anything runs (not minutes later in Train), and let
    `--param DpEpsilon=E` alone choose the differentially private default model."""
    from privml.models.estimators import resolve_kind

    try:
        epsilon = float(parameters.get("DpEpsilon", "0"))
    except ValueError:
        raise PrivmlError("--param DpEpsilon: must be a number >= 0 (0 = no differential privacy)") from None
    kind = resolve_kind(parameters.get("ModelKind"), epsilon)
    if "ModelKind" not in parameters and epsilon > 0:
        parameters["ModelKind"] = kind
        _say(quiet, f"DpEpsilon={epsilon:g} without ModelKind: training the differentially private '{kind}'")
    return parameters


def _checked_task(df: Any, policy_text: bytes, label: str | None, parameters: dict[str, str],
                  kind_given: str | None, quiet: bool) -> dict[str, Any]:
    """The task Train will choose (privml.models.tasks), evaluated on the raw label before any job starts:
    `--task regression` with a non-numeric label, a constant label, a model kind that cannot learn the
    task, or dp_linreg without the label's declared bounds is refused here (exit 2), not in Train.
    Train decides again on its train split (the same rule) and records the decision in metadata.json."""
    import yaml

    from privml.models.estimators import resolve_kind
    from privml.models.tasks import check_task_name, choose_task
    from privml.policy import parse_policy

    parsed = parse_policy(yaml.safe_load(policy_text), source="the run's policy")
    name = label or parsed.label
    requested = check_task_name(parameters.get("Task"))
    if name is None or name not in df.columns:
        return {"requested": requested, "task": None, "reason": "no label column to check"}
    choice = choose_task(requested, df[name], name)
    epsilon = float(parameters.get("DpEpsilon", "0") or "0")
    auto = kind_given is None and parameters.get("ModelKind") is not None  # the DP default, chosen above
    kind = resolve_kind(None if auto else parameters.get("ModelKind"), epsilon, choice.task)
    if auto and kind != parameters["ModelKind"]:
        parameters["ModelKind"] = kind
        _say(quiet, f"the label is a {choice.task} target: training the differentially private '{kind}'")
    spec = parsed.columns.get(name)
    if kind == "dp_linreg" and (spec is None or spec.bounds is None):
        raise PrivmlError(f"model dp_linreg needs declared bounds for the label '{name}' (`bounds: [min, max]` "
                          "on it in the policy): learning them from the data would leak")
    _say(quiet, choice.line())
    return {"requested": requested, "task": choice.task, "reason": choice.reason}


def _label_parameter(label: str | None, parameters: dict[str, str]) -> str | None:
    """The run's label: `--label COL` or `--param Label=COL` (the same pipeline parameter), not both apart."""
    given = parameters.pop("Label", None) or None
    if label and given and label != given:
        raise PrivmlError(f"--label {label} and --param Label={given}: name the label once")
    return label or given


def _count_steps(definition: dict) -> int:
    from pipelines.local.graph import build_graph

    return len(build_graph(definition))
