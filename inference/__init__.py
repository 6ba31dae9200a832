"""privml inference layer (see DESIGN.md)."""
