"""Train: the pipeline's training job (SageMaker training container contract).

Thin on purpose: the contract is read and the work done by `privml.models.training.run_training_job`.
Channels `train`, `validation` (data.csv, anonymized, with the label) and `transformer` (transformer.skops,
policy.yaml) under /opt/ml/input/data/<channel> or $SM_CHANNEL_<NAME>; hyperparameters from
hyperparameters.json, $SM_HPS and `--name value` arguments: model (hgb | logreg | dp_logreg | dp_nb |
dp_rf for classes; hgb | ridge | dp_linreg for a regression target), dp_epsilon, label, seed, task (binary |
multiclass | regression; empty: chosen from the train split's label, privml.models.tasks). Writes
model.skops, metadata.json and code/ (the serving program, its requirements.txt and this job's wheels;
see privml.models.training) to $SM_MODEL_DIR.
On failure: nothing in the model directory; the job runner (privml/job_runner.py) writes the reason to
/opt/ml/output/failure and gives the exit code (2 bad input, 3 internal error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    import job_runner  # the bundle ships it beside this script (pipelines/packaging.py)
except ModuleNotFoundError:  # run from a source checkout, or in an image that holds privml
    from privml import job_runner


def _parse(argv: list[str]) -> Any:
    """The training contract: channels and directories from SM_*, hyperparameters from
    hyperparameters.json, SM_HPS and `--name value` arguments (privml.models.jobenv)."""
    from privml.models.jobenv import TrainingEnv

    return TrainingEnv.from_environ(argv=argv)


def run(env: Any) -> dict:
    from privml.models.training import run_training_job

    return run_training_job(env, wheelhouse=Path(__file__).resolve().parent / job_runner.WHEELS_DIR)


def _summary(metadata: dict) -> str:
    figures = metadata["metrics"].get("validation") or metadata["metrics"]["train"]
    spent = metadata["epsilon_spent"]
    task = metadata.get("task")
    shown = (f"r2 {figures['r2']:.4f}, rmse {figures['rmse']:.4g}, mae {figures['mae']:.4g}" if task == "regression"
             else f"accuracy {figures['accuracy']:.4f}")
    reason = f", task: {task} ({metadata['task_reason']})" if task else ""
    return (f"trained {metadata['model']}{reason}: {shown}"
            + (f", epsilon spent {spent}" if spent is not None else ""))


JOB = job_runner.Job("training", "training", _parse, run, _summary)
main = job_runner.entry_point(JOB, __file__)

if __name__ == "__main__":
    sys.exit(main())
