"""The Train job's entry point: an orchestration-side job script over privml.models (docs/architecture.md, Layers)."""
