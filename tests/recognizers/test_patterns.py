"""Validators for each PII type: what they accept, and the near misses they reject."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privml.recognizers import patterns


def check(validator, values: list[str]) -> list[bool]:
    return validator(pd.Series(values, dtype="str")).tolist()


def luhn_complete(payload: str) -> str:
    for d in "0123456789":
        if patterns.luhn_ok(payload + d):
            return payload + d
    raise AssertionError("unreachable")


def test_email() -> None:
    assert check(patterns.is_email, ["jane.doe@example.com", "a+b@mail.co.uk", "X_Y@sub.domain.org"]) == [True] * 3
    assert check(patterns.is_email, ["jane.doe@", "@example.com", "jane@example", "jane..doe@example.com",
                              "jane doe@example.com", "no email here"]) == [False] * 6


def test_phone_us_and_international() -> None:
    good = ["(415) 555-2671", "415-555-2671", "415.555.2671", "+1 415 555 2671", "+1-415-555-2671",
            "+44 20 7946 0958", "+49 30 901820", "020 7946 0958", "415-555-2671 ext 12"]
    assert check(patterns.is_phone, good) == [True] * len(good)
    # exchange code starting with 1, N11 area code, too few digits, a bare number, an SSN, a date
    bad = ["415-155-2671", "911-555-2671", "+1 555", "4155552671", "123-45-6789", "2024-01-15"]
    assert check(patterns.is_phone, bad) == [False] * len(bad)


def test_ssn_respects_ssa_invalid_ranges() -> None:
    assert check(patterns.is_ssn, ["123-45-6789", "001-01-0001", "899-99-9999", "123 45 6789"]) == [True] * 4
    bad = ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000",
           "078-05-1120", "123456789", "12-345-6789"]
    assert check(patterns.is_ssn, bad) == [False] * len(bad)


def test_credit_card_needs_luhn_and_a_known_issuer() -> None:
    good = ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009",
            "6011000990139424", "3530111333300000", "2221000000000009"]
    assert check(patterns.is_credit_card, good) == [True] * len(good)
    bad = ["4111111111111112", "1234567812345670", "4111 1111 1111", "0000000000000000", "9111111111111111"]
    assert check(patterns.is_credit_card, bad) == [False] * len(bad)


@settings(max_examples=200, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=14, max_size=14), pos=st.integers(0, 15),
       delta=st.integers(1, 9))
def test_luhn_catches_every_single_digit_error(body: str, pos: int, delta: int) -> None:
    card = luhn_complete("4" + body)
    assert patterns.card_ok(card)
    wrong = card[:pos] + str((int(card[pos]) + delta) % 10) + card[pos + 1:]
    assert not patterns.card_ok(wrong)


def test_ip_addresses_are_validated_by_ipaddress() -> None:
    good = ["192.168.1.20", "8.8.8.8", "2001:db8::1", "fe80::1%eth0", "::1", "2001:0db8:0000:0000:0000:ff00:0042:8329"]
    assert check(patterns.is_ip_address, good) == [True] * len(good)
    bad = ["256.1.1.1", "1.2.3", "01.2.3.4", "12:30:45", "2001:db8:::1", "1.2.3.4.5", "abc"]
    assert check(patterns.is_ip_address, bad) == [False] * len(bad)


def test_iban_mod97() -> None:
    good = ["DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
            "FR1420041010050500013M02606", "NL91ABNA0417164300"]
    assert check(patterns.is_iban, good) == [True] * len(good)
    bad = ["DE89370400440532013001", "GB82WEST1234569876543", "XX00123412341234", "DE8937040044053201300"]
    assert check(patterns.is_iban, bad) == [False] * len(bad)


def test_url() -> None:
    urls = ["https://example.com/a?b=c", "http://sub.example.org", "www.example.co.uk/x"]
    assert check(patterns.is_url, urls) == [True] * 3
    assert check(patterns.is_url, ["example", "http://", "mailto:a@b.com", "ftp:/x"]) == [False] * 4


def test_dates_in_common_formats() -> None:
    good = ["1980-02-29", "2024-01-15T10:20:30Z", "02/28/1980", "28.02.1980", "1980/02/28", "5 Jan 1980",
            "January 5, 1980"]
    assert check(patterns.is_date, good) == [True] * len(good)
    bad = ["1981-02-29", "2024-13-01", "12345", "1.2.3.4", "not a date", "1700-01-01"]
    assert check(patterns.is_date, bad) == [False] * len(bad)


def test_postcodes_us_uk_and_generic() -> None:
    good = ["94105", "94105-1234", "02139", "SW1A 1AA", "EC1A1BB", "M1 1AE", "K1A 0B1", "1012 AB"]
    assert check(patterns.is_postcode, good) == [True] * len(good)
    # unassigned US 3-digit areas (000, 213, 987), wrong shapes
    bad = ["00012", "21345", "98712", "1234", "941051", "ABCDE", "Q1A 0B1"]
    assert check(patterns.is_postcode, bad) == [False] * len(bad)


def test_person_names_use_the_lexicon() -> None:
    good = ["Maria Garcia", "John Smith", "Smith, John", "Dr. Anna Müller", "Jean-Pierre Dubois", "Emily"]
    assert check(patterns.is_person_name, good) == [True] * len(good)
    bad = ["Blue Widget", "Heart failure", "john smith2", "HS-grad", "Quarterly Report", "12 Main"]
    assert check(patterns.is_person_name, bad) == [False] * len(bad)


def test_street_addresses() -> None:
    good = ["221 Baker Street", "1600 Pennsylvania Ave NW", "10 Downing St", "742 Evergreen Terrace Apt 3",
            "5873 Peters Flat", "12 Rue de Rivoli", "Hauptstraße 5", "Calle Mayor 12", "PO Box 1234",
            "350 Fifth Avenue, New York, NY 10118"]
    assert check(patterns.is_street_address, good) == [True] * len(good)
    good += ["4 Privet Drive\nLittle Whinging\nSurrey GU1 1AA", "Flat 4, 12 High Street", "Studio 40\nJulie Mountain",
             "807/021 Harrison Extension", "Via Moretti, 481 Appartamento 0", "95, avenue Diallo",
             "Joshuasteeg 458", "PSC 1234, Box 5678\nAPO AE 12345"]
    assert check(patterns.is_street_address, good) == [True] * len(good)
    bad = ["Baker Street", "221", "12 apples", "Version 2 release", "3 weeks ago", "2 Way Radio Set",
           "Via email 3 times"]
    assert check(patterns.is_street_address, bad) == [False] * len(bad)


@pytest.mark.parametrize("kind", sorted(patterns.VALIDATORS))
def test_validators_handle_empty_input(kind: str) -> None:
    assert patterns.VALIDATORS[kind](pd.Series([], dtype="str")).tolist() == []
