"""The model card a reviewer signs: its sections for classification (a real Evaluate run) and regression (the
evaluation.json seam shape as a fixture, with a real regressor's diagnostics), the per-group figures and their
largest gap, small groups left out, calibration, where the jobs really ran, and no identifying value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from privml.models.card import build_card, render_markdown
from privml.models.diagnostics import calibration, diagnostics, per_group
from privml.models.evaluation import evaluate
from privml.models.jobenv import job_controls
from privml.report.card_html import render_card_html
from privml.sampledata import generate
from tests.models.jobs import JobDir

CLASSIFICATION_SECTIONS = (
    "# Model card: hgb", "## Intended use and limitations", "## Metrics", "## Confusion matrix (test split)",
    "## Calibration", "## Per group of each sensitive attribute", "### diagnosis", "## Membership-inference audit",
    "## Privacy", "## Data lineage (SHA-256)", "## Controls",
)


def local_processing_config(root: Path) -> Path:
    """/opt/ml/config as privml's local executor lays it out for a processing job asking ml.m5.xlarge."""
    from pipelines.local.jobdir import make_host_dir, prepare_processing

    host = make_host_dir(root, "algo-1", ["algo-1"], mounted=False)
    prepare_processing(host, {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}},
        "NetworkConfig": {"EnableNetworkIsolation": True}, "ProcessingInputs": [],
        "ProcessingOutputConfig": {"KmsKeyId": "alias/privml-data", "Outputs": []},
    })
    return host.container("/opt/ml/config")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, trained_job: JobDir, anonymized: Path) -> Path:
    tmp = tmp_path_factory.mktemp("card")
    out = tmp / "evaluation"
    evaluate(model_dir=trained_job.model_dir, train_dir=anonymized / "train", test_dir=anonymized / "test",
             report_dir=anonymized / "report",
             output_dir=out, quality_threshold=0.5, config_dir=local_processing_config(tmp / "job"))
    return out


def test_a_classification_card_has_every_section(evaluated: Path, anonymized: Path) -> None:
    card = json.loads((evaluated / "model_card.json").read_text())
    markdown = (evaluated / "model_card.md").read_text()
    for heading in CLASSIFICATION_SECTIONS:
        assert heading in markdown, heading
    test_rows = len(pd.read_csv(anonymized / "test" / "data.csv"))
    diag = card["diagnostics"]
    assert diag["task"] == card["model"]["task"] == "binary" and diag["rows"] == test_rows
    counts = np.array(diag["confusion_matrix"]["counts"])
    assert counts.shape == (2, 2) and counts.sum() == test_rows
    # the confusion matrix agrees with the accuracy Evaluate reported
    assert counts.trace() / test_rows == pytest.approx(card["metrics"]["test"]["accuracy"], abs=1e-6)
    assert 0 <= diag["calibration"]["ece"] <= 1 and len(diag["calibration"]["bins"]) == 10
    groups = diag["per_group"]["diagnosis"]
    assert groups["groups"] and all(g["rows"] >= diag["min_group_rows"] for g in groups["groups"])
    assert sum(g["rows"] for g in groups["groups"]) + groups["suppressed_rows"] == test_rows
    # the policy and the gates, in words
    limits = " ".join(card["limitations"])
    assert "quasi-identifiers age, sex, zip_code were transformed column by column" in limits
    assert "no k-anonymity target was set (measured: k = " in limits
    assert "k, l and t protect the released table" in limits
    assert "name" in card["data_policy"]["identifiers"] and "date_of_birth" in card["data_policy"]["dropped"]
    assert "they do not check calibration, differences between groups" in limits
    # Evaluate ran the membership audit: its figures are in the card, in words and on the page
    assert card["membership"]["advantage"] == json.loads((evaluated / "evaluation.json").read_text())[
        "membership"]["advantage"]
    assert "Membership audit: not run." not in markdown and "not run for this model" not in limits
    page = (evaluated / "model_card.html").read_text()
    assert page.count('<svg class="chart"') >= 3 and "Membership audit: not run." not in page


