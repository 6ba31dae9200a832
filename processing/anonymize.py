"""Anonymize: the pipeline's processing job (SageMaker processing container contract).

Thin on purpose: parse the contract, call `privml.anonymize`. Reads every CSV/Parquet file of the input
directory, anonymizes with the policy, splits train/validation/test, and writes one output directory per
ProcessingOutput: train/, validation/, test/ (data.csv), report/ (report.json, report.html) and
transformer/ (transformer.skops, policy.yaml). Keyed techniques read the secrets the key-preparation
step derived (the `keys` input, PRIVML_KEY_PROVIDER=file): the job never calls KMS. On failure it
writes a one-line reason to /opt/ml/output/message (mapped into the job directory locally) and exits
non-zero, leaving no output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _bootstrap() -> None:
    """Under network isolation nothing can be pip-installed from the internet: install privml from the
    wheelhouse shipped in the job's code input when the image lacks it."""
    try:
        import privml  # noqa: F401
    except ImportError:
        import subprocess

        wheels = Path(__file__).resolve().parent / "wheels"
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "privml"]
        )


def _failure_file() -> Path:
    return Path(os.environ.get("PRIVML_FAILURE_FILE", "/opt/ml/output/message"))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--k", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.15)
    p.add_argument("--label", default="", help="the label column (empty: the policy's), checked first")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    import pandas as pd

    from privml.anonymize import anonymize_table, split_rows, write_anonymized
    from privml.crypto.providers import default_key_provider
    from privml.errors import PrivmlError
    from privml.io import read_table
    from privml.policy import load_policy

    policy = load_policy(args.policy)
    if args.k is not None and policy.anonymity is not None:
        policy.anonymity.k = args.k
    files = sorted(p for p in Path(args.input).rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PrivmlError(f"{args.input}: no input files")
    tables = [read_table(f, bad_rows=policy.bad_rows) for f in files]
    frame = pd.concat(tables, ignore_index=True)
    frame.attrs["bad_rows"] = sum(t.attrs.get("bad_rows", 0) for t in tables)  # skipped, per `bad_rows: skip`
    if getattr(args, "label", ""):
        from privml.anonymize import with_label

        policy = with_label(policy, frame, args.label)
    # The step names its provider (PRIVML_KEY_PROVIDER): on SageMaker `file`, the derived-secrets input
    # PrepareKeys wrote — an isolated container cannot reach KMS — or `none` for unkeyed policies.
    result = anonymize_table(frame, policy, key_provider=default_key_provider())
    fractions = (1 - args.validation_fraction - args.test_fraction, args.validation_fraction, args.test_fraction)
    splits = split_rows(result.data, fractions, label=policy.label, seed=args.seed)
    out = Path(args.output)
    # Write everything to one staging directory first, then move each part into its declared output:
    # a failure leaves every output directory empty.
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as staging:
        stage = Path(staging) / "result"
        write_anonymized(result, stage, splits=splits)
        layout = {
            "train": ["train/data.csv"],
            "validation": ["validation/data.csv"],
            "test": ["test/data.csv"],
            "report": ["report.json", "report.html"],
            "transformer": ["transformer.skops", "policy.yaml"],
        }
        for target, names in layout.items():
            (out / target).mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.move(str(stage / name), str(out / target / Path(name).name))
    return result.report


def main(argv: list[str] | None = None) -> int:
    _bootstrap()
    from privml.errors import PrivmlError

    args = _parse(argv)
    try:
        report = run(args)
    except PrivmlError as exc:
        _write_failure(str(exc))
        print(f"anonymize: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # the message may quote data values: report the type only
        _write_failure(f"internal error: {type(exc).__name__}")
        print(f"anonymize: internal error: {type(exc).__name__}", file=sys.stderr)
        return 3
    print(f"anonymize: {report['rows_in']} rows in, {report['rows_out']} out, k={report.get('k')}")
    return 0


def _write_failure(reason: str) -> None:
    path = _failure_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason[:1000] + "\n", encoding="utf-8")
    except OSError:
        pass  # no writable failure file (running outside a job): stderr carries the reason


if __name__ == "__main__":
    sys.exit(main())
