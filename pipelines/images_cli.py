"""`privml image` (image profiles; the privml image's build and push commands) and `privml wheelhouse`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from privml.cli.output import add_json_flag, emit_json


def register(subparsers: Any) -> None:
    image = subparsers.add_parser(
        "image", help="the privml image's build and push commands for your account; --list: the image profiles")
    image.add_argument("--config", type=Path, help="pipeline config YAML (account and region; default: placeholders)")
    image.add_argument("--tag", help="image tag (default: privml's version)")
    image.add_argument("--list", action="store_true", help="list the image profiles and whether privml runs on each")
    add_json_flag(image)
    image.set_defaults(func=_image)

    wheelhouse = subparsers.add_parser(
        "wheelhouse", help="download the jobs' dependencies for an image profile and prove they resolve offline")
    wheelhouse.add_argument("--profile", required=True, help="image profile (`privml image --list`)")
    wheelhouse.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="wheelhouse directory")
    wheelhouse.add_argument("--check", action="store_true",
                            help="only prove that DIR resolves offline for the profile (no download)")
    add_json_flag(wheelhouse)
    wheelhouse.set_defaults(func=_wheelhouse)


def _image(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args)
    from pipelines.config import PipelineConfig
    from pipelines.images.dockerimage import plan

    config = PipelineConfig.load(args.config) if args.config else None
    image_plan = plan(config, tag=args.tag)
    if args.json:
        emit_json(image_plan.to_dict())
        return 0
    where = "" if config else " (no --config: fill in <ACCOUNT_ID> and <REGION>)"
    print(f"# The privml image {image_plan.uri}{where}. From the repository root:")
    for command in image_plan.commands:
        print(command)
    print("\n# Then, in the pipeline config:")
    print(image_plan.config_entry)
    return 0


def _list(args: argparse.Namespace) -> int:
    from pipelines.config import DEFAULT_IMAGE_PROFILE
    from pipelines.images import all_profiles
    from pipelines.packaging import read_project

    requires_python = read_project().requires_python
    rows = []
    for name, profile in sorted(all_profiles().items()):
        refusal = profile.refusal(requires_python)
        rows.append({"profile": name, "python": profile.python_version, "abi": profile.abi,
                     "platform": profile.platforms[0], "holds_privml": profile.holds_privml,
                     "usable": refusal is None, "refused": refusal, "default": name == DEFAULT_IMAGE_PROFILE,
                     "description": profile.description})
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        state = "refused: " + str(row["refused"]) if row["refused"] else ("default" if row["default"] else "usable")
        print(f"{row['profile']:<22} Python {row['python']:<5} {row['platform']:<26} {state}")
    return 0


def _wheelhouse(args: argparse.Namespace) -> int:
    from pipelines.images import get_profile
    from pipelines.packaging import read_project
    from pipelines.wheelhouse import build_wheelhouse, check_wheelhouse
    from privml.errors import PrivmlError

    profile = get_profile(args.profile, field_name="--profile")
    reason = profile.refusal(read_project().requires_python)
    if reason:
        raise PrivmlError(f"--profile: {reason}")
    if profile.holds_privml and profile.kind != "privml":
        raise PrivmlError(f"--profile: the image of {profile.name} holds privml; it needs no wheelhouse")
    if args.check:
        result = {"profile": profile.name, "wheelhouse": str(args.output),
                  "resolution": check_wheelhouse(profile, args.output, field_name="-o").to_dict()}
    else:
        result = build_wheelhouse(profile, args.output)
    if args.json:
        emit_json(result)
        return 0
    resolution = result["resolution"]
    print(f"{args.output}: {resolution['detail']} for image profile {profile.name} "
          f"(Python {profile.python_version}, {profile.abi}, {profile.platforms[0]})")
    for name, change in sorted(resolution["replaces"].items()):
        print(f"  the job install replaces the image's {name} {change}")
    print(f"set code.wheelhouse: {args.output} in the pipeline config")
    return 0
