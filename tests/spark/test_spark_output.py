"""The Spark release is written by the driver alone: on a multi-host cluster an executor's disk is not the
driver's, so no function shipped to a worker may name an output path, and the rows in the part files
are exactly the rows the report counts."""

from __future__ import annotations

import dataclasses
import io
import stat
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd
import pytest

from privml.anonymize import SPLITS
from privml.spark.job import anonymize_frame
from privml.spark.output import write_release
from tests.anonymity.conftest import ADULT, adult_policy
from tests.spark.conftest import spark_frame

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def released(spark: Any) -> Any:
    adult = pd.read_csv(ADULT / "adult.csv", sep=";", dtype=str)
    # global recoding with suppression: fewer rows out than in, so a miscount shows
    result = anonymize_frame(spark_frame(spark, adult, partitions=3), adult_policy(k=5, max_suppression=0.04))
    assert 0 < result.report["rows_out"] < result.report["rows_in"]
    return result


def _part_files(out: Path) -> dict[str, list[Path]]:
    return {name: sorted((out / name).glob("*.csv")) for name in SPLITS}


def test_no_function_shipped_to_the_workers_names_an_output_path(released: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.sql import DataFrame

    shipped: list[Any] = []
    original = DataFrame.mapInPandas

    def recording(self: Any, function: Any, schema: Any, *args: Any, **kwargs: Any) -> Any:
        shipped.append(function)
        return original(self, function, schema, *args, **kwargs)

    monkeypatch.setattr(DataFrame, "mapInPandas", recording)
    out = tmp_path / "release-output" / "out"
    write_release(released, out, fractions=(0.7, 0.15, 0.15), seed=0)
    assert shipped, "the release is rendered by a mapInPandas body"
    for function in shipped:
        pickled = cloudpickle.dumps(function)  # what Spark sends to the executors
        for name in ("release-output", "privml-staging", tmp_path.name):
            assert name.encode() not in pickled, name


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "from-the-released-frame"])
def test_the_rows_written_are_the_rows_the_report_counts(released: Any, tmp_path: Path, fused: bool) -> None:
    out = tmp_path / "out"
    result = released if fused else dataclasses.replace(released, source=None, release_batches=None)
    rows = write_release(result, out, fractions=(0.7, 0.15, 0.15), seed=3)
    files = _part_files(out)
    expected = released.data.toPandas()
    written = []
    for name in SPLITS:
        assert files[name], name
        for path in files[name]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            assert list(frame.columns) == list(expected.columns)
            # the bytes pandas' writer gives (privml.io.write_table's): re-rendering changes nothing
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False)
            assert path.read_bytes() == buffer.getvalue().encode("utf-8")
            written.append(frame)
        assert rows[name] == sum(len(pd.read_csv(p, dtype=str)) for p in files[name])
    table = pd.concat(written, ignore_index=True)
    assert len(table) == sum(rows.values()) == released.report["rows_out"]
    key = list(expected.columns)
    assert table.sort_values(key).reset_index(drop=True).equals(
        expected.fillna("").sort_values(key).reset_index(drop=True))
    import json

    report = json.loads((out / "report" / "report.json").read_text())
    assert {name: report["splits"][name]["rows"] for name in SPLITS} == rows


def test_a_release_that_does_not_hold_the_rows_its_report_counts_is_not_written(released: Any,
                                                                                 tmp_path: Path) -> None:
    miscounted = dataclasses.replace(released, report={**released.report, "rows_out": released.report["rows_out"] + 1})
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="rows"):
        write_release(miscounted, out, fractions=(0.7, 0.15, 0.15), seed=0)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing partial, no staging left


def test_the_driver_fetches_one_rendered_part_at_a_time(spark: Any, tmp_path: Path, monkeypatch) -> None:
    """An input partition is a whole CSV file (multi-line values make CSV unsplittable), so its rendered
    parts would reach the driver together in one toLocalIterator fetch: a 10M-row file's 850 MB of parts
    exhausted the driver's 1 GB heap. The parts are spread one per partition before they are fetched."""
    from pyspark.sql import DataFrame

    from privml.spark.output import _rendered_schema, write_parts

    parts = [(0, batch, split, 2, f"a,b\n{batch},{split}\n".encode()) for batch in range(4) for split in SPLITS]
    rendered = spark.createDataFrame(parts, schema=_rendered_schema()).coalesce(1)  # one file's parts
    fetched: list[tuple[int, int]] = []
    original = DataFrame.toLocalIterator

    def spy(self: DataFrame, prefetchPartitions: bool = False):
        fetched.append((self.rdd.getNumPartitions(), self.count()))
        return original(self, prefetchPartitions)

    monkeypatch.setattr(DataFrame, "toLocalIterator", spy)
    for name in SPLITS:
        (tmp_path / name).mkdir()
    rows = write_parts(rendered, tmp_path)
    assert fetched == [(len(parts), len(parts))]
    assert rows == dict.fromkeys(SPLITS, 8)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [f"part-00000-{b:04d}.csv" for b in range(4)]