def test_a_local_run_says_local(evaluated: Path) -> None:
    """Today's main lists the definition's ml.m5.xlarge for a job that ran on this machine."""
    card = json.loads((evaluated / "model_card.json").read_text())
    controls = card["controls"]["evaluation"]
    assert controls["execution"] == "local" and controls["instance_type"] == "local"
    assert controls["requested_instance_type"] == "ml.m5.xlarge"
    assert card["controls"]["execution"]["evaluation"] == \
        "local (privml's local executor); the definition asks ml.m5.xlarge on SageMaker"
    markdown = (evaluated / "model_card.md").read_text()
    assert "evaluation ran local (privml's local executor)" in markdown
    assert "how privml's executor applied each of them here" in markdown
    assert re.search(r"\| instance_type \| [^|]+ \| local \|", markdown)
    assert "| ml.m5.xlarge |" not in markdown.split("| instance_type |")[1].split("\n")[0]
    # a job whose resource config names its instance (as SageMaker writes it) says SageMaker
    assert card["controls"]["execution"]["training"] == "SageMaker, ml.m5.large"


def test_no_identifying_value_in_any_card_file(evaluated: Path) -> None:
    raw = generate(1500, 0)
    written = "".join(p.read_text() for p in evaluated.iterdir() if p.name.startswith("model_card"))
    for column in ("name", "email", "street_address", "ssn", "phone", "credit_card", "ip_address"):
        assert not any(value in written for value in raw[column].astype(str).head(300)), column
    assert not any(f'"{value}"' in written or f">{value}<" in written for value in raw["zip_code"].astype(str))


def test_the_card_page_is_self_contained(evaluated: Path) -> None:
    page = (evaluated / "model_card.html").read_text()
    assert "<script" not in page.lower()
    # the only URL is the SVG namespace: no stylesheet, font, image or script is fetched
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}
    assert " src=" not in page and "@import" not in page


class FixedClassifier:
    """Predicts the class it is given per row (probability 1): a model whose per-group figures are known."""

    def __init__(self, predictions: list[str], classes: list[str]) -> None:
        self.classes_ = np.array(classes, dtype=object)
        self._predictions = predictions

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.array([[1.0 if p == c else 0.0 for c in self.classes_] for p in self._predictions])


def _three_groups() -> tuple[list[str], list[str], pd.Series]:
    """Group A: 30 rows, 27 right (0.9); group B: 25 rows, 15 right (0.6); group C: 5 rows (too few)."""
    truth, predicted, group = [], [], []
    for name, rows, right in (("group-a", 30, 27), ("group-b", 25, 15), ("tiny-group-c", 5, 5)):
        for i in range(rows):
            label = "yes" if i % 2 else "no"
            truth.append(label)
            predicted.append(label if i < right else ("no" if label == "yes" else "yes"))
            group.append(name)
    return truth, predicted, pd.Series(group)


def test_per_group_gap_is_computed_right_and_small_groups_are_suppressed() -> None:
    truth, predicted, group = _three_groups()
    result = per_group(group, np.array(truth, dtype=object), np.array(predicted, dtype=object), task="binary",
                       classes=["no", "yes"], min_rows=20)
    by_name = {g["group"]: g for g in result["groups"]}
    assert set(by_name) == {"group-a", "group-b"}
    assert by_name["group-a"]["accuracy"] == pytest.approx(0.9) and by_name["group-a"]["rows"] == 30
    assert by_name["group-b"]["accuracy"] == pytest.approx(0.6) and by_name["group-b"]["rows"] == 25
    assert result["largest_gap"] == {"metric": "accuracy", "gap": pytest.approx(0.3), "highest": "group-a",
                                     "lowest": "group-b"}
    assert result["suppressed_groups"] == 1 and result["suppressed_rows"] == 5

    # through the whole card: the small group is neither shown nor named, and the card says one was left out
    model = FixedClassifier(predicted, ["no", "yes"])
    diag = diagnostics(model, pd.DataFrame({"x": range(len(truth))}), truth, task="binary", classes=["no", "yes"],
                       groups={"diagnosis": group})
    card = build_card(evaluation={"metrics": {"accuracy": 0.7}, "privacy": {"k": 5}, "rows": {"test": 60},
                                  "gates": {"passed": 1, "reason": "all gates passed"}},
                      metadata={"model": "hgb", "classes": ["no", "yes"], "label": "y"}, report={},
                      evaluation_inputs=[], evaluation_controls={}, diagnostics=diag)
    for text in (json.dumps(card), render_markdown(card), render_card_html(card)):
        assert "tiny-group-c" not in text
        assert "group-a" in text and "group-b" in text
    assert "1 group(s) with fewer than 20 test rows (5 rows) are not shown" in render_markdown(card)
    assert "Largest gap in accuracy: **0.3** (highest group-a, lowest group-b)" in render_markdown(card)


