"""`privml deploy --aws`: the audited CreateModel → CreateEndpointConfig → CreateEndpoint (pipelines/deploy.py).

Deployment is orchestration (the pipeline config, its image profiles, the audit, the key-preparation
outputs), so its command lives here beside `run --aws`; the serving code (inference/) knows none of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("deploy", help="deploy a trained model to a SageMaker endpoint (audited first)")
    p.add_argument("--aws", action="store_true", required=True, help="deploy to AWS (the only target)")
    p.add_argument("--config", type=Path, required=True, help="the pipeline config (YAML)")
    p.add_argument("--model-data", required=True, help="s3:// URI of model.tar.gz")
    p.add_argument("--keys-data", help="s3:// URI of the run's PrepareKeys serving/derived-secrets.json (the "
                   "model's separate data source; needed when keyed columns are features)")
    p.add_argument("--endpoint-name", help="default: the config's pipeline_name")
    p.add_argument("--image-profile", metavar="PROFILE",
                   help="serve with this image profile instead of the config's images.inference "
                        "(`privml image --list`)")
    p.add_argument("--image", metavar="URI",
                   help="an explicit serving image URI; needs --image-profile naming the profile it is an image of")
    p.add_argument("--waive", action="append", default=[], metavar="RULE", help="waive an audit rule id")
    p.add_argument("--dry-run", action="store_true", help="print the audited requests, send nothing")
    add_json_flag(p)
    p.set_defaults(func=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from pipelines.audit import validate_waivers
    from pipelines.config import PipelineConfig
    from pipelines.deploy import audit_plan, deploy_aws, plan_deployment

    config = _with_serving_image(PipelineConfig.load(args.config), args.image_profile, args.image)
    waivers = validate_waivers(args.waive)
    if args.dry_run:
        plan = audit_plan(plan_deployment(config, args.model_data, endpoint_name=args.endpoint_name,
                                          keys_data_url=args.keys_data), config, waivers)
        emit_json({"CreateModel": plan.model, "CreateEndpointConfig": plan.endpoint_config,
                   "CreateEndpoint": plan.endpoint, "warnings": [f.to_dict() for f in plan.findings]})
        return 0
    result = deploy_aws(config, args.model_data, endpoint_name=args.endpoint_name,
                        waivers=waivers, keys_data_url=args.keys_data)
    if args.json:
        emit_json(result)
    else:
        print(f"endpoint {result['endpoint_name']} {result['action']}: {result['endpoint_arn']}")
    return 0


def _with_serving_image(config: Any, profile: str | None, uri: str | None) -> Any:
    """The config with `--image-profile P [--image URI]` as its images.inference: the same choice the
    config makes, so the profile's Python check and the deploy plan's image come from one place."""
    from pipelines.config import ImageChoice
    from pipelines.images import require_usable

    if profile is None:
        if uri is not None:
            raise PrivmlError("--image: an explicit image URI must name its image profile (--image-profile P; "
                              "`privml image --list` shows the profiles)")
        return config
    try:
        choice = ImageChoice(profile=profile, uri=uri)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ") if hasattr(exc, "errors") else str(exc)
        raise PrivmlError(f"--image-profile: {reason}") from None
    chosen = config.model_copy(update={"images": config.images.model_copy(update={"inference": choice})})
    try:
        require_usable(chosen, ("inference",))
    except PrivmlError as exc:
        raise PrivmlError(str(exc).replace("images.inference:", "--image-profile:", 1)) from None
    return chosen
