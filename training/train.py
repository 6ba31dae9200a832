"""Train: the pipeline's training job (SageMaker training container contract).

Thin on purpose: the contract is read and the work done by `privml.models.training.run_training_job`.
Channels `train`, `validation` (data.csv, anonymized, with the label) and `transformer` (transformer.skops,
policy.yaml) under /opt/ml/input/data/<channel> or $SM_CHANNEL_<NAME>; hyperparameters from
hyperparameters.json, $SM_HPS and `--name value` arguments: model (hgb | logreg | dp_logreg | dp_nb |
dp_rf), dp_epsilon, label, seed. Writes model.skops, metadata.json and code/ (the serving program, its
requirements.txt and this job's wheels; see privml.models.training) to $SM_MODEL_DIR.
On failure: a one-line reason in /opt/ml/output/failure, a non-zero exit, nothing in the model directory.
"""

from __future__ import annotations

import logging
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


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame: enough to find a bug, and no data value in it."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def main(argv: list[str] | None = None) -> int:
    _bootstrap()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from privml.errors import PrivmlError
    from privml.models.jobenv import TrainingEnv
    from privml.models.training import run_training_job, write_failure

    argv = sys.argv[1:] if argv is None else argv
    failure = Path("/opt/ml/output/failure")
    try:
        env = TrainingEnv.from_environ(argv=argv)
        failure = env.failure_path
        metadata = run_training_job(env, wheelhouse=Path(__file__).resolve().parent / "wheels")
    except PrivmlError as exc:
        message = f"privml training failed: {exc}"
        write_failure(failure, message)
        print(message, file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        # exception messages from libraries may quote data values: report the type and place only
        detail = f" ({exc.name})" if isinstance(exc, ImportError) and exc.name else ""  # a module name, no data
        message = f"privml training failed: unexpected {type(exc).__name__}{detail} at {_where(exc)}"
        write_failure(failure, message)
        print(message, file=sys.stderr)
        return 1
    figures = metadata["metrics"].get("validation") or metadata["metrics"]["train"]
    print(
        f"trained {metadata['model']}: accuracy {figures['accuracy']:.4f}"
        + (f", epsilon spent {metadata['epsilon_spent']}" if metadata["epsilon_spent"] is not None else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
