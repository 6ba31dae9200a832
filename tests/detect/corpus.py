"""Columns with known truth for detection tests: extra PII columns in formats the sample data does not
use, and decoys that look like PII but are not."""

from __future__ import annotations

import ipaddress
import uuid
from functools import lru_cache

import numpy as np
import pandas as pd

from privml.recognizers import patterns as p
from privml.sampledata import generate


def _words(text: str) -> list[str]:
    return text.split()


IDENTIFIER_TYPES = {"email", "phone", "ssn", "credit_card", "iban", "ip_address", "url", "person_name",
                    "street_address", "free_text_pii", "unique_id", "uuid", "secret"}

# The sample data's columns and what they are.
SAMPLE_TRUTH = {
    "name": "person_name", "email": "email", "phone": "phone", "ssn": "ssn", "credit_card": "credit_card",
    "street_address": "street_address", "ip_address": "ip_address", "sex": "sex", "zip_code": "postcode",
    "date_of_birth": "date_of_birth", "admission_date": "date", "diagnosis": "health", "notes": "free_text_pii",
    "age": None, "income": None, "hours_per_week": None, "education": None, "num_visits": None,
    "readmitted": None, "total_charges": None,  # age and the labels cannot be told from values alone
}

_CITIES = ["Springfield", "Jackson", "Madison", "Austin", "Charlotte", "Portland", "Denver", "Phoenix",
           "San Jose", "Fort Worth", "El Paso", "Salt Lake City", "New Orleans", "Kansas City", "Boston",
           "Chicago", "Houston", "Dallas", "Seattle", "Miami", "Atlanta", "Tulsa", "Omaha", "Raleigh",
           "Las Vegas", "Long Beach", "Virginia Beach", "Oakland", "Minneapolis", "Tampa", "Aurora",
           "Cleveland", "Wichita", "Arlington", "Bakersfield", "Honolulu", "Anaheim", "Lexington"]
_WORDS = _words(
    """
    shipment delayed due to weather the package arrived damaged customer requested a refund order was
    updated item back in stock replacement sent warehouse confirmed the tracking number invoice paid in
    full product quality issue escalated to tier two quality team reviewing batch
    """
)


