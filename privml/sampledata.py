"""A deterministic, realistic sample table with personal data: what privml's examples and tests run on.

`generate(rows, seed)` returns one row per (fictitious) patient visit:

- direct identifiers: `name`, `email`, `phone`, `ssn`, `credit_card` (Luhn-valid), `street_address`,
  `ip_address` (mostly IPv4, some IPv6);
- quasi-identifiers: `age` (at admission), `sex`, `zip_code`, `date_of_birth` (consistent with `age`),
  `admission_date`;
- sensitive attribute: `diagnosis`;
- features: `income`, `hours_per_week`, `education`, `num_visits`;
- free text: `notes`, sentences that mention the same person's name, email, phone or address;
- label: `readmitted` (0/1), a noisy logistic function of the features;
- regression target: `total_charges` (dollars, rounded to 10), linear in the features plus noise:
  1800 + 1400·num_visits + 45·age + 2600·(the diagnosis's risk, negative risks as 0) + 250·(education
  level 0-6) + N(0, 1800²), at least 200. It is label-able (`privml run --local --label total_charges`
  trains a regressor); the default label stays `readmitted`. Its noise is drawn after every other
  column, so the other columns are the same as without it for the same seed.

Dtypes: text, identifiers and dates are pandas strings (dates ISO `YYYY-MM-DD`); `age`, `income`,
`hours_per_week`, `num_visits`, `readmitted` and `total_charges` are int64.

Fast enough for benchmarks (1,000,000 rows in a few seconds): Faker builds small pools of names and
street names once; every row is drawn from those pools with numpy and assembled with Arrow string
kernels (no per-row Python).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from privml.recognizers.patterns import US_ZIP3_UNASSIGNED

__all__ = ["COLUMNS", "generate"]

COLUMNS = [
    "name", "email", "phone", "ssn", "credit_card", "street_address", "ip_address",
    "age", "sex", "zip_code", "date_of_birth", "admission_date", "diagnosis",
    "income", "hours_per_week", "education", "num_visits", "notes", "readmitted", "total_charges",
]

_NAME_LOCALES = ("en_US", "en_GB", "es_MX", "de_DE", "fr_FR", "it_IT")
_EMAIL_DOMAINS = np.array(
    ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
     "comcast.net", "mail.com", "example.org"], dtype=object)
_EMAIL_DOMAIN_P = np.array([0.34, 0.14, 0.12, 0.09, 0.08, 0.05, 0.04, 0.05, 0.04, 0.05])
_DIAGNOSES = np.array(
    ["Hypertension", "Type 2 diabetes", "Asthma", "Depression", "Anxiety disorder", "COPD",
     "Coronary artery disease", "Osteoarthritis", "Migraine", "Chronic kidney disease", "Heart failure",
     "Pneumonia"], dtype=object)
# P(diagnosis | age band): chronic conditions grow with age.
_DIAG_P = np.array([
    [0.06, 0.04, 0.16, 0.17, 0.17, 0.01, 0.01, 0.03, 0.18, 0.01, 0.01, 0.15],  # < 40
    [0.20, 0.14, 0.08, 0.10, 0.09, 0.06, 0.07, 0.08, 0.07, 0.04, 0.03, 0.04],  # 40-64
    [0.18, 0.15, 0.03, 0.05, 0.03, 0.11, 0.12, 0.12, 0.01, 0.08, 0.09, 0.03],  # >= 65
])
_DIAG_RISK = np.array([0.2, 0.4, 0.0, 0.1, 0.0, 0.8, 0.6, 0.0, -0.3, 0.7, 1.0, 0.3])
_EDUCATION = np.array(
    ["Some-school", "HS-grad", "Some-college", "Assoc", "Bachelors", "Masters", "Doctorate"], dtype=object)
_EDUCATION_P = np.array([0.08, 0.30, 0.22, 0.08, 0.19, 0.10, 0.03])
_STREET_SUFFIX_ABBREV = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln"}


def generate(rows: int = 20000, seed: int = 0) -> pd.DataFrame:
    """The sample table: `rows` rows, the same for the same `seed`."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if rows == 0:  # Arrow kernels give empty arrays no type; take the columns and dtypes from one row
        return generate(1, seed).iloc[:0]
    rng = np.random.default_rng(seed)
    pools = _pools(seed)
    n = rows

    female = rng.random(n) < 0.51
    first = pc.if_else(pa.array(female), _pick(rng, pools["female"], n), _pick(rng, pools["male"], n))
    last = _pick(rng, pools["last"], n)
    name = _cat(first, " ", last)

    age, dob, admission = _ages_and_dates(rng, n)
    edu = rng.choice(len(_EDUCATION), size=n, p=_EDUCATION_P)
    band = np.digitize(age, [40, 65])
    diag = _choose_rows(rng, _DIAG_P[band])
    income = np.exp(9.9 + 0.17 * edu + 0.022 * (age - 18) - 0.0004 * (age - 18) ** 2 + rng.normal(0, 0.35, n))
    income = (np.round(income / 100) * 100).astype(np.int64)
    hours = np.clip(np.round(rng.normal(38 + 1.2 * edu, 8, n)), 5, 80).astype(np.int64)
    hours = np.where(age >= 67, np.minimum(hours, rng.integers(0, 30, n)), hours).astype(np.int64)
    visits = rng.poisson(0.6 + 0.035 * (age - 18) + 1.2 * _DIAG_RISK[diag].clip(0)).astype(np.int64)

    logit = (
        -1.1
        + 0.55 * (visits - 2.3)
        + 0.025 * (age - 50)
        - 0.30 * (edu - 2.5)
        - 0.9 * np.log(income / 40000.0)
        + 1.2 * _DIAG_RISK[diag]
    )
    readmitted = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    email = _emails(rng, first, last)
    phone = _phones(rng, n)
    address = _addresses(rng, pools["streets"], n)
    sex = np.where(female, "F", "M").astype(object)

    data = {
        "name": name,
        "email": email,
        "phone": phone,
        "ssn": _ssns(rng, n),
        "credit_card": _cards(rng, n),
        "street_address": address,
        "ip_address": _ips(rng, n),
        "age": age,
        "sex": sex,
        "zip_code": _pick(rng, pools["zips"], n, weights=pools["zip_weights"]),
        "date_of_birth": pc.cast(pa.array(dob), pa.string()),
        "admission_date": pc.cast(pa.array(admission), pa.string()),
        "diagnosis": _DIAGNOSES[diag],
        "income": income,
        "hours_per_week": hours,
        "education": _EDUCATION[edu],
        "num_visits": visits,
        "notes": _notes(rng, first, last, email, phone, address, pa.array(_DIAGNOSES[diag], pa.string())),
        "readmitted": readmitted,
    }
    # drawn last: every column above is what the same seed gave before this one existed
    charges = (1800 + 1400 * visits + 45 * age + 2600 * _DIAG_RISK[diag].clip(0) + 250 * edu
               + rng.normal(0, 1800, n))
    data["total_charges"] = (np.round(np.maximum(charges, 200) / 10) * 10).astype(np.int64)
    return pd.DataFrame({col: _series(v) for col, v in data.items()})


