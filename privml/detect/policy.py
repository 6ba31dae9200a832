"""From a scan to a proposed policy (the per-type defaults live in `privml.detect.proposals`).

The proposal is a starting point a person reviews: direct identifiers are removed or replaced by the
technique that keeps what is still useful (a token that joins, a masked tail, a realistic pseudonym),
quasi-identifiers keep a built-in generalization hierarchy for the anonymity engine, and the policy asks
for k-anonymity (Mondrian, k=5) when there are quasi-identifiers.
"""

from __future__ import annotations

import textwrap

import yaml

from privml.detect.proposals import (
    DEFAULT_K,
    KEY_NAME,
    KEY_REFERENCE,
    PROPOSALS,
    Proposal,
    domain_placeholder,
    proposal_for,
)
from privml.detect.results import ScanResult
from privml.detect.verdict import value_digest
from privml.policy import AnonymityPolicy, ColumnPolicy, DetectionPolicy, Policy, Role, dump_policy

# Re-exported: tests and the AWS procedure import the key names and the table from here.
__all__ = ["KEY_NAME", "KEY_REFERENCE", "PROPOSALS", "Proposal", "policy_yaml", "proposal_for", "propose_policy"]


def propose_policy(scan: ScanResult, *, k: int = DEFAULT_K, detection: DetectionPolicy | None = None) -> Policy:
    """A valid policy for the scanned table: every column listed with its proposed role and action.
    `detection`: the custom recognizers and lists scan applied, recorded in the policy (deny-listed
    values as SHA-256 digests, never the values)."""
    columns: dict[str, ColumnPolicy] = {}
    uses_key = False
    for col in scan.columns:
        proposal = Proposal(col.role, col.action, dict(col.params), col.hierarchy)
        uses_key |= proposal.needs_key
        columns[col.name] = ColumnPolicy(
            role=col.role,
            action=col.action,
            params=dict(col.params),
            key=KEY_NAME if proposal.needs_key else None,
            hierarchy=col.hierarchy,
            pii_type=col.pii_type,
        )
    has_qi = any(c.role is Role.QUASI_IDENTIFIER for c in columns.values())
    if detection is not None:
        digests = [d if d.startswith("sha256:") else value_digest(d) for d in detection.deny]
        detection = detection.model_copy(update={"deny": digests})
    return Policy(
        keys={KEY_NAME: KEY_REFERENCE} if uses_key else {},
        columns=columns,
        anonymity=AnonymityPolicy(algorithm="mondrian", k=k) if has_qi else None,
        detection=detection,
    )


def policy_yaml(policy: Policy, scan: ScanResult) -> str:
    """The proposed policy as YAML with each column's evidence as a comment above it: a reviewer sees
    why scan proposed what it did (counts, shares and statistics only, never a value), and below it, for a
    column a DP model would read, a commented `bounds` or `categories` line saying what to declare."""
    data = yaml.safe_load(dump_policy(policy))
    evidence = {c.name: c.evidence for c in scan.columns}
    numeric = {c.name: c.numeric for c in scan.columns}
    columns = data.pop("columns")
    head = {k: data.pop(k) for k in ("version", "keys") if k in data}
    out = [yaml.safe_dump(head, sort_keys=False).rstrip("\n"), "columns:"]
    for name, spec in columns.items():
        why = evidence.get(name)
        if why:
            lines = textwrap.wrap(f"evidence: {why}", width=100, break_long_words=False)
            out += [f"  # {line}" for line in lines]
        block = ["  " + line for line in yaml.safe_dump({name: spec}, sort_keys=False).rstrip("\n").splitlines()]
        col = policy.columns.get(name)
        placeholder = None if col is None or col.bounds or col.categories else domain_placeholder(
            name, role=col.role, action=col.action, numeric=numeric.get(name, False), params=col.params)
        if placeholder and len(block) > 1:  # first in the column's block: the evidence above stays the next column's
            block[1:1] = [f"    # {line}" for line in textwrap.wrap(placeholder, width=100, break_long_words=False)]
        out += block
    if data:
        out.append(yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
    return "\n".join(out) + "\n"
