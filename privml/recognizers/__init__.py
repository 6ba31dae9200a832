"""Recognizers: how to tell that a value, or a span of free text, is a personal identifier.

The shapes and checks of each identifier type (`patterns.py`: emails, phones, SSNs, cards, IBANs, IPs,
postcodes; `identifiers.py`: national ids, tax and bank numbers, device ids, secrets, locations, each with
its issuer's checksum), the word lists they lean on (`lexicons.py`) and the spans of PII inside free text
(`text.py`). They import nothing else of privml and sit below the techniques: the `scrub` technique
(privml/transforms/scrub.py) and the scanner (privml/detect/) both stand on them
(docs/architecture.md, Layers). Import the module you need; this package re-exports nothing, so loading
one recognizer never loads the others.
"""
