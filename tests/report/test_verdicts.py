"""Privacy verdicts a person notices: l=1, t near 1, splits below k and risk above the threshold are
warnings, with what to change in the policy, in the CLI (anonymize, risk, run), report.html and the
model card; and the Mondrian message says what failed and what to change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from privml.cli import main
from privml.errors import CheckFailed
from privml.report.verdicts import T_NEAR_ONE, privacy_warnings
from privml.sampledata import generate

SECRET = "Zyxwvutsrq"  # a value planted in the data: no warning may quote it

WEAK_POLICY = (
    "columns:\n"
    "  age: {role: quasi_identifier, action: keep}\n"
    "  zip_code: {role: quasi_identifier, action: keep}\n"
    "  date_of_birth: {role: quasi_identifier, action: keep}\n"
    "  sex: {role: sensitive, action: keep}\n"
    "  diagnosis: {role: sensitive, action: keep}\n"
    "  readmitted: {role: label}\n"
    "unlisted_columns: drop\n"
    "anonymity: {algorithm: mondrian, k: 5}\n"
)


def _figures(**over: object) -> dict:
    base = {"k": 5, "l": 2, "t": 0.2, "sensitive_attributes": ["diagnosis"], "targets": {"k": 5},
            "risk": {"prosecutor_max": 0.2, "records_above_threshold": 0.0, "threshold": 0.2}}
    return {**base, **over}


def _codes(figures: dict) -> set[str]:
    return {w.code for w in privacy_warnings(figures)}


def test_each_weakness_is_one_warning_with_a_fix() -> None:
    assert _codes(_figures()) == set()
    assert _codes(_figures(l=1)) == {"l_one"}
    assert _codes(_figures(t=T_NEAR_ONE)) == {"t_near_one"}
    assert _codes(_figures(t=T_NEAR_ONE - 0.01)) == set()
    splits = {"train": {"rows": 700, "rows_below_k": 0.0}, "test": {"rows": 150, "rows_below_k": 0.196}}
    (split,) = privacy_warnings(_figures(splits=splits))
    assert split.code == "split_below_k" and "test 19.6%" in split.message and "train" not in split.message
    assert "anonymity.k" in split.fix and "about 29" in split.fix  # ceil(5 * 850 / 150)
    (risk,) = privacy_warnings(_figures(risk={"prosecutor_max": 0.5, "records_above_threshold": 0.03,
                                              "threshold": 0.2}))
    assert risk.code == "risk_above_threshold" and "3.0% of records" in risk.message
    assert "at least 5" in risk.fix and "max_risk" in risk.fix  # a class of 5 has risk 0.2, not above 0.2
    for w in privacy_warnings(_figures(l=1, t=0.9)):
        assert "`" in w.fix and "anonymity" in w.fix  # names the policy field to change


def test_anonymize_cli_report_and_card_flag_the_readme_tour(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "raw.csv"
    frame = generate(rows=2000, seed=1)
    frame.loc[3, "diagnosis"] = SECRET
    frame.to_csv(raw, index=False)
    (tmp_path / "policy.yaml").write_text(WEAK_POLICY)
    out = tmp_path / "out"
    assert main(["anonymize", str(raw), "--policy", str(tmp_path / "policy.yaml"), "-o", str(out),
                 "--split", "0.7,0.15,0.15"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    codes = {w["code"] for w in report["warnings"]}
    assert {"l_one", "t_near_one", "split_below_k"} <= codes
    assert printed.count("WARNING ") == len(report["warnings"]) and printed.count("fix: ") == len(report["warnings"])
    assert "l = 1" in printed and "l_diversity" in printed
    page = (out / "report.html").read_text()
    assert page.count('class="warning"') == len(report["warnings"]) and "What to change" in page
    for text in (printed, page, json.dumps(report["warnings"])):
        assert SECRET not in text

    from privml.models.card import build_card, render_markdown

    card = build_card(evaluation={"privacy": {"k": report["k"]}, "metrics": {"accuracy": 0.7},
                                  "gates": {"passed": 1, "reason": "all gates passed"}, "rows": {}},
                      metadata={"model": "logreg", "classes": [0, 1]}, report=report, evaluation_inputs=[],
                      evaluation_controls={})
    assert card["privacy"]["warnings"] == report["warnings"]
    markdown = render_markdown(card)
    assert markdown.count("> **Warning:**") == len(report["warnings"]) and "*What to change:*" in markdown


def test_risk_cli_warns_in_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"age": ["30", "30", "40", "40", "50"], "dx": ["a", "a", "b", "c", SECRET]}).to_csv(path, index=False)
    assert main(["risk", str(path), "--quasi", "age", "--sensitive", "dx"]) == 0
    text = capsys.readouterr().out
    assert "WARNING l = 1" in text and "WARNING t = " in text and "of records have a prosecutor risk" in text
    assert main(["risk", str(path), "--quasi", "age", "--sensitive", "dx", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {w["code"] for w in result["warnings"]} == {"l_one", "t_near_one", "risk_above_threshold"}
    assert SECRET not in text and SECRET not in json.dumps(result)


def test_run_summary_prints_the_warnings() -> None:
    from pipelines.run_cli import summary

    warning = {"code": "l_one", "message": "l = 1: at least one class ...", "fix": "add `l_diversity` ..."}
    text = summary({"run_id": "r1", "status": "Succeeded", "steps": [],
                    "privacy": {"k": 5, "l": 1, "t": 0.875, "risk": {}, "warnings": [warning]}})
    assert "privacy: k=5 l=1 t=0.875" in text
    assert "    WARNING l = 1: at least one class ..." in text and "      fix: add `l_diversity` ..." in text


def test_mondrian_message_says_what_failed_and_what_to_change() -> None:
    from privml.anonymity.engine import AnonymityEngine
    from privml.policy import parse_policy
    from privml.policy.engine_config import anonymity_config

    df = pd.DataFrame({"age": [str(20 + i % 30) for i in range(200)],
                       "dx": [["flu", "cold", SECRET][i % 3] for i in range(200)]})
    # 67, 67 and 66 rows of three values: distinct l 3, entropy l just under 3 (a bound of 2.99 is reachable)
    for l_diversity, expected, bound in (({"kind": "distinct", "l": 40}, "has 3 distinct values", "at most 3,"),
                                         ({"kind": "entropy", "l": 40}, "reaches entropy l=3", "at most 2.99,")):
        policy = parse_policy({"columns": {"age": {"role": "quasi_identifier", "action": "keep"},
                                           "dx": {"role": "sensitive", "action": "keep"}},
                               "anonymity": {"algorithm": "mondrian", "k": 5, "l_diversity": l_diversity}})
        with pytest.raises(CheckFailed) as caught:
            AnonymityEngine(anonymity_config(policy)).fit(df)
        message = str(caught.value)
        assert "meets" not in message and "cannot be met" in message
        assert expected in message and "dx" in message and "anonymity.l_diversity.l" in message
        assert bound in message and SECRET not in message
