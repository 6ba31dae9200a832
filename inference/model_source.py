"""Where the endpoint's model comes from: a directory, model.skops, model.tar.gz or an s3:// URI in the
local object store, read into memory (nothing decrypted is written to disk) within fixed bounds."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from inference.handler import check_model
from privml.errors import PrivmlError
from privml.models import archive

MODEL_FILE = "model.skops"


def _skops_from_archive(source_file: Any, compressed_size: int, source: str) -> bytes:
    """model.skops out of a model.tar.gz, read as a stream within the bounds of privml/models/archive.py
    (the Evaluate job reads its archive with the same reader). Nothing decrypted is written to disk."""
    return archive.read_members(source_file, compressed_size, source, (MODEL_FILE,))[MODEL_FILE]


def _model_bytes_from_store(uri: str, workspace: Path) -> bytes:
    """The model from the local object store: a model.tar.gz object or a model directory prefix."""
    from privml.crypto.objectstore import LocalObjectStore

    store = LocalObjectStore.open(workspace)
    candidates = [uri] if not uri.endswith("/") else []
    candidates.append(uri.rstrip("/") + "/" + MODEL_FILE)
    for candidate in candidates:
        try:
            data = store.get_bytes(candidate)
        except PrivmlError:
            continue
        return data if candidate.endswith(MODEL_FILE) else _skops_from_archive(io.BytesIO(data), len(data), uri)
    raise PrivmlError(f"model not found in the local object store: {uri}")


def model_bytes(model: str | os.PathLike[str], workspace: Path) -> tuple[bytes, str]:
    """The skops bytes of a model given as a directory, model.skops, model.tar.gz or s3:// URI."""
    text = str(model)
    if text.startswith("s3://"):
        return _model_bytes_from_store(text, workspace), text
    path = Path(text)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise PrivmlError(f"model not found: {text}")
    if path.stat().st_size > (archive.MAX_MODEL_BYTES if path.name.endswith(".skops") else archive.MAX_ARCHIVE_BYTES):
        raise PrivmlError(f"{text}: model file is too large")
    if path.name.endswith(".skops"):
        return path.read_bytes(), text
    with path.open("rb") as fh:
        return _skops_from_archive(fh, path.stat().st_size, text), text


def load_endpoint_model(model: Any, workspace: Path) -> Any:
    """`model` is a location (see `model_bytes`) or an already loaded Pipeline; either way it is checked
    to start with the privacy step."""
    if isinstance(model, str | os.PathLike):
        from privml.models.persistence import loads_model

        data, source = model_bytes(model, workspace)
        return check_model(loads_model(data, source))
    return check_model(model, require_privacy_transformer=False)
