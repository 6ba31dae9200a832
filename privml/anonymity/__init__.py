"""Anonymity over the quasi-identifiers: privacy models (k-anonymity, l-diversity, t-closeness),
algorithms (optimal full-domain generalization over hierarchies, strict Mondrian), and the risk and
utility measures of the released table. `AnonymityEngine` (engine.py) is the entry point."""
