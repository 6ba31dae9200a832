"""PII discovery: which columns of a table identify people, and what a policy should do with them.

`scan_table(df)` classifies each column from a bounded sample of its values (the column name is only a
weak hint) and proposes a role and an action; `propose_policy(scan)` turns that into a valid policy. The
recognizers it applies to each value (shapes, checksums, word lists, PII spans in free text) are
privml.recognizers, below the techniques.
"""

from privml.detect.policy import propose_policy
from privml.detect.scan import ColumnScan, ScanResult, scan_table

__all__ = ["ColumnScan", "ScanResult", "propose_policy", "scan_table"]
