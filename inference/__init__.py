"""Serving: the SageMaker handler, the container contract, the local HTTPS endpoint (docs/architecture.md, Layers)."""
