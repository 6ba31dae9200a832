"""privml/job_runner.py: every job exits and reports its failures the same way, where SageMaker reads them.

One parametrized test runs each job (Anonymize, PrepareKeys, Evaluate, Train) through its entry point's
`main` under the container layout (`<tmp>/opt/ml/...`, no PRIVML_FAILURE_FILE: the runner finds the
failure file from the contract) and drives it into each outcome: bad input (a real one per job) -> 2, a
check that failed -> 1, an unexpected exception whose message quotes a data value -> 3. Each time the
failure file is where SageMaker reads it (processing: /opt/ml/output/message, training:
/opt/ml/output/failure), holds one bounded line that names the job and quotes no value, and the job left
no output. Then the bundle: each processing job run as SageMaker runs it,
`python3 /opt/ml/processing/input/code/<job>.py ...` from the bundle pipelines/packaging.py lays out.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import packaging
from privml import job_runner
from privml.errors import CheckFailed, PrivmlError
from privml.sampledata import generate
from tests.models.jobs import sample_policy

REPO = Path(__file__).resolve().parents[1]
CANARY = "Canary-Jane-Roe-078-05-1120"  # a "data value" an exception message quotes
OUTCOMES = {"bad input": 2, "check failed": 1, "internal error": 3}
FAILURE_FILE_ENV = "PRIVML_FAILURE_FILE"  # local mode's override: unset, so the contract decides
MAX_REASON_CHARS = 1024  # what SageMaker keeps of a FailureReason


@dataclass
class Layout:
    """One job's /opt/ml, under tmp."""

    ml: Path
    argv: list[str]
    env: dict[str, str]
    outputs: Path  # nothing may be written under it when the job fails
    failure: Path  # where SageMaker reads the reason


def _write_policy(path: Path, policy: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy))
    return path


def _processing(tmp: Path, argv: list[str], env: dict[str, str] | None = None) -> Layout:
    ml = tmp / "opt" / "ml"
    (ml / "processing" / "output").mkdir(parents=True, exist_ok=True)
    return Layout(ml, argv, env or {}, ml / "processing" / "output", ml / "output" / "message")


def _anonymity_policy(k: int) -> dict[str, Any]:
    policy = sample_policy({"k": k})
    for dropped in ("date_of_birth", "admission_date"):  # a quasi-identifier the engine sees is kept
        policy["columns"][dropped] = {"role": "identifier", "action": "drop"}
    return policy


def anonymize_job(tmp: Path, outcome: str) -> Layout:
    proc = tmp / "opt" / "ml" / "processing"
    (proc / "input" / "data").mkdir(parents=True)
    generate(300, seed=4).to_csv(proc / "input" / "data" / "raw.csv", index=False)
    policy = _anonymity_policy(k=5)
    if outcome == "bad input":
        policy["columns"]["age"]["action"] = "no-such-action"
    if outcome == "check failed":  # a target no generalization can meet: 40 diagnoses in every class
        policy["anonymity"]["l_diversity"] = {"l": 40}
    _write_policy(proc / "input" / "policy" / "policy.yaml", policy)
    return _processing(tmp, ["--policy", str(proc / "input" / "policy" / "policy.yaml"),
                             "--input", str(proc / "input" / "data"), "--output", str(proc / "output")],
                       {"PRIVML_KEY_PROVIDER": "none"})


def prepare_keys_job(tmp: Path, outcome: str) -> Layout:
    proc = tmp / "opt" / "ml" / "processing"
    policy = _write_policy(proc / "input" / "policy" / "policy.yaml", sample_policy())
    # bad input: the step derives secrets through a KMS, and `none` names none
    provider = "none" if outcome == "bad input" else "local"
    return _processing(tmp, ["--policy", str(policy), "--output", str(proc / "output"), "--hmac-key", "alias/k"],
                       {"PRIVML_KEY_PROVIDER": provider})


def evaluate_job(tmp: Path, outcome: str) -> Layout:
    proc = tmp / "opt" / "ml" / "processing"
    for name in ("model", "train", "test", "report"):
        (proc / "input" / name).mkdir(parents=True)  # bad input as it is: no model.tar.gz
    return _processing(tmp, ["--model-dir", str(proc / "input" / "model"), "--train", str(proc / "input" / "train"),
                             "--test", str(proc / "input" / "test"),
                             "--report", str(proc / "input" / "report"), "--output", str(proc / "output")])


def train_job(tmp: Path, outcome: str) -> Layout:
    ml = tmp / "opt" / "ml"
    for sub in ("model", "output/data", "input/config", "input/data/train", "input/data/validation",
                "input/data/transformer"):
        (ml / sub).mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"model": "logreg"}))
    env = {"SM_MODEL_DIR": str(ml / "model"), "SM_OUTPUT_DIR": str(ml / "output"),
           "SM_OUTPUT_DATA_DIR": str(ml / "output" / "data"), "SM_INPUT_DIR": str(ml / "input"),
           "SM_INPUT_CONFIG_DIR": str(ml / "input" / "config")}
    # bad input as it is: the train channel is empty
    return Layout(ml, ["--model", "logreg"], env, ml / "model", ml / "output" / "failure")


