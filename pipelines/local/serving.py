"""The seam through which `privml run --local` serves its model artifact: pipelines/ and inference/ do not
import each other.

The local run needs one thing of the serving side: the model artifact served on https loopback the way the
serving container serves it (unpacked as under /opt/ml, the program imported by SAGEMAKER_PROGRAM with the
environment the pipeline gives the model, the run's key material bound). `ServeArtifact` states that as a
protocol owned here, by its user. The serving package provides it and declares it in pyproject.toml as
the entry point `artifact` of the group `privml.endpoints`; `installed_artifact_server()` loads it from
the installed metadata. A caller may hand in another (a test, a different server).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from privml.crypto.keys import KeyProvider
from privml.errors import PrivmlError

ENTRY_POINT_GROUP = "privml.endpoints"
ENTRY_POINT_NAME = "artifact"


class ServedArtifact(Protocol):
    """A served model artifact, for as long as its context is open."""

    @property
    def url(self) -> str: ...  # https://127.0.0.1:PORT, the container contract's routes below it

    @property
    def ca_bundle(self) -> Path: ...  # the CA whose certificate the endpoint presents


class ServeArtifact(Protocol):
    def __call__(self, archive: bytes, environment: Mapping[str, str], *, workspace: Path,
                 key_provider: KeyProvider | None = None) -> AbstractContextManager[ServedArtifact]:
        """Serve `archive` (model.tar.gz) with `environment` (the model's Environment); `key_provider`, when
        given, is the only key material the served model gets. Stops serving when the context exits."""
        ...


def installed_artifact_server() -> ServeArtifact:
    """The implementation the installed packages declare (inference/artifact.py in privml's own)."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=ENTRY_POINT_NAME)
    if not found:
        raise PrivmlError(f"no serving package declares the entry point {ENTRY_POINT_NAME!r} of group "
                          f"{ENTRY_POINT_GROUP!r}, so the model artifact cannot be served; reinstall privml "
                          "(pip install -e . in a clone) so that its package metadata is current")
    return next(iter(found)).load()
