"""A DP run through `privml run --local`: refused before any job starts when the policy leaves an input's
domain to the data (exit 2, one line naming the columns), and ε adding up across retrains of the same
data in the run records and `privml runs list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines.local.records import list_records
from privml.cli import main
from tests.models.jobs import sample_policy
from tests.models.test_train_job import DIAGNOSES, EDUCATION, SEXES

ROWS = 400


def _dp_policy(path: Path, *, declared: bool) -> Path:
    policy = sample_policy({"algorithm": "mondrian", "k": 5})
    columns = policy["columns"]
    for name in ("date_of_birth", "admission_date", "zip_code"):  # not in this model: dropped
        columns[name] = {"role": "identifier", "action": "drop"}
    columns["age"] = {"role": "quasi_identifier", "action": "keep"}
    if declared:
        columns["age"]["range"] = [0, 150]
        columns["income"] = {"role": "feature", "action": "keep", "dtype": "numeric", "range": [0, 10_000_000]}
        columns["sex"]["categories"] = SEXES
        columns["education"]["categories"] = EDUCATION
        columns["diagnosis"]["candidates"] = [*DIAGNOSES, "Stroke"]
        policy["differential_privacy"] = {"bounds_share": 0.1, "categories_share": 0.1}
    path.write_text(yaml.safe_dump(policy))
    return path


@pytest.mark.parametrize("params", [["--param", "ModelKind=dp_nb", "--param", "DpEpsilon=1"],
                                    ["--param", "DpEpsilon=1"]])
def test_a_dp_run_without_bounds_or_categories_is_refused_before_any_job(
        tmp_path: Path, workspace: Path, params: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    policy = _dp_policy(tmp_path / "policy.yaml", declared=False)
    code = main(["run", "--local", "--rows", str(ROWS), "--policy", str(policy), "--no-endpoint", *params])
    assert code == 2
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("privml: error:")]
    assert "differentially private model needs each input's domain" in err
    assert err.endswith("missing for age, diagnosis, education, sex")  # the numeric features declare bounds
    assert list_records(workspace) == []  # no job ran, no record
    # nothing stored (the bucket's settings file is the store's own, written when it opens)
    assert not [p for p in (workspace / "objects").rglob("*") if p.is_file() and p.name != ".bucket.json"]


@pytest.mark.slow
def test_epsilon_across_two_retrains_of_the_same_data_shows_in_runs_list(
        tmp_path: Path, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _dp_policy(tmp_path / "policy.yaml", declared=True)
    for epsilon in ("1", "0.5"):
        main(["run", "--local", "--rows", str(ROWS), "--policy", str(policy), "--no-endpoint",
              "--param", "ModelKind=dp_logreg", "--param", f"DpEpsilon={epsilon}", "--param", "QualityThreshold=0"])
    first, second = list_records(workspace)
    assert first["dp"]["data_sha256"] == second["dp"]["data_sha256"]  # the same sample rows
    assert first["dp"]["epsilon_spent"] == pytest.approx(1.0) and second["dp"]["epsilon_spent"] == pytest.approx(0.5)
    assert second["dp"]["epsilon_parts"] == {"bounds": pytest.approx(0.05), "categories": pytest.approx(0.05),
                                             "model": pytest.approx(0.4)}
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["epsilon"], r["epsilon_total_on_data"]) for r in listed] == [
        (pytest.approx(1.0), pytest.approx(1.0)), (pytest.approx(0.5), pytest.approx(1.5))]
    assert main(["runs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "run/data"
    assert lines[1].split()[5] == "1/1" and lines[2].split()[5] == "0.5/1.5"  # id status started N steps ε
    assert main(["runs", "show", second["run_id"]]) == 0
    assert "differential privacy: ε 0.5 spent (bounds 0.05, categories 0.05, model 0.4)" in capsys.readouterr().out
