"""The SageMaker SDK's telemetry, switched off whenever privml drives the SDK.

The SDK sends the account id, the feature used and failure reasons to an AWS URL unless the SDK
defaults config sets `TelemetryOptOut`. A privacy tool sends nothing home, so privml does both:
every session it builds carries `TelemetryOptOut: true`, and the SDK's sender is replaced by one
that drops the event — for the SDK objects that fall back to a default session privml never saw.
"""

from __future__ import annotations

import copy
from typing import Any


def with_telemetry_opt_out(sdk_config: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of an SDK defaults config (as `load_sagemaker_config()` returns it) with telemetry off."""
    config = copy.deepcopy(sdk_config) if sdk_config else {}
    config.setdefault("SchemaVersion", "1.0")
    modules = config.setdefault("SageMaker", {}).setdefault("PythonSDK", {}).setdefault("Modules", {})
    modules["TelemetryOptOut"] = True
    return config


def _drop_event(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for the SDK's sender: the event goes nowhere."""


def disable_sdk_telemetry() -> None:
    """Replace the SDK's telemetry senders with a no-op (idempotent; lasts for the process)."""
    from sagemaker.core.telemetry import telemetry_logging

    telemetry_logging._send_telemetry_request = _drop_event
    telemetry_logging._send_telemetry_request_sync = _drop_event
