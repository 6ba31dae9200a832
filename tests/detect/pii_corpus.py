"""A detection corpus with known truth: more than 40 kinds of personal data, each in a column whose name
hints at it (in several languages) and in one whose name says nothing, with the dirt of real exports
(blanks, malformed values, mixed formats, a share failing its checksum), and as many columns that are
not personal data but look dangerous (measurements, product codes, timestamps, counts, categories).

Valid values are made with the checksums' own arithmetic (privml.recognizers.identifiers), so a recognizer
that drifts from its standard fails here and in test_recognizers.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd

from privml.recognizers import identifiers as r
from privml.sampledata import generate

Rng = np.random.Generator
Maker = Callable[[Rng, int], list[str]]


def _digits(rng: Rng, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _complete(payload: str, ok: Callable[[str], bool], alphabet: str = string.digits) -> str | None:
    return next((payload + c for c in alphabet if ok(payload + c)), None)


def _valid(rng: Rng, n: int, make: Callable[[], str | None]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        value = make()
        if value is not None:
            out.append(value)
    return out


@lru_cache(maxsize=4)
def _people(n: int, seed: int) -> pd.DataFrame:
    return generate(n, seed=seed)


def _sample_column(rng: Rng, n: int, column: str) -> list[str]:
    return _people(n, int(rng.integers(0, 2)))[column].tolist()


def email(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "email")


def phone(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "phone")


def phone_uk(rng: Rng, n: int) -> list[str]:
    return [f"+44 {rng.integers(20, 80)} {rng.integers(1000, 9999)} {rng.integers(1000, 9999)}" for _ in range(n)]


def ssn(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "ssn")


def credit_card_dirty(rng: Rng, n: int) -> list[str]:
    """Cards of which 35% fail Luhn (typos, truncated exports): the valid 65% is far above chance."""
    def one() -> str | None:
        card = _complete("4" + _digits(rng, 14), lambda t: r.luhn_ok(t))
        if card and rng.random() < 0.35:
            card = card[:-1] + str((int(card[-1]) + 1 + int(rng.integers(0, 8))) % 10)
        return card
    return _valid(rng, n, one)


def iban(rng: Rng, n: int) -> list[str]:
    def one() -> str:
        bban = _digits(rng, 18)
        check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
        return f"DE{check:02d}{bban}"
    return [one() for _ in range(n)]


def ipv4(rng: Rng, n: int) -> list[str]:
    return [".".join(str(x) for x in rng.integers(1, 255, 4)) for _ in range(n)]


def url(rng: Rng, n: int) -> list[str]:
    return [f"https://social.example.com/u/user{x}" for x in rng.integers(0, 10**7, n)]


_RARE_FIRST = ["Aino", "Chidi", "Ngozi", "Tuomas", "Siosaia", "Keoni", "Oluwaseun", "Aigerim", "Bolat", "Tendai",
               "Kalani", "Ifeoma", "Eero", "Nnamdi", "Yerlan", "Malakai", "Liliana", "Dumisani", "Sefa", "Ilkka"]
_RARE_LAST = ["Virtanen", "Okonkwo", "Nieminen", "Adebayo", "Fifita", "Kahananui", "Nurlanovna", "Mutasa",
              "Korhonen", "Eze", "Tupou", "Mbeki", "Zhakupov", "Laaksonen", "Obi", "Taufa", "Chukwu", "Hakala",
              "Kauhane", "Ndlovu", "Rahimov", "Savolainen", "Onyekachi", "Vainikolo", "Moyo", "Abenov"]


def rare_full_name(rng: Rng, n: int) -> list[str]:
    """Names outside every lexicon: only the column name or the near-uniqueness can tell."""
    return [f"{rng.choice(_RARE_FIRST)} {rng.choice(_RARE_LAST)}-{rng.choice(_RARE_LAST)}" for _ in range(n)]


def person_name(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "name")


# More real first names and surnames from cultures the Faker locales of the lexicon leave out.
_RARE_FIRST_MORE = ["Sanna", "Paavo", "Veikko", "Hannele", "Sirpa", "Jouni", "Chinedu", "Adaeze", "Emeka", "Obinna",
                    "Chiamaka", "Babatunde", "Folake", "Yetunde", "Kayode", "Nurlan", "Gulnara", "Dauren", "Sione",
                    "Leilani", "Makoa", "Kealoha", "Thandiwe", "Sipho", "Nomvula", "Themba", "Lindiwe", "Tafadzwa"]
_RARE_LAST_MORE = ["Heikkinen", "Koskinen", "Mäkelä", "Järvinen", "Lehtonen", "Okafor", "Nwosu", "Adeyemi",
                   "Oyelaran", "Balogun", "Akhmetov", "Suleimenov", "Kekumu", "Kahale", "Dlamini", "Nkosi", "Zulu",
                   "Mahlangu", "Chikwanha", "Tshabalala"]


def _outside_todays_lexicon(census: frozenset[str], faker_names: frozenset[str]) -> list[str]:
    """Names of the 1990 Census lists that the Faker-only lexicon (before the Census lists were added)
    does not know, capitalized, in a fixed order."""
    return sorted(n.capitalize() for n in census - faker_names if n.isalpha())


def _name_only(rng: Rng, n: int, *, first: bool) -> list[str]:
    """One name a cell, none of them in the Faker lexicon privml had before: 70% from the Census lists
    (the lexicon now has them), 30% from neither (only the statistics can tell)."""
    from privml.recognizers.lexicons import census_names, faker_names

    census, faker = census_names(), faker_names()
    pool = _outside_todays_lexicon(census[0] if first else census[1], faker[0] | faker[1])
    rare = [r for r in ((_RARE_FIRST + _RARE_FIRST_MORE) if first else (_RARE_LAST + _RARE_LAST_MORE))
            if r.lower() not in faker[0] | faker[1]]
    return [str(rng.choice(pool)) if rng.random() < 0.7 else str(rng.choice(rare)) for _ in range(n)]


def first_name_only(rng: Rng, n: int) -> list[str]:
    return _name_only(rng, n, first=True)


def surname_only(rng: Rng, n: int) -> list[str]:
    return _name_only(rng, n, first=False)


def non_latin_name(rng: Rng, n: int) -> list[str]:
    """Full names in Cyrillic and Greek script (Faker's ru_RU, uk_UA, bg_BG and el_GR locales)."""
    from faker import Faker

    fake = Faker(["ru_RU", "uk_UA", "bg_BG", "el_GR"])
    fake.seed_instance(int(rng.integers(0, 2**31)))
    return [fake.name() for _ in range(n)]


def street_address(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "street_address")


def uk_nino(rng: Rng, n: int) -> list[str]:
    first, second = "ABCEGHJKLMPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    return [f"{rng.choice(list(first))}{rng.choice(list(second))}{_digits(rng, 6)}{rng.choice(list('ABCD'))}"
            for _ in range(n)]


