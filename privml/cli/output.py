"""Printing results: JSON for machines (`--json`), short text for people."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_privacy_warnings(warnings: list[dict[str, str]]) -> None:
    """The privacy warnings of a result (privml.report.verdicts), each with what to change, on stdout
    next to the figures they are about."""
    from privml.report.verdicts import warning_lines

    for line in warning_lines(warnings):
        print(line)
