"""Helpers for the tests of privml.models and its jobs (Train, Evaluate): real anonymized splits and job
directories laid out like /opt/ml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO / "training" / "train.py"
EVALUATE_SCRIPT = REPO / "processing" / "evaluate.py"

IDENTIFIERS = ["name", "email", "phone", "ssn", "credit_card", "street_address", "ip_address", "notes"]


def sample_policy(anonymity: dict[str, Any] | None = None) -> dict[str, Any]:
    columns: dict[str, Any] = {c: {"role": "identifier", "action": "drop"} for c in IDENTIFIERS}
    columns["phone"] = {"role": "identifier", "action": "mask"}  # released, but never a model feature
    columns.update({
        "date_of_birth": {"role": "quasi_identifier", "action": "drop"},
        "admission_date": {"role": "quasi_identifier", "action": "drop"},
        "age": {"role": "quasi_identifier", "action": "generalize", "params": {"width": 10}, "bounds": [0, 120]},
        "sex": {"role": "quasi_identifier", "action": "keep"},
        "zip_code": {"role": "quasi_identifier", "action": "generalize", "params": {"prefix": 3}},
        "diagnosis": {"role": "sensitive", "action": "keep"},
        "income": {"role": "feature", "action": "keep", "dtype": "numeric", "bounds": [0, 250000]},
        "hours_per_week": {"role": "feature", "action": "keep", "dtype": "numeric", "bounds": [0, 100]},
        "education": {"role": "feature", "action": "keep"},
        "num_visits": {"role": "feature", "action": "keep", "dtype": "numeric", "bounds": [0, 30]},
        "readmitted": {"role": "label", "action": "keep"},
    })
    policy: dict[str, Any] = {"version": 1, "columns": columns}
    if anonymity is not None:
        policy["anonymity"] = anonymity
    return policy


def make_anonymized(outdir: Path, rows: int = 1500, seed: int = 0, policy: dict[str, Any] | None = None) -> Path:
    """Run the real anonymization (privml.anonymize) on sample data and lay its outputs out as the
    Anonymize job does: train/ validation/ test/ (data.csv), report/report.json, transformer/
    (transformer.skops, policy.yaml). Returns `outdir`."""
    from privml.anonymize import anonymize_table, split_rows
    from privml.io import write_table
    from privml.policy import dump_policy, parse_policy
    from privml.sampledata import generate

    parsed = parse_policy(policy or sample_policy())
    raw = generate(rows, seed)
    result = anonymize_table(raw, parsed)
    splits = split_rows(result.data, (0.7, 0.15, 0.15), label=parsed.label, seed=seed)
    for name, part in splits.items():
        (outdir / name).mkdir(parents=True)
        write_table(part, outdir / name / "data.csv")
    (outdir / "report").mkdir()
    (outdir / "report" / "report.json").write_text(json.dumps(result.report, default=str))
    (outdir / "transformer").mkdir()
    result.transformer.save(outdir / "transformer" / "transformer.skops")
    (outdir / "transformer" / "policy.yaml").write_text(dump_policy(result.policy))
    return outdir


@dataclass
class JobDir:
    root: Path  # stands for /opt/ml

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    def env(self, hyperparameters: dict[str, str]) -> dict[str, str]:
        channels = sorted(p.name for p in (self.root / "input" / "data").iterdir())
        env = {
            "SM_MODEL_DIR": str(self.model_dir),
            "SM_OUTPUT_DIR": str(self.root / "output"),
            "SM_OUTPUT_DATA_DIR": str(self.root / "output" / "data"),
            "SM_INPUT_DIR": str(self.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(self.root / "input" / "config"),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(hyperparameters),
        }
        for ch in channels:
            env[f"SM_CHANNEL_{ch.upper()}"] = str(self.channel(ch))
        return env


def make_training_job(root: Path, anonymized: Path, hyperparameters: dict[str, str] | None = None,
                      config: dict[str, Any] | None = None) -> JobDir:
    """A training job directory laid out as the container sees /opt/ml, with the three channels filled."""
    job = JobDir(root)
    for sub in ("model", "output/data", "input/config"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for ch in ("train", "validation"):
        job.channel(ch).mkdir(parents=True)
        shutil.copy(anonymized / ch / "data.csv", job.channel(ch) / "data.csv")
    job.channel("transformer").mkdir(parents=True)
    for name in ("transformer.skops", "policy.yaml"):
        shutil.copy(anonymized / "transformer" / name, job.channel("transformer") / name)
    hps = hyperparameters or {}
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    (root / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.m5.large"})
    )
    if config is not None:
        (root / "input" / "config" / "trainingjobconfig.json").write_text(json.dumps(config))
    return job


def run_script(script: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    # one OpenMP thread: on a shared, oversubscribed machine spinning HGB threads turn 5 s into 50 s
    full_env["OMP_NUM_THREADS"] = "1"
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(script), *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def run_training(job: JobDir, hyperparameters: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """train.py as the container runs it: a subprocess, SM_* environment, hyperparameters also as
    `--name value` arguments (as SageMaker's script drivers pass them)."""
    args = [a for k, v in hyperparameters.items() for a in (f"--{k}", v)]
    return run_script(TRAIN_SCRIPT, args, job.env(hyperparameters), cwd)


def call_training(job: JobDir, hyperparameters: dict[str, str], monkeypatch: Any) -> int:
    """train.py's main() in this process, with the same SM_* environment and arguments as run_training:
    the contract without a subprocess's start-up time (a few seconds each on a loaded machine)."""
    from training.train import main

    for key in [k for k in os.environ if k.startswith("SM_")]:
        monkeypatch.delenv(key)
    for key, value in job.env(hyperparameters).items():
        monkeypatch.setenv(key, value)
    return main([a for k, v in hyperparameters.items() for a in (f"--{k}", v)])


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
