"""The session's task counts: a local master gets a few tasks per core, not Spark's cluster default of 200."""

from __future__ import annotations

import os

import pytest

from privml.spark.session import local_parallelism


@pytest.mark.parametrize(("master", "tasks"), [("local", 2), ("local[1]", 2), ("local[2]", 4), ("local[4,3]", 8)])
def test_a_local_master_gets_two_tasks_per_core(master: str, tasks: int) -> None:
    assert local_parallelism(master) == tasks


def test_local_star_counts_this_machines_cores() -> None:
    assert local_parallelism("local[*]") == 2 * (os.cpu_count() or 1)
