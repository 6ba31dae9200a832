"""Value validators for each PII type.

Each validator takes a pandas string Series (the distinct, stripped, non-missing values of a column's
sample) and returns a numpy bool array: which values are well-formed instances of the type. A cheap
regular expression (pyarrow/RE2 through pandas' `.str` accessor, so no Python loop) selects the
candidates; checks that need arithmetic (Luhn, mod-97, SSA ranges, `ipaddress`) run on the candidates
only. Patterns are written in the common subset of RE2 and Python `re` syntax.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from privml.recognizers.lexicons import name_lexicon, street_prefixes, street_suffixes

Validator = Callable[[pd.Series], np.ndarray]


def _words(text: str) -> list[str]:
    return text.split()


# USPS 3-digit ZIP prefixes that are not assigned to any area (so a 5-digit code starting with one of
# them is not a US ZIP code).
US_ZIP3_UNASSIGNED = frozenset(_words(
    """
    000 001 002 003 004 099 213 269 343 345 348 353 419 428 429 517 518 519 529 533 536 552 568 578 579
    589 621 632 642 643 659 663 682 694 695 696 697 698 699 702 709 715 732 742 771 817 818 819 839 848
    849 854 858 861 862 866 867 868 869 876 886 887 888 892 896 899 909 929 987
    """
))

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"
_SEP = r"[ .\-]"
PHONE_US = rf"(?:\+?1{_SEP}?)?(?:\(\d{{3}}\) ?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}(?: ?(?:x|ext\.?) ?\d{{1,5}})?"
PHONE_INTL = r"(?:\+|00)\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){2,6}(?: ?(?:x|ext\.?) ?\d{1,5})?"
PHONE_NATIONAL_BARE = r"0[1-9]\d{8,9}"  # "0430830401": a national number without separators
PHONE_NATIONAL = r"\(?0\d{1,4}\)?[ .\-]\d{2,4}(?:[ .\-]?\d{2,4}){1,3}"
SSN = r"\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}"
CARD = r"\d{4}(?:[ \-]?\d{2,7}){2,4}"
IBAN = r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}"
URL = r"(?i)(?:https?|ftp)://[^\s/?#]+\.[^\s/?#]+[^\s]*|www\.[^\s/?#]+\.[a-z]{2,}[^\s]*"
IPV4_SHAPE = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
IPV6_SHAPE = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z]+)?"
ZIP_US = r"\d{5}(?:-\d{4})?"
POSTCODE_UK = r"(?i)(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})"
POSTCODE_CA = r"(?i)[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d"
POSTCODE_NL = r"[1-9]\d{3} ?[A-Z]{2}"
# Formats with a separator that nothing else in a table has (Brazil, Japan, Poland, Portugal, Sweden),
# and "D-12345"-style country-prefixed codes.
POSTCODE_SEPARATED = r"\d{5}-\d{3}|\d{3}-\d{4}|\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2}|(?:D|F|A|CH|I|NL|B|L)-\d{4,5}"
DATE_SHAPES = (
    r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?",
    r"\d{4}/\d{1,2}/\d{1,2}",
    r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}",
    r"(?i)\d{1,2}[ \-](?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?[ \-,]+\d{4}",
    r"(?i)(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2},? \d{4}",
)
_NAME_TOKEN = re.compile(r"^[^\W\d_][^\W\d_'’\-.]*(?:['’\-][^\W\d_]+)*\.?$")
_ADDRESS_NUMBERED = re.compile(
    r"^\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?,?\s+(?P<street>[^\d,#]+?(?:\s+\d+(?:st|nd|rd|th))?)"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\.?)?"
    r"(?:,?\s+(?:(?:apt|apartment|suite|ste|unit|fl|floor|no)\.?\s+#?\s*|#\s*)[A-Za-z0-9\-]+)?"
    r"(?:,\s*[^,]+){0,3}$",
    re.IGNORECASE,
)
_ADDRESS_EUROPEAN = re.compile(
    r"^(?:[^\W\d_][\w'.\-]*\s+)*[\w'.\-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|laan|straat|"
    r"gracht|vej|gatan|gata|veien|dreef|steeg|hof|baan|kade|pad|plein|singel|dijk|markt|boulevard)"
    r"\s+\d{1,5}[a-z]?(?:[\-/]\d{1,5}[a-z]?)?(?:,.*)?$"
    r"|^\d{1,5}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|chemin|place|allée|impasse|quai)\s+.+$"
    r"|^p\.?\s?o\.?\s+box\s+\d+.*$",
    re.IGNORECASE,
)
_ADDRESS_MILITARY = re.compile(r"^(?:USNS|USS|USNV|USCGC|PSC|Unit|CMR)\s.+\b[AFD]PO,? A[AEP]\s+\d{5}$")
_HOUSE_NUMBER = re.compile(r"^\d{1,5}[a-zA-Z]?$")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_UNIT_FIRST = re.compile(r"^(?:flat|studio|apartment|apt\.?|unit|suite|room|level)\s+[\w\-]+(?:,\s*|\s+(?=\d))",
                         re.IGNORECASE)


# Where RE2 and Python's `re` differ (Unicode word classes and boundaries, lookaround), pandas' own
# choice of engine is kept.
_PYTHON_ONLY = re.compile(r"\\[wWbB]|\(\?<?[=!]")


def _arrow(values: pd.Series, pattern: str) -> pa.ChunkedArray | None:
    """The Arrow array behind a string Series, when there is one and RE2 reads `pattern` as Python
    would: calling RE2 directly spares the per-call cost of pandas' accessor (it parses every pattern
    in Python first), most of a scan's time."""
    array = getattr(values.array, "_pa_array", None)
    if not isinstance(array, pa.ChunkedArray) or _PYTHON_ONLY.search(pattern):
        return None
    return array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else None