def nhs_number(rng: Rng, n: int) -> list[str]:
    def one() -> str | None:
        value = _complete(_digits(rng, 9), r.nhs_ok)
        return f"{value[:3]} {value[3:6]} {value[6:]}" if value and rng.random() < 0.5 else value
    return _valid(rng, n, one)


def ca_sin(rng: Rng, n: int) -> list[str]:
    return _valid(rng, n, lambda: _complete(str(rng.integers(1, 8)) + _digits(rng, 7), r.sin_ok))


def es_dni(rng: Rng, n: int) -> list[str]:
    def one() -> str:
        number = int(rng.integers(0, 10**8))
        return f"{number:08d}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"
    return [one() for _ in range(n)]


def es_nie(rng: Rng, n: int) -> list[str]:
    def one() -> str:
        lead, number = int(rng.integers(0, 3)), int(rng.integers(0, 10**7))
        return f"{'XYZ'[lead]}{number:07d}{'TRWAGMYFPDXBNJZSQVHLCKE'[int(f'{lead}{number:07d}') % 23]}"
    return [one() for _ in range(n)]


def codice_fiscale(rng: Rng, n: int) -> list[str]:
    def one() -> str | None:
        letters = "".join(rng.choice(list(string.ascii_uppercase), 6))
        body = f"{letters}{rng.integers(10, 99)}{rng.choice(list('ABCDEHLMPRST'))}{rng.integers(10, 71)}" \
               f"{rng.choice(list(string.ascii_uppercase))}{rng.integers(100, 999)}"
        return _complete(body, r.codice_fiscale_ok, string.ascii_uppercase)
    return _valid(rng, n, one)


