"""The serving program of the model artifact: shipped as `code/privml_inference.py`, named by
`SAGEMAKER_PROGRAM=privml_inference.py`.

How the scikit-learn serving image loads it (sagemaker-containers 2.8.6 `_modules.import_module`, read
from the toolkit's source): it copies `SAGEMAKER_SUBMIT_DIRECTORY` (/opt/ml/model/code) to /opt/ml/code,
writes a `setup(packages=[''])` there and runs `pip install . -r requirements.txt` in it, then imports
the module by name. So the name must be one nothing installed shadows (the privml wheel installs a
top-level `inference` package: `inference.py` would import that package, not this file), and privml
itself must come from the `requirements.txt` and `wheels/` beside this file (offline: `--no-index`),
because nothing else in code/ survives the copy and install.

It exports `model_fn` and `transform_fn` (and `respond`, which the privml image's container server,
inference/container.py, calls directly): the scikit-learn container refuses `transform_fn` next
to `input_fn`/`predict_fn`/`output_fn`, and only a `transform_fn` decides the response's status. With
the separate functions the toolkit maps nothing but its own UnsupportedFormatError to a 4xx; every
other exception becomes a 500 with Flask's traceback in the log, where an exception message could quote
a request value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _installed_before_vendored() -> None:
    """sagemaker-containers starts gunicorn with `--pythonpath` set to its own sys.path, which
    pkg_resources has extended with setuptools' `_vendor` directory; gunicorn puts each entry it lacks
    first, so setuptools' old vendored copies (typing_extensions, without what pydantic-core imports)
    would shadow the installed packages privml needs. Vendored directories go last again."""
    vendored = [entry for entry in sys.path if Path(entry).parts[-2:] == ("setuptools", "_vendor")]
    for entry in vendored:
        sys.path.remove(entry)
        sys.path.append(entry)
    loaded = sys.modules.get("typing_extensions")
    if vendored and loaded is not None and "_vendor" in Path(getattr(loaded, "__file__", "") or "").parts:
        del sys.modules["typing_extensions"]


_installed_before_vendored()

from inference.handler import model_fn, respond  # noqa: E402 - after the path fix above

__all__ = ["model_fn", "respond", "transform_fn"]


def transform_fn(model: Any, body: bytes | str, content_type: str, accept: str) -> Any:
    """One /invocations request → sagemaker-containers' Flask response, with the status `respond` chose.
    (Single-model endpoints of the scikit-learn images serve through sagemaker-containers; the privml
    image's server calls `respond` itself.)"""
    from sagemaker_containers.beta.framework import worker

    reply = respond(model, body, content_type, accept)
    return worker.Response(response=reply.body, status=reply.status, mimetype=reply.content_type)
