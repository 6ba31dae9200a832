"""privml pipelines layer (see DESIGN.md)."""
