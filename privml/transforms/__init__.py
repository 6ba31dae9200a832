"""Anonymization techniques, one module each, registered by name and chosen by the policy's `action`."""

from privml.transforms import (  # noqa: F401 - importing registers each technique
    date_shift,
    drop,
    encrypt,
    generalize,
    keep,
    mask,
    pseudonymize,
    redact,
    scrub,
    tokenize,
)
from privml.transforms.base import Context, Technique, technique_class, technique_names

__all__ = ["Context", "Technique", "technique_class", "technique_names"]
