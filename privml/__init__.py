"""privml: privacy preprocessing, private training and encrypted serving for personal data."""

__version__ = "0.1.0"
