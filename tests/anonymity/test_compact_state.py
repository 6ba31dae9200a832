"""A fitted Mondrian state is compact: the split tree as numpy arrays and each partition's labels as
int32 codes into each column's distinct labels, so a saved model writes a few arrays, not one entry per
node and per partition cell; a state saved in the older list form still loads and releases the same."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import skops.io as sio

from privml.anonymity.engine import AnonymityEngine
from privml.policy.engine_config import anonymity_config
from tests.anonymity.states import as_json, with_label_rows

from .conftest import make_policy


def _fitted(n: int = 3000) -> tuple[AnonymityEngine, pd.DataFrame]:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"age": rng.integers(18, 90, n).astype(str),
                       "zip": rng.choice([f"Z{i}" for i in range(12)], n),
                       "dx": rng.choice(["a", "b", "c", "d"], n)})
    policy = make_policy({"age": None, "zip": None},
                         {"algorithm": "mondrian", "k": 5, "l_diversity": {"kind": "distinct", "l": 2}},
                         sensitive=("dx",))
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(df)
    return engine, df


def test_the_state_holds_the_tree_and_the_label_codes_as_arrays() -> None:
    engine, _ = _fitted()
    state = engine.get_state()
    partitions = engine.report()["transformation"]["partitions"]
    assert partitions > 100
    tree = state["tree"]
    assert all(isinstance(tree[name], np.ndarray) for name in ("dim", "threshold", "left", "right", "partition"))
    labels = state["labels"]
    assert labels["codes"].dtype == np.int32 and labels["codes"].shape == (partitions, 2)
    for j, values in enumerate(labels["values"]):
        assert len(values) == len(set(values)) < partitions  # each label once, shared by its partitions
        assert labels["codes"][:, j].max() == len(values) - 1
    # skops writes each array as one .npy member: the tree's five and the codes
    members = zipfile.ZipFile(io.BytesIO(sio.dumps(state))).namelist()
    assert sum(name.endswith(".npy") for name in members) >= 6


def test_a_state_in_the_older_list_form_releases_what_the_compact_one_does() -> None:
    engine, df = _fitted()
    compact = AnonymityEngine.from_state(engine.get_state())
    old_form = with_label_rows(engine.get_state())  # labels as one list per partition, the tree as lists
    assert isinstance(old_form["labels"], list) and isinstance(old_form["tree"]["dim"], list)
    listed = AnonymityEngine.from_state(old_form)
    pd.testing.assert_frame_equal(compact.transform(df), listed.transform(df))
    pd.testing.assert_frame_equal(compact.transform(df), engine.transform(df))
    route = listed.row_router()
    for i in (0, 11, 2999):
        released = engine.transform(df.iloc[[i]])[["age", "zip"]].iloc[0].tolist()
        assert route([df.iloc[i]["age"], df.iloc[i]["zip"]]) == released
    assert as_json(AnonymityEngine.from_state(as_json(engine.get_state())).get_state()) == as_json(engine.get_state())
