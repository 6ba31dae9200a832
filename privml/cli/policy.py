"""`privml policy schema` (JSON Schema of a policy file) and `privml policy reference` (docs/policy.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from privml.errors import CheckFailed


def register(sub: Any) -> None:
    policy = sub.add_parser("policy", help="the policy format: JSON Schema and its reference")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    policy.set_defaults(func=lambda args: _usage(policy))

    p = psub.add_parser("schema", help="print the JSON Schema of a policy file (every field, described)")
    p.add_argument("-o", "--output", help="write it to this file instead of stdout")
    p.set_defaults(func=cmd_schema)

    p = psub.add_parser("reference", help="print the policy reference (Markdown, as docs/policy.md)")
    p.add_argument("-o", "--output", help="write it to this file instead of stdout")
    p.add_argument("--check", action="store_true", help="with -o: exit 1 if the file differs from the model")
    p.set_defaults(func=cmd_reference)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _write(text: str, output: str | None, check: bool = False) -> int:
    from pathlib import Path

    from privml.io import atomic_write_text

    if output is None:
        sys.stdout.write(text)
        return 0
    if check:
        current = Path(output).read_text(encoding="utf-8") if Path(output).is_file() else None
        if current != text:
            raise CheckFailed(f"{output} differs from the policy model; regenerate it with "
                              f"`privml policy reference -o {output}`")
        print(f"{output} matches the policy model")
        return 0
    atomic_write_text(output, text, mode=0o644)
    print(f"wrote {output}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from privml.policy.schema import policy_json_schema

    return _write(json.dumps(policy_json_schema(), indent=2) + "\n", args.output)


def cmd_reference(args: argparse.Namespace) -> int:
    from privml.policy.schema import policy_reference

    if args.check and not args.output:
        raise CheckFailed("--check compares a file: give it with -o FILE") from None
    return _write(policy_reference(), args.output, check=args.check)
