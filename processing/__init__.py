"""privml processing layer (see DESIGN.md)."""
