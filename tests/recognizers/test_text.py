"""PII spans inside free text, and scrubbing them."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from privml.recognizers.text import find_pii_spans, scrub_text


def kinds(text: str) -> list[str]:
    return [s.kind for s in find_pii_spans(text)]


def test_each_kind_is_found_in_a_sentence() -> None:
    text = ("Maria Garcia (maria.g@example.com, +1 415-555-2671) paid with 4111 1111 1111 1111; SSN 123-45-6789, "
            "IBAN DE89 3704 0044 0532 0130 00, from 203.0.113.7 via https://example.com/p?id=3. "
            "She lives at 221 Baker Street Apt 4.")
    assert kinds(text) == ["person_name", "email", "phone", "credit_card", "ssn", "iban", "ip_address", "url",
                           "street_address"]


def test_near_misses_are_not_pii() -> None:
    text = ("Order 4111111111111112 shipped in 3 boxes; version 1.2.3 on 2024-01-15 at 12:30:45. "
            "Ticket 000-12-3456 closed. Heart Failure Clinic notes. Call back tomorrow.")
    assert kinds(text) == []


def test_scrub_replaces_spans_with_labels() -> None:
    text = "Contact Maria at maria.g@example.com or (415) 555-2671. John Smith agreed."
    assert scrub_text(text) == "Contact [NAME] at [EMAIL] or [PHONE]. [NAME] agreed."


def test_titles_mark_names_the_lexicon_lacks() -> None:
    assert scrub_text("Seen by Dr. Okonkwo-Adeyemi today; Mrs Zbigniewska called.") == (
        "Seen by [NAME] today; [NAME] called.")


def test_spans_do_not_overlap_and_the_longer_name_wins() -> None:
    spans = find_pii_spans("Email john.smith@example.com then call John Smith.", single_names=True)
    assert [(s.kind, s.end - s.start) for s in spans] == [("email", 22), ("person_name", 10)]
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_scrub_is_total_and_idempotent(text: str) -> None:
    once = scrub_text(text)
    assert scrub_text(once) == once