def _series(values: np.ndarray | pa.Array) -> pd.Series:
    if isinstance(values, np.ndarray) and values.dtype.kind == "i":
        return pd.Series(values, dtype="int64")
    return pd.Series(values if isinstance(values, pa.Array) else pa.array(values, pa.string()), dtype="str")


# -- pools (built once per seed with Faker) --------------------------------------------------------
@lru_cache(maxsize=4)
def _pools(seed: int) -> dict[str, Any]:
    from faker import Faker

    male: list[str] = []
    female: list[str] = []
    last: list[str] = []
    for loc in _NAME_LOCALES:
        provider = _person_provider(loc)
        male += _ascii(getattr(provider, "first_names_male", ()))
        female += _ascii(getattr(provider, "first_names_female", ()))
        last += _ascii(getattr(provider, "last_names", ()))
    fake = Faker("en_US")
    fake.seed_instance(seed)
    streets = sorted({fake.street_name() for _ in range(3000)})
    rng = np.random.default_rng([seed, 1])
    # ZIP codes: a few hundred real-shaped codes in assigned 3-digit areas, with a skewed population.
    zip3 = np.array([p for p in range(5, 1000) if f"{p:03d}" not in US_ZIP3_UNASSIGNED])
    areas = rng.choice(zip3, size=80, replace=False)
    zips = sorted({f"{a:03d}{rng.integers(1, 100):02d}" for a in areas for _ in range(6)})
    zip_weights = rng.zipf(1.6, size=len(zips)).clip(max=50).astype(float)
    return {
        "male": np.array(sorted(set(male)), dtype=object),
        "female": np.array(sorted(set(female)), dtype=object),
        "last": np.array(sorted(set(last)), dtype=object),
        "streets": np.array(streets, dtype=object),
        "zips": np.array(zips, dtype=object),
        "zip_weights": zip_weights / zip_weights.sum(),
    }


