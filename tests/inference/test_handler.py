"""The SageMaker handler functions, in process: parsing, the privacy step first, serialization."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from inference.handler import (
    CSV,
    JSON,
    InvalidInput,
    NotAcceptable,
    Prediction,
    UnsupportedContentType,
    check_model,
    choose_accept,
    column_plan,
    input_fn,
    model_fn,
    output_fn,
    parse_payload,
    predict_fn,
    to_frame,
)
from privml.errors import PrivmlError
from tests.inference.conftest import CANARIES, Spy, pii_rows, save_model_dir


def _score(model: Pipeline, body: str | bytes, content_type: str) -> list:
    return predict_fn(to_frame(parse_payload(body, content_type, column_plan(model))), model).labels


def test_column_plan_leaves_out_the_label_and_requires_what_the_policy_reads(fitted_model) -> None:
    plan = column_plan(fitted_model)
    assert "readmitted" not in plan.expected
    assert {"email", "age", "income"} <= plan.required
    assert "name" not in plan.required  # dropped by the policy: may be absent from a request


def test_csv_with_header_without_header_and_json_shapes_agree(fitted_model, raw_requests) -> None:
    rows = raw_requests.head(7)
    expected = _score(fitted_model, rows.to_csv(index=False), CSV)
    no_header = rows[list(column_plan(fitted_model).expected)].to_csv(index=False, header=False)
    assert _score(fitted_model, no_header, CSV) == expected
    assert _score(fitted_model, rows.to_json(orient="records"), JSON) == expected
    columnar = json.dumps({c: json.loads(rows[c].to_json(orient="values")) for c in rows.columns})
    assert _score(fitted_model, columnar, JSON) == expected
    assert _score(fitted_model, json.dumps({"instances": json.loads(rows.to_json(orient="records"))}), JSON) == expected
    single = json.dumps(json.loads(rows.head(1).to_json(orient="records"))[0])
    assert _score(fitted_model, single, JSON) == expected[:1]
    # columns in another order, an unknown extra column, dropped identifiers left out
    shuffled = rows[list(reversed(rows.columns))].assign(extra="x").drop(columns=["name", "notes"])
    assert _score(fitted_model, shuffled.to_csv(index=False), CSV) == expected


def test_batch_equals_row_by_row(fitted_model, raw_requests) -> None:
    rows = raw_requests.head(20)
    batch = _score(fitted_model, rows.to_csv(index=False), CSV)
    singles = [_score(fitted_model, rows.iloc[[i]].to_csv(index=False), CSV)[0] for i in range(len(rows))]
    assert batch == singles


def test_sagemaker_functions_chain(fitted_model, raw_requests) -> None:
    frame = input_fn(raw_requests.head(3).to_csv(index=False).encode(), "text/csv; charset=utf-8")
    prediction = predict_fn(frame, fitted_model)
    body, kind = output_fn(prediction, "application/json")
    assert kind == JSON
    preds = json.loads(body)["predictions"]
    assert len(preds) == 3 and {"label", "probabilities"} <= set(preds[0])
    csv_body, kind = output_fn(prediction, "text/csv")
    assert kind == CSV and csv_body.splitlines() == [str(p["label"]) for p in preds]


def test_raw_pii_never_reaches_the_model_steps(spied_model, raw_requests) -> None:
    Spy.seen.clear()
    rows = pii_rows(raw_requests, 4)
    for body, kind in ((rows.to_csv(index=False), CSV), (rows.to_json(orient="records"), JSON)):
        labels = _score(spied_model, body, kind)
        assert len(labels) == 4
    assert len(Spy.seen) == 2
    for frame in Spy.seen:
        text = frame.to_csv(index=False)
        for column, canary in CANARIES.items():
            assert canary not in text, column
            assert column not in {"zip_code"} or "90377" not in text


@pytest.mark.parametrize(
    ("body", "content_type", "error", "fragment"),
    [
        (b"", CSV, InvalidInput, "no rows"),
        (b"\xff\xfe\x00bad", CSV, InvalidInput, "UTF-8"),
        (b"age,sex\n1,2,3\n", CSV, InvalidInput, "row 2 has 3 fields"),
        (b"a,b\n", "application/x-www-form-urlencoded", UnsupportedContentType, "content type"),
        (b"{not json", JSON, InvalidInput, "not valid JSON"),
        (b"[1, 2, 3]", JSON, InvalidInput, "must all be objects"),
        (b"[[1, 2]]", JSON, InvalidInput, "row 1 has 2 values"),
        (b'{"age": [1, 2], "sex": 3}', JSON, InvalidInput, "mixes"),
        (b'[{"age": {"nested": "secret-value-1"}}]', JSON, InvalidInput, "missing column"),
        (b"[]", JSON, InvalidInput, "no rows"),
        (b'"just a string"', JSON, InvalidInput, "list of records"),
    ],
)
def test_bad_payloads_name_the_problem(fitted_model, body, content_type, error, fragment) -> None:
    with pytest.raises(error) as info:
        parse_payload(body, content_type, column_plan(fitted_model))
    assert fragment in str(info.value)


def test_errors_echo_no_values(fitted_model, raw_requests) -> None:
    plan = column_plan(fitted_model)
    record = json.loads(raw_requests.head(1).to_json(orient="records"))[0]
    record["email"] = {"deep": CANARIES["email"]}
    with pytest.raises(InvalidInput) as info:
        parse_payload(json.dumps([record]), JSON, plan)
    assert "email" in str(info.value) and CANARIES["email"] not in str(info.value)
    bad_csv = "age,sex\n" + CANARIES["ssn"] + "\n"
    with pytest.raises(InvalidInput) as info:
        parse_payload(bad_csv, CSV, plan)
    assert CANARIES["ssn"] not in str(info.value)


def test_missing_required_column_is_named(fitted_model, raw_requests) -> None:
    body = raw_requests.head(2).drop(columns=["income", "email"]).to_csv(index=False)
    with pytest.raises(InvalidInput, match="missing column"):
        parse_payload(body, CSV, column_plan(fitted_model))


def test_accept_negotiation() -> None:
    assert choose_accept(None, CSV) == CSV
    assert choose_accept("*/*", JSON) == JSON
    assert choose_accept("application/json, text/csv", CSV) == JSON
    assert choose_accept("text/*", JSON) == CSV
    with pytest.raises(NotAcceptable):
        choose_accept("image/png", CSV)


def test_a_model_without_the_privacy_step_is_refused() -> None:
    with pytest.raises(Exception, match="first step"):
        check_model(Pipeline([("clf", LogisticRegression())]))


def test_model_fn_loads_the_skops_artifact(fitted_model, raw_requests, tmp_path: Path,
                                           model_workspace: Path, monkeypatch) -> None:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))  # where the tokenize key lives
    model_dir = save_model_dir(fitted_model, tmp_path / "model", model_workspace)
    loaded = model_fn(str(model_dir))
    rows = raw_requests.head(10)
    frame = to_frame(parse_payload(rows.to_csv(index=False), CSV, column_plan(loaded)))
    assert predict_fn(frame, loaded).labels == _score(fitted_model, rows.to_csv(index=False), CSV)
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(model_dir / "model.skops", arcname="model.skops")
    from inference.server import load_endpoint_model

    from_archive = load_endpoint_model(tmp_path / "model.tar.gz", model_workspace)
    assert _score(from_archive, rows.to_csv(index=False), CSV) == _score(fitted_model, rows.to_csv(index=False), CSV)


def test_model_from_the_local_object_store(fitted_model, raw_requests, tmp_path: Path, model_workspace: Path,
                                           monkeypatch) -> None:
    from inference.server import load_endpoint_model
    from privml.crypto.objectstore import LocalObjectStore

    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    model_dir = save_model_dir(fitted_model, tmp_path / "model", model_workspace)
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(model_dir / "model.skops", arcname="model.skops")
    from privml.crypto.local_kms import LocalKms

    store = LocalObjectStore.open(model_workspace)
    store.set_bucket_key("privml-runs", LocalKms.open(model_workspace).ensure_key("alias/privml-test-runs"))
    store.put_file("s3://privml-runs/run-1/model/model.tar.gz", tmp_path / "model.tar.gz")
    loaded = load_endpoint_model("s3://privml-runs/run-1/model/model.tar.gz", model_workspace)
    body = raw_requests.head(5).to_csv(index=False)
    assert _score(loaded, body, CSV) == _score(fitted_model, body, CSV)
    with pytest.raises(PrivmlError, match="not found"):
        load_endpoint_model("s3://privml-runs/run-2/model/model.tar.gz", model_workspace)


def test_to_frame_reads_like_the_jobs(fitted_model) -> None:
    plan = column_plan(fitted_model)
    record = dict.fromkeys(plan.required, "x") | {"age": 41, "income": 5.5, "sex": None, "email": ""}
    frame = to_frame(parse_payload(json.dumps([record]), JSON, plan))
    assert frame.loc[0, "age"] == "41" and frame.loc[0, "income"] == "5.5"
    assert pd.isna(frame.loc[0, "sex"]) and pd.isna(frame.loc[0, "email"]) and pd.isna(frame.loc[0, "name"])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab,\n \t;é"\r\x00')), max_size=30))
def test_csv_rows_read_as_the_csv_module_does(text: str) -> None:
    import csv
    import io

    from privml.serving.payloads import _csv_rows

    try:
        expected: object = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        expected = InvalidInput
    try:
        got: object = _csv_rows(text)
    except InvalidInput:
        got = InvalidInput
    assert got == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=st.sampled_from(list('ab1 ,"\n\r\t.é-'))), st.integers(), st.booleans(),
                          st.floats(allow_nan=True)), min_size=1, max_size=6))
def test_csv_output_is_what_the_csv_module_writes(labels: list) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for label in labels:
        writer.writerow([label])
    assert output_fn(Prediction(labels), "text/csv") == (buf.getvalue(), "text/csv")


def test_csv_header_layouts_are_remembered_for_headers_only(fitted_model, raw_requests) -> None:
    plan = column_plan(fitted_model)
    plan.layouts.clear()
    with_header = raw_requests.head(3).to_csv(index=False)
    without = raw_requests.head(3).to_csv(index=False, header=False)
    first = parse_payload(with_header, "text/csv", plan)
    assert list(plan.layouts) == [with_header.split("\n")[0]]
    again = parse_payload(with_header, "text/csv", plan)  # from the remembered layout
    assert again == first
    assert parse_payload(without, "text/csv", plan) == first
    assert len(plan.layouts) == 1  # a first row of data is never kept
    # a remembered header with a row of the wrong width still names the row
    short = with_header.split("\n")[0] + "\n1,2\n"
    with pytest.raises(InvalidInput, match="CSV row 2 has 2 fields"):
        parse_payload(short, "text/csv", plan)


def test_a_utf8_byte_order_mark_is_dropped(fitted_model, raw_requests) -> None:
    plan = column_plan(fitted_model)
    body = raw_requests.head(2).to_csv(index=False).encode()
    for payload in (body, raw_requests.head(2).to_json(orient="records").encode()):
        kind = "text/csv" if payload is body else "application/json"
        assert parse_payload(b"\xef\xbb\xbf" + payload, kind, plan) == parse_payload(payload, kind, plan)
