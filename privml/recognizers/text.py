"""PII inside free text: the spans of a sentence that are emails, phone numbers, names, addresses, ...

`find_pii_spans(text)` is what a column classifier uses to decide that a text column carries PII, and
what a scrubber can use to replace each span with its label (`[EMAIL]`, `[PHONE]`, ...). Structured
matches are validated the same way as whole-column values (Luhn, SSA ranges, `ipaddress`, mod-97);
names are pairs of capitalized words, a known first name followed by a known last name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from privml.recognizers import patterns as p
from privml.recognizers.lexicons import name_lexicon, street_suffixes

__all__ = ["LABELS", "Span", "find_pii_spans", "scrub_text"]

# Label of each span kind, in priority order: when two spans overlap the earlier kind wins.
LABELS = {
    "email": "EMAIL",
    "url": "URL",
    "iban": "IBAN",
    "credit_card": "CREDIT_CARD",
    "ssn": "SSN",
    "ip_address": "IP_ADDRESS",
    "phone": "PHONE",
    "street_address": "ADDRESS",
    "person_name": "NAME",
}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str

    @property
    def label(self) -> str:
        return LABELS[self.kind]


# (kind, pattern, validator, what the text must contain for the pattern to be worth running)
_SEARCH: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None, str]] = [
    ("email", re.compile(rf"(?<![\w.%+\-]){p.EMAIL}(?![\w\-])"), None, "@"),
    ("url", re.compile(r"(?i)\b(?:https?|ftp)://[^\s<>\"]+[^\s<>\".,;:!?)]|\bwww\.[^\s<>\"]+[^\s<>\".,;:!?)]"),
     None, "url"),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), p.iban_ok, "digit"),
    ("credit_card", re.compile(r"(?<![\d\-])\d{4}(?:[ \-]?\d{2,7}){2,4}(?![\d\-])"), p.card_ok, "digit"),
    ("ssn", re.compile(r"(?<![\d\-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d\-])"), p.ssn_ok, "digit"),
    ("ip_address", re.compile(r"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])"), p.ip_ok, "digit"),
    ("ip_address", re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}:?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4})*(?![\w:])"),
     p.ip_ok, ":"),
    ("phone", re.compile(rf"(?<![\w+])(?:{p.PHONE_US}|{p.PHONE_INTL}|{p.PHONE_NATIONAL})(?![\w])"),
     p.phone_ok, "digit"),
]

_DIGIT = re.compile(r"\d")
_TITLED = re.compile(r"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof)\.?\s+[A-Z][^\W\d_]+(?:[\s\-][A-Z][^\W\d_]+)?")
_CAP_WORD = re.compile(r"[A-Z][^\W\d_]*(?:['’\-][^\W\d_]+)*")


@lru_cache(maxsize=1)
def _address_search() -> re.Pattern[str]:
    suffixes = sorted((s for s in street_suffixes() if len(s) > 1), key=len, reverse=True)
    alternation = "|".join(re.escape(s) for s in suffixes)
    return re.compile(
        rf"(?<!\w)\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][\w'.\-]*\s+){{1,4}}?(?i:{alternation})\.?(?!\w)"
        r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?(?:,?\s+(?i:apt|suite|unit|ste)\.?\s*#?\s*\w+)?"
    )


def _name_spans(text: str, single_names: bool) -> list[Span]:
    first_names, last_names = name_lexicon()
    words = list(_CAP_WORD.finditer(text))
    spans = []
    for a, b in itertools.pairwise(words):
        gap = text[a.end():b.start()]
        if gap.strip(" ") or not gap:  # adjacent words separated by spaces only
            continue
        if a.group().lower() in first_names and b.group().lower() in last_names:
            spans.append(Span(a.start(), b.end(), "person_name"))
    if single_names:
        spans += [Span(w.start(), w.end(), "person_name") for w in words if w.group().lower() in first_names]
    # A title makes the next capitalized words a name whatever the lexicon says: "Dr. Okonkwo".
    spans += [Span(m.start(), m.end(), "person_name") for m in _TITLED.finditer(text)]
    return spans


def find_pii_spans(text: str, *, single_names: bool = False) -> list[Span]:
    """Non-overlapping PII spans in `text`, sorted by start.

    Names are a known first name followed by a known last name. `single_names` also reports a lone
    capitalized first name ("Contact Maria at ..."): right for scrubbing, where a false hit costs a
    word, too noisy for deciding whether a column carries PII at all."""
    found: list[Span] = []
    # Cheap tests first: most kinds need a digit, an "@" or a "://"; most texts lack some of them.
    has = {"@": "@" in text, "url": "://" in text or "www." in text.lower(), ":": ":" in text,
           "digit": _DIGIT.search(text) is not None}
    for kind, pattern, check, needs in _SEARCH:
        if not has[needs]:
            continue
        for m in pattern.finditer(text):
            if check is None or check(m.group()):
                found.append(Span(m.start(), m.end(), kind))
    if has["digit"]:
        found += [Span(m.start(), m.end(), "street_address") for m in _address_search().finditer(text)]
    found += _name_spans(text, single_names)
    if len(found) > 1:
        found = _without_overlaps(found)
    return found


_PRIORITY = {kind: i for i, kind in enumerate(LABELS)}


def _without_overlaps(found: list[Span]) -> list[Span]:
    priority = _PRIORITY
    # Longer spans first within a kind, so a full name beats the lone first name inside it.
    found.sort(key=lambda s: (priority[s.kind], s.start - s.end, s.start))
    kept: list[Span] = []
    for span in found:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def scrub_text(text: str) -> str:
    """`text` with each PII span replaced by its label in brackets."""
    out = []
    pos = 0
    for span in find_pii_spans(text, single_names=True):
        out.append(text[pos:span.start])
        out.append(f"[{span.label}]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)