def test_calibration_bins_and_ece() -> None:
    """40 rows at 0.85 with 30 positives (observed 0.75), 60 rows at 0.15 with 6 positives (observed 0.1):
    ECE = 0.4 × |0.75 − 0.85| + 0.6 × |0.1 − 0.15| = 0.07."""
    p = np.array([0.85] * 40 + [0.15] * 60)
    y = np.array(["yes"] * 30 + ["no"] * 10 + ["yes"] * 6 + ["no"] * 54, dtype=object)
    result = calibration(y, np.column_stack([1 - p, p]), ["no", "yes"], min_rows=20)
    assert result["ece"] == pytest.approx(0.07)
    high = next(b for b in result["bins"] if b["low"] == pytest.approx(0.8))
    assert (high["rows"], high["mean_predicted"], high["observed"]) == (40, pytest.approx(0.85), pytest.approx(0.75))
    few = calibration(y[:45], np.column_stack([1 - p, p])[:45], ["no", "yes"], min_rows=20)
    low = next(b for b in few["bins"] if b["low"] == pytest.approx(0.1))
    assert low == {"low": pytest.approx(0.1), "high": pytest.approx(0.2), "rows": None, "mean_predicted": None,
                   "observed": None}
    assert few["suppressed_bins"] == 1


def _regression_card(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "region": rng.choice(["north", "south", "east"], size=n, p=[0.5, 0.45, 0.05])})
    y = 3 * frame["x1"] - frame["x2"] + (frame["region"] == "south") * 2 + rng.normal(scale=0.5, size=n)
    model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(frame[["x1", "x2"]][:400], y[:400])
    test = frame[400:].reset_index(drop=True)
    diag = diagnostics(model, test[["x1", "x2"]], y[400:].to_numpy(), task="regression", classes=None,
                       groups={"region": test["region"]})
    evaluation = {  # evaluation.json as the baseline gate and the membership audit extend it
        "task": "regression",
        "metrics": {"rmse": 1.1, "mae": 0.9, "r2": 0.85},
        "privacy": {"k": 10, "l": None, "t": None, "prosecutor_max": 0.1, "epsilon_spent": 1.0},
        "gates": {"quality_passed": 1, "privacy_passed": 1, "passed": 1, "reason": "all gates passed"},
        "baseline": {"predictor": "training mean", "metrics": {"rmse": 3.2, "mae": 2.6, "r2": -0.01}},
        "quality": {"metric": "r2", "model": 0.85, "baseline": -0.01, "margin": 0.05, "threshold": None},
        "membership": {"members": 400, "non_members": 200, "advantage": 0.04, "method": "loss threshold; shadow",
                       "attacks": {"loss_threshold": {"auc": 0.51, "tpr_at_0.1pct_fpr": 0.0, "tpr_at_1pct_fpr": 0.01,
                                                      "advantage": 0.03},
                                   "shadow": {"auc": 0.52, "tpr_at_0.1pct_fpr": 0.002, "tpr_at_1pct_fpr": 0.012,
                                              "advantage": 0.04}}},
        "rows": {"test": 200},
    }
    metadata = {"model": "dp_linreg", "model_description": "ε-DP linear regression (diffprivlib)", "task": "regression",
                "label": "amount", "classes": None, "differential_privacy": True, "dp_epsilon": 1.0,
                "epsilon_parts": {"bounds": 0.2, "categories": 0.1, "model": 0.7}, "dp_scope": "all of it",
                "controls": {"sources": ["trainingjobconfig.json", "resourceconfig.json"], "execution": "SageMaker",
                             "instance_type": "ml.m5.large", "requested_instance_type": "ml.m5.large"}}
    report = {"quasi_identifiers": ["age"], "sensitive_attributes": ["region"], "anonymity": {"k": 10},
              "columns": {"name": {"role": "identifier", "action": "drop"}, "age": {"role": "quasi_identifier"}},
              "splits": {"train": {"rows": 400, "classes": 30, "k": 10, "rows_below_k": 0.0},
                         "test": {"rows": 200, "classes": 25, "k": 4, "rows_below_k": 0.12}}}
    return build_card(evaluation=evaluation, metadata=metadata, report=report, evaluation_inputs=[],
                      evaluation_controls=job_controls(local_processing_config(tmp_path)), diagnostics=diag)