def _bools(result: pa.ChunkedArray) -> np.ndarray:
    return result.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _fullmatch(values: pd.Series, pattern: str) -> np.ndarray:
    array = _arrow(values, pattern)
    if array is None:
        return values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    return _bools(pc.match_substring_regex(array, f"^(?:{pattern})$"))


fullmatch = _fullmatch


def _contains(values: pd.Series, pattern: str) -> np.ndarray:
    array = _arrow(values, pattern)
    if array is None:
        return values.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
    return _bools(pc.match_substring_regex(array, pattern))


def count_matches(values: pd.Series, pattern: str) -> np.ndarray:
    """Non-overlapping matches of `pattern` in each value."""
    array = _arrow(values, pattern)
    if array is None:
        return values.str.count(pattern).to_numpy(dtype=float)
    return pc.count_substring_regex(array, pattern).fill_null(0).to_numpy(zero_copy_only=False).astype(float)


def _check(values: pd.Series, candidates: np.ndarray, fn: Callable[[str], bool]) -> np.ndarray:
    """Refine regex candidates with a per-value check (runs on the candidates only)."""
    out = candidates.copy()
    idx = np.flatnonzero(candidates)
    if len(idx):
        texts = values.to_numpy(dtype=object)[idx]
        out[idx] = [fn(t) for t in texts]
    return out


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# -- validators -----------------------------------------------------------------------------------
def is_email(values: pd.Series) -> np.ndarray:
    return _check(values, _fullmatch(values, EMAIL), lambda t: ".." not in t and len(t) <= 254)


_EXTENSION = re.compile(r" ?(?:x|ext\.?) ?\d{1,5}$")


def phone_ok(text: str) -> bool:
    text = _EXTENSION.sub("", text)
    if text.startswith("00"):  # the international access code written out instead of "+"
        text = "+" + text[2:]
    digits = _digits(text)
    if text.startswith("+"):
        if text.startswith(("+1 ", "+1-", "+1.", "+1(", "+1 (")) or (text.startswith("+1") and len(digits) == 11):
            return _nanp_ok(digits[1:])
        return 8 <= len(digits) <= 15
    if len(digits) == 11 and digits[0] == "1":
        return _nanp_ok(digits[1:])
    if len(digits) == 10 and digits[0] != "0":
        return _nanp_ok(digits)
    return digits.startswith("0") and 9 <= len(digits) <= 12


