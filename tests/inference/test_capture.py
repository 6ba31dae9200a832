"""Data capture: SageMaker's record shape, options, sampling, and encryption at rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.capture import CaptureConfig, CaptureWriter, capture_files, read_capture_file
from privml.errors import IntegrityError, PrivmlError


def test_records_have_sagemakers_shape_and_files_are_encrypted(workspace: Path) -> None:
    writer = CaptureWriter("ep", CaptureConfig(capture_input=True))
    secret_row = "name,email\nCanary Person,canary@example.org\n"
    writer.record(request=secret_row.encode(), request_type="text/csv", response=b'{"predictions": []}',
                  response_type="application/json", inference_id="req-1")
    writer.record(request=b"\x00\xff", request_type="application/x-npy", response=b"1\n", response_type="text/csv")
    path = writer.flush()
    assert path is not None and path.name.endswith(".jsonl.enc")
    assert path.relative_to(workspace / "capture" / "ep" / "AllTraffic")  # SageMaker's layout
    raw = path.read_bytes()
    assert b"canary@example.org" not in raw and b"captureData" not in raw
    first, second = list(read_capture_file(path, endpoint="ep"))
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": secret_row, "encoding": "CSV"}
    assert first["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert first["eventMetadata"]["inferenceId"] == "req-1" and first["eventVersion"] == "0"
    assert second["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert writer.flush() is None  # nothing buffered: no empty file


def test_a_file_does_not_decrypt_as_another_endpoints(workspace: Path) -> None:
    writer = CaptureWriter("ep-a", CaptureConfig())
    writer.record(request=b"x", request_type="text/csv", response=b"1\n", response_type="text/csv")
    path = writer.flush()
    with pytest.raises((IntegrityError, PrivmlError)):
        list(read_capture_file(path, endpoint="ep-b"))


def test_default_captures_outputs_only_and_sampling_zero_captures_nothing(workspace: Path) -> None:
    assert CaptureConfig().capture_input is False and CaptureConfig().capture_output is True
    never = CaptureWriter("ep", CaptureConfig(sampling_percentage=0))
    assert not any(never.sampled() for _ in range(200))
    half = CaptureWriter("ep", CaptureConfig(sampling_percentage=50))
    hits = sum(half.sampled() for _ in range(2000))
    assert 800 < hits < 1200
    assert CaptureWriter("ep", CaptureConfig(enabled=False)).sampled() is False


def test_options_parse_and_validate() -> None:
    assert CaptureConfig.from_options("Input,Output").capture_input is True
    assert CaptureConfig.from_options("none").enabled is False
    for bad in ("Everything", ""):
        with pytest.raises(PrivmlError):
            CaptureConfig.from_options(bad)
    with pytest.raises(PrivmlError):
        CaptureConfig(sampling_percentage=101)


def test_background_flush_on_record_count(workspace: Path) -> None:
    writer = CaptureWriter("ep", CaptureConfig(flush_records=5))
    for _ in range(12):
        writer.record(request=b"x", request_type="text/csv", response=b"1\n", response_type="text/csv")
    writer.close()
    files = capture_files("ep")
    assert sum(1 for f in files for _ in read_capture_file(f, endpoint="ep")) == 12
    assert all(json.loads(json.dumps(r))["captureData"].keys() == {"endpointOutput"}
               for f in files for r in read_capture_file(f, endpoint="ep"))


def test_one_flush_at_a_time_and_no_record_lost(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records that arrive while a flush is scheduled join it: one thread, not one per record."""
    import threading

    release = threading.Event()
    writer = CaptureWriter("ep", CaptureConfig(flush_records=5))
    flush = writer.flush

    def slow_flush() -> Path | None:
        release.wait(10)
        return flush()

    monkeypatch.setattr(writer, "flush", slow_flush)
    for _ in range(50):
        writer.record(request=b"x", request_type="text/csv", response=b"1\n", response_type="text/csv")
    assert len(writer._flushers) == 1
    release.set()
    writer.close()
    assert sum(1 for f in capture_files("ep") for _ in read_capture_file(f, endpoint="ep")) == 50


@settings(max_examples=300, deadline=None)
@given(request=st.binary(max_size=40), response=st.binary(max_size=20),
       request_type=st.sampled_from(["text/csv", "application/json", "application/json; charset=utf-8",
                                     "application/x-npy", 'text/csv; x="\\é"']),
       inference_id=st.one_of(st.none(), st.text(max_size=8)), both=st.booleans())
def test_capture_lines_are_sagemakers_json(tmp_path_factory, request: bytes, response: bytes, request_type: str,
                                           inference_id: str | None, both: bool) -> None:
    """The hand-assembled line decodes to exactly the record built from dicts."""
    import base64
    import os

    os.environ["PRIVML_WORKSPACE"] = str(tmp_path_factory.mktemp("ws"))
    try:
        writer = CaptureWriter("ep", CaptureConfig(capture_input=both, capture_output=True))
        writer.record(request=request, request_type=request_type, response=response, response_type="text/csv",
                      inference_id=inference_id, event_id="e-1")
        (line,) = writer._buffer
        record = json.loads(line)
    finally:
        del os.environ["PRIVML_WORKSPACE"]

    def payload(mode: str, kind: str, data: bytes) -> dict:
        encoding = {"text/csv": "CSV", "application/json": "JSON"}.get(kind.split(";")[0].strip())
        try:
            text = data.decode("utf-8") if encoding else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            return {"observedContentType": kind, "mode": mode, "data": base64.b64encode(data).decode(),
                    "encoding": "BASE64"}
        return {"observedContentType": kind, "mode": mode, "data": text, "encoding": encoding}

    expected = {"endpointOutput": payload("OUTPUT", "text/csv", response)}
    if both:
        expected = {"endpointInput": payload("INPUT", request_type, request), **expected}
    assert record["captureData"] == expected
    assert list(record["captureData"]) == list(expected)
    meta = record["eventMetadata"]
    assert meta["eventId"] == "e-1" and meta.get("inferenceId") == (inference_id or None)
    assert meta["inferenceTime"].endswith("Z") and record["eventVersion"] == "0"
