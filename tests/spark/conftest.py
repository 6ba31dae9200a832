"""One SparkSession for every Spark test (Spark starts in ~10 s); skipped, saying why, without Java or
pyspark (CI installs both: .ci/run and the `spark` extra of `.[dev]`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from privml.spark.session import missing_requirements

MISSING = missing_requirements()



def needs_spark() -> None:
    if MISSING:
        pytest.skip(f"Spark tests need {' and '.join(MISSING)}")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    needs_spark()
    from privml.spark.session import spark_session

    session = spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "4",
                                              "spark.default.parallelism": "2"})
    yield session
    session.stop()


def spark_frame(spark: Any, frame: pd.DataFrame, partitions: int = 3) -> Any:
    """A Spark DataFrame of string columns (as the job reads CSV), spread over `partitions`."""
    from pyspark.sql.types import StringType, StructField, StructType

    text = frame.astype(object).where(frame.notna(), None)
    schema = StructType([StructField(str(c), StringType(), True) for c in text.columns])
    return spark.createDataFrame(text, schema=schema).repartition(partitions)
