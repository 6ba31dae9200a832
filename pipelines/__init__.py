"""Orchestration: the SageMaker definition, its audit and IAM, and the local executor (docs/architecture.md, Layers)."""