def test_a_regression_card_has_every_section(tmp_path: Path) -> None:
    card = _regression_card(tmp_path)
    markdown = render_markdown(card)
    for heading in ("# Model card: dp_linreg", "Task: regression", "## Intended use and limitations",
                    "## Metrics", "baseline (test)", "Baseline: the training mean predictor", "Quality gate: r2 0.85",
                    "## Residuals (test split)", "## Per group of each sensitive attribute", "### region",
                    "## Membership-inference audit", "| shadow | 0.52 | 0.002 | 0.012 | 0.04 |",
                    "ε spent, by what it was spent on: bounds 0.2, categories 0.1, model 0.7.",
                    "| test | 200 | 25 | 4 | — | 0.12 | 0.25 |", "## Controls",
                    "Training ran SageMaker, ml.m5.large; evaluation ran local"):
        assert heading in markdown, heading
    assert "## Confusion matrix" not in markdown and "## Calibration" not in markdown
    residuals = card["diagnostics"]["residuals"]
    assert set(residuals["quantiles"]) == {"p05", "p25", "p50", "p75", "p95"}
    buckets = residuals["by_prediction_bucket"]
    assert len(buckets) == 5 and all(b["rows"] == 40 for b in buckets)
    region = card["diagnostics"]["per_group"]["region"]
    assert {g["group"] for g in region["groups"]} == {"north", "south"}  # east: ~10 of 200 rows, under 20
    assert region["largest_gap"]["metric"] == "mae" and region["suppressed_groups"] == 1
    assert "A regression model" in " ".join(card["limitations"])
    page = render_card_html(card)
    assert "errors per prediction bucket" in page and "mae per group of region" in page
    assert "east" not in page and "east" not in markdown


def test_the_card_page_renders_its_plots_in_chromium(evaluated: Path, tmp_path: Path) -> None:
    from tests.report.test_report_browser import LAYOUT_SCRIPT, WHITE, _browser, _chromium, share_near

    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium: `apt-get install -y chromium` (as root; .ci/run does it) to run this test")
    from PIL import Image

    page = tmp_path / "model_card.html"
    page.write_text((evaluated / "model_card.html").read_text().replace("</body>", LAYOUT_SCRIPT + "</body>"))
    dom = _chromium(browser, "--virtual-time-budget=2000", "--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    start = dom.stdout.index('<pre id="layout">') + len('<pre id="layout">')
    layout = json.loads(dom.stdout[start:dom.stdout.index("</pre>", start)].replace("&quot;", '"'))
    labels = {c["label"] for c in layout["charts"]}
    assert {"model against the baseline", "confusion matrix", "reliability diagram",
            "accuracy per group of diagnosis"} <= labels, labels
    shot_file = tmp_path / "card.png"
    shot = _chromium(browser, f"--screenshot={shot_file}", (evaluated / "model_card.html").as_uri(), tmp=tmp_path)
    assert shot.returncode == 0 and shot_file.is_file(), shot.stderr[-2000:]
    image = Image.open(shot_file).convert("RGB")
    for chart in layout["charts"]:
        assert chart["w"] > 200 and chart["h"] > 100, chart  # laid out, not collapsed
        if chart["y"] + chart["h"] > image.size[1]:
            continue  # below the captured viewport
        box = (int(chart["x"]), int(chart["y"]), int(chart["x"] + chart["w"]), int(chart["y"] + chart["h"]))
        pixels = np.asarray(image.crop(box), dtype=np.int32).reshape(-1, 3)
        assert share_near(pixels, WHITE, 1) < 0.99, f"chart {chart['label']!r} is blank"
        # the series colour (blue; the heat map's shades of it): painted, not only the axes
        bluish = np.mean(pixels[:, 2] - pixels[:, 0] > 40)  # BLUE has blue 190 over red
        assert bluish > 0.001, f"chart {chart['label']!r} draws nothing in the series colour"


def test_each_split_has_its_own_distinct_l() -> None:
    """A split of an l-diverse table is not l-diverse by itself: the card shows each split's own l."""
    from privml.anonymize import split_anonymity
    from privml.policy import parse_policy

    policy = parse_policy({"version": 1, "anonymity": {"k": 2}, "columns": {
        "age": {"role": "quasi_identifier", "action": "keep"}, "dx": {"role": "sensitive", "action": "keep"}}})
    train = pd.DataFrame({"age": ["30", "30", "40", "40"], "dx": ["a", "b", "c", "c"]})
    test = pd.DataFrame({"age": ["30", "30", "40"], "dx": ["a", "b", "a"]})
    figures = split_anonymity({"train": train, "test": test}, policy)
    assert (figures["train"]["l"], figures["test"]["l"]) == (1, 1)  # age 40: one value in train; one row in test
    assert split_anonymity({"x": train.iloc[:2]}, policy)["x"] == {"rows": 2, "classes": 1, "k": 2,
                                                                   "rows_below_k": 0.0, "l": 2}
