"""`privml anonymize --engine auto|memory|streaming --batch-rows N`: the streaming engine writes what the
in-memory one writes (one data.csv, or train/validation/test with --split), auto streams a table over
--max-size instead of refusing it, and bad input is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from privml.cli import main
from privml.transformer import PrivacyTransformer
from tests.test_cli_bad_input import CASES

POLICY = """
keys: {tokens: alias/engines}
columns:
  email: {role: identifier, action: tokenize, key: tokens}
  age: {role: quasi_identifier, action: keep, hierarchy: {type: interval, width: 10, levels: 3}}
  sex: {role: quasi_identifier, action: keep}
  zip_code: {role: quasi_identifier, action: keep, hierarchy: {type: prefix, levels: 3}}
  diagnosis: {role: sensitive, action: keep}
  income: {role: feature, action: generalize, params: {width: 10000}}
  education: {role: feature, action: keep}
  readmitted: {role: label, action: keep}
unlisted_columns: drop
anonymity: {algorithm: global_recoding, k: 4, max_suppression: 0.05}
"""
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from privml.sampledata import generate

    path = tmp_path_factory.mktemp("table") / "patients.csv"
    frame = generate(rows=600, seed=3)
    frame.loc[[5, 77, 410], "education"] = ""  # empty cells: missing in both engines
    frame["income"] = frame["income"].astype(str)
    frame.loc[[6, 300], "income"] = ""
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def anonymize(data: Path, policy: Path, out: Path, *options: str) -> int:
    return main(["anonymize", str(data), "--policy", str(policy), "-o", str(out), *options])


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def transformer_state(out: Path) -> dict:
    state = PrivacyTransformer.load(out / "transformer.skops").__getstate__()
    return json.loads(json.dumps(state, default=str))


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def test_streaming_writes_the_one_data_csv_the_memory_engine_writes(tmp_path, table, policy, capsys):
    memory, streamed = tmp_path / "memory", tmp_path / "streamed"
    assert anonymize(table, policy, memory, "--engine", "memory") == 0
    assert anonymize(table, policy, streamed, "--engine", "streaming", "--batch-rows", "37") == 0  # 17 batches
    assert "(streaming engine)" in capsys.readouterr().out
    assert files(streamed) == files(memory) and "data.csv" in files(memory)
    assert (streamed / "data.csv").read_bytes() == (memory / "data.csv").read_bytes()
    a, b = report(memory), report(streamed)
    assert a["suppressed_rows"] > 0 and "splits" not in b
    assert b.pop("engine") == "streaming" and a == b
    assert transformer_state(streamed) == transformer_state(memory)
    assert (streamed / "policy.yaml").read_bytes() == (memory / "policy.yaml").read_bytes()


def test_streaming_with_split_writes_the_three_splits(tmp_path, table, policy):
    memory, streamed = tmp_path / "memory", tmp_path / "streamed"
    split = ("--split", "0.6,0.2,0.2", "--seed", "4")
    assert anonymize(table, policy, memory, "--engine", "memory", *split) == 0
    assert anonymize(table, policy, streamed, "--engine", "streaming", "--batch-rows", "50", *split) == 0
    assert files(streamed) == files(memory) and "data.csv" not in files(memory)

    def released(out: Path) -> pd.DataFrame:  # the split differs (per-row draw): the rows do not
        parts = [pd.read_csv(out / s / "data.csv", dtype=str, keep_default_na=False) for s in SPLITS]
        frame = pd.concat(parts, ignore_index=True)
        return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)

    assert released(streamed).equals(released(memory))
    assert set(report(streamed)["splits"]) == set(SPLITS)
    assert sum(report(streamed)["splits"][s]["rows"] for s in SPLITS) == report(memory)["rows_out"]


def test_auto_streams_a_table_over_max_size_instead_of_refusing_it(tmp_path, table, policy):
    out = tmp_path / "out"
    assert anonymize(table, policy, out, "--max-size", "10k") == 0
    assert report(out)["engine"] == "streaming"
    assert (out / "data.csv").is_file()


def test_auto_reads_a_small_table_in_memory_unless_batches_are_asked_for(tmp_path, table, policy):
    assert anonymize(table, policy, tmp_path / "small", "--max-size", "10M") == 0
    assert "engine" not in report(tmp_path / "small")
    assert anonymize(table, policy, tmp_path / "batched", "--batch-rows", "100") == 0
    assert report(tmp_path / "batched")["engine"] == "streaming"


def test_memory_engine_still_refuses_a_table_over_max_size_pointing_at_streaming(tmp_path, table, policy, capsys):
    code, err = run_bad(tmp_path, table, policy, capsys, "--engine", "memory", "--max-size", "10k")
    assert code == 2 and "over the 10.0 KB limit" in err and "--engine streaming" in err


def run_bad(tmp_path: Path, data: Path, policy: Path, capsys, *options: str) -> tuple[int, str]:
    out = tmp_path / "out"
    code = anonymize(data, policy, out, *options)
    err = capsys.readouterr().err
    assert not out.exists(), "no partial output"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "no temporary leftovers"
    assert err.count("\n") == 1 and err.startswith("privml: error:"), err
    assert "CANARY" not in err
    return code, err


# What the streaming reader says where the in-memory one says it otherwise (both name lines or rows).
STREAMING_MESSAGES = {"wrong delimiter": "a row has 3 fields, expected 2", "not utf-8": "not UTF-8 text"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_to_the_streaming_engine_is_one_clear_line(tmp_path, capsys, case):
    content, message = CASES[case]
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns:\n  email: {role: identifier, action: redact}\n"
                      "  income: {role: feature, action: generalize, params: {width: 1000}}\n")
    data = tmp_path / "nope.csv"
    if content is not None:
        data.write_bytes(content)
    code, err = run_bad(tmp_path, data, policy, capsys, "--engine", "streaming", "--batch-rows", "1")
    assert code == 2
    assert re.search(STREAMING_MESSAGES.get(case, message), err), err


def test_a_bad_cell_in_a_later_batch_names_its_row_in_the_table(tmp_path, policy, capsys):
    data = tmp_path / "data.csv"
    rows = [f"a{i}@x.org,{i * 100}" for i in range(1, 13)]
    rows[9] = "j@x.org,CANARY-income"  # the table's data row 10: batch 3 of 4 rows, its second row
    data.write_text("email,income\n" + "\n".join(rows) + "\n")
    policy.write_text("columns:\n  email: {role: identifier, action: redact}\n"
                      "  income: {role: feature, action: generalize, params: {width: 1000}}\n")
    code, err = run_bad(tmp_path, data, policy, capsys, "--engine", "streaming", "--batch-rows", "4")
    assert code == 2 and "column 'income'" in err and "(rows 10)" in err


@pytest.mark.parametrize(("options", "message"), [
    (("--batch-rows", "0"), "--batch-rows must be at least 1"),
    (("--engine", "memory", "--batch-rows", "100"), "--batch-rows is for the streaming engine"),
    (("--engine", "streaming", "--max-size", "1G"), "--max-size limits the memory engine"),
    (("--engine", "streaming", "--split", "0.5,0.5,0.5"), "split fractions must be non-negative and sum to 1"),
])
def test_options_the_engine_cannot_honour_are_refused(tmp_path, table, policy, capsys, options, message):
    code, err = run_bad(tmp_path, table, policy, capsys, *options)
    assert code == 2 and message in err


def test_a_directory_is_refused_by_name(tmp_path, policy, capsys):
    folder = tmp_path / "tables"
    folder.mkdir()
    code, err = run_bad(tmp_path, folder, policy, capsys, "--engine", "streaming")
    assert code == 2 and "is a directory" in err
