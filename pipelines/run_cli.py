"""`privml run --local|--aws` and `privml runs list|show RUN_ID`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from privml.cli.numbers import percent
from privml.cli.objects import add_output_arguments
from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run the whole pipeline: locally (no AWS, no Docker) or on SageMaker")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="execute the definition on this machine")
    where.add_argument("--aws", action="store_true", help="upsert the pipeline and start an execution")
    run.add_argument("--data", type=Path, help="CSV/Parquet with personal data (default: generated sample data)")
    run.add_argument("--policy", type=Path, help="privacy policy YAML (default with --data: the scanned one)")
    run.add_argument("--config", type=Path, help="pipeline config YAML (default for --local: local defaults)")
    run.add_argument("--rows", type=int, default=None, help="rows of sample data when no --data (default 20000)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a pipeline parameter (K, QualityThreshold, ModelKind, ProcessingInstanceType …)")
    run.add_argument("--label", help="the label column (the pipeline's Label parameter; default: the policy's): "
                                      "--local checks it before anything is stored, --aws in Anonymize before "
                                      "it writes anything")
    run.add_argument("--task", help="binary, multiclass or regression (the pipeline's Task parameter; default: "
                                     "chosen from the label: numeric with more than 20 distinct values is "
                                     "regression); --local checks it against the data before any job starts")
    run.add_argument("--no-endpoint", action="store_true", help="--local: skip the endpoint smoke request")
    run.add_argument("--waive", action="append", default=[], metavar="RULE_ID",
                     help="start despite this audit rule's findings (recorded in the run record)")
    add_json_flag(run)
    run.set_defaults(func=_run)

    runs = subparsers.add_parser("runs", help="the run records of local executions")
    sub = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", help="list runs: id, status, time, steps")
    add_json_flag(ls)
    ls.set_defaults(func=_list, needs_workspace="records")
    show = sub.add_parser("show", help="one run record: steps, timings, controls, artifacts")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id, or `latest`")
    add_json_flag(show)
    show.set_defaults(func=_show, needs_workspace="records")
    opener = sub.add_parser("open", help="decrypt one artifact of a run (report, report_html, card, model, train, "
                            "...) to a file or stdout")
    opener.add_argument("run_id", metavar="RUN_ID", help="a run id, or `latest`")
    opener.add_argument("artifact", metavar="ARTIFACT", nargs="?", help="omit to list the run's artifacts")
    add_output_arguments(opener)
    add_json_flag(opener)
    opener.set_defaults(func=_open, needs_workspace="keys")
    runs.set_defaults(func=lambda _a: _usage(runs))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    if args.aws:
        if args.config is None:
            raise PrivmlError("run --aws needs --config C.yaml (region, role, bucket, keys)")
        if args.data or args.policy:
            raise PrivmlError("run --aws reads data and policy from the config's S3 locations; "
                              "--data/--policy are for --local")
        from pipelines.aws import run_on_aws
        from pipelines.config import PipelineConfig

        record = run_on_aws(PipelineConfig.load(args.config), waivers=args.waive,
                            parameters=_with_task(_with_label(_params(args.param), args.label), args.task))
        if args.json:
            emit_json(record)
        else:
            print(f"started {record.get('execution_arn') or record}")
        return 0
    if args.rows is not None and args.data is not None:
        raise PrivmlError("--rows applies to generated sample data; it cannot be used with --data")
    if args.rows is not None and args.rows < 50:
        raise PrivmlError("--rows must be at least 50")
    from pipelines.local.run_local import DEFAULT_ROWS, run_local

    params = _with_task(_params(args.param), args.task)
    record = run_local(data=args.data, policy=args.policy, config_path=args.config, waivers=args.waive,
                       rows=args.rows or DEFAULT_ROWS, endpoint=not args.no_endpoint, parameters=params,
                       label=args.label)
    if args.json:
        emit_json(record)
    else:
        print(summary(record))
    return 0 if record["status"] == "Succeeded" else 1


def _params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise PrivmlError(f"--param {item!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def _with_label(params: dict[str, str], label: str | None) -> dict[str, str]:
    """`--label COL` is the pipeline's Label parameter: the data is in S3, so the Anonymize job checks the
    column (present, not constant, not an identifier) before it writes anything."""
    if label is None:
        return params
    if not label.strip():
        raise PrivmlError("--label: give a column name")
    if params.get("Label", label) != label:
        raise PrivmlError(f"--label {label} and --param Label={params['Label']}: name the label once")
    return {**params, "Label": label}


def _with_task(params: dict[str, str], task: str | None) -> dict[str, str]:
    """`--task T` is the pipeline's Task parameter; an unknown task is refused here, before anything runs."""
    from privml.models.tasks import check_task_name

    given = params.get("Task")
    if given is not None:
        check_task_name(given)
    if task is None:
        return params
    name = check_task_name(task)
    if name is None:
        raise PrivmlError("--task: give binary, multiclass or regression (omit it to choose from the label)")
    if given not in (None, "") and check_task_name(given) != name:
        raise PrivmlError(f"--task {task} and --param Task={given}: name the task once")
    return {**params, "Task": name}


def _fmt(value: Any) -> str:
    from privml.cli.numbers import sig3

    return sig3(value) if isinstance(value, float) else str(value)


