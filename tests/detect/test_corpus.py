"""Detection over the corpus of tests/detect/pii_corpus.py: every identifier column proposed as an
identifier (none as `keep`), and non-PII columns left alone. The measured figures are printed."""

from __future__ import annotations

from privml.detect import scan_table
from privml.policy import Role
from tests.detect.pii_corpus import IDENTIFIERS, corpus


def _figures():
    frame, truth = corpus()
    result = scan_table(frame, sample_rows=2000, seed=0)
    identifiers = [n for n, kind in truth.items() if kind is not None]
    non_pii = [n for n, kind in truth.items() if kind is None]
    found = [n for n in identifiers if result.column(n).role is Role.IDENTIFIER]
    flagged = [n for n in non_pii if result.column(n).role is Role.IDENTIFIER]
    return result, truth, identifiers, non_pii, found, flagged


def test_corpus_recall_and_precision(capsys):
    result, truth, identifiers, non_pii, found, flagged = _figures()
    assert len(IDENTIFIERS) >= 40 and len(identifiers) == 2 * len(IDENTIFIERS)
    assert len(non_pii) >= 40
    recall = len(found) / len(identifiers)
    precision = 1 - len(flagged) / len(non_pii)
    missed = sorted(f"{n} ({truth[n]}: {result.column(n).evidence[:80]})" for n in set(identifiers) - set(found))
    kept = [n for n in identifiers if result.column(n).action == "keep"]
    with capsys.disabled():
        print(f"\ndetection corpus: {len(IDENTIFIERS)} kinds, {len(identifiers)} identifier columns, "
              f"{len(non_pii)} non-PII columns; recall {recall:.3f}, precision (non-PII left alone) {precision:.3f}, "
              f"identifiers proposed as keep: {len(kept)}")
    assert kept == [], missed
    assert recall >= 0.98, missed
    assert precision >= 0.95, [f"{n}: {result.column(n).pii_type}: {result.column(n).evidence[:100]}" for n in flagged]


def test_every_verdict_says_why():
    result = _figures()[0]
    for col in result.columns:
        assert col.evidence and "distinct" in col.evidence, col.name
