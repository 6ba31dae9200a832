"""Each recognizer against the issuers' published examples and near misses."""

from __future__ import annotations

import pandas as pd
import pytest

from privml.policy.detection import CustomRecognizerPolicy
from privml.recognizers import identifiers as r
from privml.recognizers.identifiers import recognize

VALID = {
    r.nhs_ok: ["943 476 5919", "9434765919"],
    r.nino_ok: ["AB123456C", "JG 10 37 24 A"],
    r.sin_ok: ["046 454 286", "046-454-286"],
    r.dni_ok: ["12345678Z", "X1234567L", "Y0000000Z"],
    r.codice_fiscale_ok: ["RSSMRA85T10A562S"],
    r.de_tax_id_ok: ["86095742719"],
    r.aadhaar_ok: ["2341 2341 2346"],
    r.tfn_ok: ["123456782", "123 456 782"],
    r.aba_ok: ["011000015", "021000021"],
    r.itin_ok: ["912-70-1234", "900-94-0000"],
    r.ein_ok: ["12-3456789"],
    r.bic_ok: ["DEUTDEFF", "DEUTDEFF500", "NEDSZAJJXXX"],
    r.aws_access_key_ok: ["AKIAIOSFODNN7EXAMPLE"],
    r.secret_ok: ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"],
    r.vin_ok: ["1M8GDM9AXKP042788", "11111111111111111"],
    r.imei_ok: ["490154203237518", "35-209900-176148-1"],
    r.mac_ok: ["00:1A:2b:3c:4D:5e", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"],
    r.uuid_ok: ["123e4567-e89b-12d3-a456-426614174000"],
    r.latlon_ok: ["52.52000, 13.40500", "(-33.8688, 151.2093)"],
    r.geohash_ok: ["u33dc0", "9q8yyk8yt"],
    r.handle_ok: ["@jane_doe", "@a1"],
    r.passport_ok: ["340020013", "C01X00T47", "12AB34567"],
    r.insee_ok: ["255081416802538", "2 55 08 14 168 025 38"],
    r.verhoeff_ok: ["2363", "236"[:2] + "63"],
    r.mod97_ok: ["GB82WEST12345698765432"[4:] + "GB82"],
}
INVALID = {
    r.nhs_ok: ["943 476 5918", "123456789"],
    r.nino_ok: ["BG123456A", "AB123456E", "QQ123456C"],
    r.sin_ok: ["046 454 287", "846 454 286"],
    r.dni_ok: ["12345678A", "X1234567A"],
    r.codice_fiscale_ok: ["RSSMRA85T10A562T", "RSSMRA85T10A562"],
    r.de_tax_id_ok: ["86095742718", "06095742719"],
    r.aadhaar_ok: ["2341 2341 2345", "1341 2341 2346"],
    r.tfn_ok: ["123456781"],
    r.aba_ok: ["011000016", "991000015"],
    r.itin_ok: ["912-40-1234", "812-70-1234"],
    r.ein_ok: ["07-3456789"],
    r.bic_ok: ["DEUTQQFF", "deutdeff", "DEUT1EFF"],
    r.aws_access_key_ok: ["AKIAIOSFODNN7EXAMPL", "AKIA1OSFODNN7EXAMPLE"],
    r.secret_ok: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "short", "this is not a secret at all"],
    r.vin_ok: ["1M8GDM9A1KP042788", "1M8GDM9AXKP04278I"],
    r.imei_ok: ["490154203237519"],
    r.mac_ok: ["00:1A:2b:3c:4D", "00:1A-2b:3c:4D:5e"],
    r.uuid_ok: ["123e4567-e89b-12d3-a456-42661417400"],
    r.latlon_ok: ["95.1234, 13.405", "52.5, 13.4", "190.1234, 13.4051"],
    r.geohash_ok: ["u33dca", "hello"],
    r.handle_ok: ["jane", "@"],
    r.insee_ok: ["255081416802539"],
}


@pytest.mark.parametrize("check", list(VALID), ids=lambda c: c.__name__)
def test_published_examples_pass(check):
    for value in VALID[check]:
        assert check(value), value


@pytest.mark.parametrize("check", list(INVALID), ids=lambda c: c.__name__)
def test_near_misses_fail(check):
    for value in INVALID[check]:
        assert not check(value), value


@pytest.mark.parametrize("name", r.validator_names())
def test_a_policy_may_name_every_validator_the_recognizers_implement(name):
    assert CustomRecognizerPolicy(name="custom_id", regex="[0-9]+", validator=name).validator == name


def test_a_policy_naming_an_unknown_validator_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown validator 'crc32'.*luhn"):
        CustomRecognizerPolicy(name="custom_id", regex="[0-9]+", validator="crc32")


def test_a_pass_rate_far_above_chance_is_the_type_and_noise_is_not():
    assert r.far_above_chance(0.6, 0.1, 2000, floor=0.3)
    assert not r.far_above_chance(0.12, 0.1, 2000, floor=0.3)
    assert not r.far_above_chance(0.2, 0.1, 15)


def test_recognize_picks_the_type_from_values():
    values = pd.Series(["AKIAIOSFODNN7EXAMPLE", "AKIAJQ2ZUXAV6XL3HBNA", "ASIAY34FZKBOKMUTVV7A"] * 10, dtype="str")
    uniq = pd.Series(values.unique(), dtype="str")
    found = recognize(uniq, pd.Series(1 / len(uniq), index=range(len(uniq))).to_numpy(), 30, set())
    assert found is not None and found[0] == "aws_access_key"
