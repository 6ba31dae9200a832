"""What a column's name says, in the languages exports are commonly written in.

Names are folded before matching: lower case, accents removed (`téléphone` → `telephone`), camel case
split (`lastName` → `last_name`), every run of other characters turned into `_`.

Two tiers. `IDENTIFIER_HINTS` are names that say the column identifies a person whatever its values
look like (`ssn`, `nachname`, `passport_no`): scan never proposes such a column as `keep`.
`TYPE_HINTS` are weaker: they lower the share of valid values a type needs, and they are the only
evidence for what values cannot show (an `age` column looks like any small integer).
Qualifiers such as `product` or `company` in front of `name` mean the thing named is not a person.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["IDENTIFIER_HINTS", "TYPE_HINTS", "fold_name", "identifier_hint", "name_hints"]

_B = r"(?:^|_)"  # word boundary in a folded name
_E = r"(?:$|_)"

IDENTIFIER_HINTS: dict[str, str] = {
    "email": rf"e_?mail|correo|courriel|{_B}mail{_E}",
    "phone": rf"phone|mobile|{_B}cell{_E}|{_B}tel(efon[oe]?|efone|ephone)?{_E}|{_B}fax{_E}|{_B}handy{_E}|"
             rf"{_B}movil{_E}|celular|portable|{_B}msisdn{_E}|telefono",
    "ssn": rf"{_B}ssn{_E}|social_?sec|{_B}sozialversicherung|{_B}nss{_E}|{_B}sv_?nummer",
    "national_id": rf"national_?id|{_B}(nino|nhs|nhs_?number|dni|nie|nif|nir|insee|bsn|pesel|cpf|curp|rut|"
                   rf"aadhaar|aadhar|tfn|sin|cf|codice_?fiscale|steuer_?id|steuer_?nr|"
                   rf"steueridentifikationsnummer|personnummer|henkilotunnus|id_?card|tax_?id|tin|itin|ein)"
                   rf"{_E}|identity_?(no|num|card)|{_B}cedula|{_B}ausweis",
    "passport": r"passport|pasaporte|passeport|reisepass|passaporto|paspoort",
    "credit_card": rf"credit_?card|card_?(no|num|number)|{_B}cc_?(no|num|number)?{_E}|{_B}pan{_E}|kreditkarte|"
                   rf"tarjeta|carte_?bancaire",
    "bank_account": rf"iban|account_?(no|num|number|nr)|bank_?acc|{_B}konto|{_B}cuenta|{_B}bic{_E}|swift|"
                    rf"routing|{_B}aba{_E}|sort_?code",
    "ip_address": rf"{_B}ip{_E}|ip_?addr|ipv[46]|remote_addr|client_ip",
    "person_name": rf"{_B}(full_?|first_?|last_?|given_?|family_?|middle_?|maiden_?|sur|fore|nick|user_?)?name{_E}|"
                   rf"surname|{_B}(first|last|given|family|forename){_E}|{_B}(nom|nombre|apellidos?|prenom|vorname|"
                   rf"nachname|cognome|nome|naam|achternaam|voornaam|imie|nazwisko|sobrenome){_E}|"
                   rf"patient_?name|customer_?name|{_B}name_?(first|last|full){_E}",
    "street_address": rf"address|street|{_B}addr{_E}|{_B}adresse|direccion|indirizzo|endereco|strasse|"
                      rf"{_B}calle{_E}|{_B}rue{_E}|{_B}road{_E}|domicil|anschrift|wohnort",
    "medical_record": rf"{_B}mrn{_E}|medical_?record|patient_?(id|no|num|number|nr)|{_B}chart_?(no|num|id){_E}|"
                      rf"health_?(id|number)|insurance_?(id|no|num|number)|member_?(id|no|num)|{_B}nhi{_E}",
    "device_id": rf"{_B}imei{_E}|{_B}mac(_?addr(ess)?)?{_E}|device_?id|{_B}udid{_E}|{_B}idfa{_E}|"
                 rf"advertising_?id|serial_?(no|num|number)",
    "vin": rf"{_B}vin{_E}|vehicle_?id|chassis|fahrgestell|license_?plate|{_B}plate{_E}|kennzeichen|matricula",
    "username": rf"user_?name|{_B}login{_E}|{_B}handle{_E}|screen_?name|{_B}nickname|{_B}user_?id{_E}|"
                rf"{_B}account_?id{_E}|{_B}benutzer",
    "secret": rf"password|passwd|{_B}pwd{_E}|secret|api_?key|access_?key|{_B}token{_E}|private_?key|"
              rf"credential",
    "person_id": rf"{_B}(customer|client|employee|staff|member|person|citizen|student|subscriber|"
                 rf"applicant|claimant|policy_?holder|voter|kunden|mitarbeiter|cliente|empleado)_?"
                 rf"(id|no|num|number|nr|code|key|nummer){_E}|{_B}(emp|cust)_?(id|no|num){_E}",
    "lat_long": rf"{_B}(lat|latitude|lon|lng|long|longitude|coords?|coordinates|geo_?loc(ation)?|gps){_E}|"
                rf"geohash",
}

TYPE_HINTS: dict[str, str] = {
    "date_of_birth": rf"{_B}dob{_E}|birth|{_B}born{_E}|geburt|nacimiento|naissance|nascita|{_B}fnac{_E}",
    "url": rf"url|website|homepage|{_B}link{_E}",
    "date": rf"date|{_B}(dt|day|time|timestamp|fecha|datum){_E}|_at$|_on$",
    "postcode": rf"zip|postal|post_?code|{_B}(plz|cp|cap|pin_?code|postleitzahl|codigo_?postal|code_?postal){_E}",
    "age": rf"{_B}(age|edad|alter|eta|leeftijd|idade){_E}|age_?years",
    "sex": rf"{_B}(sex|gender|geschlecht|sexo|sexe|genre|sesso){_E}",
    "health": rf"diagnos|disease|condition|{_B}icd|illness|medical|treatment|health|krankheit|enfermedad",
    "special_category": rf"religio|ethnic|{_B}race{_E}|sexual_orientation|politic|trade_union|{_B}faith{_E}|"
                        rf"konfession|nationality|citizenship",
    "label": r"^(label|target|class|y|outcome)$|readmit|churn|(^|_)default($|_)|fraud|survived|salary_class",
}

# A name qualified by one of these names a thing, not a person: `product_name`, `company_address` is a
# business address (still identifying for sole traders, so only `name` is exempted).
_NOT_A_PERSON = re.compile(
    rf"{_B}(product|company|org|organi[sz]ation|business|file|city|country|state|region|brand|item|category|"
    rf"host|domain|server|street|dept|department|team|store|shop|drug|medication|species|model|project|"
    rf"column|table|field|event|campaign|plan|course|school|hospital|bank|vendor|supplier|merchant|"
    rf"product|app|package|class|group|role|tag|label|job|title)_?name{_E}"
)

_HINT_RE = {kind: re.compile(rx) for kind, rx in {**IDENTIFIER_HINTS, **TYPE_HINTS}.items()}


def fold_name(name: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("ß", "ss")
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


def name_hints(name: str) -> set[str]:
    """Every kind the column's name suggests (identifier kinds and type hints)."""
    folded = fold_name(name)
    kinds = {kind for kind, rx in _HINT_RE.items() if rx.search(folded)}
    if "person_name" in kinds and _NOT_A_PERSON.search(folded):
        kinds.discard("person_name")
    if "lat_long" in kinds and folded in {"long"}:  # a bare "long" is as often a duration or a flag
        kinds.discard("lat_long")
    return kinds


# When several identifier kinds match (`patient_name` is a name, `user_id` a username), the more
# specific kind wins.
_PRIORITY = ("secret", "medical_record", "username", "person_id", "passport", "national_id", "ssn",
             "credit_card", "bank_account", "email", "phone", "ip_address", "device_id", "vin", "lat_long",
             "street_address", "person_name")


def identifier_hint(name: str) -> str | None:
    """The identifier kind the name says, if it says one."""
    kinds = name_hints(name)
    return next((kind for kind in _PRIORITY if kind in kinds), None)
