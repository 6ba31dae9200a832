"""Anonymize on Spark: the pipeline's Anonymize job when `anonymize.engine: spark` (a PySparkProcessor
step in the SageMaker Spark processing image; under `run --local`, pyspark in local mode in the job's
own process, `local[*]`).

Same arguments, same outputs, same exit codes as processing/anonymize.py: train/, validation/, test/
(CSV part files), report/ (report.json, report.html) and transformer/ (transformer.skops, policy.yaml),
each renamed into place only when all of them are written (privml/spark/output.py). The fitted
transformer is the in-memory engine's type, serving requests unchanged.
"""

from __future__ import annotations

import argparse
import sys
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
    p.add_argument("--max-partition-rows", type=int, default=1_000_000,
                   help="Mondrian: the most rows one executor partitions in memory")
    p.add_argument("--master", default="", help="Spark master (empty: $PRIVML_SPARK_MASTER or spark-submit's)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    from privml.crypto.providers import default_key_provider
    from privml.errors import PrivmlError
    from privml.policy import load_policy
    from privml.spark.session import require_spark

    require_spark()  # before anything is read or written: one line saying what to install, exit 2
    from privml.spark.job import anonymize_frame, refuse_unsupported
    from privml.spark.output import spark_read, write_release
    from privml.spark.session import spark_session

    policy = load_policy(args.policy)
    if args.k is not None and policy.anonymity is not None:
        policy.anonymity.k = args.k
    refuse_unsupported(policy)  # before Spark starts: one line, exit 2
    files = sorted(p for p in Path(args.input).rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PrivmlError(f"{args.input}: no input files")
    fractions = (1 - args.validation_fraction - args.test_fraction, args.validation_fraction, args.test_fraction)
    if any(f < 0 for f in fractions):
        raise PrivmlError("split fractions must be non-negative and sum to 1")
    spark = spark_session(args.master or None)
    try:
        frame = spark_read(spark, files, bad_rows=policy.bad_rows)
        if getattr(args, "label", ""):
            from privml.anonymize import with_label
            from privml.spark.job import _sample

            policy = with_label(policy, _sample(frame), args.label)
        result = anonymize_frame(frame, policy, key_provider=default_key_provider(),
                                 max_partition_rows=args.max_partition_rows)
        write_release(result, Path(args.output), fractions=fractions, seed=args.seed)
    finally:
        spark.stop()
    return result.report


def _summary(report: dict) -> str:
    return f"{report['rows_in']} rows in, {report['rows_out']} out, k={report.get('k')} (Spark)"


JOB = job_runner.Job("anonymization", "processing", _parse, run, _summary)
main = job_runner.entry_point(JOB, __file__)

if __name__ == "__main__":
    sys.exit(main())
