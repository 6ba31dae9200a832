"""Anonymize: the pipeline's processing job (SageMaker processing container contract).

Thin on purpose: parse the contract, call `privml.anonymize` (or, for a table over the in-memory limit or
with `--engine streaming`, `privml.anonymize_stream`: record batches, bounded memory, the same fitted
transformer; README "Scale"). Reads every CSV/Parquet file of the input
directory, anonymizes with the policy, splits train/validation/test, and writes one output directory per
ProcessingOutput: train/, validation/, test/ (data.csv), report/ (report.json, report.html) and
transformer/ (transformer.skops, policy.yaml). Keyed techniques read the secrets the key-preparation
step derived (the `keys` input, PRIVML_KEY_PROVIDER=file): the job never calls KMS. A failure leaves no
output; the job runner (privml/job_runner.py) writes its reason to /opt/ml/output/message and exits 1
(a privacy target missed), 2 (bad input) or 3 (internal error).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

try:
    import job_runner  # the bundle ships it beside this script (pipelines/packaging.py)
except ModuleNotFoundError:  # run from a source checkout, or in an image that holds privml
    from privml import job_runner


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = job_runner.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--k", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.15)
    p.add_argument("--label", default="", help="the label column (empty: the policy's), checked first")
    p.add_argument("--engine", choices=("auto", "memory", "streaming"), default="auto",
                   help="memory: the whole table in RAM; streaming: in batches, bounded memory "
                        "(privml/anonymize_stream.py); auto: streaming when the input is over the in-memory limit")
    p.add_argument("--batch-rows", type=int, default=None, help="rows per batch of the streaming engine")
    return p.parse_args(argv)


def _check_one_instance(args: argparse.Namespace) -> None:
    """This engine runs in one process: with ProcessingInstanceCount > 1 every instance would read the
    whole input and write the same outputs, so more instances are refused rather than silently wasted."""
    import json

    from privml.errors import PrivmlError

    root = job_runner.container_root([args.input, args.output])
    config = root / "config" / "resourceconfig.json" if root is not None else None
    if config is None or not config.is_file():
        return
    try:
        hosts = json.loads(config.read_text(encoding="utf-8")).get("hosts") or []
    except (OSError, ValueError):
        return
    if len(hosts) > 1:
        raise PrivmlError(
            f"ProcessingInstanceCount {len(hosts)}: the Anonymize step's in-process engine (memory or streaming) "
            "runs on one instance and would give every instance the whole input; set instances.processing.count "
            "to 1 (a large table streams on one instance), or use the Spark engine to spread the work"
        )


def run(args: argparse.Namespace) -> dict:
    import pandas as pd

    from privml.anonymize import anonymize_table, split_rows, write_anonymized
    from privml.crypto.providers import default_key_provider
    from privml.errors import PrivmlError
    from privml.io import DEFAULT_MAX_BYTES, read_table
    from privml.policy import load_policy

    _check_one_instance(args)
    policy = load_policy(args.policy)
    if args.k is not None and policy.anonymity is not None:
        policy.anonymity.k = args.k
    files = sorted(p for p in Path(args.input).rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PrivmlError(f"{args.input}: no input files")
    fractions = (1 - args.validation_fraction - args.test_fraction, args.validation_fraction, args.test_fraction)
    engine = getattr(args, "engine", "auto")
    if engine == "streaming" or (engine == "auto" and sum(f.stat().st_size for f in files) > DEFAULT_MAX_BYTES):
        return _run_streaming(args, policy, files, fractions)
    tables = [read_table(f, bad_rows=policy.bad_rows) for f in files]
    frame = pd.concat(tables, ignore_index=True)
    frame.attrs["bad_rows"] = sum(t.attrs.get("bad_rows", 0) for t in tables)  # skipped, per `bad_rows: skip`
    if getattr(args, "label", ""):
        from privml.anonymize import with_label

        policy = with_label(policy, frame, args.label)
    # The step names its provider (PRIVML_KEY_PROVIDER): on SageMaker `file`, the derived-secrets input
    # PrepareKeys wrote — an isolated container cannot reach KMS — or `none` for unkeyed policies.
    result = anonymize_table(frame, policy, key_provider=default_key_provider())
    splits = split_rows(result.data, fractions, label=policy.label, seed=args.seed)
    out = Path(args.output)
    # Write everything to one staging directory first, then move each part into its declared output:
    # a failure leaves every output directory empty.
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as staging:
        stage = Path(staging) / "result"
        write_anonymized(result, stage, splits=splits)
        _publish(stage, out)
    return result.report


def _run_streaming(args: argparse.Namespace, policy, files: list[Path], fractions: tuple[float, float, float]) -> dict:
    from privml.anonymize_stream import anonymize_stream
    from privml.crypto.providers import default_key_provider
    from privml.io.stream import TableStream

    stream = TableStream(files, batch_rows=getattr(args, "batch_rows", None), bad_rows=policy.bad_rows)
    out = Path(args.output)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as staging:
        stage = Path(staging) / "result"
        release = anonymize_stream(stream, policy, stage, key_provider=default_key_provider(), fractions=fractions,
                                   seed=args.seed, label=getattr(args, "label", ""))
        _publish(stage, out)
    return release.report


def _publish(stage: Path, out: Path) -> None:
    """Move each staged part into its declared output (the staging directory is complete by now)."""
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


def _summary(report: dict) -> str:
    return f"{report['rows_in']} rows in, {report['rows_out']} out, k={report.get('k')}"


JOB = job_runner.Job("anonymization", "processing", _parse, run, _summary)
main = job_runner.entry_point(JOB, __file__)

if __name__ == "__main__":
    sys.exit(main())
