"""PII discovery: which columns of a table identify people, and what a policy should do with them.

`scan_table(df)` classifies each column from a bounded sample of its values (the column name is only a
weak hint) and proposes a role and an action; `propose_policy(scan)` turns that into a valid policy.
"""

from privml.detect.policy import propose_policy
from privml.detect.scan import ColumnScan, ScanResult, scan_table
from privml.detect.text import find_pii_spans, scrub_text

__all__ = ["ColumnScan", "ScanResult", "find_pii_spans", "propose_policy", "scan_table", "scrub_text"]
