"""Commands on tables: sample-data, scan, anonymize, reidentify."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privml.cli.numbers import percent, sig3
from privml.cli.output import add_json_flag, emit_json, print_privacy_warnings
from privml.errors import PrivmlError
from privml.io import DEFAULT_BATCH_ROWS

if TYPE_CHECKING:
    from privml.policy import Policy

ENGINES = ("auto", "memory", "streaming")
log = logging.getLogger("privml")


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 500M, 2G)") from None


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("--split takes three numbers, e.g. 0.7,0.15,0.15") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("--split takes three numbers, e.g. 0.7,0.15,0.15")
    return parts  # type: ignore[return-value]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample-data", help="write a realistic synthetic table with personal data")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="CSV (or .parquet) file to write")
    add_json_flag(p)
    p.set_defaults(func=cmd_sample_data)

    p = sub.add_parser("scan", help="find personal data in a table and propose a policy")
    p.add_argument("file")
    p.add_argument("--policy-out", help="write the proposed policy (YAML) here")
    p.add_argument("--sample-rows", type=int, default=5000,
                   help="rows sampled at random from the whole file (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--sep", help="CSV delimiter (default: detected)")
    p.add_argument("--label", help="the label column (checked: present, not constant, not an identifier)")
    p.add_argument("--rules", help="YAML with a `detection:` section (custom recognizers, allow/deny lists); "
                   "a policy file will do")
    p.add_argument("--max-line", type=_size, default=None, help="longest CSV line accepted (default 1M)")
    add_json_flag(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("anonymize", help="apply a policy: anonymized data, privacy report, fitted transformer")
    p.add_argument("file")
    p.add_argument("--policy", required=True)
    p.add_argument("-o", "--output", required=True, help="output directory (written atomically)")
    p.add_argument("--split", type=_fractions, help="train,validation,test fractions, e.g. 0.7,0.15,0.15")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, help="override the policy's anonymity.k")
    p.add_argument("--sep", help="CSV delimiter (default: detected)")
    p.add_argument("--max-size", type=_size, default=None,
                   help="largest input the memory engine reads (default 1G); over it, auto streams")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="memory: the whole table in RAM; streaming: in batches, bounded memory; auto (default): "
                        "streaming when the input is over --max-size or --batch-rows is given")
    p.add_argument("--batch-rows", type=int, default=None,
                   help=f"rows per batch of the streaming engine (default {DEFAULT_BATCH_ROWS:,})")
    p.add_argument("--label", help="the label column (checked before anything runs; overrides the policy's)")
    add_json_flag(p)
    p.set_defaults(func=cmd_anonymize)

    p = sub.add_parser("reidentify", help="for key holders: decrypt the columns a policy encrypted")
    p.add_argument("file", help="anonymized CSV")
    p.add_argument("--transformer", required=True, help="transformer.skops written by anonymize")
    p.add_argument("-o", "--output", required=True, help="CSV to write (plaintext: handle with care)")
    p.add_argument("--columns", help="comma-separated subset of the encrypted columns")
    add_json_flag(p)
    p.set_defaults(func=cmd_reidentify, needs_workspace="keys")


def cmd_sample_data(args: argparse.Namespace) -> int:
    from privml.io import atomic_write_bytes, write_table
    from privml.sampledata import generate

    if args.rows < 1:
        raise PrivmlError("--rows must be at least 1")
    frame = generate(rows=args.rows, seed=args.seed)
    out = Path(args.output)
    if out.suffix.lower() in {".parquet", ".pq"}:
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        atomic_write_bytes(out, buf.getvalue())
    else:
        write_table(frame, out)
    log.info("wrote %d rows to %s", len(frame), out)
    if args.json:
        emit_json({"output": str(out), "rows": len(frame), "columns": list(frame.columns), "seed": args.seed})
    else:
        print(f"wrote {len(frame)} rows, {len(frame.columns)} columns to {out}")
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from privml.detect import propose_policy, scan_table
    from privml.detect.policy import policy_yaml
    from privml.detect.verdict import rules_from_policy
    from privml.io import atomic_write_text, sample_table
    from privml.io.tables import DEFAULT_MAX_LINE_BYTES
    from privml.policy import load_detection

    detection = load_detection(args.rules) if args.rules else None
    # A random sample held in bounded memory, so the size limit for whole tables does not apply.
    frame, total = sample_table(args.file, args.sample_rows, sep=args.sep, seed=args.seed,
                                max_line_bytes=args.max_line or DEFAULT_MAX_LINE_BYTES)
    result = scan_table(frame, sample_rows=args.sample_rows, seed=args.seed, rows_total=total,
                        rules=rules_from_policy(detection), label=args.label)
    policy = propose_policy(result, detection=detection)
    if args.policy_out:
        atomic_write_text(args.policy_out, policy_yaml(policy, result), mode=0o644)
    if args.json:
        payload = result.to_dict()
        if args.policy_out:
            payload["policy_out"] = args.policy_out
        emit_json(payload)
    else:
        _print_scan(result.to_dict())
        if args.policy_out:
            print(f"\nproposed policy written to {args.policy_out} — review it before use")
    return 0


def _print_scan(payload: dict[str, Any]) -> None:
    rows = payload.get("columns", [])
    if isinstance(rows, dict):
        rows = [{"name": k, **v} for k, v in rows.items()]
    header = f"{'column':<22} {'detected':<16} {'conf':>5}  {'role':<17} {'action':<13} example"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.get('name', ''):<22} {r.get('pii_type') or '-':<16} {r.get('confidence', 0):>5.2f}  "
            f"{r.get('role', ''):<17} {r.get('action', ''):<13} {r.get('example') or ''}"
        )
        if r.get("evidence"):
            print(f"{'':<22} why: {r['evidence']}")


def _anonymize_engine(args: argparse.Namespace) -> str:
    """The engine `cmd_anonymize` runs: the one asked for, or under auto the streaming engine when the
    input is over the in-memory limit (which the memory engine refuses) or batches were asked for.
    Options the chosen engine could not honour are refused, never ignored."""
    from privml.io import DEFAULT_MAX_BYTES

    if args.batch_rows is not None and args.batch_rows < 1:
        raise PrivmlError("--batch-rows must be at least 1")
    if args.engine == "memory" and args.batch_rows is not None:
        raise PrivmlError("--batch-rows is for the streaming engine; drop it or use --engine streaming")
    if args.engine == "streaming" and args.max_size is not None:
        raise PrivmlError("--max-size limits the memory engine; the streaming engine reads any size (drop it)")
    if args.engine != "auto":
        return str(args.engine)
    path = Path(args.file)
    over_limit = path.is_file() and path.stat().st_size > (args.max_size or DEFAULT_MAX_BYTES)
    return "streaming" if over_limit or args.batch_rows is not None else "memory"


def cmd_anonymize(args: argparse.Namespace) -> int:
    from privml.anonymize import ensure_local_keys
    from privml.crypto.providers import PROVIDER_ENV
    from privml.policy import load_policy

    engine = _anonymize_engine(args)
    policy = load_policy(args.policy)
    if args.k is not None:
        if policy.anonymity is None:
            raise PrivmlError(f"{args.policy}: --k given but the policy has no `anonymity:` section")
        policy.anonymity.k = args.k
    if os.environ.get(PROVIDER_ENV, "local") == "local":
        for ref in ensure_local_keys(policy.keys.values()):
            log.warning("created local key %s for this policy", ref)
    if engine == "streaming":
        _anonymize_streaming(args, policy)
    else:
        _anonymize_in_memory(args, policy)
    # the report as written: with the splits' own figures and the privacy warnings they raise
    report = json.loads((Path(args.output) / "report.json").read_text(encoding="utf-8"))
    if args.json:
        emit_json({"output": str(args.output), **report})
    else:
        print(f"anonymized {report['rows_in']} rows → {report['rows_out']} ({report['suppressed_rows']} suppressed)"
              f"{' (streaming engine)' if engine == 'streaming' else ''}")
        for key in ("k", "l", "t"):
            if report.get(key) is not None:
                print(f"  {key} = {sig3(report[key])}")
        risk = report.get("risk")
        if risk:
            print(f"  prosecutor risk: max {percent(risk.get('prosecutor_max'))}, "
                  f"avg {percent(risk.get('prosecutor_avg'))}")
        print(f"wrote {args.output}/ (data, report.json, report.html, transformer.skops, policy.yaml)")
        print_privacy_warnings(report.get("warnings") or [])
    return 0


def _anonymize_in_memory(args: argparse.Namespace, policy: Policy) -> None:
    from privml.anonymize import anonymize_table, split_rows, with_label, write_anonymized
    from privml.io import DEFAULT_MAX_BYTES, read_table

    frame = read_table(args.file, sep=args.sep, max_bytes=args.max_size or DEFAULT_MAX_BYTES,
                       bad_rows=policy.bad_rows)
    if args.label:
        policy = with_label(policy, frame, args.label)
    result = anonymize_table(frame, policy)
    splits = split_rows(result.data, args.split, label=policy.label, seed=args.seed) if args.split else None
    write_anonymized(result, Path(args.output), splits=splits)


def _anonymize_streaming(args: argparse.Namespace, policy: Policy) -> None:
    """The same outputs as `_anonymize_in_memory` (one data.csv, or train/validation/test with --split,
    all written atomically), read in batches of --batch-rows rows (privml.anonymize_stream)."""
    from privml.anonymize_stream import anonymize_stream
    from privml.io.stream import TableStream

    stream = TableStream([Path(args.file)], batch_rows=args.batch_rows, bad_rows=policy.bad_rows, sep=args.sep)
    anonymize_stream(stream, policy, Path(args.output), fractions=args.split, seed=args.seed,
                     label=args.label or "")


def cmd_reidentify(args: argparse.Namespace) -> int:
    from privml.io import read_table, write_table
    from privml.transformer import PrivacyTransformer

    transformer = PrivacyTransformer.load(args.transformer)
    frame = read_table(args.file)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    restored = transformer.reidentify(frame, columns)
    write_table(restored, args.output)
    if args.json:  # names and counts only: the values are in the file
        emit_json({"output": str(args.output), "rows": len(restored),
                   "columns_reidentified": columns or transformer.reversible_columns()})
    else:
        print(f"wrote {args.output} (contains re-identified values: handle as personal data)")
    return 0