def _person_provider(locale: str):
    import importlib

    return importlib.import_module(f"faker.providers.person.{locale}").Provider


def _ascii(names) -> list[str]:
    # ASCII only: the names also make email addresses.
    return [n for n in names if n.isascii() and n.isalpha()]


# -- helpers --------------------------------------------------------------------------------------
Text = pa.Array | str


def _pick(rng: np.random.Generator, pool: pa.Array, n: int, weights: np.ndarray | None = None) -> pa.Array:
    return pool.take(pa.array(rng.choice(len(pool), size=n, p=weights)))


def _choose_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from that row's probability vector."""
    cum = probs.cumsum(axis=1)
    return (rng.random(len(probs))[:, None] > cum).sum(axis=1).clip(max=probs.shape[1] - 1)


def _cat(*parts: Text) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _num(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_text(values), width, "0")


def _compose(choice: np.ndarray, builders: list[Callable[[np.ndarray], pa.Array]]) -> pa.Array:
    """Row i is built by builders[choice[i]]; each builder runs once, on its own rows only."""
    n = len(choice)
    parts, positions = [], []
    for i, build in enumerate(builders):
        idx = np.flatnonzero(choice == i)
        if len(idx):
            parts.append(build(idx))
            positions.append(idx)
    if not parts:
        return pa.array([], pa.string())
    order = np.empty(n, dtype=np.int64)
    order[np.concatenate(positions)] = np.arange(n)
    return pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(pa.array(order))