@dataclass(frozen=True)
class JobCase:
    module: str  # the entry point's module
    name: str  # as the failure reason names it
    layout: Callable[[Path, str], Layout]
    work: tuple[str, str]  # the library function that does the job's work: where a failure is injected
    real_check: bool = False  # the job has a check that fails on real input (no injection needed)


JOBS = [
    JobCase("processing.anonymize", "anonymization", anonymize_job, ("privml.anonymize", "anonymize_table"),
            real_check=True),
    JobCase("processing.prepare_keys", "key preparation", prepare_keys_job, ("privml.key_needs", "secret_needs")),
    JobCase("processing.evaluate", "evaluation", evaluate_job, ("privml.models.evaluation", "evaluate")),
    JobCase("training.train", "training", train_job, ("privml.models.training", "run_training_job")),
]


def _raise(exc: BaseException) -> Callable[..., Any]:
    def work(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return work


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("job", JOBS, ids=[j.name for j in JOBS])
def test_every_job_exits_with_its_outcome_code_and_writes_the_reason_where_sagemaker_reads_it(
        job: JobCase, outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    layout = job.layout(tmp_path, outcome)
    monkeypatch.delenv(FAILURE_FILE_ENV, raising=False)
    for key in [k for k in os.environ if k.startswith("SM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "workspace"))
    for key, value in layout.env.items():
        monkeypatch.setenv(key, value)
    module = importlib.import_module(job.module)
    if outcome == "internal error":  # a library failing with a message that quotes a value
        monkeypatch.setattr(importlib.import_module(job.work[0]), job.work[1],
                            _raise(ValueError(f"could not convert {CANARY!r} to float")))
    elif outcome == "check failed" and not job.real_check:
        monkeypatch.setattr(importlib.import_module(job.work[0]), job.work[1],
                            _raise(CheckFailed("a gate failed: accuracy below its threshold")))

    code = module.main(layout.argv)

    captured = capsys.readouterr()
    assert code == OUTCOMES[outcome], (captured.out, captured.err)
    assert layout.failure.is_file(), f"no failure reason at {layout.failure}: {captured.err}"
    reason = layout.failure.read_text(encoding="utf-8")
    assert reason.endswith("\n") and reason.count("\n") == 1 and len(reason) <= MAX_REASON_CHARS + 1
    assert reason.startswith(f"privml {job.name} failed: "), reason
    assert CANARY not in reason and CANARY not in captured.err and CANARY not in captured.out
    if outcome == "internal error":
        assert "internal error: ValueError at " in reason, reason
    assert reason.strip() in captured.err  # the log says the same
    assert not [p for p in layout.outputs.rglob("*") if p.is_file()], "a failed job left output"
    # SageMaker's other file is not written: one place per contract
    other = layout.ml / "output" / ("message" if layout.failure.name == "failure" else "failure")
    assert not other.exists()


def _toy_job(work: Callable[[Any], Any], contract: job_runner.Contract = "processing") -> job_runner.Job:
    def parse(argv: list[str]) -> Any:
        parser = job_runner.ArgumentParser(prog="toy")
        parser.add_argument("--output", required=True)
        parser.add_argument("--k", type=int)
        return parser.parse_args(argv)

    return job_runner.Job("toy", contract, parse, work, lambda result: f"{result} done")


def test_a_long_reason_is_one_bounded_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(job_runner.FAILURE_FILE_ENV, str(tmp_path / "message"))
    long = "column 'x' has no value in range;\n" * 400
    code = job_runner.run_job(_toy_job(_raise(PrivmlError(long))), ["--output", "o"], code_dir=tmp_path)
    text = (tmp_path / "message").read_text()
    assert code == 2 and text.count("\n") == 1 and len(text.rstrip("\n")) == MAX_REASON_CHARS
    assert text.startswith("privml toy failed: column 'x' has no value in range; column") and text.endswith("...\n")


@pytest.mark.parametrize(("argv", "expected"), [
    (["--output", "o", "--k", CANARY], "privml toy failed: arguments: argument --k: invalid int value"),
    (["--output", "o", CANARY], "privml toy failed: arguments: unrecognized arguments"),
    ([], "privml toy failed: arguments: the following arguments are required: --output"),
])
def test_bad_arguments_are_bad_input_and_quote_no_value(argv: list[str], expected: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(job_runner.FAILURE_FILE_ENV, str(tmp_path / "message"))
    assert job_runner.run_job(_toy_job(lambda args: 1), argv, code_dir=tmp_path) == 2
    assert (tmp_path / "message").read_text() == expected + "\n"
    assert CANARY not in capsys.readouterr().err


def test_the_failure_file_follows_the_contract(tmp_path: Path) -> None:
    ml = tmp_path / "job" / "opt" / "ml"
    proc_args = ["--input", str(ml / "processing" / "input" / "data"), "--output=" + str(ml / "processing" / "o")]
    assert job_runner.failure_file("processing", proc_args, {}) == ml.resolve() / "output" / "message"
    assert job_runner.failure_file("processing", ["--k", "5"], {}) == Path("/opt/ml/output/message")
    assert job_runner.failure_file("training", [], {}) == Path("/opt/ml/output/failure")
    assert job_runner.failure_file("training", [], {"SM_OUTPUT_DIR": str(tmp_path / "o")}) == tmp_path / "o" / "failure"
    assert job_runner.failure_file("training", [], {"SM_OUTPUT_DATA_DIR": str(tmp_path / "o" / "data")}) == (
        tmp_path / "o" / "failure")
    chosen = {job_runner.FAILURE_FILE_ENV: str(tmp_path / "f")}
    assert job_runner.failure_file("training", [], chosen) == job_runner.failure_file("processing", proc_args, chosen)


def test_the_cli_maps_exceptions_as_the_jobs_do(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import privml.cli as cli

    outcomes = {CheckFailed("target missed"): 1, PrivmlError("bad column"): 2, ValueError(CANARY): 3}
    for exc, expected in outcomes.items():
        monkeypatch.setattr(cli, "_wipe_stale_scratch", _raise(exc))
        assert cli.main(["scan", "x.csv"]) == expected == job_runner.exit_code(exc)
        err = capsys.readouterr().err
        assert CANARY not in err
        if expected == 3:
            assert f"privml: {job_runner.internal_reason(exc)}" in err


# --- the bundle, run the way the container runs it ----------------------------------------------------------

def _bundle(code_dir: Path, script: str, dist: Path) -> Path:
    wheel = next(dist.glob("privml-*.whl"), None) or packaging.build_privml_wheel(dist)
    return packaging.make_bundle(REPO / script, code_dir, wheel, None)


def _run(python: Path | str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "OMP_NUM_THREADS": "1", **extra}


def test_the_processing_bundle_runs_as_sagemaker_runs_it(tmp_path: Path) -> None:
    """`python3 /opt/ml/processing/input/code/anonymize.py ...` from the bundle, in an image that holds privml
    (the privml image): the runner beside the script does the work, no repository on the path."""
    layout = anonymize_job(tmp_path, "ok")
    code = _bundle(layout.ml / "processing" / "input" / "code", "processing/anonymize.py", tmp_path / "dist")
    assert sorted(p.name for p in code.iterdir()) == ["anonymize.py", "job_runner.py", "wheels"]
    env = _clean_env(PRIVML_KEY_PROVIDER="none", PRIVML_WORKSPACE=str(tmp_path / "ws"))
    # -I: no PYTHONPATH, no cwd, no user site: only the script's directory and the image's packages
    done = _run(sys.executable, ["-I", str(code / "anonymize.py"), *layout.argv], env, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "anonymization: 300 rows in" in done.stdout
    for part in ("train/data.csv", "test/data.csv", "report/report.json", "transformer/transformer.skops"):
        assert (layout.outputs / part).is_file(), part
    assert not layout.failure.exists()

    bad = anonymize_job(tmp_path / "bad", "bad input")
    shutil.copytree(code, bad.ml / "processing" / "input" / "code")
    done = _run(sys.executable, ["-I", str(bad.ml / "processing" / "input" / "code" / "anonymize.py"), *bad.argv],
                env, tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert bad.failure.read_text().startswith("privml anonymization failed: ")


@pytest.mark.slow
def test_the_processing_bundles_bootstrap_privml_in_a_stock_image(tmp_path: Path) -> None:
    """The scikit-learn image (privml's dependencies, no privml: tests/contract/toolkits.py): each processing
    job's runner installs privml from its bundle's wheels with no index, then runs the job."""
    from tests.contract.toolkits import new_container

    ok = anonymize_job(tmp_path / "anonymize", "ok")
    runs = [("processing/anonymize.py", ok, 0)]
    runs += [(script, make(tmp_path / Path(script).stem, "bad input"), 2)
             for script, make in (("processing/evaluate.py", evaluate_job), ("processing/prepare_keys.py",
                                                                             prepare_keys_job))]
    for script, layout, expected in runs:
        container = new_container(tmp_path / f"container-{Path(script).stem}")  # a fresh one: no privml
        code = _bundle(layout.ml / "processing" / "input" / "code", script, tmp_path / "dist")
        env = container.env({**layout.env, "PRIVML_WORKSPACE": str(tmp_path / "ws")})
        done = _run(container.python, [str(code / Path(script).name), *layout.argv], env, tmp_path)
        assert done.returncode == expected, (script, done.stdout[-2000:], done.stderr[-3000:])
        assert "Successfully installed privml-" in done.stdout, (script, done.stdout[-2000:])  # the bootstrap
        installed = subprocess.run([str(container.python), "-c", "import privml; print(privml.__file__)"],
                                   env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        assert installed.startswith(str(container.root)), installed  # into the container, from the bundle
        if expected:
            assert layout.failure.read_text().startswith("privml "), script
        else:
            assert (layout.outputs / "train" / "data.csv").is_file() and not layout.failure.exists()
