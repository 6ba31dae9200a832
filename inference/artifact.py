"""A model artifact served on https loopback as the serving container serves it: the implementation of
the seam `privml run --local` serves its model through (pipelines/local/serving.py, entry point
`artifact` of the group `privml.endpoints`).

model.tar.gz is unpacked into a private directory laid out like /opt/ml, code/ copied, its requirements
checked for an offline install, the program imported by SAGEMAKER_PROGRAM from the copy
(inference.container), served on 127.0.0.1 behind the workspace's TLS certificate (on AWS the SageMaker
front end terminates TLS).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from privml.crypto.keys import KeyProvider


@dataclass(frozen=True)
class ServedContainer:
    url: str
    ca_bundle: Path


@contextmanager
def serve_artifact(archive: bytes, environment: Mapping[str, str], *, workspace: Path,
                   key_provider: KeyProvider | None = None) -> Iterator[ServedContainer]:
    from inference.container import load_artifact, start_container, unpack_artifact
    from inference.handler import bind_key_provider
    from inference.tls import ensure_tls_material

    tls = ensure_tls_material(workspace)
    with tempfile.TemporaryDirectory(prefix="privml-serving-") as base:
        unpack_artifact(archive, Path(base))
        app = load_artifact(Path(base), environment)
        if key_provider is not None:
            # In the container, model_fn binds what the model's Environment names (PRIVML_KEY_PROVIDER=file
            # and the data source's mount); this process is not that container, so bind the same material
            # explicitly rather than let the transformer fall back to this machine's key store.
            bind_key_provider(app.model, key_provider)
        container = start_container(app, certfile=str(tls.certfile), keyfile=str(tls.keyfile))
        try:
            yield ServedContainer(url=container.url, ca_bundle=tls.ca_bundle)
        finally:
            container.stop()
