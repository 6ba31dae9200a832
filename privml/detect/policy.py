"""From a scan to a proposed policy: the role and action each detected type gets by default.

The proposal is a starting point a person reviews: direct identifiers are removed or replaced by the
technique that keeps what is still useful (a token that joins, a masked tail, a realistic pseudonym),
quasi-identifiers keep a built-in generalization hierarchy for the anonymity engine, and the policy asks
for k-anonymity (Mondrian, k=5) when there are quasi-identifiers.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from privml.policy import AnonymityPolicy, ColumnPolicy, DetectionPolicy, Policy, Role, dump_policy

if TYPE_CHECKING:
    from privml.detect.scan import ScanResult

__all__ = ["KEY_NAME", "KEY_REFERENCE", "PROPOSALS", "Proposal", "policy_yaml", "proposal_for", "propose_policy"]

KEY_NAME = "tokens"
KEY_REFERENCE = "alias/privml-tokens"
DEFAULT_K = 5
# Keyed techniques, in case the technique registry cannot be asked (it is authoritative when it can).
_KEYED = frozenset({"tokenize", "pseudonymize", "encrypt", "date_shift"})


@dataclass(frozen=True)
class Proposal:
    role: Role
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    hierarchy: dict[str, Any] | None = None

    @property
    def needs_key(self) -> bool:
        try:
            from privml.transforms import technique_class

            return bool(technique_class(self.action).needs_key)
        except (ImportError, LookupError):
            return self.action in _KEYED


_ID = Role.IDENTIFIER
_QI = Role.QUASI_IDENTIFIER

PROPOSALS: dict[str | None, Proposal] = {
    # direct identifiers
    "email": Proposal(_ID, "tokenize"),  # a keyed token still joins records of one person
    "phone": Proposal(_ID, "mask", {"keep_last": 2}),
    "ssn": Proposal(_ID, "drop"),
    "credit_card": Proposal(_ID, "mask", {"keep_last": 4}),
    "iban": Proposal(_ID, "tokenize"),
    "ip_address": Proposal(_ID, "tokenize"),
    "url": Proposal(_ID, "redact"),
    "person_name": Proposal(_ID, "pseudonymize", {"kind": "name"}),
    "street_address": Proposal(_ID, "drop"),
    # Scrubbing free text is best effort (a name outside the lexicon survives) and costs ~50 µs a text;
    # text that is known to carry PII is dropped unless the user opts into `scrub`.
    "free_text_pii": Proposal(_ID, "drop"),
    # Identifiers found by name, by the recognizers or by uniqueness: nothing in them is worth keeping for a
    # model, so they are dropped (a person who needs a join key changes the action to `tokenize`).
    **{kind: Proposal(_ID, "drop") for kind in (
        "national_id", "passport", "bank_account", "medical_record", "device_id", "vin", "username", "secret",
        "person_id", "lat_long", "aws_access_key", "uuid", "mac_address", "imei", "uk_nino", "nhs_number",
        "ca_sin", "es_dni", "it_codice_fiscale", "fr_insee", "de_tax_id", "in_aadhaar", "au_tfn", "us_itin",
        "us_ein", "aba_routing", "swift_bic", "handle", "unique_id", "custom", "denied")},
    # quasi-identifiers: a built-in hierarchy the anonymity engine generalizes along
    "date_of_birth": Proposal(_QI, "generalize", {"date": "year"}, {"type": "date", "levels": ["year", "decade"]}),
    "date": Proposal(_QI, "generalize", {"date": "month"}, {"type": "date", "levels": ["month", "year"]}),
    "postcode": Proposal(_QI, "generalize", {"prefix": 3}, {"type": "prefix", "levels": 2}),
    "geohash": Proposal(_QI, "generalize", {"prefix": 4}, {"type": "prefix", "levels": 2}),  # ~20 km cells
    "age": Proposal(_QI, "keep", hierarchy={"type": "interval", "width": 5, "levels": 3}),
    "sex": Proposal(_QI, "keep"),
    # the rest
    "health": Proposal(Role.SENSITIVE, "keep"),
    "special_category": Proposal(Role.SENSITIVE, "keep"),  # race, religion, ... (GDPR art. 9)
    "label": Proposal(Role.LABEL, "keep"),
    "free_text": Proposal(Role.FEATURE, "scrub"),  # no PII in the sample is no proof of none in the rest
    None: Proposal(Role.FEATURE, "keep"),
}


def proposal_for(pii_type: str | None) -> Proposal:
    return PROPOSALS.get(pii_type, PROPOSALS[None])


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
        from privml.detect.verdict import value_digest

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
    why scan proposed what it did (counts, shares and statistics only, never a value)."""
    data = yaml.safe_load(dump_policy(policy))
    evidence = {c.name: c.evidence for c in scan.columns}
    columns = data.pop("columns")
    head = {k: data.pop(k) for k in ("version", "keys") if k in data}
    out = [yaml.safe_dump(head, sort_keys=False).rstrip("\n"), "columns:"]
    for name, spec in columns.items():
        why = evidence.get(name)
        if why:
            lines = textwrap.wrap(f"evidence: {why}", width=100, break_long_words=False)
            out += [f"  # {line}" for line in lines]
        block = yaml.safe_dump({name: spec}, sort_keys=False).rstrip("\n")
        out += ["  " + line for line in block.splitlines()]
    if data:
        out.append(yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
    return "\n".join(out) + "\n"
