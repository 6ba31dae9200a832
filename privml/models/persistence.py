"""Saving and loading model pipelines with skops: no pickle, and an explicit list of trusted types.

Loading a pickle runs whatever code the file names. A skops file names the types it contains; `load_model`
reads that list first and refuses the file, before constructing anything, when a type is not one privml
put there itself. skops' own defaults (numpy, builtins, most of scikit-learn) are trusted by skops.

A skops file is a zip: before skops opens it, its directory is checked against fixed bounds (member
count, total uncompressed size, compression ratio), so a zip bomb is refused before anything inflates.
Python's zipfile never inflates a member past the size the directory declares, so the declared sizes
bound what loading can allocate.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

from privml.errors import PrivmlError
from privml.io import atomic_write_bytes

# Types a model pipeline may contain beyond what skops trusts by default.
MODEL_TRUSTED_TYPES: tuple[str, ...] = (
    "privml.models.features.FeatureEncoder",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "diffprivlib.models.logistic_regression.LogisticRegression",
    "diffprivlib.models.naive_bayes.GaussianNB",
    "diffprivlib.models.forest.RandomForestClassifier",
    "diffprivlib.models.forest.DecisionTreeClassifier",
    "privml.models.dp.BoundedDPLinearRegression",
    "sklearn.tree._tree.Tree",
)


def trusted_types() -> list[str]:
    """Every type a privml model file may contain: the model's and the PrivacyTransformer's."""
    from privml.transformer import TRUSTED_TYPES as TRANSFORMER_TYPES

    return sorted({*MODEL_TRUSTED_TYPES, *TRANSFORMER_TYPES})


def dumps_model(obj: Any) -> bytes:
    data = sio.dumps(obj)
    # a model privml could not load back is a bug to catch at save time, not at serving time
    _check_trusted(data, "<model being saved>")
    return data


def save_model(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write `obj` (a fitted pipeline) to `path` with skops, atomically."""
    atomic_write_bytes(path, dumps_model(obj), mode=0o644)


MAX_MEMBERS = 100_000  # a skops file holds one member per array; a large forest has thousands
MAX_UNCOMPRESSED = 1 << 30  # 1 GiB: far above any model privml trains
MAX_RATIO = 500  # uncompressed / compressed over the whole file; deflate itself tops out near 1032


def check_zip_bounds(data: bytes, source: str) -> None:
    """Refuse a skops (zip) file over the bounds above, reading only its central directory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise PrivmlError(f"{source}: not a readable skops model file") from None
    if len(members) > MAX_MEMBERS:
        raise PrivmlError(f"{source}: model file has more than {MAX_MEMBERS} members")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED:
        raise PrivmlError(f"{source}: model file would inflate past {MAX_UNCOMPRESSED >> 20} MiB")
    compressed = max(sum(m.compress_size for m in members), 1)
    if total > (1 << 20) and total / compressed > MAX_RATIO:
        raise PrivmlError(f"{source}: model file's compression ratio exceeds {MAX_RATIO}:1 (a zip bomb?)")


def _check_trusted(data: bytes, source: str) -> list[str]:
    check_zip_bounds(data, source)
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt or non-skops file raises zipfile/json/key errors
        raise PrivmlError(f"{source}: not a readable skops model file ({type(exc).__name__})") from None
    allowed = set(trusted_types())
    refused = sorted(t for t in found if t not in allowed)
    if refused:
        raise PrivmlError(f"{source}: refusing to load a model with untrusted types: {', '.join(refused)}")
    return [t for t in found if t in allowed]


def loads_model(data: bytes, source: str = "<bytes>") -> Any:
    trusted = _check_trusted(data, source)
    try:
        return sio.loads(data, trusted=trusted)
    except PrivmlError:
        raise
    except Exception as exc:
        raise PrivmlError(f"{source}: cannot load model ({type(exc).__name__})") from None


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model file written by `save_model`; refuses any type outside `trusted_types()`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PrivmlError(f"{path}: cannot read model file ({type(exc).__name__})") from None
    return loads_model(data, str(path))
