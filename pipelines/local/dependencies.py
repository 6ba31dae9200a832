"""Local mode's dependency check: each step's image profile, proved before any job starts.

Local jobs run on this machine's interpreter, so what they import here says nothing about the image. What
does is the check `run --aws` makes: the image profile of each step (processing, training, and the model's
inference image) and pip's resolution of the job requirement set for it — offline against the configured
wheelhouse, or, with no wheelhouse (the Quickstart), against the package index, cached per machine; if the
index cannot be reached the record says "unchecked" and the CLI says so.
"""

from __future__ import annotations

import threading
from typing import Any

from pipelines.wheelhouse import Resolution

_ROLE_OF_STEP = {"Processing": "processing", "Training": "training", "Model": "inference"}


class DependencyCheck:
    """Runs the checks in a thread (the first index resolution on a machine takes a while) while the
    definition is built; `result()` joins it and raises what the check raised."""

    def __init__(self, config: Any) -> None:
        from pipelines.images import require_usable

        self.chosen = require_usable(config)  # an unusable profile is refused at once, naming the field
        self.wheelhouse = config.code.wheelhouse
        self._by_profile: dict[str, Resolution] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="privml-dependency-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from pipelines.wheelhouse import check_profile

        try:
            for role_image in self.chosen.values():
                name = role_image.profile.name
                if name not in self._by_profile:
                    self._by_profile[name] = check_profile(role_image.profile, self.wheelhouse, offline_only=False)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self, definition: dict) -> dict[str, dict[str, Any]]:
        """Per step of the definition: the role, the config field, the profile and how it was checked."""
        from pipelines.local.graph import build_graph

        self._thread.join()
        if self._error is not None:
            raise self._error
        out = {}
        for name, node in build_graph(definition).items():
            role = _ROLE_OF_STEP.get(node.type)
            if role is None:
                continue
            chosen = self.chosen[role]
            resolution = self._by_profile[chosen.profile.name]
            out[name] = {**chosen.to_dict(), "checked": resolution.how, "detail": resolution.detail,
                         "replaces": resolution.replaces, "seconds": resolution.seconds}
        return out

    def unchecked(self) -> list[str]:
        return sorted(name for name, r in self._by_profile.items() if r.how == "unchecked")
