"""The design lives in the repository: every citation of it in the code resolves.

Docstrings and comments cite `docs/architecture.md` (with a section: "docs/architecture.md, Layers") and
the invariants by number ("invariant 1"). Each cited document must exist, each cited section must be a
heading of it, and each cited invariant must be defined there: four package docstrings once sent the
reader to a design file that was never in the tree.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "architecture.md"
# A path under docs/, or an upper-case name at the top of the tree (README.md); lower-case names
# such as model_card.md are outputs, not citations.
_CITED_DOC = re.compile(r"\b(docs/[\w/-]+\.md|(?:[\w-]+/)*[A-Z][A-Z_]+\.md)\b")
_CITED_SECTION = re.compile(r"docs/architecture\.md,\s+([A-Z][\w' -]*[\w'])")
_CITED_INVARIANT = re.compile(r"\binvariants? (\d)\b", re.IGNORECASE)
_DEFINED_INVARIANT = re.compile(r"^\*\*Invariant (\d)\.\*\*", re.MULTILINE)


def _sources() -> dict[str, str]:
    listed = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=REPO, capture_output=True, check=False)
    names = [n for n in listed.stdout.decode().split("\0") if n] if listed.returncode == 0 else []
    if not names:  # not a git checkout
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*.py") if ".venv" not in p.parts]
    return {name: (REPO / name).read_text(encoding="utf-8") for name in names if (REPO / name).is_file()}


def _headings() -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{2,4} (.+)$", ARCHITECTURE.read_text(), re.MULTILINE)]


def test_every_cited_document_exists() -> None:
    # a citation names a file from the repository's root, or from the citing file's folder (a data folder's notice)
    missing = sorted({f"{name}: {cited}" for name, text in _sources().items() for cited in _CITED_DOC.findall(text)
                      if not (REPO / cited).is_file() and not (REPO / name).parent.joinpath(cited).is_file()})
    assert not missing, "cited documents that are not in the repository:\n" + "\n".join(missing)


def test_every_cited_section_of_the_architecture_is_a_heading() -> None:
    headings = _headings()
    unresolved = []
    for name, text in _sources().items():
        for section in _CITED_SECTION.findall(" ".join(text.split())):
            if not any(h == section or h.startswith(section) for h in headings):
                unresolved.append(f"{name}: {section}")
    assert not unresolved, "sections of docs/architecture.md that do not exist:\n" + "\n".join(unresolved)


def test_every_cited_invariant_is_defined() -> None:
    defined = set(_DEFINED_INVARIANT.findall(ARCHITECTURE.read_text()))
    assert defined == {"1", "2", "3", "4", "5"}, f"docs/architecture.md defines invariants {sorted(defined)}"
    cited = {(name, number) for name, text in _sources().items() for number in _CITED_INVARIANT.findall(text)}
    assert cited, "no module cites an invariant: the pattern no longer matches how the code cites them"
    undefined = sorted(f"{name}: invariant {number}" for name, number in cited if number not in defined)
    assert not undefined, "invariants cited but not defined:\n" + "\n".join(undefined)


def test_the_readme_links_the_architecture() -> None:
    assert "docs/architecture.md" in (REPO / "README.md").read_text(encoding="utf-8")
