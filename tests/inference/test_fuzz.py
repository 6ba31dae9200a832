"""Bad payloads of many kinds: always a 4xx (or a 200 when the fuzz happens to be valid), never a 5xx,
and the endpoint stays healthy."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.server import LocalEndpoint, start_local_endpoint
from tests.signing import SigV4


@pytest.fixture(scope="module")
def fuzz_endpoint(fitted_model, tmp_path_factory) -> Iterator[tuple[LocalEndpoint, requests.Session]]:
    handle = start_local_endpoint(fitted_model, workspace=tmp_path_factory.mktemp("fuzz-ws"))
    session = requests.Session()
    session.verify = handle.ca_bundle
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    session.auth = SigV4(handle.credentials)
    yield handle, session
    session.close()
    handle.stop()


COLUMNS = ["name", "email", "age", "sex", "zip_code", "income", "education", "num_visits", "diagnosis",
           "hours_per_week", "ssn", "date_of_birth", "admission_date", "bogus", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(COLUMNS), inner, max_size=5), max_leaves=20)
records = st.lists(st.dictionaries(st.sampled_from(COLUMNS), json_values, max_size=len(COLUMNS)), max_size=4)
csv_cell = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
csv_bodies = st.builds(
    lambda header, rows: "\n".join([",".join(header), *(",".join(r) for r in rows)]),
    st.lists(st.sampled_from(COLUMNS), max_size=20),
    st.lists(st.lists(csv_cell, max_size=20), max_size=4),
)
REQUIRED = ["email", "ssn", "age", "sex", "zip_code", "date_of_birth", "admission_date", "diagnosis", "income",
            "hours_per_week", "education", "num_visits"]
# near-valid rows: every column the model reads is there, with arbitrary values (reaches the model step)
near_valid = st.lists(st.fixed_dictionaries({c: scalars for c in REQUIRED}), min_size=1, max_size=4)
near_valid_csv = st.lists(st.lists(csv_cell, min_size=len(REQUIRED), max_size=len(REQUIRED)), min_size=1,
                          max_size=4).map(lambda rows: "\n".join([",".join(REQUIRED), *(",".join(
                              '"' + v.replace('"', '""') + '"' for v in r) for r in rows)]))
bodies = st.one_of(
    near_valid.map(lambda r: json.dumps(r).encode()),
    near_valid_csv.map(str.encode),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    csv_bodies.map(str.encode),
    records.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from(["text/csv", "application/json", "text/csv; charset=utf-8", "", "text/plain",
                                 "application/json; charset=latin-1", "application/x-npy", "*/*"])
accepts = st.sampled_from([None, "text/csv", "application/json", "*/*", "image/png", "text/*", ""])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=content_types, accept=accepts)
def test_fuzzed_payloads_never_get_a_5xx(fuzz_endpoint, body, content_type, accept) -> None:
    handle, session = fuzz_endpoint
    headers = {"Content-Type": content_type} if content_type else {}
    if accept is not None:
        headers["Accept"] = accept
    r = session.post(f"{handle.url}/invocations", data=body, headers=headers, timeout=30)
    assert r.status_code == 200 or 400 <= r.status_code < 500, (r.status_code, r.text)
    if r.status_code != 200:
        message = r.json()["error"]
        assert "\n" not in message and len(message) < 300


def test_still_healthy_after_the_fuzz(fuzz_endpoint, raw_requests) -> None:
    handle, session = fuzz_endpoint
    assert session.get(f"{handle.url}/ping", timeout=5).status_code == 200
    r = session.post(f"{handle.url}/invocations", data=raw_requests.head(2).to_csv(index=False),
                     headers={"Content-Type": "text/csv"}, timeout=10)
    assert r.status_code == 200 and len(r.text.split()) == 2
    assert handle.app.stats["errors_5xx"] == 0
