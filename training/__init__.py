"""privml training layer (see DESIGN.md)."""
