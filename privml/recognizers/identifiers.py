"""Recognizers for identifiers beyond the core types: national ids, tax and bank numbers, device ids,
secrets, locations. Each is a shape (a regular expression) and, where the format has one, a checksum.

The list follows what Presidio's predefined recognizers (`presidio_analyzer/predefined_recognizers`:
UkNinoRecognizer, NhsRecognizer, EsNifRecognizer/EsNieRecognizer, ItFiscalCodeRecognizer,
AuTfnRecognizer, InAadhaarRecognizer, AbaRoutingRecognizer, UsItinRecognizer, UsPassportRecognizer,
...) and Amazon Macie's managed data identifiers (docs.aws.amazon.com/macie/latest/user/
mdis-reference-quick.html: AWS_CREDENTIALS, passports by country, national ids, BANK_ACCOUNT_NUMBER,
VEHICLE_IDENTIFICATION_NUMBER, LATITUDE_LONGITUDE, ...) find in structured data; the checksums are
the issuers' published algorithms (NHS modulus 11, Luhn for SIN and IMEI, the DNI letter table, the
codice fiscale check character, the INSEE key, ISO 7064 MOD 11,10 for the German tax id, Verhoeff for
Aadhaar, the ATO weights for the TFN, the ABA 3-7-1 weights, the VIN check digit).

`CHANCE` is the share of random strings of the right shape that pass the check (a random 9-digit
string passes the ABA checksum one time in ten): a column whose pass rate is far above it is that
type even where many values are malformed, because chance alone cannot explain the rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from privml.recognizers.patterns import fullmatch, luhn_ok

Check = Callable[[str], bool]

__all__ = ["CHANCE", "RECOGNIZERS", "VALIDATORS", "Recognizer", "far_above_chance", "recognize", "shannon_entropy",
           "validator_names"]


_NOT_DIGITS = re.compile(r"\D+")


def _digits(text: str) -> str:
    return _NOT_DIGITS.sub("", text)


def mod97_ok(text: str) -> bool:
    """ISO 7064 MOD 97-10 over letters and digits (IBAN, LEI): the number read as base 36 digits ≡ 1."""
    compact = re.sub(r"[\s\-]", "", text).upper()
    if not compact.isalnum():
        return False
    return int("".join(str(int(ch, 36)) for ch in compact)) % 97 == 1


def mod11_ok(text: str) -> bool:
    """Weighted modulus 11 with weights n..2 on the payload and the last digit as check (NHS style)."""
    digits = _digits(text)
    if len(digits) < 2:
        return False
    payload, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * w for d, w in zip(payload, range(len(payload) + 1, 1, -1), strict=True))
    expected = 11 - total % 11
    expected = 0 if expected == 11 else expected
    return expected != 10 and expected == check


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_ok(text: str) -> bool:
    digits = _digits(text)
    if not digits:
        return False
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


# -- national ids ----------------------------------------------------------------------------------
def nhs_ok(text: str) -> bool:
    digits = _digits(text)
    return len(digits) == 10 and mod11_ok(digits)


def sin_ok(text: str) -> bool:
    digits = _digits(text)
    return len(digits) == 9 and digits[0] != "8" and luhn_ok(digits)  # 8: business numbers


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(text: str) -> bool:
    """Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter): the letter is number mod 23."""
    compact = re.sub(r"[\s\-]", "", text).upper()
    if len(compact) != 9:
        return False
    head = compact[:8]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == compact[8]


_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def codice_fiscale_ok(text: str) -> bool:
    code = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]", code):
        return False
    total = 0
    for i, ch in enumerate(code[:15]):
        value = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[value] if i % 2 == 0 else value
    return chr(65 + total % 26) == code[15]


def insee_ok(text: str) -> bool:
    """French NIR: sex, year, month, department (2A/2B for Corsica), commune, order, then a 2-digit key
    97 - (number mod 97)."""
    compact = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[12]\d{4}(?:\d{2}|2A|2B)\d{8}", compact):
        return False
    body = compact[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(compact[13:])


def de_tax_id_ok(text: str) -> bool:
    """German Steuer-IdNr: 11 digits, no leading zero, ISO 7064 MOD 11,10 check digit."""
    digits = _digits(text)
    if len(digits) != 11 or digits[0] == "0" or len(digits) != len(re.sub(r"[\s/]", "", text)):
        return False
    product = 10
    for ch in digits[:10]:
        total = (int(ch) + product) % 10 or 10
        product = total * 2 % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(digits[10])


def aadhaar_ok(text: str) -> bool:
    digits = _digits(text)
    return len(digits) == 12 and digits[0] not in "01" and verhoeff_ok(digits)


def tfn_ok(text: str) -> bool:
    digits = _digits(text)
    weights = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}.get(len(digits))
    return weights is not None and sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


def nino_ok(text: str) -> bool:
    compact = re.sub(r"\s", "", text).upper()
    return bool(re.fullmatch(r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]", compact))


# -- US tax and bank numbers -----------------------------------------------------------------------
def itin_ok(text: str) -> bool:
    digits = _digits(text)
    if len(digits) != 9 or digits[0] != "9":
        return False
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


_EIN_UNUSED = {0, 7, 8, 9, 17, 18, 19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97}


def ein_ok(text: str) -> bool:
    digits = _digits(text)
    return len(digits) == 9 and int(digits[:2]) not in _EIN_UNUSED


def aba_ok(text: str) -> bool:
    digits = _digits(text)
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    d = [int(c) for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


_ISO_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
    ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
    IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
    NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
    SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
    VG VI VN VU WF WS XK YE YT ZA ZM ZW
"""
_ISO_COUNTRIES = frozenset(_ISO_COUNTRY_CODES.split())