def fr_insee(rng: Rng, n: int) -> list[str]:
    def one() -> str:
        body = f"{rng.integers(1, 3)}{rng.integers(40, 99)}{rng.integers(1, 13):02d}{rng.integers(1, 96):02d}" \
               f"{rng.integers(1, 990):03d}{rng.integers(1, 999):03d}"
        return f"{body}{97 - int(body) % 97:02d}"
    return [one() for _ in range(n)]


def de_tax_id(rng: Rng, n: int) -> list[str]:
    return _valid(rng, n, lambda: _complete(str(rng.integers(1, 10)) + _digits(rng, 9), r.de_tax_id_ok))


def in_aadhaar(rng: Rng, n: int) -> list[str]:
    def one() -> str | None:
        value = _complete(str(rng.integers(2, 10)) + _digits(rng, 10), r.aadhaar_ok)
        return f"{value[:4]} {value[4:8]} {value[8:]}" if value else None
    return _valid(rng, n, one)


def au_tfn(rng: Rng, n: int) -> list[str]:
    return _valid(rng, n, lambda: _complete(_digits(rng, 8), r.tfn_ok))


def us_itin(rng: Rng, n: int) -> list[str]:
    groups = [*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)]
    return [f"9{_digits(rng, 2)}-{rng.choice(groups)}-{_digits(rng, 4)}" for _ in range(n)]


def us_ein(rng: Rng, n: int) -> list[str]:
    return [f"{rng.choice([12, 20, 45, 61, 91])}-{_digits(rng, 7)}" for _ in range(n)]


def aba_routing(rng: Rng, n: int) -> list[str]:
    return _valid(rng, n, lambda: _complete(f"{rng.choice([1, 2, 11, 21, 26, 31, 61, 71])}".zfill(2)
                                            + _digits(rng, 6), r.aba_ok))


def swift_bic(rng: Rng, n: int) -> list[str]:
    banks = [f"{''.join(rng.choice(list(string.ascii_uppercase), 4))}{c}{''.join(rng.choice(list('ABCD23'), 2))}"
             for c in rng.choice(["DE", "FR", "GB", "IT", "ES", "NL", "US", "CH"], 60)]
    return [b + ("XXX" if rng.random() < 0.4 else "") for b in rng.choice(banks, n)]


def aws_access_key(rng: Rng, n: int) -> list[str]:
    return ["AKIA" + "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16)) for _ in range(n)]


def aws_secret_key(rng: Rng, n: int) -> list[str]:
    return ["".join(rng.choice(list(string.ascii_letters + string.digits + "+/"), 40)) for _ in range(n)]


def api_token(rng: Rng, n: int) -> list[str]:
    return ["ghp_" + "".join(rng.choice(list(string.ascii_letters + string.digits), 36)) for _ in range(n)]


def vin(rng: Rng, n: int) -> list[str]:
    alphabet = list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")

    def one() -> str:
        code = list("".join(rng.choice(alphabet, 17)))
        code[8] = "0"
        for check in "0123456789X":
            code[8] = check
            if r.vin_ok("".join(code)):
                break
        return "".join(code)
    return [one() for _ in range(n)]


def mac_address(rng: Rng, n: int) -> list[str]:
    return [":".join(f"{x:02x}" for x in rng.integers(0, 256, 6)) for _ in range(n)]


def imei(rng: Rng, n: int) -> list[str]:
    return _valid(rng, n, lambda: _complete("35" + _digits(rng, 12), r.imei_ok))


def device_uuid(rng: Rng, n: int) -> list[str]:
    return [str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)))) for _ in range(n)]


