"""Word lists detection leans on: person names (Faker's lists for several locales and the 1990 US Census
lists shipped in data/, see data/NOTICE.md), street suffixes, health conditions and sex codes. Loaded
once per process."""

from __future__ import annotations

import gzip
import importlib
from functools import lru_cache
from importlib import resources


def _words(text: str) -> list[str]:
    return text.split()


# Locales whose first/last name lists make the person-name lexicon: the common Latin-script names of
# North America and Europe. Names are matched case-insensitively.
NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR", "nl_NL",
    "pl_PL", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ", "tr_TR", "vi_VN", "zh_CN",
    # Cyrillic and Greek script
    "ru_RU", "uk_UA", "bg_BG", "el_GR",
)

# Capitalized English words that are also first or last names; alone in running text they are
# evidence of nothing.
_AMBIGUOUS_NAME_WORDS = frozenset(_words(
    """
    the a an and or but if in on at to for of with by from as is are was were be patient doctor nurse
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december no yes new next follow
    """
))


@lru_cache(maxsize=1)
def name_lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lower-cased: Faker's lists and the Census lists."""
    faker_first, faker_last = faker_names()
    census_first, census_last = census_names()
    return (frozenset((faker_first | census_first) - _AMBIGUOUS_NAME_WORDS),
            frozenset((faker_last | census_last) - _AMBIGUOUS_NAME_WORDS))


@lru_cache(maxsize=1)
def census_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames) of the 1990 US Census lists, lower-cased: every first name and the 10,000
    most frequent surnames (data/census_names.txt.gz; source and licence in data/NOTICE.md)."""
    raw = resources.files("privml.recognizers").joinpath("data/census_names.txt.gz").read_bytes()
    lists: dict[str, set[str]] = {"first": set(), "last": set()}
    current = lists["first"]
    for line in gzip.decompress(raw).decode("ascii").splitlines():
        if line.startswith("# "):
            current = lists[line[2:].strip()]
        elif line:
            current.add(line)
    return frozenset(lists["first"]), frozenset(lists["last"])


@lru_cache(maxsize=1)
def faker_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) of Faker's person providers for NAME_LOCALES, lower-cased."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ModuleNotFoundError:  # a locale a newer/older Faker lacks
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first.update(n.lower() for n in getattr(provider, attr, ()) if isinstance(n, str))
        for attr in ("last_names", "last_names_male", "last_names_female"):
            last.update(n.lower() for n in getattr(provider, attr, ()) if isinstance(n, str))
    return frozenset(first), frozenset(last)


@lru_cache(maxsize=1)
def street_suffixes() -> frozenset[str]:
    """Street suffixes of English-speaking countries (Faker's lists: USPS for en_US, and en_GB, en_AU,
    en_CA, en_NZ) plus their common abbreviations, lower-cased."""
    words: set[str] = set()
    for locale in ("en_US", "en_GB", "en_AU", "en_CA", "en_NZ", "en_IE"):
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ModuleNotFoundError:
            continue
        words.update(s.lower() for s in getattr(provider, "street_suffixes", ()) if " " not in s)
    words |= {
        "st", "ave", "av", "rd", "blvd", "boulevard", "dr", "ln", "ct", "pl", "pkwy", "hwy", "sq", "ter",
        "terr", "cir", "trl", "cres", "crst", "expy", "fwy", "cv", "aly", "ctr", "xing", "mnr", "pt", "hts",
        "close", "gardens", "mews", "wynd", "parade", "grove", "hill", "reserve", "cross", "gate", "approach",
        "esplanade", "promenade", "rise", "chase", "circuit", "boulevarde", "retreat", "outlook", "quay",
    }
    return frozenset(words)


@lru_cache(maxsize=1)
def street_prefixes() -> frozenset[str]:
    """Words that open a street name in Romance languages ("Via", "Calle", "Rua", "rue"), lower-cased:
    Faker's lists for several locales plus common ones."""
    words = {"via", "viale", "piazza", "corso", "largo", "vicolo", "strada", "calle", "avenida", "avda",
             "paseo", "plaza", "rua", "travessa", "praça", "rue", "avenue", "boulevard", "chemin", "allée",
             "impasse", "quai", "place", "route"}
    for locale, attr in [("it_IT", "street_suffixes"), ("es_ES", "street_prefixes"), ("es_MX", "street_prefixes"),
                         ("fr_FR", "street_prefixes"), ("pt_BR", "street_prefixes"), ("pt_PT", "street_prefixes")]:
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ModuleNotFoundError:
            continue
        words.update(w.lower().rstrip(".") for w in getattr(provider, attr, ()) if " " not in w)
    return frozenset(w for w in words if len(w) > 1)


# Health conditions (a sensitive attribute, not an identifier): common chronic and acute diagnoses.
HEALTH_TERMS = frozenset(_words(
    """
    hypertension diabetes asthma depression anxiety copd cancer hiv aids obesity migraine epilepsy
    pneumonia influenza covid-19 covid arthritis osteoarthritis dementia alzheimer's alzheimers
    parkinson's parkinsons stroke schizophrenia bipolar disorder disease failure hepatitis tuberculosis
    leukemia lymphoma melanoma carcinoma sclerosis fibrosis anemia hypothyroidism hyperthyroidism
    psoriasis eczema ptsd adhd autism bronchitis sepsis infarction angina arrhythmia cirrhosis pregnancy
    """
))

SEX_VALUES = frozenset(
    {"m", "f", "male", "female", "man", "woman", "x", "other", "unknown", "u", "nonbinary", "non-binary",
     "diverse", "d", "w", "männlich", "weiblich", "h"}
)


@lru_cache(maxsize=1)
def reference_proper_nouns() -> frozenset[str]:
    """One-word proper nouns that are not people, lower-cased: the real city and country names of Faker's
    address providers and its colour names. How often such a word is also in the name lexicon is the
    chance rate a column of single names must be far above (privml.detect.names)."""
    words: set[str] = set()
    for locale in ("de_DE", "fr_FR", "it_IT", "es_ES", "pl_PL", "nl_NL", "pt_PT", "cs_CZ", "sk_SK", "hu_HU",
                   "en_US", "en_GB", "en_AU", "en_CA", "da_DK", "sv_SE", "fi_FI", "no_NO"):
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ModuleNotFoundError:
            continue
        for attr in ("cities", "real_city_names", "countries", "states", "provinces", "regions"):
            values = getattr(provider, attr, ())
            words.update(v.lower() for v in values if isinstance(v, str) and v.isalpha())
    try:
        colours = importlib.import_module("faker.providers.color.en_US").Provider.all_colors
        words.update(c.lower() for c in colours if c.isalpha())
    except (ModuleNotFoundError, AttributeError):
        pass
    return frozenset(words)
