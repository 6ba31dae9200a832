"""The streaming engine agrees with the in-memory one (Adult and generated data), reads what read_table
reads, leaves nothing behind when it fails, and refuses what it cannot do right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from privml.anonymize_stream import split_of
from privml.errors import PrivmlError
from privml.io import read_table, write_table
from privml.io.stream import TableStream
from privml.policy import parse_policy
from privml.transformer import PrivacyTransformer
from tests.anonymity.saved_models import policy as sample_policy
from tests.anonymity.saved_models import raw
from tests.anonymity.states import as_json

from .conftest import ADULT, REPO

SPLITS = ("train", "validation", "test")


def run_job(tmp: Path, data: Path, policy: Path, engine: str, *extra: str, batch_rows: int = 4000) -> tuple[int, Path]:
    """The Anonymize job; the streaming engine reads `batch_rows` rows at a time (Adult: 8 batches)."""
    from processing.anonymize import main

    out = tmp / f"out-{engine}"
    code = main(["--policy", str(policy), "--input", str(data), "--output", str(out), f"--engine={engine}",
                 f"--batch-rows={batch_rows}", *extra])
    return code, out


def released_rows(out: Path) -> pd.DataFrame:
    parts = [pd.read_csv(out / s / "data.csv", dtype=str, keep_default_na=False) for s in SPLITS]
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def transformer_state(out: Path) -> dict:
    state = PrivacyTransformer.load(out / "transformer" / "transformer.skops").__getstate__()
    return as_json(state)


def assert_jobs_agree(tmp: Path, data: Path, policy: Path, *extra: str, batch_rows: int = 4000) -> tuple[dict, dict]:
    (code_m, mem), (code_s, streamed) = (run_job(tmp, data, policy, "memory", *extra),
                                         run_job(tmp, data, policy, "streaming", *extra, batch_rows=batch_rows))
    assert code_m == 0 and code_s == 0
    a = json.loads((mem / "report" / "report.json").read_text())
    b = json.loads((streamed / "report" / "report.json").read_text())
    assert b.pop("engine") == "streaming"
    for key in ("splits", "warnings"):  # the split differs (per-row draw): the one stated difference
        a.pop(key, None), b.pop(key, None)
    assert a == b
    assert transformer_state(mem) == transformer_state(streamed)
    # the same released rows, byte for byte once sorted; the same header
    assert released_rows(mem).equals(released_rows(streamed))
    for split in SPLITS:
        assert (mem / split / "data.csv").read_text().splitlines()[0] == \
            (streamed / split / "data.csv").read_text().splitlines()[0]
    return a, b


@pytest.fixture
def adult_job(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(ADULT / "adult.csv", data / "adult.csv")
    spec = yaml.safe_load((REPO / "examples" / "adult_arx.yaml").read_text())
    for column in spec["columns"].values():
        column["hierarchy"] = str(REPO / "examples" / column["hierarchy"])
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(spec))
    return data, policy


@pytest.mark.parametrize("k", [5, 100])
def test_streaming_job_matches_memory_on_adult(tmp_path, adult_job, monkeypatch, k):
    monkeypatch.setenv("PRIVML_FAILURE_FILE", str(tmp_path / "failure"))
    data, policy = adult_job
    report, _ = assert_jobs_agree(tmp_path, data, policy, f"--k={k}")
    assert report["k"] >= k and report["suppressed_rows"] > 0  # the third pass (suppressed rows) ran


@pytest.mark.parametrize("algorithm", ["global_recoding", "mondrian"])
def test_streaming_job_matches_memory_on_generated_data(tmp_path, monkeypatch, algorithm):
    monkeypatch.setenv("PRIVML_FAILURE_FILE", str(tmp_path / "failure"))
    monkeypatch.setenv("PRIVML_KEY_PROVIDER", "none")
    data = tmp_path / "in"
    data.mkdir()
    table = raw(4000, seed=11)
    write_table(table.iloc[:2500], data / "a.csv")  # two files, one table
    write_table(table.iloc[2500:], data / "b.csv")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(sample_policy(algorithm)))
    report, _ = assert_jobs_agree(tmp_path, data, policy, batch_rows=700)
    assert report["rows_in"] == 4000


def test_fit_stream_is_fit_on_the_concatenated_table_with_missing_cells():
    rng = np.random.default_rng(5)
    n = 3000
    table = pd.DataFrame({"age": rng.integers(18, 90, n).astype(str), "zip": rng.choice(["101", "102", "205"], n),
                          "dx": rng.choice(["a", "b", "c"], n), "income": rng.integers(0, 9, n).astype(str)})
    table.loc[rng.random(n) < 0.03, "zip"] = None
    for algorithm in ("global_recoding", "mondrian"):
        anonymity = {"algorithm": algorithm, "k": 6, "l_diversity": {"kind": "distinct", "l": 2},
                     "max_suppression": 0.05, "missing": "value"}
        policy = parse_policy({"columns": {"age": {"role": "quasi_identifier", "action": "keep"},
                                           "zip": {"role": "quasi_identifier", "action": "keep"},
                                           "dx": {"role": "sensitive", "action": "keep"},
                                           "income": {"role": "feature", "action": "keep"}},
                               "anonymity": anonymity})
        whole = PrivacyTransformer.from_policy(policy, key_provider="none")
        whole.fit(table)
        streamed = PrivacyTransformer.from_policy(policy, key_provider="none")
        streamed.fit_stream(lambda: (table.iloc[i:i + 450] for i in range(0, n, 450)))
        assert as_json(whole.__getstate__()) == as_json(streamed.__getstate__())
        pd.testing.assert_frame_equal(whole.transform(table), streamed.transform(table))


def test_table_stream_reads_what_read_table_reads(tmp_path):
    frame = pd.DataFrame({"id": ["007", "010", "", "x;y"], "city": ["Köln", "", "Paris", "Lyon"],
                          "note": ['say "hi"', "a,b", "line\nbreak", ""]})
    for sep in (",", ";"):
        path = tmp_path / f"t{sep == ';'}.csv"
        frame.to_csv(path, index=False, sep=sep)
        got = pd.concat(TableStream([path], batch_rows=3).batches())
        pd.testing.assert_frame_equal(got, read_table(path))
    parquet = tmp_path / "t.parquet"
    frame.replace("", None).to_parquet(parquet)
    got = pd.concat(TableStream([parquet], batch_rows=2).batches(["note", "id"]))
    pd.testing.assert_frame_equal(got, read_table(parquet)[["id", "note"]])


def test_table_stream_bad_rows_name_the_file_never_a_value(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,SECRET-VALUE,4\n5,6\n")
    with pytest.raises(PrivmlError) as err:
        list(TableStream([path]).batches())
    assert "SECRET-VALUE" not in str(err.value) and str(path) in str(err.value) and "3 fields" in str(err.value)
    stream = TableStream([path], bad_rows="skip")
    assert len(pd.concat(stream.batches())) == 2 and stream.bad_rows_skipped == 1
    other = tmp_path / "u.csv"
    other.write_text("a,c\n1,2\n")
    with pytest.raises(PrivmlError, match="columns differ"):
        TableStream([path, other])


def test_a_crash_mid_stream_leaves_no_output(tmp_path, adult_job, monkeypatch):
    monkeypatch.setenv("PRIVML_FAILURE_FILE", str(tmp_path / "failure"))
    data, policy = adult_job
    calls = {"n": 0}
    original = PrivacyTransformer.transform

    def crash_on_the_fourth_batch(self, X):
        calls["n"] += 1
        if calls["n"] == 4:
            raise MemoryError("simulated")
        return original(self, X)

    monkeypatch.setattr(PrivacyTransformer, "transform", crash_on_the_fourth_batch)
    code, out = run_job(tmp_path, data, policy, "streaming")
    assert code != 0 and calls["n"] == 4  # the write pass had written three batches
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    assert not [p for p in tmp_path.rglob("data.csv") if "in" not in p.parts]


def test_more_than_one_processing_instance_is_refused(tmp_path, adult_job, monkeypatch):
    # the job's layout on an instance: <ml>/processing/{input,output}, <ml>/config/resourceconfig.json
    failure = tmp_path / "failure"
    monkeypatch.setenv("PRIVML_FAILURE_FILE", str(failure))
    data, policy = adult_job
    ml = tmp_path / "ml"
    shutil.copytree(data, ml / "processing" / "input" / "data")
    (ml / "config").mkdir(parents=True)
    (ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1",
                                                                   "hosts": ["algo-1", "algo-2"]}))
    from processing.anonymize import main

    out = ml / "processing" / "output"
    args = ["--policy", str(policy), "--input", str(ml / "processing" / "input" / "data"), "--output", str(out)]
    assert main(args) == 2
    assert "ProcessingInstanceCount 2" in failure.read_text() and "Spark" in failure.read_text()
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    (ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    assert main(args) == 0


def test_split_of_is_a_deterministic_per_row_draw():
    positions = np.arange(200_000)
    split = split_of(positions, (0.7, 0.15, 0.15), seed=3)
    assert np.array_equal(split, split_of(positions, (0.7, 0.15, 0.15), seed=3))
    assert np.array_equal(split[1000:2000], split_of(positions[1000:2000], (0.7, 0.15, 0.15), seed=3))
    assert not np.array_equal(split, split_of(positions, (0.7, 0.15, 0.15), seed=4))
    shares = np.bincount(split, minlength=3) / len(split)
    assert np.allclose(shares, [0.7, 0.15, 0.15], atol=0.005)
    with pytest.raises(PrivmlError, match="sum to 1"):
        split_of(positions, (0.7, 0.2, 0.2), seed=0)