def lat_long(rng: Rng, n: int) -> list[str]:
    return [f"{rng.uniform(35, 60):.5f}, {rng.uniform(-10, 30):.5f}" for _ in range(n)]


def passport_us(rng: Rng, n: int) -> list[str]:
    return [_digits(rng, 9) if rng.random() < 0.5 else "A" + _digits(rng, 8) for _ in range(n)]


def passport_de(rng: Rng, n: int) -> list[str]:
    alphabet = list("CFGHJKLMNPRTVWXYZ0123456789")
    return [str(rng.choice(list("CFGHJK"))) + "".join(rng.choice(alphabet, 8)) for _ in range(n)]


def mrn(rng: Rng, n: int) -> list[str]:
    return [f"MRN{x:07d}" for x in rng.integers(0, 10**7, n)]


def username(rng: Rng, n: int) -> list[str]:
    return [f"{rng.choice(_RARE_FIRST).lower()}{rng.choice(_RARE_LAST).lower()[:4]}{rng.integers(1, 999)}"
            for _ in range(n)]


def handle(rng: Rng, n: int) -> list[str]:
    return [f"@{rng.choice(_RARE_FIRST).lower()}_{rng.integers(1, 99999)}" for _ in range(n)]


def account_number(rng: Rng, n: int) -> list[str]:
    return [_digits(rng, 11) for _ in range(n)]


def employee_id(rng: Rng, n: int) -> list[str]:
    return [f"E{x:06d}" for x in rng.integers(0, 10**6, n)]


def customer_code(rng: Rng, n: int) -> list[str]:
    return [f"{x:x}".upper() for x in rng.integers(16**7, 16**8, n)]


def license_plate(rng: Rng, n: int) -> list[str]:
    return [f"{''.join(rng.choice(list(string.ascii_uppercase), 2))}{rng.integers(10, 99)} "
            f"{''.join(rng.choice(list(string.ascii_uppercase), 3))}" for _ in range(n)]


def opaque_code(rng: Rng, n: int) -> list[str]:
    """Values in a shape no pattern knows: only the name or uniqueness can tell."""
    return ["".join(rng.choice(list("QWXZJK"), 3)) + "~" + _digits(rng, 6) for _ in range(n)]


def notes_with_pii(rng: Rng, n: int) -> list[str]:
    return _sample_column(rng, n, "notes")


# kind -> (maker, hinted column names; the first is used, the rest are other languages' names)
IDENTIFIERS: dict[str, tuple[Maker, list[str]]] = {
    "email": (email, ["correo_electronico", "E-Mail-Adresse", "courriel"]),
    "phone": (phone, ["telefono", "Telefonnummer", "téléphone"]),
    "phone_uk": (phone_uk, ["mobile_number"]),
    "ssn": (ssn, ["ssn"]),
    "credit_card_dirty": (credit_card_dirty, ["kreditkarte"]),
    "iban": (iban, ["iban"]),
    "ip_address": (ipv4, ["client_ip"]),
    "url": (url, ["profile_url"]),
    "person_name": (person_name, ["nombre_completo"]),
    "rare_full_name": (rare_full_name, ["apellido"]),
    "first_name_only": (first_name_only, ["vorname", "prenom"]),
    "surname_only": (surname_only, ["surname", "nachname"]),
    "non_latin_name": (non_latin_name, ["фамилия_имя"]),
    "street_address": (street_address, ["indirizzo"]),
    "uk_nino": (uk_nino, ["nino"]),
    "nhs_number": (nhs_number, ["nhs_number"]),
    "ca_sin": (ca_sin, ["sin"]),
    "es_dni": (es_dni, ["dni"]),
    "es_nie": (es_nie, ["nie"]),
    "it_codice_fiscale": (codice_fiscale, ["codice_fiscale"]),
    "fr_insee": (fr_insee, ["numero_insee"]),
    "de_tax_id": (de_tax_id, ["steuer_id"]),
    "in_aadhaar": (in_aadhaar, ["aadhaar"]),
    "au_tfn": (au_tfn, ["tfn"]),
    "us_itin": (us_itin, ["itin"]),
    "us_ein": (us_ein, ["ein"]),
    "aba_routing": (aba_routing, ["routing_number"]),
    "swift_bic": (swift_bic, ["swift_code"]),
    "aws_access_key": (aws_access_key, ["aws_access_key_id"]),
    "aws_secret_key": (aws_secret_key, ["secret_access_key"]),
    "api_token": (api_token, ["api_token"]),
    "vin": (vin, ["vin"]),
    "mac_address": (mac_address, ["mac_address"]),
    "imei": (imei, ["imei"]),
    "device_uuid": (device_uuid, ["device_id"]),
    "lat_long": (lat_long, ["gps_coordinates"]),
    "passport_us": (passport_us, ["passport_number"]),
    "passport_de": (passport_de, ["reisepass_nr"]),
    "mrn": (mrn, ["mrn"]),
    "username": (username, ["username"]),
    "handle": (handle, ["twitter_handle"]),
    "account_number": (account_number, ["account_number"]),
    "employee_id": (employee_id, ["employee_id"]),
    "customer_code": (customer_code, ["customer_number"]),
    "license_plate": (license_plate, ["kennzeichen"]),
    "opaque_code_named": (opaque_code, ["patient_id"]),
    "free_text_pii": (notes_with_pii, ["notes"]),
}