def _iban(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for _ in range(n):
        bban = "".join(str(d) for d in rng.integers(0, 10, 18))  # DE: 8-digit bank code + 10-digit account
        num = int("".join(str(int(c, 36)) for c in bban + "DE00"))
        check = 98 - num % 97
        raw = f"DE{check:02d}{bban}"
        out.append(" ".join(raw[i:i + 4] for i in range(0, len(raw), 4)) if rng.random() < 0.5 else raw)
    return out


def _luhn_complete(payload: str) -> str:
    return next(payload + d for d in "0123456789" if p.luhn_ok(payload + d))


def extra_pii(rng: np.random.Generator, n: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    """More PII columns, in other formats than the sample data's."""
    other = generate(n, seed=int(rng.integers(1000, 2000)))
    first = other["name"].str.split(" ").str[0]
    last = other["name"].str.split(" ").str[-1]
    cols: dict[str, list[str]] = {
        "email_upper": other["email"].str.upper().tolist(),
        "uk_phone": [f"+44 {rng.integers(20, 80)} {rng.integers(1000, 9999)} {rng.integers(1000, 9999)}"
                     for _ in range(n)],
        "ssn_spaced": other["ssn"].str.replace("-", " ").tolist(),
        "card_dashed": [
            "-".join(c[i:i + 4] for i in range(0, 16, 4))
            for c in (_luhn_complete("5" + str(rng.integers(1, 6)) + "".join(map(str, rng.integers(0, 10, 13))))
                      for _ in range(n))
        ],
        "iban": _iban(rng, n),
        "ipv6": [str(ipaddress.IPv6Address(int(rng.integers(0, 2**62)) << 64 | 0x2001 << 112 >> 64 | int(x)))
                 for x in rng.integers(0, 2**16, n)],
        "profile_url": [f"https://social.example.com/u/{f.lower()}.{la.lower()}"
                        for f, la in zip(first, last, strict=True)],
        "last_first": [f"{la}, {f}" for f, la in zip(first, last, strict=True)],
        "first_name": first.tolist(),
        "address_full": [f"{a}, Springfield, IL 62704" for a in other["street_address"]],
        "ticket_text": [f"Customer {f} {la} wrote from {e} about order {rng.integers(1000, 9999)}."
                        if rng.random() < 0.6 else "Order status checked, nothing to report."
                        for f, la, e in zip(first, last, other["email"], strict=True)],
    }
    cols.update(_faker_columns(int(rng.integers(0, 2**31)), n))
    truth = {"faker_phone_fr": "phone", "faker_phone_us": "phone", "faker_address_gb": "street_address",
             "faker_address_it": "street_address", "faker_card": "credit_card", "faker_name_de": "person_name",
             "email_upper": "email", "uk_phone": "phone", "ssn_spaced": "ssn", "card_dashed": "credit_card",
             "iban": "iban", "ipv6": "ip_address", "profile_url": "url", "last_first": "person_name",
             "first_name": "person_name", "address_full": "street_address", "ticket_text": "free_text_pii"}
    return cols, truth


def _faker_columns(seed: int, n: int) -> dict[str, list[str]]:
    """Formats of other countries, written by Faker row by row (slow, so only a few columns)."""
    from faker import Faker

    def make(locale: str, method: str) -> list[str]:
        fake = Faker(locale)
        fake.seed_instance(seed)
        return [getattr(fake, method)() for _ in range(n)]

    return {
        "faker_phone_fr": make("fr_FR", "phone_number"),
        "faker_phone_us": make("en_US", "phone_number"),  # with extensions, 001- prefixes, ...
        "faker_address_gb": make("en_GB", "address"),  # multi-line, "Flat 4" first
        "faker_address_it": make("it_IT", "street_address"),
        "faker_card": make("en_US", "credit_card_number"),  # every brand and length
        "faker_name_de": make("de_DE", "name"),  # with titles: "Dr.", "Univ.Prof."
    }


def decoys(rng: np.random.Generator, n: int) -> dict[str, list]:
    """Columns that are not PII; some are shaped like it; the near-unique codes among them are identifiers
    of their rows (see `_typed_table`)."""
    five = rng.integers(10000, 100000, n)
    return {
        "row_id": list(range(1, n + 1)),
        "big_id_16": [str(x) for x in rng.integers(10**15, 10**16, n)],  # card-shaped, fails Luhn
        "nine_digits": [f"{x:09d}" for x in rng.integers(0, 10**9, n)],  # SSN-shaped without dashes
        "ten_digits": [str(x) for x in rng.integers(10**9, 10**10, n)],  # phone-shaped without format
        "product_code": [f"PRD-{x:05d}-{chr(65 + y)}"  # a catalogue: codes repeat over orders
                         for x, y in zip(rng.integers(0, 300, n), rng.integers(0, 3, n), strict=True)],
        "sku_5digit": [f"{x:05d}" for x in rng.integers(1, 3000, n)],  # postcode-shaped, unassigned areas
        "code_5digit": [str(x) for x in five],  # postcode-shaped, uniform over all 5-digit numbers
        "amount": [f"{x:.2f}" for x in rng.lognormal(4, 1, n)],
        "price_round": [str(x) for x in (rng.integers(100, 999, n) * 100)],
        "uuid": [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, n)],
        "sha1": [f"{int(x):040x}" for x in rng.integers(0, 2**63, n)],
        "version": [f"{a}.{b}.{c}" for a, b, c in rng.integers(0, 20, (n, 3))],
        "city": list(rng.choice(_CITIES, n)),
        "status": list(rng.choice(["active", "inactive", "pending", "closed"], n)),
        "color": list(rng.choice(["Red", "Green", "Blue", "Black", "White", "Silver"], n)),
        "plain_text": [" ".join(rng.choice(_WORDS, rng.integers(6, 15))).capitalize() + "." for _ in range(n)],
        "score": list(rng.normal(0, 1, n).round(4)),
        "clock": [f"{h:02d}:{m:02d}:{s:02d}" for h, m, s in rng.integers(0, 60, (n, 3)) % [24, 60, 60]],
    }


@lru_cache(maxsize=4)
def _typed_table(rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, str | None]]:
    rng = np.random.default_rng(seed)
    base = generate(rows, seed=seed)
    extra, extra_truth = extra_pii(rng, rows)
    decoy = decoys(rng, rows)
    frame = pd.concat([base, pd.DataFrame(extra), pd.DataFrame(decoy)], axis=1)
    # Near-unique codes identify their rows whatever their format (a row id, an account-like number, a
    # device uuid, a hash of something): scan calls them identifiers.
    unique = {"row_id": "unique_id", "big_id_16": "unique_id", "nine_digits": "unique_id",
              "ten_digits": "unique_id", "uuid": "uuid", "sha1": "unique_id"}
    truth = {**SAMPLE_TRUTH, **extra_truth, **{k: None for k in decoy}, "plain_text": "free_text", **unique}
    return frame, truth


def hidden_table(rows: int, seed: int, *, as_strings: bool) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """Sample data + extra PII + decoys, columns renamed c0..cN in a shuffled order: names carry no hint.
    Returns the frame and the truth per new column name."""
    frame, truth = _typed_table(rows, seed)
    frame = frame.astype(str) if as_strings else frame.copy()  # as_strings: what reading a CSV gives
    order = np.random.default_rng([seed, 1]).permutation(len(frame.columns))
    original = [frame.columns[i] for i in order]
    frame = frame.iloc[:, order]
    frame.columns = [f"c{i}" for i in range(len(original))]
    return frame, {f"c{i}": truth[name] for i, name in enumerate(original)}
