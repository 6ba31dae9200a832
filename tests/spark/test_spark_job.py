"""The Spark Anonymize job as SageMaker runs it: a SIGKILL leaves no partial output visible, and a Spark
run without Java or without the `spark` extra says in one line what to install, exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.anonymity.conftest import ADULT
from tests.conftest import REPO
from tests.spark.conftest import needs_spark

pytestmark = pytest.mark.spark

JOB = REPO / "processing" / "spark_anonymize.py"
POLICY = {
    "columns": {**{c: {"role": "quasi_identifier", "action": "keep"} for c in ("age", "sex", "education")},
                "salary-class": {"role": "label", "action": "keep"}},
    "anonymity": {"algorithm": "mondrian", "k": 10}, "unlisted_columns": "drop",
}


def _job_dirs(tmp_path: Path, copies: int = 1) -> tuple[Path, Path, Path]:
    data = tmp_path / "processing" / "input" / "data"
    data.mkdir(parents=True)
    for i in range(copies):  # one file per Spark partition
        (data / f"part-{i}.csv").write_bytes((ADULT / "adult.csv").read_bytes())
    policy = tmp_path / "processing" / "input" / "policy" / "policy.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump(POLICY))
    out = tmp_path / "processing" / "output"
    for name in ("train", "validation", "test", "report", "transformer"):
        (out / name).mkdir(parents=True)  # SageMaker creates the declared output directories
    return data, policy, out


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PRIVML_KEY_PROVIDER": "none", "PRIVML_FAILURE_FILE": str(tmp_path / "message"),
            "PRIVML_SPARK_MASTER": "local[1]", "TMPDIR": str(tmp_path), **extra}


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def test_a_kill_during_the_spark_anonymize_leaves_no_partial_output(tmp_path: Path) -> None:
    needs_spark()
    data, policy, out = _job_dirs(tmp_path, copies=4)
    proc = subprocess.Popen([sys.executable, str(JOB), "--policy", str(policy), "--input", str(data),
                             "--output", str(out)], env=_env(tmp_path), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    staged: list[Path] = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            staged = [p for d in out.parent.glob(".privml-staging-*") for p in (d / "train").glob("part-*.csv")]
            if staged:  # the release is being written: part files exist, the outputs are not yet renamed
                break
            time.sleep(0.02)
        assert staged and proc.poll() is None, "the job ended before its release was being written"
        os.killpg(proc.pid, signal.SIGKILL)  # the job, its JVM and its Python workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _files(out) == []  # every declared output empty: nothing partial is visible


def test_without_java_the_job_says_what_to_install_and_exits_2(tmp_path: Path) -> None:
    data, policy, out = _job_dirs(tmp_path)
    env = _env(tmp_path, PATH=str(tmp_path / "no-java"))
    env.pop("JAVA_HOME", None)
    done = subprocess.run([sys.executable, str(JOB), "--policy", str(policy), "--input", str(data),
                           "--output", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Java 17 runtime" in lines[0] and "apt-get install default-jre-headless" in lines[0]
    assert (tmp_path / "message").read_text().strip() == lines[0]
    assert _files(out) == []


LOCAL_CONFIG = {
    "region": "us-east-1", "role_arn": "arn:aws:iam::000000000000:role/privml-local-execution",
    "bucket": "privml-local", "local": True,
    "kms": {p: f"alias/privml-{p}" for p in ("data", "volume", "model", "endpoint", "capture")},
    "network": {"subnets": ["subnet-00000000000000000"], "security_group_ids": ["sg-00000000000000000"]},
    "anonymize": {"engine": "spark"},
}
# pyspark made unimportable (as in an install without the `spark` extra), then `privml run --local`
NO_PYSPARK = """
import sys
sys.modules["pyspark"] = None  # import pyspark fails, as without the extra
from privml.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_run_local_without_the_spark_extra_says_what_to_install_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(LOCAL_CONFIG))
    workspace = tmp_path / "ws"
    done = subprocess.run([sys.executable, "-c", NO_PYSPARK, "run", "--local", "--config", str(config),
                           "--no-endpoint"], env={**os.environ, "PRIVML_WORKSPACE": str(workspace)},
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "anonymize.engine: spark needs pyspark (pip install 'privml[spark]')" in lines[0]
    # refused before any job ran: no run recorded, nothing stored
    assert not (workspace / "objects").exists() or _files(workspace / "objects") == []
    assert json.dumps(LOCAL_CONFIG)  # the config itself is valid: only the missing extra is refused
