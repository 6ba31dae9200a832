"""Single-name columns (first names only, surnames only): the Census lexicon and the hit-rate test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privml.detect import scan_table
from privml.detect.names import MIN_DISTINCT, name_chance, single_names
from privml.policy import Role
from privml.recognizers.lexicons import census_names, faker_names, name_lexicon, reference_proper_nouns
from tests.detect import pii_corpus as corpus


def _distinct(values: list[str]) -> tuple[pd.Series, np.ndarray]:
    counts = pd.Series(values).value_counts()
    return pd.Series(counts.index.astype(str)), counts.to_numpy(dtype=float) / counts.sum()


def test_the_census_lists_are_shipped_as_the_notice_says() -> None:
    first, last = census_names()
    assert len(first) > 5000 and len(last) == 10_000
    assert {"mary", "james", "smith", "johnson"} <= first | last
    assert {"virtanen", "okonkwo"}.isdisjoint(first | last)  # outside the Census lists: the statistics decide
    lexicon_first, lexicon_last = name_lexicon()
    assert len(first - lexicon_first) < 30 and len(last - lexicon_last) < 30  # merged (less ambiguous words)


def test_the_chance_rate_is_measured_on_reference_proper_nouns() -> None:
    reference = reference_proper_nouns()
    assert len(reference) > 1000
    first, last = name_lexicon()
    assert name_chance() == sum(w in first or w in last for w in reference) / len(reference)
    assert 0 < name_chance() < 0.5


def test_a_first_name_column_outside_the_faker_lexicon_is_names_and_proper_nouns_are_not() -> None:
    rng = np.random.default_rng(3)
    first = corpus.first_name_only(rng, 1500)
    faker_first, faker_last = faker_names()
    known = sum(v.lower() in faker_first | faker_last for v in first) / len(first)
    assert known == 0  # none known to the Faker-only lexicon privml had
    found = single_names(*_distinct(first))
    assert found is not None and found.hit_rate > 0.5 and "far above" in found.evidence()
    many_cities = [str(c) for c in rng.choice(corpus._CITIES, 1500)]
    assert single_names(*_distinct(many_cities)) is None  # 115 cities, a quarter of them also names
    for short_list in (corpus._COLOURS, corpus._BRANDS):  # half of them names, but a short list
        assert len(set(short_list)) < MIN_DISTINCT
        assert single_names(*_distinct([str(v) for v in rng.choice(short_list, 1500)])) is None


def test_scan_calls_an_unhinted_first_name_column_an_identifier() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"field_1": corpus.first_name_only(rng, 1200), "field_2": corpus.surname_only(rng, 1200),
                          "field_3": [str(c) for c in rng.choice(corpus._CITIES, 1200)],
                          "field_4": [str(j) for j in rng.choice(corpus._JOBS, 1200)]})
    scan = scan_table(frame)
    assert scan.column("field_1").role is Role.IDENTIFIER and scan.column("field_1").pii_type == "person_name"
    assert scan.column("field_2").role is Role.IDENTIFIER
    assert scan.column("field_3").role is not Role.IDENTIFIER and scan.column("field_4").role is not Role.IDENTIFIER


def test_the_job_wheel_ships_the_census_lists(tmp_path) -> None:
    """The Anonymize job's safety net reads the same lexicon as `scan`: the data file is in its wheel."""
    import zipfile

    from pipelines.packaging import build_privml_wheel

    with zipfile.ZipFile(build_privml_wheel(tmp_path)) as wheel:
        assert "privml/recognizers/data/census_names.txt.gz" in wheel.namelist()
