"""Fitted states as JSON, to compare them and to check they are plain data.

A fitted engine's state holds numpy arrays (the Mondrian tree and the partitions' label codes: a saved
model writes each as one block); these helpers turn them into lists, never into their truncated repr.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from privml.anonymity.labels import PartitionLabels


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def as_json(state: Any) -> Any:
    """`state` through JSON: arrays as lists, anything else JSON lacks as its text."""
    return json.loads(json.dumps(state, default=_plain))


def with_label_rows(state: dict[str, Any]) -> dict[str, Any]:
    """An engine state through JSON with its partition labels as one list per partition (the form states
    were saved in before `PartitionLabels`), so a state fitted now compares with one saved then."""
    out = as_json(state)
    labels = PartitionLabels.from_state(out.get("labels"))
    out["labels"] = [labels.row(p) for p in range(len(labels))]
    return out