def _nanp_ok(ten: str) -> bool:
    # Area and exchange codes start with 2-9 and are not N11.
    return (len(ten) == 10 and ten[0] in "23456789" and ten[3] in "23456789"
            and ten[1:3] != "11" and ten[4:6] != "11")


def is_phone(values: pd.Series) -> np.ndarray:
    shape = (_fullmatch(values, PHONE_US) | _fullmatch(values, PHONE_INTL)
             | _fullmatch(values, PHONE_NATIONAL) | _fullmatch(values, PHONE_NATIONAL_BARE))
    return _check(values, shape, phone_ok)


def ssn_ok(text: str) -> bool:
    digits = _digits(text)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    # SSA never issues area 000, 666 or 900-999, group 00 or serial 0000; 078-05-1120 was printed in a
    # wallet advertisement and is void.
    return (area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"
            and digits != "078051120")


def is_ssn(values: pd.Series) -> np.ndarray:
    return _check(values, _fullmatch(values, SSN), ssn_ok)


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_IIN = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}"  # Visa 13/16/19
    r"|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # American Express
    r"|(?:2131|1800)\d{11}"  # JCB, 15 digits
    r"|(?:6011|65\d{2}|64[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|3(?:0[0-5]|[689]\d)\d{11,16}"  # Diners Club
    r"|62\d{14,17}"  # UnionPay
    r"|(?:5[06-9]|6\d)\d{10,17})$"  # Maestro
)


