"""Where privml keeps its local state: key store, object store, run records, credentials."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PRIVML_WORKSPACE"


def workspace_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace directory: the explicit argument, else $PRIVML_WORKSPACE, else ./.privml."""
    raw = explicit or os.environ.get(ENV_VAR) or ".privml"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