def _cycle(values: list[str], rng: Rng, n: int) -> list[str]:
    return list(rng.choice(values, n))


_PRODUCTS = [f"PRD-{x:05d}-{c}" for x, c in zip(range(100, 400), "ABCDEFGHJK" * 30, strict=False)]
_CATEGORIES = ["Electronics", "Home & Garden", "Toys", "Books", "Sports & Outdoors", "Beauty", "Grocery",
               "Automotive", "Office Supplies", "Pet Care", "Music", "Health & Wellness"]
_SENTENCE = ("shipment delayed due to weather the package arrived damaged customer requested a refund order was "
             "updated item back in stock replacement sent warehouse confirmed invoice paid in full")
_WORDS = _SENTENCE.split()


# Proper nouns that are not people, many of them also first names or surnames (cities named after people,
# colours that are girls' names, brands that are founders' surnames, trades that are surnames).
_CITIES = [
    "Lagos", "Nairobi", "Helsinki", "Tampere", "Oulu", "Espoo", "Turku", "Bergen", "Malmö", "Aarhus", "Porto",
    "Braga", "Sevilla", "Valencia", "Bilbao", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Dresden",
    "Leipzig", "Bremen", "Hannover", "Kraków", "Gdańsk", "Poznań", "Brno", "Ostrava", "Graz", "Linz", "Basel",
    "Bern", "Lausanne", "Geneva", "Zürich", "Dublin", "Cork", "Galway", "Leeds", "Bristol", "Cardiff", "Glasgow",
    "Aberdeen", "Houston", "Phoenix", "Dallas", "Austin", "Denver", "Seattle", "Portland", "Atlanta", "Orlando",
    "Tampa", "Boston", "Chicago", "Detroit", "Memphis", "Nashville", "Louisville", "Omaha", "Tulsa", "Wichita",
    "Madison", "Lincoln", "Jackson", "Columbus", "Cleveland", "Pittsburgh", "Raleigh", "Charlotte", "Richmond",
    "Baltimore", "Toronto", "Montreal", "Calgary", "Vancouver", "Winnipeg", "Halifax", "Sydney", "Melbourne",
    "Brisbane", "Perth", "Adelaide", "Auckland", "Wellington", "Osaka", "Kyoto", "Nagoya", "Sapporo", "Busan",
    "Seoul", "Manila", "Jakarta", "Bangkok", "Hanoi", "Mumbai", "Delhi", "Chennai", "Kolkata", "Pune", "Karachi",
    "Lahore", "Dhaka", "Cairo", "Casablanca", "Accra", "Kampala", "Lusaka", "Harare", "Lima", "Bogotá", "Quito",
    "Santiago", "Montevideo"
]
_COLOURS = [
    "Amber", "Azure", "Beige", "Bronze", "Burgundy", "Charcoal", "Coral", "Cream", "Crimson", "Cyan", "Emerald",
    "Fuchsia", "Gold", "Indigo", "Ivory", "Jade", "Khaki", "Lavender", "Lilac", "Magenta", "Maroon", "Mauve",
    "Mint", "Mustard", "Navy", "Ochre", "Olive", "Orange", "Peach", "Pink", "Plum", "Purple", "Rose", "Ruby",
    "Rust", "Saffron", "Salmon", "Sapphire", "Scarlet", "Sienna", "Slate", "Tan", "Taupe", "Teal", "Turquoise",
    "Violet", "Wine", "Yellow", "Hazel", "Copper", "Pearl", "Sand", "Ebony"
]
_BRANDS = [
    "Apple", "Samsung", "Sony", "Nokia", "Ford", "Toyota", "Honda", "Nissan", "Tesla", "Dell", "Lenovo", "Asus",
    "Acer", "Nike", "Adidas", "Puma", "Reebok", "Gucci", "Prada", "Chanel", "Dior", "Zara", "Ikea", "Lego",
    "Disney", "Pepsi", "Heinz", "Kellogg", "Hershey", "Ferrari", "Porsche", "Boeing", "Airbus", "Siemens",
    "Bosch", "Philips", "Canon", "Nikon", "Dyson", "Hilton", "Marriott", "Peugeot", "Renault", "Michelin",
    "Heineken", "Carlsberg", "Guinness", "Barclays"
]
_JOBS = ["Software Engineer", "Nurse Practitioner", "Accountant", "Carpenter", "Electrician", "Plumber", "Teacher",
         "Baker", "Mason", "Porter", "Cook", "Driver", "Tailor", "Barber", "Clerk", "Sales Manager", "Data Analyst",
         "Chef", "Pharmacist", "Architect", "Surveyor", "Paralegal", "Cashier", "Janitor", "Welder", "Machinist",
         "Librarian", "Dentist", "Optician", "Butler", "Gardener", "Shepherd", "Weaver", "Cooper", "Fisherman",
         "Steward", "Marshal", "Bishop", "Chancellor", "Sheriff"]