def bic_ok(text: str) -> bool:
    code = text.strip()
    return (bool(re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?", code))
            and code[4:6] in _ISO_COUNTRIES and code[6:8] != "00")


# -- secrets ---------------------------------------------------------------------------------------
def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    if not text:
        return 0.0
    counts = np.unique(np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8), return_counts=True)[1]
    freq = counts / counts.sum()
    return float(-(freq * np.log2(freq)).sum())


def aws_access_key_ok(text: str) -> bool:
    return bool(re.fullmatch(r"(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA|APKA|ABIA|ACCA)[A-Z2-7]{16}", text))


_SECRET_PREFIXES = re.compile(r"(?:ghp_|gho_|ghs_|github_pat_|xox[abposr]-|sk_live_|rk_live_|sk-|AIza|glpat-|npm_)")


def secret_ok(text: str) -> bool:
    """A credential-looking token: a known provider prefix, or a long run of base64/hex characters with
    the entropy of random bytes (≥ 4 bits a character for base64, ≥ 3 for hex)."""
    if _SECRET_PREFIXES.match(text) and len(text) >= 20 and re.fullmatch(r"[\w\-]+", text):
        return True
    if len(text) < 20 or not re.fullmatch(r"[A-Za-z0-9+/=_\-]+", text):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        return len(text) >= 32 and shannon_entropy(text) >= 3.0
    classes = sum(bool(re.search(rx, text)) for rx in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes == 3 and shannon_entropy(text) >= 4.0


# -- devices and vehicles --------------------------------------------------------------------------
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)), **dict(zip("JKLMN", range(1, 6), strict=True)),
               "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_ok(text: str) -> bool:
    code = text.strip().upper()
    if not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", code):
        return False
    total = sum(_VIN_VALUES[c] * w for c, w in zip(code, _VIN_WEIGHTS, strict=True)) % 11
    return code[8] == ("X" if total == 10 else str(total))


def imei_ok(text: str) -> bool:
    digits = _digits(text)
    return len(digits) == 15 and len(re.sub(r"[\s\-/]", "", text)) == 15 and luhn_ok(digits)


