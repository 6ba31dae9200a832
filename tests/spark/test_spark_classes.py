"""Spark Mondrian's equivalence classes are the release's distinct tuples, across top-level parts, and are
checked against the targets as one; what Spark does not compute is refused before Spark starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from privml.anonymity.models import Constraints, SensitiveColumn
from privml.anonymize import anonymize_table
from privml.errors import CheckFailed
from privml.spark.job import anonymize_frame
from privml.spark.mondrian import check_released_classes
from tests.anonymity.conftest import make_policy
from tests.conftest import REPO
from tests.spark.conftest import spark_frame

pytestmark = pytest.mark.spark


def test_partitions_of_two_parts_with_the_same_labels_are_one_class(spark: Any, tmp_path: Path) -> None:
    # four cities of one region, six rows each: k=10 cuts them into {a, b} and {c, d} (12 rows each),
    # a part size of 12 puts those in two top-level parts, and both boxes are labelled by the region
    hierarchy = tmp_path / "city.csv"
    hierarchy.write_text("".join(f"{c};Region;*\n" for c in "abcd"))
    rows = pd.DataFrame({"city": [c for c in "abcd" for _ in range(6)]})
    policy = make_policy({"city": str(hierarchy)}, {"algorithm": "mondrian", "k": 10})
    on_spark = anonymize_frame(spark_frame(spark, rows, partitions=2), policy, max_partition_rows=12)
    in_memory = anonymize_table(rows, policy)
    released = on_spark.data.toPandas()
    assert on_spark.report["transformation"]["spark_parts"] == 2
    assert on_spark.report["transformation"]["partitions"] == 2
    assert set(released["city"]) == {"Region"}  # one released tuple: one class of 24
    assert on_spark.report["utility"]["classes"] == in_memory.report["utility"]["classes"] == 1
    assert on_spark.report["class_sizes"] == in_memory.report["class_sizes"]
    assert on_spark.report["k"] == in_memory.report["k"] == 24
    assert on_spark.report["risk"] == in_memory.report["risk"]


def _column(codes: list[int], weights: list[int], n_values: int) -> SensitiveColumn:
    counts = np.bincount(codes, weights=weights, minlength=n_values)
    return SensitiveColumn("diagnosis", np.asarray(codes, dtype=np.int64), n_values, counts / counts.sum())


def test_a_released_class_short_of_a_target_fails_the_release() -> None:
    # distinct tuples (weighted by their rows) in classes 0, 0, 1, 1; class 1 has 3 rows, one diagnosis
    classes = np.array([0, 0, 1, 1])
    weights = np.array([3, 4, 2, 1])
    sensitive = [_column([0, 1, 1, 1], list(weights), 2)]
    check_released_classes(Constraints(k=3), 0.0, classes, 2, weights, sensitive)
    with pytest.raises(CheckFailed, match=r"k=4.*\(1 class\(es\) fall short\)"):
        check_released_classes(Constraints(k=4), 0.0, classes, 2, weights, sensitive)
    with pytest.raises(CheckFailed, match="distinct l-diversity l=2"):
        check_released_classes(Constraints(k=2, l_kind="distinct", l=2.0, sensitive=("diagnosis",)), 0.0,
                               classes, 2, weights, sensitive)


FAKE_JAVA = "#!/bin/sh\ntouch {marker}\nexit 1\n"


@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_a_population_is_refused_before_spark_starts(tmp_path: Path, algorithm: str) -> None:
    # a `java` that records being started: Spark must not get that far
    java_home = tmp_path / "java"
    (java_home / "bin").mkdir(parents=True)
    marker = tmp_path / "spark-started"
    (java_home / "bin" / "java").write_text(FAKE_JAVA.format(marker=marker))
    (java_home / "bin" / "java").chmod(0o755)
    data = tmp_path / "input"
    data.mkdir()
    pd.DataFrame({"age": ["30", "41"] * 10, "zip": ["02139", "02140"] * 10}).to_csv(data / "rows.csv",
                                                                                   index=False)
    (tmp_path / "population.csv").write_text("age,zip\n30,02139\n")
    anonymity: dict[str, Any] = {"algorithm": algorithm, "k": 2, "population": str(tmp_path / "population.csv")}
    columns = {c: {"role": "quasi_identifier", "action": "keep"} for c in ("age", "zip")}
    if algorithm == "global_recoding":
        columns["age"]["hierarchy"] = {"type": "interval", "widths": [10]}
        columns["zip"]["hierarchy"] = {"type": "prefix", "levels": 2}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"columns": columns, "anonymity": anonymity}))
    out = tmp_path / "output"
    env = {**os.environ, "JAVA_HOME": str(java_home), "PRIVML_KEY_PROVIDER": "none", "TMPDIR": str(tmp_path),
           "PRIVML_FAILURE_FILE": str(tmp_path / "message"), "PRIVML_SPARK_MASTER": "local[1]"}
    done = subprocess.run([sys.executable, str(REPO / "processing" / "spark_anonymize.py"), "--policy",
                           str(policy), "--input", str(data), "--output", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "anonymity.population" in lines[0], done.stderr
    assert not marker.exists()  # refused before Spark started
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