def non_pii(rng: Rng, n: int) -> dict[str, list]:
    """Columns that are not personal data; many look like it."""
    t0 = pd.Timestamp("2023-01-01").value // 10**9
    return {
        "amount": [f"{x:.2f}" for x in rng.lognormal(4, 1, n)],
        "price_round": [str(x) for x in rng.integers(1, 999, n) * 100],
        "score": [f"{x:.4f}" for x in rng.normal(0, 1, n)],
        "temperature_c": [f"{x:.1f}" for x in rng.normal(21, 4, n)],
        "weight_kg": [f"{x:.3f}" for x in rng.gamma(9, 8, n)],
        "file_size_bytes": [str(int(x)) for x in rng.lognormal(11, 2.5, n)],
        "sensor_reading": [f"{x:.6f}" for x in rng.uniform(-90, 90, n)],
        "quantity": [str(x) for x in rng.poisson(3, n)],
        "num_items": [str(x) for x in rng.integers(0, 50, n)],
        "rating": [str(x) for x in rng.integers(1, 6, n)],
        "percent": [f"{x:.1f}" for x in rng.uniform(0, 100, n)],
        "duration_s": [str(x) for x in rng.integers(1, 7200, n)],
        "created_at": [str(pd.Timestamp(int(t0 + x), unit="s")) for x in rng.integers(0, 3 * 10**7, n)],
        "event_epoch": [str(int(t0 + x)) for x in rng.integers(0, 3 * 10**7, n)],
        "clock": [f"{h:02d}:{m:02d}" for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)],
        "product_code": _cycle(_PRODUCTS, rng, n),
        "sku_5digit": [f"{x:05d}" for x in rng.integers(1, 3000, n)],
        "category": _cycle(_CATEGORIES, rng, n),
        "status": _cycle(["active", "inactive", "pending", "closed"], rng, n),
        "color": _cycle(["Red", "Green", "Blue", "Black", "White", "Silver"], rng, n),
        "hex_color": _cycle([f"#{x:06x}" for x in range(0, 2**24, 2**19)], rng, n),
        "city": _cycle(["Springfield", "Madison", "Austin", "Denver", "Boston", "Chicago", "Miami"], rng, n),
        "country": _cycle(["Germany", "France", "Spain", "Italy", "Netherlands", "Poland"], rng, n),
        "currency": _cycle(["EUR", "USD", "GBP", "CHF", "JPY"], rng, n),
        "version": [f"{a}.{b}.{c}" for a, b, c in rng.integers(0, 6, (n, 3))],
        "flag": _cycle(["true", "false"], rng, n),
        "plain_text": [" ".join(rng.choice(_WORDS, rng.integers(6, 15))).capitalize() + "." for _ in range(n)],
        "product_name": _cycle([f"Widget {c}{i}" for c in "ABCDEFG" for i in range(30)], rng, n),
        "department": _cycle(["Sales", "Engineering", "Support", "Finance", "Legal", "Marketing"], rng, n),
        "batch_number": _cycle([f"B{x:04d}" for x in range(200)], rng, n),
        "zip_like_count": [str(x) for x in rng.integers(10000, 100000, n)],
        "latency_ms": [f"{x:.2f}" for x in rng.exponential(120, n)],
        "dosage_mg": _cycle(["5", "10", "20", "40", "80"], rng, n),
        "grade": _cycle(["A", "B", "C", "D", "F"], rng, n),
        "page_views": [str(int(x)) for x in rng.lognormal(5, 1.5, n)],
        "ratio": [f"{x:.3f}" for x in rng.beta(2, 5, n)],
        "year": [str(x) for x in rng.integers(1990, 2025, n)],
        "week": [str(x) for x in rng.integers(1, 53, n)],
        "order_total_eur": [f"{x:,.2f}" for x in rng.lognormal(5, 1, n)],
        "tracking_stage": _cycle(["received", "sorted", "in transit", "out for delivery", "delivered"], rng, n),
        "store_city": _cycle(_CITIES, rng, n),
        "paint_colour": _cycle(_COLOURS, rng, n),
        "brand": _cycle(_BRANDS, rng, n),
        "job_title": _cycle(_JOBS, rng, n),
    }


