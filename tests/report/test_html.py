"""report.html as listed in issue 19 item 5: one NCP column, the policy's own metric, round ticks, log-scale
class sizes, percents, boxes against classes explained, warnings styled, accuracy against privacy."""

from __future__ import annotations

import json
import re

import pytest

from privml.cli import main
from privml.report.charts import log_ticks, nice_ticks
from privml.report.html import render_report
from privml.sampledata import generate


def test_nice_ticks_are_round() -> None:
    assert nice_ticks(1982) == [0, 500, 1000, 1500, 2000]
    assert nice_ticks(0.2) == [0, 0.05, 0.1, 0.15, 0.2]
    assert nice_ticks(0.37) == [0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert log_ticks(1982) == [1, 10, 100, 1000, 10000]
    for top in (3, 17, 99.5, 265, 1982, 30162, 0.0123):
        step = nice_ticks(top)[1]
        mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
        assert round(mantissa, 9) in (1, 2, 2.5, 5) and nice_ticks(top)[-1] >= top


@pytest.fixture(scope="module")
def mondrian_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The README tour: 2,000 sample rows, the policy `scan` proposes (Mondrian, k=5; zip codes under the
    built-in prefix hierarchy), with `metric: entropy` added as a person might."""
    import yaml

    tmp = tmp_path_factory.mktemp("html")
    raw = tmp / "raw.csv"
    generate(rows=2000, seed=1).to_csv(raw, index=False)
    policy = tmp / "policy.yaml"
    assert main(["scan", str(raw), "--policy-out", str(policy)]) == 0
    doc = yaml.safe_load(policy.read_text())
    assert doc["anonymity"]["algorithm"] == "mondrian"
    doc["anonymity"]["metric"] = "entropy"  # Mondrian measures its loss as NCP all the same
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp / "out"
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--split", "0.7,0.15,0.15"]) == 0
    return json.loads((out / "report.json").read_text())


def _section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}")
    end = page.find("<h2>", start + 4)
    return page[start:end if end > 0 else None]


def test_utility_shows_ncp_once_and_the_policy_its_own_metric(mondrian_report: dict) -> None:
    page = render_report(mondrian_report)
    utility = _section(page, "Utility")
    assert utility.count("<th>NCP</th>") == 1 and "<th>ncp</th>" not in utility
    assert utility.count('<div class="card"><span>information loss (NCP)</span>') == 1
    assert '<div class="card"><span>NCP</span>' not in utility
    policy = _section(page, "Policy")
    assert "<td>metric</td><td>entropy" in policy and "Mondrian reports NCP" in policy


def test_ticks_log_scale_and_percents(mondrian_report: dict) -> None:
    page = render_report(mondrian_report)
    sizes = _section(page, "Equivalence-class sizes")
    assert 'data-scale="log"' in sizes
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', sizes)
    assert ticks and all(t.replace(",", "") in ("1", "10", "100", "1000", "10000") for t in ticks), ticks
    for title in ("Re-identification risk", "Utility"):
        for tick in re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', _section(page, title)):
            assert re.fullmatch(r"\d+(\.\d)?%", tick), tick  # 0%, 5%, 12.5%: never 0.2 or 1,486
    risk = _section(page, "Re-identification risk")
    assert "20%" in risk and "0.2<" not in risk
    splits = _section(page, "Splits")
    assert re.search(r"<td class=\"num\">\d+(\.\d)?%</td></tr>", splits)


def test_boxes_and_classes_agree_or_say_why(mondrian_report: dict) -> None:
    boxes = mondrian_report["transformation"]["partitions"]
    classes = mondrian_report["utility"]["classes"]
    assert classes == mondrian_report["risk"]["classes"] <= boxes
    # the "269 boxes" against 265 classes: boxes of different zip codes whose labels are the same
    # lowest common generalization hold records that look the same, one class
    assert classes < boxes
    text = _section(render_report(mondrian_report), "Transformation")
    assert f"<b>{boxes:,}</b> boxes" in text
    assert f"<b>{classes:,}</b> equivalence classes" in text and "labels coincide" in text
    same = {**mondrian_report, "transformation": {"algorithm": "mondrian", "partitions": classes}}
    assert "labels coincide" not in _section(render_report(same), "Transformation")


def test_warnings_are_styled_and_accuracy_against_privacy_is_plotted(mondrian_report: dict) -> None:
    page = render_report(mondrian_report)
    assert ".warning{" in page and 'role="alert"' in page and 'class="card flag"' in page
    assert "Accuracy against privacy" not in page  # no evaluation: no plot
    evaluated = {**mondrian_report, "evaluation": {
        "metrics": {"accuracy": 0.71}, "privacy": {"k": mondrian_report["k"], "epsilon_spent": None},
        "gates": {"passed": 1, "reason": "all gates passed"}, "quality_threshold": 0.6}}
    section = _section(render_report(evaluated), "Accuracy against privacy")
    assert section.count('<circle class="point"') == 1 and "this model (no DP)" in section
    assert section.count('stroke-dasharray') == 2  # the k target and the quality gate


def test_the_evaluated_report_has_the_accuracy_plot() -> None:
    """The run has both figures after Evaluate: the Evaluate step writes this page as its report.html."""
    from privml.report.html import render_evaluated_report

    report = {"k": 5, "targets": {"k": 5}, "risk": {}, "quasi_identifiers": ["age"]}
    evaluation = {"metrics": {"accuracy": 0.8}, "privacy": {"k": 5, "epsilon_spent": 1.0},
                  "gates": {"passed": 1, "reason": "all gates passed"}}
    page = render_evaluated_report(report, evaluation, quality_threshold=0.7)
    assert "Accuracy against privacy" in page and "this model (ε=1)" in page
