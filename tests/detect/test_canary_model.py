"""Canaries in every identifier column of a table privml has never seen, in value shapes no pattern
knows: after scan → proposed policy → anonymize → train, none is in any split, the report, the policy,
the fitted transformer, a log line, or anywhere inside the model file (its zip members unpacked)."""

from __future__ import annotations

import io
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest

from tests.detect.pii_corpus import corpus

ROWS = 600
# Shapes no recognizer knows: letters, digits and punctuation mixed as no identifier type is written.
CANARY_SHAPES = ("Qz7~{i}~canary~Wv", "canary#{i}#QZX", "{i}-QZXCANARY-{i}")


def _table() -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    frame, truth = corpus(ROWS, seed=5)
    frame = frame.copy()
    identifiers = [name for name, kind in truth.items() if kind is not None]
    rng = np.random.default_rng(0)
    planted: dict[str, str] = {}
    for j, name in enumerate(identifiers):
        canary = CANARY_SHAPES[j % len(CANARY_SHAPES)].format(i=j)
        column = frame[name].astype(object)
        for row in range(j % 7, ROWS, 53):  # about 11 rows of each identifier column
            column.iloc[row] = canary
        frame[name] = column
        planted[name] = canary
    frame["visits"] = rng.poisson(3, ROWS)
    frame["outcome"] = (frame["visits"] + rng.integers(0, 3, ROWS) > 4).astype(int)
    return frame, identifiers, planted


@pytest.mark.slow
def test_no_canary_reaches_a_split_a_report_a_log_or_the_model_file(tmp_path, monkeypatch, caplog, capsys):
    from privml.anonymize import anonymize_table, ensure_local_keys, split_rows, write_anonymized
    from privml.detect import propose_policy, scan_table
    from privml.models.persistence import dumps_model
    from privml.models.training import TrainingRequest, train_on_splits
    from privml.policy import Role

    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "ws"))
    caplog.set_level(logging.DEBUG)
    frame, identifiers, planted = _table()
    scan = scan_table(frame, label="outcome")
    assert all(scan.column(name).role is Role.IDENTIFIER for name in identifiers), [
        (n, scan.column(n).role.value, scan.column(n).evidence[:80])
        for n in identifiers if scan.column(n).role is not Role.IDENTIFIER]
    policy = propose_policy(scan)
    ensure_local_keys(policy.keys.values())
    result = anonymize_table(frame, policy)
    splits = split_rows(result.data, (0.7, 0.15, 0.15), label=policy.label, seed=0)
    out = write_anonymized(result, tmp_path / "anonymized", splits=splits)
    trained = train_on_splits(splits["train"], splits["validation"], result.transformer, result.policy,
                              TrainingRequest("hgb", 0.0, "outcome", 0))
    model = dumps_model(trained.pipeline)

    blobs = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {"train/data.csv", "report.json", "transformer.skops", "policy.yaml"} <= set(blobs)
    with zipfile.ZipFile(io.BytesIO(model)) as archive:  # the model file, unpacked member by member
        members = {f"model.skops/{info.filename}": archive.read(info) for info in archive.infolist()}
    assert len(members) > 3
    blobs |= members
    for name in ("transformer.skops",):  # the fitted transformer's own members too
        with zipfile.ZipFile(io.BytesIO(blobs[name])) as archive:
            blobs |= {f"{name}/{info.filename}": archive.read(info) for info in archive.infolist()}
    captured = capsys.readouterr()
    blobs["log"] = (caplog.text + captured.out + captured.err).encode()
    leaks = sorted({(where, column) for where, data in blobs.items() for column, canary in planted.items()
                    if canary.encode() in data or canary.lower().encode() in data.lower()})
    assert leaks == []
    assert len(planted) >= 90  # every identifier column of the corpus, hinted and unhinted