def summary(record: dict[str, Any]) -> str:
    from privml.report.verdicts import warning_lines

    lines = [f"run {record['run_id']}: {record['status']}"]
    if record.get("failure_reason"):
        lines.append(f"  failed: {record['failure_reason']}")
    for step in record.get("steps", []):
        extra = f" (cache {step['cache']})" if step.get("cache") == "hit" else ""
        lines.append(f"  {step['name']:<12} {step['status']:<10} {step['seconds']:>6.1f}s{extra}")
    image_checks = (record.get("image_checks") or {}).values()
    for profile, how, detail in sorted({(c.get("profile"), c.get("checked"), c.get("detail")) for c in image_checks},
                                       key=str):
        flag = " — UNCHECKED" if how == "unchecked" else ""
        lines.append(f"  dependencies: image profile {profile}: {detail}{flag}")
    task = record.get("task") or {}
    if task.get("task"):
        lines.append(f"  task: {task['task']} ({task.get('reason')})")
    privacy = record.get("privacy") or {}
    if privacy:
        risk = privacy.get("risk") or {}
        lines.append(f"  privacy: k={privacy.get('k')} l={_fmt(privacy.get('l'))} t={_fmt(privacy.get('t'))} "
                     f"prosecutor risk max={percent(risk.get('prosecutor_max'))}")
        lines += warning_lines(privacy.get("warnings") or [], indent="    ")
    dp = record.get("dp") or {}
    if dp.get("epsilon_spent") is not None:
        parts = dp.get("epsilon_parts") or {}
        lines.append(f"  differential privacy: ε {_fmt(float(dp['epsilon_spent']))} spent"
                     + (" (" + ", ".join(f"{k} {_fmt(float(v))}" for k, v in parts.items()) + ")" if parts else "")
                     + "; `privml runs list` adds up ε over runs on the same data")
    metrics = record.get("metrics") or {}
    if metrics:
        lines.append("  model: " + " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))
    for name, uri in (record.get("artifacts") or {}).items():
        lines.append(f"  {name:<12} {uri}")
    endpoint = record.get("endpoint") or {}
    if endpoint.get("url"):
        smoke = endpoint.get("smoke_request") or {}
        lines.append(f"  endpoint: {endpoint['url']} (CA {endpoint['ca_bundle']}); smoke request → HTTP "
                     f"{smoke.get('status')}; {endpoint.get('status')}")
    elif endpoint:
        lines.append(f"  endpoint: {endpoint.get('status')}")
    timing = record.get("timing") or {}
    if timing:
        lines.append(f"  time: {timing.get('wall_seconds', timing.get('total_seconds'))}s total, "
                     f"executor overhead {timing.get('executor_overhead_seconds')}s")
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    from pipelines.local.records import epsilon_on_data, list_records
    from privml.workspace import workspace_dir

    records = list_records(workspace_dir())
    totals = epsilon_on_data(records)
    rows = [{"run_id": r.get("run_id"), "status": r.get("status"), "started_at": r.get("started_at"),
             "steps": len(r.get("steps", [])), "failure_reason": r.get("failure_reason"),
             "epsilon": (r.get("dp") or {}).get("epsilon_spent"),
             "epsilon_total_on_data": totals.get(str(r.get("run_id")))}
            for r in records]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("no runs yet (privml run --local)")
    else:  # ε: this run's / all runs' so far on the same input data (a retrain spends the budget again)
        print(f"{'run':<22}  {'status':<10} {'started':<32} {'steps':<8} ε run/data")
    for r in rows:
        spent = (f"{_fmt(float(r['epsilon']))}/{_fmt(float(r['epsilon_total_on_data']))}"
                 if r["epsilon"] is not None and r["epsilon_total_on_data"] is not None else "-")
        print(f"{r['run_id']}  {r['status']:<10} {r['started_at'] or '':<32} {str(r['steps']) + ' steps':<8} "
              f"{spent}" + (f"  — {r['failure_reason']}" if r["failure_reason"] else ""))
    return 0


def _record(run_id: str) -> dict[str, Any]:
    """A run record by id, or the newest with `latest`."""
    from pipelines.local.records import list_records, read_record
    from privml.workspace import workspace_dir

    if run_id == "latest":
        records = list_records(workspace_dir())
        if not records:
            raise PrivmlError("no runs yet (privml run --local)")
        return records[-1]
    return read_record(workspace_dir(), run_id)


def _show(args: argparse.Namespace) -> int:
    record = _record(args.run_id)
    if args.json:
        emit_json(record)
        return 0
    print(summary(record))
    for step in record.get("steps", []):
        for name, how in (step.get("controls") or {}).items():
            print(f"  {step['name']}.{name}: {how}")
    return 0


def _open(args: argparse.Namespace) -> int:
    from privml.cli.objects import artifact_uri, report, write_object

    record = _record(args.run_id)
    if args.artifact is None:
        artifacts = record.get("artifacts") or {}
        if args.json:
            emit_json(artifacts)
            return 0
        for name, uri in artifacts.items():
            print(f"{name:<12} {uri}")
        return 0
    report(args, write_object(artifact_uri(record, args.artifact), args.output, force=args.force))
    return 0
