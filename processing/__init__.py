"""The processing jobs' entry points: PrepareKeys, Anonymize, Evaluate (docs/architecture.md, Layers)."""
