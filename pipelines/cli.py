"""`privml pipeline definition|endpoint-config`, `privml audit`, `privml iam-policy`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError


def register(subparsers: Any) -> None:
    pipeline = subparsers.add_parser("pipeline", help="the SageMaker pipeline definition")
    sub = pipeline.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND")
    definition = sub.add_parser("definition", help="print the pipeline definition JSON (no AWS needed)")
    definition.add_argument("--config", type=Path, help="pipeline config YAML (default: local-mode defaults)")
    definition.add_argument("-o", "--output", type=Path, help="write the JSON to this file instead of stdout")
    definition.set_defaults(func=_definition)
    endpoint = sub.add_parser("endpoint-config", help="print the CreateEndpointConfig request for a model")
    endpoint.add_argument("--config", type=Path, help="pipeline config YAML (default: local-mode defaults)")
    endpoint.add_argument("--model-name", help="model name (default: <pipeline_name>-model)")
    endpoint.set_defaults(func=_endpoint_config)
    pipeline.set_defaults(func=lambda _args: _usage(pipeline))

    audit = subparsers.add_parser("audit", help="check a pipeline definition for privml's security controls")
    audit.add_argument("definition", type=Path, metavar="DEFINITION.json")
    audit.add_argument("--config", type=Path, help="pipeline config YAML (enables the bucket rule)")
    audit.add_argument(
        "--endpoint-config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a CreateEndpointConfig request / DescribeEndpointConfig response (JSON) to audit too",
    )
    audit.add_argument("--waive", action="append", default=[], metavar="RULE_ID", help="waive a rule by id")
    add_json_flag(audit)
    audit.set_defaults(func=_audit)

    iam = subparsers.add_parser(
        "iam-policy", help="least-privilege role, trust, operator, KMS key and bucket policies (JSON)")
    iam.add_argument("--config", type=Path, help="pipeline config YAML (required: the documents name your keys)")
    iam.add_argument("--role", metavar="ROLE",
                     help="only this role's policy and trust policy: execution, operator, or a step role "
                          "such as prepare-keys")
    iam.add_argument("-o", "--output-dir", type=Path, metavar="DIR", help="write one JSON file per document")
    iam.add_argument("--operator-arn", metavar="ARN",
                     help="the operator's user or role ARN, named in the key policies (default: the account, so "
                          "that the operator's IAM policy decides)")
    iam.add_argument("--endpoint-name", help="the endpoint deploy --aws creates (default: the pipeline name)")
    iam.set_defaults(func=_iam_policy)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _config(path: Path | None) -> Any:
    from pipelines.config import PipelineConfig

    return PipelineConfig.load(path) if path else PipelineConfig.local_defaults()


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrivmlError(f"{path}: no such {what} file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PrivmlError(f"{path}: not valid JSON ({type(exc).__name__})") from None


def _definition(args: argparse.Namespace) -> int:
    from pipelines.definition import build_definition

    config = _config(args.config)  # a bad config is refused before the slow part, in one line
    # The SDK's import and offline build take several seconds: say so at once, on stderr (stdout is the JSON).
    print("privml: building the pipeline definition with the SageMaker SDK (offline, no AWS call; takes a few "
          "seconds)...", file=sys.stderr, flush=True)
    definition = build_definition(config)
    if args.output:
        import json

        from privml.io import atomic_write_text

        atomic_write_text(args.output, json.dumps(definition, indent=2) + "\n", mode=0o644)
        print(f"wrote {args.output}")
    else:
        emit_json(definition)
    return 0


def _endpoint_config(args: argparse.Namespace) -> int:
    from pipelines.definition import endpoint_config_request

    config = _config(args.config)
    emit_json(endpoint_config_request(config, args.model_name or f"{config.pipeline_name}-model"))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from pipelines.audit import audit

    definition = _read_json(args.definition, "definition")
    endpoint_configs = [_read_json(path, "endpoint config") for path in args.endpoint_config]
    for path, document in zip(args.endpoint_config, endpoint_configs, strict=True):
        if not isinstance(document, dict):
            raise PrivmlError(f"{path}: expected a JSON object")
    config = _config(args.config) if args.config else None
    result = audit(definition, config=config, endpoint_configs=endpoint_configs, waivers=args.waive)
    if args.json:
        emit_json(
            {
                "passed": not result.blocking,
                "findings": [f.to_dict() for f in result.findings],
                "waived": [f.to_dict() for f in result.waived],
            }
        )
    else:
        for f in result.findings:
            print(f"{f.rule_id} [{f.severity}] {f.location}: {f.message}\n    fix: {f.fix}")
            if f.counterparts:
                print("    see also: " + "; ".join(f"{k} {v}" for k, v in f.counterparts.items()))
        for f in result.waived:
            print(f"{f.rule_id} waived: {f.location}: {f.message}")
        blocking = len(result.blocking)
        print(
            f"audit: {'FAILED' if blocking else 'passed'} ({blocking} finding(s), "
            f"{len(result.findings) - blocking} warning(s), {len(result.waived)} waived)"
        )
    return 1 if result.blocking else 0


def _iam_policy(args: argparse.Namespace) -> int:
    from pipelines.definition import build_definition_with_artifacts
    from pipelines.iam import OPERATOR, iam_documents, write_documents

    if args.config is None:
        raise PrivmlError(
            "iam-policy: --config CONFIG.yaml is required (the documents name your role, bucket and keys)"
        )
    if args.operator_arn is not None and not re.fullmatch(r"arn:aws[a-z-]*:(iam::\d{12}:(role|user)/\S+|sts::\d{12}:"
                                                           r"assumed-role/\S+)", args.operator_arn):
        raise PrivmlError("--operator-arn: not an IAM role or user ARN")
    config = _config(args.config)
    definition, artifacts = build_definition_with_artifacts(config)
    documents = iam_documents(config, definition, operator_arn=args.operator_arn, endpoint_name=args.endpoint_name,
                              uploads={uri: a.kms_key_id for uri, a in artifacts.objects.items()})
    if args.role is not None:
        known = [*documents["roles"], OPERATOR]
        if args.role not in known:
            raise PrivmlError(f"--role {args.role}: not a role of this pipeline (its roles: {', '.join(known)})")
        role = documents[OPERATOR] if args.role == OPERATOR else documents["roles"][args.role]
        documents = {"roles": {}, OPERATOR: role} if args.role == OPERATOR else {"roles": {args.role: role}}
    if args.output_dir is not None:
        for path in write_documents(documents, args.output_dir):
            print(f"wrote {path}")
    else:
        emit_json(documents)
    return 0
