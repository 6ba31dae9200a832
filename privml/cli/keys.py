"""`privml keys …` (the local KMS), `privml encrypt`, `privml decrypt`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage keys in the local KMS (key store in the workspace)")
    ksub = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=type(keys))
    keys.set_defaults(func=lambda args: _usage(keys))

    parser = ksub.add_parser("create", help="create a key; prints its id")
    parser.add_argument("--alias", help="alias NAME (used as alias/NAME)")
    parser.add_argument("--description", default="")
    add_json_flag(parser)
    parser.set_defaults(func=_create)

    parser = ksub.add_parser("list", help="list keys (ids, aliases, state; never material)")
    add_json_flag(parser)
    parser.set_defaults(func=_list, needs_workspace="keys")

    for name, helptext in (
        ("rotate", "add new key material; old data still decrypts"),
        ("disable", "block all use of a key"),
        ("enable", "re-enable a disabled key"),
        ("cancel-deletion", "cancel a scheduled deletion (the key comes back disabled)"),
    ):
        parser = ksub.add_parser(name, help=helptext)
        parser.add_argument("key", help="key id, alias/NAME or local:kms:key/ID")
        add_json_flag(parser)
        parser.set_defaults(func=_simple, action=name, needs_workspace="keys")

    parser = ksub.add_parser(
        "schedule-deletion", help="block a key now and destroy its material after DAYS (crypto-shredding)"
    )
    parser.add_argument("key")
    parser.add_argument("--days", type=int, default=7, help="waiting period, 0-30 (0 = destroy now); default 7")
    add_json_flag(parser)
    parser.set_defaults(func=_schedule_deletion, needs_workspace="keys")

    parser = sub.add_parser("encrypt", help="encrypt a file (AWS Encryption SDK message format)")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--key", required=True, help="master key: id, alias/NAME, or an AWS KMS key ARN")
    parser.add_argument("--context", action="append", metavar="K=V", help="encryption context pair (repeatable)")
    parser.add_argument("--signed", action="store_true", help="suite 0x0578: add an ECDSA P-384 signature")
    parser.add_argument("--frame-length", type=int, default=1 << 20, help="frame size in bytes (default 1 MiB)")
    add_json_flag(parser)
    parser.set_defaults(func=_encrypt, needs_workspace="keys")

    parser = sub.add_parser("decrypt", help="decrypt a file; output appears only if the whole message authenticates")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--context", action="append", metavar="K=V", help="required encryption context pair")
    add_json_flag(parser)
    parser.set_defaults(func=_decrypt, needs_workspace="keys")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage()
    raise PrivmlError("keys: choose an action (create, list, rotate, disable, enable, schedule-deletion)")


def _kms() -> Any:
    import os

    from privml.crypto.providers import PROVIDER_ENV

    if (os.environ.get(PROVIDER_ENV) or "local").lower() == "aws":
        raise PrivmlError("`privml keys` manages the local KMS; manage AWS KMS keys with AWS tools")
    from privml.crypto.local_kms import LocalKms

    return LocalKms.open()


def _show(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    if args.json:
        emit_json(payload)
    else:
        print(text)
    return 0


def _create(args: argparse.Namespace) -> int:
    kms = _kms()
    key_id = kms.create_key(args.alias, args.description)
    return _show(args, kms.describe(key_id), key_id)


def _list(args: argparse.Namespace) -> int:
    keys = _kms().list_keys()
    if args.json:
        emit_json(keys)
        return 0
    if not keys:
        print("no keys yet (privml keys create --alias NAME)", file=sys.stderr)
        return 0
    print(f"{'KEY ID':<36}  {'STATE':<15}  {'VERSIONS':<8}  ALIASES")
    for k in keys:
        aliases = ",".join(k["aliases"]) or "-"
        print(f"{k['key_id']:<36}  {k['state']:<15}  {'v' + str(k['material_versions']):<8}  {aliases}")
    return 0


def _simple(args: argparse.Namespace) -> int:
    kms = _kms()
    method = {"cancel-deletion": "cancel_deletion"}.get(args.action, args.action)
    result = getattr(kms, method)(args.key)
    info = kms.describe(args.key)
    if args.action == "rotate":
        info["new_material_version"] = result
    return _show(args, info, f"{info['key_id']}  {info['state']}  v{info['material_versions']}")


def _schedule_deletion(args: argparse.Namespace) -> int:
    kms = _kms()
    when = kms.schedule_deletion(args.key, args.days)
    info = kms.describe(args.key)
    return _show(args, info, f"{info['key_id']}  {info['state']}  deletion {when}")


def _encrypt(args: argparse.Namespace) -> int:
    from privml.crypto import envelope
    from privml.crypto.context import parse_pairs
    from privml.crypto.providers import default_key_provider

    provider = default_key_provider()
    key_id = provider.resolve(args.key) if hasattr(provider, "resolve") else args.key
    envelope.encrypt_file(
        args.input,
        args.output,
        provider=provider,
        key_id=key_id,
        context=parse_pairs(args.context),
        signed=args.signed,
        frame_length=args.frame_length,
    )
    return _show(args, {"output": args.output, "key_id": key_id}, f"encrypted {args.input} -> {args.output}")


def _decrypt(args: argparse.Namespace) -> int:
    from privml.crypto import envelope
    from privml.crypto.context import parse_pairs
    from privml.crypto.providers import default_key_provider

    if args.input.startswith("s3://"):  # an object URI the CLI printed: the same as `privml get URI -o OUTPUT`
        from privml.cli.objects import write_object

        if args.context:
            raise PrivmlError("an s3:// object is bound to its own bucket and key; drop --context "
                              "(or use `privml get URI -o FILE`)")
        written = write_object(args.input, args.output, force=True)
        return _show(args, written, f"decrypted {args.input} -> {args.output}") if args.output != "-" else 0
    context = envelope.decrypt_file(
        args.input, args.output, provider=default_key_provider(), required_context=parse_pairs(args.context)
    )
    return _show(args, {"output": args.output, "context": context}, f"decrypted {args.input} -> {args.output}")
