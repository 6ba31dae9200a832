"""The SparkSession privml runs on, and what it refuses to start without.

`require_spark()` is the bad-input check of every Spark run (`run --local` with `anonymize.engine: spark`
and the Spark Anonymize job): without pyspark (the `spark` extra) or without a Java runtime it raises one
PrivmlError (exit 2) saying what to install, before any job starts or any output exists.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError

INSTALL_EXTRA = "pip install 'privml[spark]'"
INSTALL_JAVA = "a Java 17 runtime (Debian/Ubuntu: apt-get install default-jre-headless)"
ARROW_BATCH_ROWS = 50_000


def java_executable() -> str | None:
    """The `java` Spark will start: $JAVA_HOME/bin/java when JAVA_HOME is set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules (import blocked)
        return False


def missing_requirements() -> list[str]:
    """What a Spark run lacks on this machine, as install instructions (empty: nothing)."""
    missing = []
    if not _importable("pyspark"):
        missing.append(f"pyspark ({INSTALL_EXTRA})")
    if java_executable() is None:
        missing.append(INSTALL_JAVA)
    return missing


def require_spark(what: str = "anonymize.engine: spark") -> None:
    missing = missing_requirements()
    if missing:
        raise PrivmlError(f"{what} needs {' and '.join(missing)}; install it, or set anonymize.engine: pandas")


def _worker_python() -> str:
    """The interpreter of Spark's Python workers: this one; inside a `run --local` job, a wrapper that
    starts it in the job's sandbox (pipelines/local/job_boot.py), so the workers see what the job sees."""
    boot, sandbox = os.environ.get("PRIVML_JOB_BOOT"), os.environ.get("PRIVML_JOB_CHILD_SANDBOX")
    if not boot or not sandbox:
        return sys.executable
    wrapper = Path(os.environ.get("TMPDIR") or Path(boot).parent) / "spark-worker-python"
    wrapper.write_text(f'#!/bin/sh\nPRIVML_JOB_SANDBOX="$PRIVML_JOB_CHILD_SANDBOX" exec {shlex.quote(sys.executable)} '
                       f'-I -S -B {shlex.quote(boot)} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o700)
    return str(wrapper)


def local_parallelism(master: str) -> int:
    """Tasks per stage for a `local[N]` master: two per core (`local[*]`: this machine's cores)."""
    threads = (master[master.find("[") + 1:master.find("]")] if "[" in master else "1").split(",")[0]
    cores = (os.cpu_count() or 1) if threads == "*" else int(threads or 1)
    return max(2 * cores, 2)


def spark_session(master: str | None = None, *, app_name: str = "privml-anonymize",
                  conf: dict[str, str] | None = None) -> Any:
    """A SparkSession: `master` (e.g. `local[*]`), else $PRIVML_SPARK_MASTER, else whatever spark-submit
    configured (the SageMaker Spark image's YARN cluster). Python workers run this interpreter, so they
    import the same privml; Spark's own log is silenced below ERROR and its console progress bar off
    (a task failure's log line would quote the worker's traceback)."""
    require_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", _worker_python())
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    master = master or os.environ.get("PRIVML_SPARK_MASTER")
    if master:
        builder = builder.master(master)
    scratch = os.environ.get("TMPDIR")  # a local job's scratch: wiped with the job (shuffle and spill files)
    local = (master or "").startswith("local")
    settings = {
        **({"spark.local.dir": scratch, "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={scratch}"}
           if scratch else {}),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        # Rows per Arrow batch into a Python worker: each batch pays the transformer's fixed costs (the
        # partition checks, a hierarchy lookup table), 10,000 (Spark's default) pays them too often.
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        # Spark's 200 shuffle partitions are for a cluster; in local mode each is a task (and a Python
        # worker round trip for applyInPandas) on one of a few cores. On a cluster spark-submit decides.
        **({"spark.sql.shuffle.partitions": str(local_parallelism(master or "")),
            "spark.default.parallelism": str(local_parallelism(master or ""))} if local else {}),
        # A local driver listens on the loopback interface only.
        "spark.driver.host": "127.0.0.1" if local else "",
        "spark.driver.bindAddress": "127.0.0.1" if local else "",
        **(conf or {}),
    }
    for key, value in settings.items():
        if value:
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("OFF")
    return session