def mac_ok(text: str) -> bool:
    return bool(re.fullmatch(r"(?:[0-9A-Fa-f]{2}([:\-]))(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
                             r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}", text))


_UUID = re.compile(r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?")


def uuid_ok(text: str) -> bool:
    return bool(_UUID.fullmatch(text))


# -- locations -------------------------------------------------------------------------------------
_LATLON = re.compile(r"\(?\s*(-?\d{1,2}\.\d{3,})\s*[,;/ ]\s*(-?\d{1,3}\.\d{3,})\s*\)?")


def latlon_ok(text: str) -> bool:
    """A coordinate pair "lat, lon" to at least three decimals (about 100 m)."""
    m = _LATLON.fullmatch(text)
    return bool(m) and abs(float(m.group(1))) <= 90 and abs(float(m.group(2))) <= 180


def geohash_ok(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9b-hjkmnp-z]{6,12}", text))


# -- passports and medical record numbers ----------------------------------------------------------
_PASSPORT = re.compile(
    r"[A-Z]?\d{8,9}"  # US (9 digits, or a letter and 8), UK (9 digits)
    r"|[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}"  # DE
    r"|\d{2}[A-Z]{2}\d{5}"  # FR
    r"|[A-Z]{3}\d{6}|[A-Z]{2}\d{7}|[A-Z]{2}\d{6}"  # ES, IT, NL-style
)


def passport_ok(text: str) -> bool:
    return bool(_PASSPORT.fullmatch(text.strip().upper().replace(" ", "")))


def handle_ok(text: str) -> bool:
    return bool(re.fullmatch(r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,29})", text))


class Recognizer:
    """One type: its per-value check, the share of random same-shaped strings that pass it, and the
    lengths and characters its values can have (a cheap filter that spares most columns the check)."""

    def __init__(self, pii_type: str, check: Check, chance: float, lengths: tuple[int, int],
                 chars: str) -> None:
        self.pii_type = pii_type
        self.check = check
        self.chance = chance
        self.lengths = lengths
        self.chars = chars  # a regex character class, without brackets

    def candidates(self, values: pd.Series, lengths: np.ndarray) -> np.ndarray:
        low, high = self.lengths
        mask = (lengths >= low) & (lengths <= high)
        if mask.any():
            mask &= fullmatch(values, f"[{self.chars}]+")
        return mask

    def matches(self, values: pd.Series, candidates: np.ndarray) -> np.ndarray:
        out = np.zeros(len(values), dtype=bool)
        idx = np.flatnonzero(candidates)
        texts = values.to_numpy(dtype=object)[idx]
        out[idx] = [self.check(t) for t in texts]
        return out


# (type, check, chance a same-shaped random string passes). Types whose check is a shape only have a
# chance near 0 for random text but are easily met by codes: they need the usual high share.
_D = r"0-9"
_DS = r"0-9 \-"
RECOGNIZERS: list[Recognizer] = [
    Recognizer("aws_access_key", aws_access_key_ok, 0.0, (20, 20), "A-Z2-7"),
    Recognizer("uuid", uuid_ok, 0.0, (36, 38), r"0-9A-Fa-f\-{}"),
    Recognizer("mac_address", mac_ok, 0.0, (14, 17), r"0-9A-Fa-f:.\-"),
    Recognizer("imei", imei_ok, 0.1, (15, 18), r"0-9 \-/"),
    Recognizer("vin", vin_ok, 1 / 11, (17, 17), "A-HJ-NPR-Za-hj-npr-z0-9"),
    Recognizer("uk_nino", nino_ok, 0.0, (9, 13), "A-Za-z0-9 "),
    Recognizer("nhs_number", nhs_ok, 1 / 11, (10, 12), _DS),
    Recognizer("ca_sin", sin_ok, 0.08, (9, 11), _DS),
    Recognizer("es_dni", dni_ok, 1 / 23, (9, 10), r"0-9XYZxyzA-Za-z\-"),
    Recognizer("it_codice_fiscale", codice_fiscale_ok, 1 / 26, (16, 16), "A-Za-z0-9"),
    Recognizer("fr_insee", insee_ok, 0.01, (15, 21), "0-9ABab "),
    Recognizer("de_tax_id", de_tax_id_ok, 0.1, (11, 14), r"0-9 /"),
    Recognizer("in_aadhaar", aadhaar_ok, 0.1, (12, 14), _DS),
    Recognizer("au_tfn", tfn_ok, 1 / 11, (8, 11), _DS),
    Recognizer("us_itin", itin_ok, 0.06, (9, 11), _DS),
    Recognizer("aba_routing", aba_ok, 0.04, (9, 9), _D),
    Recognizer("swift_bic", bic_ok, 0.0, (8, 11), "A-Z0-9"),
    Recognizer("lat_long", latlon_ok, 0.0, (9, 40), r"0-9.,;/ ()\-"),
    Recognizer("handle", handle_ok, 0.0, (2, 31), r"@A-Za-z0-9_."),
    Recognizer("secret", secret_ok, 0.0, (20, 200), r"A-Za-z0-9+/=_\-"),
]
# Shape-only types that need a name hint (a random 9-digit code is also a valid EIN or passport shape).
HINT_ONLY: dict[str, Check] = {"us_ein": ein_ok, "passport": passport_ok, "geohash": geohash_ok}

VALIDATORS: dict[str, Check] = {
    "luhn": lambda t: luhn_ok(_digits(t)) and len(_digits(t)) >= 2,
    "mod97": mod97_ok,
    "mod11": mod11_ok,
    "verhoeff": verhoeff_ok,
    **{r.pii_type: r.check for r in RECOGNIZERS},
    **HINT_ONLY,
}
CHANCE = {r.pii_type: r.chance for r in RECOGNIZERS}


def validator_names() -> list[str]:
    return sorted(VALIDATORS)


def far_above_chance(share: float, chance: float, n: int, *, floor: float = 0.5) -> bool:
    """A pass rate chance cannot explain: at least `floor`, and more than 6 standard errors above the
    chance rate over `n` values (so 50% Luhn-valid is the type, 12% is noise)."""
    if n < 20:
        return share >= 0.9
    sd = math.sqrt(max(chance * (1 - chance), 1e-4) / n)
    return share >= max(floor, chance + 6 * sd)


def recognize(uniq: pd.Series, weight: np.ndarray, n: int, hints: set[str]) -> tuple[str, float, str] | None:
    """The recognizer type the values show, with the weighted pass rate and a sentence of evidence; the
    best-supported type wins. A type whose check has a low chance rate needs a pass rate far above it;
    a name hint for the type halves the floor."""
    lengths = uniq.str.len().to_numpy()
    best: tuple[str, float, str] | None = None
    for rec in RECOGNIZERS:
        candidates = rec.candidates(uniq, lengths)
        if float(weight[candidates].sum()) < 0.2:
            continue
        rate = float(weight[rec.matches(uniq, candidates)].sum())
        floor = 0.25 if rec.pii_type in hints else (0.5 if rec.chance == 0 else 0.3)
        if far_above_chance(rate, rec.chance, n, floor=floor) and (best is None or rate > best[1]):
            chance = f" (chance {rec.chance:.0%})" if rec.chance else ""
            best = (rec.pii_type, rate, f"pass the {rec.pii_type.replace('_', ' ')} check{chance}")
    return best