def card_ok(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and bool(_CARD_IIN.match(digits)) and luhn_ok(digits)


# Share of card-shaped random digit strings that pass Luhn (1 in 10) and have a known issuer prefix
# (fewer still): taking one in ten over-counts chance, which only makes the evidence stricter.
CARD_CHANCE = 0.1


def card_shaped(values: pd.Series) -> np.ndarray:
    return _fullmatch(values, r"\d{4}(?:[ \-]?\d{3,5}){2,4}") & (values.str.len().to_numpy() <= 23)


def is_credit_card(values: pd.Series) -> np.ndarray:
    return _check(values, _fullmatch(values, CARD), card_ok)


_IBAN_LENGTH = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    expected = _IBAN_LENGTH.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def is_iban(values: pd.Series) -> np.ndarray:
    return _check(values, _fullmatch(values, IBAN), iban_ok)


def ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_ip_address(values: pd.Series) -> np.ndarray:
    shape = _fullmatch(values, IPV4_SHAPE) | _fullmatch(values, IPV6_SHAPE)
    return _check(values, shape, ip_ok)


def is_url(values: pd.Series) -> np.ndarray:
    return _fullmatch(values, URL)


def parse_dates(values: pd.Series) -> pd.Series:
    """Datetimes for values shaped like dates (NaT elsewhere); years outside 1850-2100 are not dates."""
    shape = np.zeros(len(values), dtype=bool)
    for pattern in DATE_SHAPES:
        shape |= _fullmatch(values, pattern)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if shape.any():
        parsed = pd.to_datetime(values[shape], errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
        ok = parsed.dt.year.between(1850, 2100)
        out[shape] = parsed.where(ok).astype("datetime64[ns]")
    return out


def is_date(values: pd.Series) -> np.ndarray:
    return parse_dates(values).notna().to_numpy()


def _zip3_ok(text: str) -> bool:
    return text[:3] not in US_ZIP3_UNASSIGNED


def is_us_zip(values: pd.Series) -> np.ndarray:
    return _check(values, _fullmatch(values, ZIP_US), _zip3_ok)


def is_postcode(values: pd.Series) -> np.ndarray:
    """US ZIP / ZIP+4, UK, Canadian, Dutch postcodes and the separated formats of POSTCODE_SEPARATED."""
    return (is_us_zip(values) | _fullmatch(values, POSTCODE_UK) | _fullmatch(values, POSTCODE_CA)
            | _fullmatch(values, POSTCODE_NL) | _fullmatch(values, POSTCODE_SEPARATED))


def name_score(text: str) -> float:
    """How much a value looks like a person's name: 0 (not name-shaped) to 1 (first and last name
    both in the lexicon). "Last, First" is accepted; titles and initials are skipped."""
    first_names, last_names = name_lexicon()
    if "," in text:
        last, _, first = text.partition(",")
        tokens = [*first.split(), *last.split()]
    else:
        tokens = text.split()
    tokens = [t for t in tokens if t.rstrip(".").lower() not in {"mr", "mrs", "ms", "miss", "dr", "prof", "jr", "sr"}]
    if not 1 <= len(tokens) <= 4 or not all(_NAME_TOKEN.match(t) and t[0].isupper() for t in tokens):
        return 0.0
    words = [t.rstrip(".").lower() for t in tokens if len(t.rstrip(".")) > 1]
    if not words:
        return 0.0
    if len(words) == 1:  # a first-name or last-name column
        return 1.0 if (words[0] in first_names or words[0] in last_names) else 0.0
    return 0.5 * (words[0] in first_names) + 0.5 * (words[-1] in last_names or words[-1] in first_names)


def name_scores(values: pd.Series) -> np.ndarray:
    return np.fromiter((name_score(t) for t in values.to_numpy(dtype=object)), dtype=float, count=len(values))


def is_person_name(values: pd.Series) -> np.ndarray:
    return name_scores(values) >= 0.5


def address_ok(text: str) -> bool:
    text = _LINE_BREAKS.sub(", ", text.strip())  # a multi-line address: street, city line
    if _ADDRESS_MILITARY.match(text):
        return True
    unit = _UNIT_FIRST.match(text)
    if unit:  # "Flat 4, 12 High Street" or "Studio 40, Julie Mountain, Town, POSTCODE"
        text = text[unit.end():]
        if not text[:1].isdigit():
            words = text.split(",")[0].lower().replace(".", " ").split()
            return len(words) >= 2 and words[-1] in street_suffixes()
    match = _ADDRESS_NUMBERED.match(text)
    if match:
        words = match.group("street").lower().replace(".", " ").split()
        if len(words) >= 2 and words[-1] in street_suffixes():
            return True
    return bool(_ADDRESS_EUROPEAN.match(text) or _ADDRESS_MILITARY.match(text) or _prefixed_street(text))


def _prefixed_street(text: str) -> bool:
    """ "Via Roma, 5", "Calle de Alcalá 12 Piso 3", "58, rue Pineau": a street-opening word and a number."""
    words = text.replace(",", " ").split()
    if len(words) < 3:
        return False
    prefixes = street_prefixes()

    def named(word: str) -> bool:  # a street is named by a proper noun, perhaps after a particle
        return word[:1].isupper() or word.lower() in _PARTICLES

    if words[0].isdigit():
        return words[1].lower().rstrip(".") in prefixes and named(words[2])
    return (words[0].lower().rstrip(".") in prefixes and named(words[1])
            and any(_HOUSE_NUMBER.match(w) for w in words[2:]))


_PARTICLES = frozenset({"de", "del", "della", "delle", "dei", "di", "da", "do", "dos", "das", "la", "le", "les",
                        "des", "du", "d'", "l'"})


def is_street_address(values: pd.Series) -> np.ndarray:
    # Every form has a number (house, box or postcode), a word and a space.
    shape = (_contains(values, r"^[^\W_][^\n]*\s") & _contains(values, r"\d")
             & _contains(values, r"[^\W\d_]{2}") & (values.str.len().to_numpy() <= 120))
    return _check(values, shape, address_ok)


VALIDATORS: dict[str, Validator] = {
    "email": is_email,
    "credit_card": is_credit_card,
    "ssn": is_ssn,
    "iban": is_iban,
    "ip_address": is_ip_address,
    "phone": is_phone,
    "url": is_url,
    "date": is_date,
    "postcode": is_postcode,
    "street_address": is_street_address,
    "person_name": is_person_name,
}
