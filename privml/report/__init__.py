"""The privacy report: `report.json` (machine-readable) and `report.html` (for people)."""

from privml.report.summary import build_report, write_reports

__all__ = ["build_report", "write_reports"]
