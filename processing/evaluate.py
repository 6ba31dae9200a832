"""Evaluate: the pipeline's evaluation job (SageMaker processing container contract).

Thin on purpose: the work is `privml.models.evaluation.evaluate`. Reads the model (model.tar.gz from the
training step), the anonymized test split and the Anonymize report; writes evaluation.json (the
`EvaluationReport` PropertyFile the ConditionStep reads), model_card.json and model_card.md into the
output directory. On failure: a one-line reason in /opt/ml/output/message, a non-zero exit, no output.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path


def _bootstrap() -> None:
    """Under network isolation nothing can be pip-installed from the internet: install privml from the
    wheelhouse shipped next to this script when the image lacks it."""
    try:
        import privml  # noqa: F401
    except ImportError:
        import subprocess

        wheels = Path(__file__).resolve().parent / "wheels"
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "privml"]
        )


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True, type=Path)
    p.add_argument("--test", required=True, type=Path)
    p.add_argument("--report", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--quality-threshold", type=float, default=0.8)
    p.add_argument("--k", type=int)
    p.add_argument("--config-dir", type=Path, help="job configuration directory (default: /opt/ml/config)")
    return p.parse_args(argv)


def _failure_file(output: Path | None) -> Path:
    """/opt/ml/output/message, found from the job's own paths when they are mapped (locally)."""
    if os.environ.get("PRIVML_FAILURE_FILE"):
        return Path(os.environ["PRIVML_FAILURE_FILE"])
    if output is not None:
        for parent in output.resolve().parents:
            if parent.name == "processing" and parent.parent.name == "ml":
                return parent.parent / "output" / "message"
    return Path("/opt/ml/output/message")


def main(argv: list[str] | None = None) -> int:
    _bootstrap()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from privml.errors import PrivmlError
    from privml.models.evaluation import evaluate
    from privml.models.jobenv import processing_config_dir
    from privml.models.training import write_failure

    args = _parse(sys.argv[1:] if argv is None else argv)
    failure = _failure_file(args.output)
    try:
        result = evaluate(
            model_dir=args.model_dir, test_dir=args.test, report_dir=args.report, output_dir=args.output,
            quality_threshold=args.quality_threshold, k_required=args.k,
            config_dir=args.config_dir or processing_config_dir(args.output),
        )
    except PrivmlError as exc:
        message = f"privml evaluation failed: {exc}"
        write_failure(failure, message)
        print(message, file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        message = f"privml evaluation failed: unexpected {type(exc).__name__} at {where}"
        write_failure(failure, message)
        print(message, file=sys.stderr)
        return 1
    g = result["gates"]
    print(f"accuracy {result['metrics']['accuracy']:.4f}; gates passed={g['passed']} ({g['reason']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
