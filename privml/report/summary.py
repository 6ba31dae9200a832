"""Assembling report.json from the policy, the fitted transformer and the anonymity engine's figures.

Only column names, roles, actions, counts and measures go into a report — never a value of the data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from privml.policy import Policy
from privml.transformer import PrivacyTransformer

log = logging.getLogger(__name__)


def build_report(policy: Policy, transformer: PrivacyTransformer, *, rows_in: int, rows_out: int) -> dict[str, Any]:
    columns = {
        name: {
            "role": spec.role.value,
            "action": spec.action,
            **({"pii_type": spec.pii_type} if spec.pii_type else {}),
            **({"key": spec.key} if spec.key else {}),
        }
        for name, spec in policy.columns.items()
    }
    report: dict[str, Any] = {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "suppressed_rows": rows_in - rows_out,
        "quasi_identifiers": policy.quasi_identifiers,
        "sensitive_attributes": policy.sensitive_attributes,
        "label": policy.label,
        "columns": columns,
        "keys": {name: transformer.key_ids_.get(name, ref) for name, ref in policy.keys.items()},
        "anonymity": policy.anonymity.model_dump(mode="json") if policy.anonymity else None,
        # Evaluate's membership gate reads it from here (privml/models/gates.py)
        "model_privacy": policy.model_privacy.model_dump(mode="json") if policy.model_privacy else None,
    }
    engine = transformer.anonymity_engine()
    if engine is not None:
        report.update(engine.report())
        report["suppressed_rows"] = rows_in - rows_out
    return report


def write_reports(directory: Path, report: dict[str, Any]) -> None:
    """Write report.json (with the privacy warnings of its figures) and report.html into `directory`."""
    from privml.report.verdicts import warnings_json

    report = {**report, "warnings": warnings_json(report)}
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=_plain) + "\n", encoding="utf-8")
    from privml.report.html import render_report

    (directory / "report.html").write_text(render_report(report), encoding="utf-8")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
