"""Custom recognizers, allow and deny lists from the policy's `detection:` section; the evidence as
comments in the proposed policy; --label on scan."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml

from privml.cli import main
from privml.detect import scan_table
from privml.detect.verdict import rules_from_policy, value_digest
from privml.io import write_table
from privml.policy import DetectionPolicy, Role, load_policy


def _table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "ref": [f"CLM/{x:05d}" for x in rng.integers(0, 700, n)],  # repeats: not near-unique
        "staff": [f"S{x:03d}" for x in rng.integers(0, 90, n)],
        "tier": rng.choice(["gold", "silver", "bronze", "n/a"], n),
        "y": rng.integers(0, 2, n),
    })


def test_a_custom_recognizer_and_a_name_hint_find_organisation_ids():
    rules = rules_from_policy(DetectionPolicy.model_validate({"recognizers": [
        {"name": "claim_number", "regex": r"CLM/\d{5}"},
        {"name": "staff_code", "regex": r"S\d{3}", "hints": ["staff"]},
    ]}))
    result = scan_table(_table(), rules=rules)
    assert result.column("ref").role is Role.IDENTIFIER and "claim_number" in result.column("ref").evidence
    assert result.column("staff").role is Role.IDENTIFIER and "staff_code" in result.column("staff").evidence
    plain = scan_table(_table())
    assert plain.column("ref").role is not Role.IDENTIFIER  # without the rule nothing says it is one


def test_a_validator_decides_with_the_regex():
    frame = pd.DataFrame({"acct": [f"{x:010d}" for x in range(1000, 1400)]})
    rules = rules_from_policy(DetectionPolicy.model_validate({"recognizers": [
        {"name": "acct", "regex": r"\d{10}", "validator": "luhn", "min_share": 0.9}]}))
    # one value in ten passes Luhn: the custom recognizer does not match (the uniqueness rule still does)
    assert "custom recognizer" not in scan_table(frame, rules=rules).column("acct").evidence


def test_deny_and_allow_lists(tmp_path, capsys):
    frame = _table()
    frame.loc[7, "tier"] = "ACME-CEO"
    raw = tmp_path / "raw.csv"
    write_table(frame, raw)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"detection": {"deny": ["ACME-CEO"], "allow": ["n/a"]}}))
    policy = tmp_path / "policy.yaml"
    assert main(["scan", str(raw), "--rules", str(rules), "--policy-out", str(policy), "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    tier = next(c for c in scanned["columns"] if c["name"] == "tier")
    assert tier["role"] == "identifier" and "deny list" in tier["evidence"]
    text = policy.read_text()
    assert "ACME-CEO" not in text and value_digest("ACME-CEO") in text  # recorded as a digest
    assert "allow:" in text and load_policy(policy).detection is not None


def test_the_proposed_policy_says_why_for_every_column(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    write_table(_table(), raw)
    policy = tmp_path / "policy.yaml"
    assert main(["scan", str(raw), "--policy-out", str(policy), "--label", "y"]) == 0
    lines = policy.read_text().splitlines()
    for column in ("ref", "staff", "tier", "y"):
        at = lines.index(f"  {column}:")
        comments = []
        for line in reversed(lines[:at]):
            if not line.lstrip().startswith("#"):
                break
            comments.append(line)
        assert comments and "evidence:" in comments[-1] and "distinct" in " ".join(comments), column
    loaded = load_policy(policy)
    assert loaded.label == "y" and "--label" in "\n".join(lines)
    assert "why:" in capsys.readouterr().out
