"""`privml get URI` and `privml ls PREFIX`: the local object store, for key holders.

Every URI the CLI prints (`s3://privml-local/...`: run artifacts, splits, reports, models) names an object
encrypted in the workspace's object store; `get` decrypts one to a file (written whole or not at all, mode
0600, never over an existing file without --force) or streams it to stdout (`-o -`), and `ls` lists a
prefix. `runs open RUN ARTIFACT` (pipelines/run_cli.py) resolves an artifact name of a run record to its
URI and hands it to `write_object` here. Messages name URIs (bucket and key), never an object's content.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError

# Friendly names for the artifacts a run record lists (pipelines/local/run_local.py `_artifacts`).
ARTIFACT_ALIASES = {
    "card": "model_card",
    "model-card": "model_card",
    "html": "report_html",
    "report.html": "report_html",
    "report.json": "report",
    "evaluation.json": "evaluation",
}


def register(sub: Any) -> None:
    p = sub.add_parser("get", help="decrypt an object of the local store (any s3://privml-local/... URI privml "
                       "printed) to a file or stdout")
    p.add_argument("uri", metavar="URI", help="s3://BUCKET/KEY, as `run`, `runs show` and `ls` print them")
    add_output_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_get, needs_workspace="keys")

    p = sub.add_parser("ls", help="list the objects of the local store under a prefix")
    p.add_argument("prefix", metavar="PREFIX", nargs="?",
                   help="s3://BUCKET/ or s3://BUCKET/KEY-PREFIX (default: every bucket)")
    add_json_flag(p)
    p.set_defaults(func=cmd_ls, needs_workspace="keys")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE|-",
                        help="file or folder to write (default: the key's last segment in this folder); "
                             "`-` streams to stdout")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")


def _store() -> Any:
    from privml.crypto.objectstore import LocalObjectStore

    return LocalObjectStore.open()


def _destination(uri: str, output: str | None) -> Path | None:
    """Where `get` writes: None for stdout; a folder given as output gets the key's last segment."""
    from privml.crypto.objectstore import parse_uri

    _bucket, key = parse_uri(uri)
    name = key.rsplit("/", 1)[-1]
    if output == "-":
        return None
    if output is None:
        return Path(name)
    target = Path(output)
    return target / name if target.is_dir() else target


def write_object(uri: str, output: str | None, *, force: bool = False) -> dict[str, Any]:
    """Decrypt the object at `uri` to `output` (see `_destination`); returns what was written."""
    store = _store()
    uri = uri.strip()
    try:
        info = store.head(uri)
    except PrivmlError:
        under = store.list(uri.rstrip("/") + "/")
        if under:
            raise PrivmlError(f"no object at {uri}: it is a prefix of {len(under)} object(s) "
                              f"(privml ls {uri.rstrip('/')}/)") from None
        raise
    target = _destination(uri, output)
    if target is None:
        sys.stdout.flush()
        store.get_stream(uri, sys.stdout.fileno())
        return {"uri": uri, "output": "-", "bytes": info.size}
    if (target.exists() or target.is_symlink()) and not force:
        raise PrivmlError(f"{target} exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise PrivmlError(f"output folder does not exist: {target.parent}")
    store.get_file(uri, target)
    return {"uri": uri, "output": str(target), "bytes": os.path.getsize(target)}


def cmd_get(args: argparse.Namespace) -> int:
    if args.json and args.output == "-":
        raise PrivmlError("--json prints a summary on stdout; it cannot be used with -o - (the object itself)")
    written = write_object(args.uri, args.output, force=args.force)
    report(args, written)
    return 0


def report(args: argparse.Namespace, written: dict[str, Any]) -> None:
    if written["output"] == "-":
        return
    if getattr(args, "json", False):
        emit_json(written)
    else:
        print(f"wrote {written['output']} ({written['bytes']:,} bytes, decrypted from {written['uri']})")


def cmd_ls(args: argparse.Namespace) -> int:
    from privml.crypto.objectstore import parse_uri

    store = _store()
    if args.prefix:
        parse_uri(args.prefix, allow_empty_key=True)  # a bad prefix is an error, not an empty listing
        uris = store.list(args.prefix)
    else:
        buckets = sorted(p.name for p in store.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        uris = [uri for bucket in buckets for uri in store.list(f"s3://{bucket}/")]
    rows = [{"uri": uri, "size": store.head(uri).size} for uri in uris]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print(f"no objects under {args.prefix or 'the local store'}", file=sys.stderr)
    for row in rows:
        print(f"{row['size']:>12,}  {row['uri']}")
    return 0


def artifact_uri(record: dict[str, Any], name: str) -> str:
    """The URI of a run's artifact by the name its record gives it (or a friendly alias)."""
    artifacts = record.get("artifacts") or {}
    wanted = ARTIFACT_ALIASES.get(name, name).replace("-", "_")
    if wanted not in artifacts:
        known = ", ".join(artifacts) or "none (the run recorded no artifacts)"
        raise PrivmlError(f"run {record.get('run_id')} has no artifact {name!r}; it has: {known}")
    return str(artifacts[wanted])
