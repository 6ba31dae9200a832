"""The role and action each detected type gets by default: the table `scan` and `propose_policy` share.

The lowest layer of privml.detect's proposal side: it imports the policy model and the technique registry,
nothing of detect, so `scan` (which proposes per column) and `policy` (which assembles a policy from a scan)
both import it and neither imports the other's module back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from privml.policy import Role
from privml.transforms import technique_class

__all__ = ["DEFAULT_K", "KEY_NAME", "KEY_REFERENCE", "PROPOSALS", "Proposal", "domain_placeholder", "proposal_for"]

KEY_NAME = "tokens"
KEY_REFERENCE = "alias/privml-tokens"
DEFAULT_K = 5


@dataclass(frozen=True)
class Proposal:
    role: Role
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    hierarchy: dict[str, Any] | None = None

    @property
    def needs_key(self) -> bool:
        """Whether the action needs a key: the technique registry says, not a list kept here."""
        return bool(technique_class(self.action).needs_key)


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


# What a DP model needs to know of a column without reading the data. `scan` cannot supply it (the
# sample's min, max or values would leak outside ε), so the policy it writes says what to fill in.
BOUNDS_PLACEHOLDER = (
    "bounds: [MIN, MAX]  # for a DP model (ModelKind=dp_*): the public limits of {name}'s values (what the "
    "field can hold, e.g. [0, 150] for an age), NOT the data's min and max, which would leak outside ε; or "
    "give a public `range:` and `differential_privacy: {{bounds_share: 0.1}}` to spend that share of ε on DP bounds"
)
LABEL_BOUNDS_PLACEHOLDER = (
    "bounds: [MIN, MAX]  # for DP regression (ModelKind=dp_linreg): the public limits of the label {name}, "
    "NOT the data's min and max; or a public `range:` and `differential_privacy: {{bounds_share: 0.1}}`"
)
CATEGORIES_PLACEHOLDER = (
    "categories: [...]  # for a DP model: every value {name} can take, from its definition (a code list), "
    "not from the data; or public `candidates:` and `differential_privacy: {{categories_share: 0.1}}` to select "
    "them under DP"
)


def domain_placeholder(name: str, *, role: Role, action: str, numeric: bool,
                       params: dict[str, Any] | None = None) -> str | None:
    """The commented `bounds` / `categories` line a proposed policy carries for a column a DP model would
    read (a feature, quasi-identifier, sensitive attribute or label that is not dropped); None for others.
    A numeric column stays numeric when kept or generalized to ranges (`width`); a postcode cut to a
    prefix or a date to a month is categorical."""
    technique = technique_class(action)
    if role is Role.IDENTIFIER or technique.drops_column:
        return None
    stays_numeric = technique.keeps_numbers(params)
    if numeric and stays_numeric:
        return (LABEL_BOUNDS_PLACEHOLDER if role is Role.LABEL else BOUNDS_PLACEHOLDER).format(name=name)
    if role is Role.LABEL:
        return None  # a categorical label's classes are the model's outputs, not an input domain
    return CATEGORIES_PLACEHOLDER.format(name=name)