def _digits_to_text(digits: np.ndarray) -> pa.Array:
    """Rows of a (n, L) matrix of digits 0-9 as L-character strings (zero-copy into Arrow)."""
    n, width = digits.shape
    data = np.ascontiguousarray((digits + 48).astype(np.uint8))
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _ages_and_dates(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = np.datetime64("2023-01-01")
    admission = start + rng.integers(0, 731, n).astype("timedelta64[D]")
    target_age = np.clip(np.round(rng.gamma(6.0, 8.0, n) + 14), 18, 95).astype(np.int64)
    days_old = np.round(target_age * 365.25).astype(np.int64) + rng.integers(0, 365, n)
    dob = admission - days_old.astype("timedelta64[D]")
    # Age in whole years on the admission date, computed from the calendar (birthday passed or not).
    ay, dy = _year(admission), _year(dob)
    before_birthday = _month_day(admission) < _month_day(dob)
    age = (ay - dy - before_birthday).astype(np.int64)
    return age, dob, admission


def _year(d: np.ndarray) -> np.ndarray:
    return d.astype("datetime64[Y]").astype(np.int64) + 1970


def _month_day(d: np.ndarray) -> np.ndarray:
    month = d.astype("datetime64[M]").astype(np.int64) % 12
    day = (d - d.astype("datetime64[M]")).astype(np.int64)
    return month * 31 + day


# -- identifiers ----------------------------------------------------------------------------------
def _emails(rng: np.random.Generator, first: pa.Array, last: pa.Array) -> pa.Array:
    n = len(first)
    f, la = pc.utf8_lower(first), pc.utf8_lower(last)
    number = _text(rng.integers(1, 100, n))
    with_number = rng.random(n) < 0.45
    styles: list[Callable[[np.ndarray], pa.Array]] = [
        lambda i: _cat(f.take(i), ".", la.take(i)),
        lambda i: _cat(f.take(i), la.take(i)),
        lambda i: _cat(pc.utf8_slice_codeunits(f.take(i), 0, 1), la.take(i)),
        lambda i: _cat(f.take(i), "_", la.take(i)),
        lambda i: _cat(la.take(i), ".", f.take(i)),
    ]
    local = _compose(rng.integers(0, len(styles), n), styles)
    local = pc.if_else(pa.array(with_number), _cat(local, number), local)
    domain = pa.array(_EMAIL_DOMAINS, pa.string()).take(
        pa.array(rng.choice(len(_EMAIL_DOMAINS), size=n, p=_EMAIL_DOMAIN_P)))
    return _cat(local, "@", domain)


def _nanp(rng: np.random.Generator, n: int) -> np.ndarray:
    """A 3-digit NANP area or exchange code: first digit 2-9, never N11."""
    code = rng.integers(200, 1000, n)
    return np.where(code % 100 == 11, code + 1, code)


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    area, exch, line = _num(_nanp(rng, n), 3), _num(_nanp(rng, n), 3), _num(rng.integers(0, 10000, n), 4)
    styles: list[Callable[[np.ndarray], pa.Array]] = [
        lambda i: _cat("(", area.take(i), ") ", exch.take(i), "-", line.take(i)),
        lambda i: _cat(area.take(i), "-", exch.take(i), "-", line.take(i)),
        lambda i: _cat("+1 ", area.take(i), " ", exch.take(i), " ", line.take(i)),
        lambda i: _cat(area.take(i), ".", exch.take(i), ".", line.take(i)),
        lambda i: _cat("+1-", area.take(i), "-", exch.take(i), "-", line.take(i)),
    ]
    return _compose(rng.choice(len(styles), size=n, p=[0.35, 0.25, 0.15, 0.15, 0.10]), styles)


def _ssns(rng: np.random.Generator, n: int) -> pa.Array:
    # Valid SSA ranges: area 001-899 except 666, group 01-99, serial 0001-9999.
    area = rng.integers(1, 899, n)
    area = np.where(area == 666, 667, area)
    return _cat(_num(area, 3), "-", _num(rng.integers(1, 100, n), 2), "-", _num(rng.integers(1, 10000, n), 4))


def luhn_check_digit(payload: np.ndarray) -> np.ndarray:
    """The Luhn check digit for each row of a (n, L) matrix of digits."""
    rev = payload[:, ::-1]
    doubled = rev[:, 0::2] * 2
    total = (doubled // 10 + doubled % 10).sum(axis=1) + rev[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


_CARD_BRANDS = [  # (prefixes, length, share): Visa, Mastercard, American Express, Discover
    (["4"], 16, 0.5), ([str(p) for p in range(51, 56)], 16, 0.3), (["34", "37"], 15, 0.12), (["6011"], 16, 0.08),
]


def _cards(rng: np.random.Generator, n: int) -> pa.Array:
    spaced = rng.random(n) < 0.5

    def brand(prefixes: list[str], length: int) -> Callable[[np.ndarray], pa.Array]:
        def build(idx: np.ndarray) -> pa.Array:
            table = np.array([[int(c) for c in p] for p in prefixes])
            prefix = table[rng.integers(0, len(prefixes), len(idx))]
            body = rng.integers(0, 10, (len(idx), length - prefix.shape[1] - 1))
            payload = np.hstack([prefix, body])
            plain = _digits_to_text(np.hstack([payload, luhn_check_digit(payload)[:, None]]))
            bounds = np.cumsum([0, *([4, 6, 5] if length == 15 else [4, 4, 4, 4])])
            pieces = [pc.utf8_slice_codeunits(plain, int(a), int(z)) for a, z in itertools.pairwise(bounds)]
            grouped = pc.binary_join_element_wise(*pieces, " ")
            return pc.if_else(pa.array(spaced[idx]), grouped, plain)
        return build

    choice = rng.choice(len(_CARD_BRANDS), size=n, p=[b[2] for b in _CARD_BRANDS])
    return _compose(choice, [brand(p, length) for p, length, _ in _CARD_BRANDS])


@lru_cache(maxsize=1)
def _hex16() -> pa.Array:
    return pa.array([f"{i:x}" for i in range(65536)], pa.string())


def _ips(rng: np.random.Generator, n: int) -> pa.Array:
    first_octets = np.array([o for o in range(1, 224) if o not in (10, 127)])

    def v4(idx: np.ndarray) -> pa.Array:
        k = len(idx)
        octets = [_text(rng.choice(first_octets, size=k)), _text(rng.integers(0, 256, k)),
                  _text(rng.integers(0, 256, k)), _text(rng.integers(1, 255, k))]
        return pc.binary_join_element_wise(*octets, ".")

    def v6(idx: np.ndarray) -> pa.Array:
        k = len(idx)
        hexes = _hex16()
        groups = [hexes.take(pa.array(rng.integers(0x2001, 0x2a10, k)))]
        groups += [hexes.take(pa.array(rng.integers(0, 65536, k))) for _ in range(7)]
        return pc.binary_join_element_wise(*groups, ":")

    return _compose((rng.random(n) >= 0.9).astype(np.int64), [v4, v6])


def _addresses(rng: np.random.Generator, streets: pa.Array, n: int) -> pa.Array:
    street = _pick(rng, streets, n)
    for full, short in _STREET_SUFFIX_ABBREV.items():  # people write "St" as often as "Street"
        abbreviate = pc.and_(pc.ends_with(street, " " + full), pa.array(rng.random(n) < 0.5))
        street = pc.if_else(abbreviate, pc.replace_substring(street, " " + full, " " + short), street)
    base = _cat(_text(rng.integers(1, 9999, n)), " ", street)
    unit = _cat(" Apt ", _text(rng.integers(1, 400, n)))
    return pc.if_else(pa.array(rng.random(n) < 0.15), _cat(base, unit), base)


def _notes(rng: np.random.Generator, first: pa.Array, last: pa.Array, email: pa.Array,
           phone: pa.Array, address: pa.Array, diagnosis: pa.Array) -> pa.Array:
    n = len(first)
    weeks = _text(rng.integers(1, 9, n))
    diag = pc.utf8_lower(diagnosis)

    def full(i: np.ndarray) -> pa.Array:
        return _cat(first.take(i), " ", last.take(i))

    templates: list[Callable[[np.ndarray], pa.Array]] = [
        lambda i: _cat(full(i), " called from ", phone.take(i), " asking about the follow-up appointment."),
        lambda i: _cat("Patient reports improvement. Contact ", first.take(i), " at ", email.take(i),
                       " with lab results."),
        lambda i: _cat("Discussed ", diag.take(i), " management with ", full(i), "; callback number ",
                       phone.take(i), "."),
        lambda i: _cat("No acute complaints today. Next visit in ", weeks.take(i), " weeks."),
        lambda i: _cat("Sent discharge summary to ", email.take(i), ". ", first.take(i), " prefers a call on ",
                       phone.take(i), "."),
        lambda i: _cat("Home visit for ", full(i), " at ", address.take(i), "; transport arranged."),
        lambda i: _cat("Follow-up for ", diag.take(i), " scheduled. Vitals stable."),
    ]
    choice = rng.choice(len(templates), size=n, p=[0.2, 0.18, 0.17, 0.1, 0.13, 0.12, 0.1])
    return _compose(choice, templates)