def _dirty(values: list, rng: Rng, *, blanks: float, junk: float) -> list:
    out = list(values)
    for i in range(len(out)):
        u = rng.random()
        if u < blanks:
            out[i] = None
        elif u < blanks + junk:
            out[i] = str(rng.choice(["n/a", "???", "-", "unknown", "TBD", "0"]))
    return out


@lru_cache(maxsize=2)
def corpus(rows: int = 2000, seed: int = 11) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The table and its truth: column -> kind of personal data, or None for non-PII. Every identifier
    kind appears twice: under a hinting name and as `field_N`; non-PII columns keep their names half of
    the time. Cells are blank 3-6% and malformed 2-4% of the time."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {}
    truth: dict[str, str | None] = {}
    counter = iter(range(10_000))
    for kind, (make, names) in IDENTIFIERS.items():
        for hinted in (True, False):
            values = _dirty(make(rng, rows), rng, blanks=float(rng.uniform(0.03, 0.06)),
                            junk=float(rng.uniform(0.02, 0.04)))
            name = names[0] if hinted else f"field_{next(counter)}"
            if name in columns:
                name = f"{name}_{next(counter)}"
            columns[name], truth[name] = values, kind
    for i, (name, values) in enumerate(non_pii(rng, rows).items()):
        column = name if i % 2 == 0 else f"field_{next(counter)}"
        columns[column] = _dirty(values, rng, blanks=0.03, junk=0.0)
        truth[column] = None
    order = np.random.default_rng([seed, 1]).permutation(len(columns))
    names = [list(columns)[i] for i in order]
    return pd.DataFrame({n: columns[n] for n in names}), {n: truth[n] for n in names}
