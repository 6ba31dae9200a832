"""Imports run one way, downward (issue 18 item 4), checked on the real import graph.

The graph is read with `ast` from every module of the five packages: `import` and `from ... import`
statements anywhere in a module (inside functions too: most imports here are deferred), plus every string
constant that is exactly the dotted name of one of our modules (a module named for `import_module`,
`find_spec` or a registration list is an arrow like any import). The layer table below is the rule; a
module that no layer claims fails the test, so a new package cannot slip past it. No two modules import
each other, by any chain of imports (module-level or inside functions), in any package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("privml", "pipelines", "inference", "processing", "training")

# Layers from the bottom: a unit may import its own layer and the layers below, never one above.
# (layer, units, why it sits there)
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("foundation", ("privml", "privml.errors", "privml.io", "privml.workspace"),
     "typed errors, table and atomic I/O, workspace paths: everything stands on them, they on nothing of privml"),
    ("crypto", ("privml.crypto",),
     "keys and encryption know no privacy technique, policy or model: the techniques and the stores use them"),
    ("recognizers", ("privml.recognizers",),
     "what an identifier looks like (shapes, checksums, word lists, PII spans in free text): the scrub "
     "technique and the scanner both use them, so they sit below both and know neither"),
    ("core", ("privml.transforms", "privml.anonymity", "privml.detect", "privml.policy", "privml.models",
              "privml.serving", "privml.transformer", "privml.report", "privml.anonymize", "privml.anonymize_stream",
              "privml.key_needs",
              "privml.sampledata", "privml.spark"),
     "the privacy library: what the jobs, the endpoint and the CLI all run; it orchestrates nothing"),
    ("cli", ("privml.cli", "privml.__main__"),
     "the command line over the library; the orchestration's commands reach it as entry points, not imports"),
    ("orchestration", ("processing", "training", "inference", "pipelines"),
     "job entry points, serving, the pipeline and its local executor: the library's users, above the CLI"),
]

# Units of one layer that must not import each other: (importer, imported, why).
SEPARATE: list[tuple[str, str, str]] = [
    ("pipelines", "inference",
     "the local run serves its model through a seam (pipelines/local/serving.py), not through serving code"),
    ("inference", "pipelines",
     "inference ships in the job wheel and the serving image, where pipelines/ is not installed"),
    ("processing", "pipelines", "a processing job runs with the privml wheel only"),
    ("processing", "inference", "a processing job runs with the privml wheel only"),
    ("training", "pipelines", "the training job runs with the privml wheel only"),
]

# Layers inside privml.crypto, from the bottom, as cryptography's hazmat sits under its recipes: a
# primitive never imports a service.
CRYPTO_LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("primitives", ("privml.crypto", "privml.crypto.context", "privml.crypto.keys", "privml.crypto.kdf",
                    "privml.crypto.key_names", "privml.crypto.raw_aes", "privml.crypto.message",
                    "privml.crypto.streams"),
     "formats and transforms of bytes under a given key: no key store, no account, no workspace"),
    ("recipes", ("privml.crypto.envelope",),
     "encrypt and decrypt over the primitives, given any KeyProvider"),
    ("services", ("privml.crypto.keystore", "privml.crypto.local_kms", "privml.crypto.aws_kms",
                  "privml.crypto.key_file", "privml.crypto.providers", "privml.crypto.objectstore",
                  "privml.crypto.bucket_policy"),
     "who holds the keys and where data rests: key stores, KMS clients, object stores"),
]

# Arrows that are known and owned by another change; each must still exist (so the list cannot go stale).
KNOWN_ARROWS: dict[tuple[str, str], str] = {
    ("privml.models.training", "inference.privml_inference"):
        "finds the serving program's source by module name (find_spec) to ship it in model.tar.gz; "
        "the job bundle should hand it in (issue 18 item 5, the job runner)",
}



def _layer(name: str) -> tuple[str, ...]:
    """The units of the layer called `name` in LAYERS."""
    return next(units for layer, units, _ in LAYERS if layer == name)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources_under(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    return {_module_name(root, path): path for package in packages
            for path in sorted((root / package).rglob("*.py"))}


@cache
def _sources() -> dict[str, Path]:
    return _sources_under(ROOT, PACKAGES)


def _imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every module name this module imports or names; relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in modules:  # a bare package name ("training") is too often a plain word
            yield node.value


def _read_graph(modules: dict[str, Path]) -> dict[str, frozenset[str]]:
    """module -> the modules of `modules` it imports (by prefix: `pipelines` counts for pipelines.x)."""
    edges = {}
    for module, path in modules.items():
        targets = set()
        for name in _imported(module, path, modules):
            hit = next((candidate for candidate in _prefixes(name) if candidate in modules), None)
            if hit is not None and hit != module:
                targets.add(hit)
        edges[module] = frozenset(targets)
    return edges


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the modules of our packages it imports."""
    return _read_graph(_sources())


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _claim(module: str, table: list[tuple[str, tuple[str, ...], str]]) -> tuple[int, str] | None:
    """(rank, unit) of the most specific unit of `table` that holds the module."""
    best = None
    for rank, (_, units, _) in enumerate(table):
        for unit in units:
            if (module == unit or module.startswith(f"{unit}.")) and (best is None or len(unit) > len(best[1])):
                best = (rank, unit)
    return best


def _arrows() -> Iterator[tuple[str, str]]:
    for importer, targets in graph().items():
        for imported in targets:
            yield importer, imported


def test_the_graph_is_read() -> None:
    edges = graph()
    assert len(edges) > 150
    assert "privml.errors" in edges["privml.crypto.envelope"]
    assert "pipelines.local.executor" in edges["pipelines.local.run_local"]  # a module-level import
    assert "privml.models.estimators" in edges["pipelines.local.run_local"]  # one inside a function


def test_every_module_has_a_layer() -> None:
    loose = sorted(module for module in graph() if _claim(module, LAYERS) is None)
    assert loose == [], "place these in LAYERS (tests/test_layers.py)"
    crypto = sorted(m for m in graph() if m.startswith("privml.crypto") and _claim(m, CRYPTO_LAYERS) is None)
    assert crypto == [], "place these in CRYPTO_LAYERS"


def test_imports_run_downward() -> None:
    upward = []
    for importer, imported in _arrows():
        (low, _), (high, _) = _claim(importer, LAYERS), _claim(imported, LAYERS)
        if high > low and (importer, imported) not in KNOWN_ARROWS:
            upward.append(f"{importer} ({LAYERS[low][0]}) -> {imported} ({LAYERS[high][0]})")
    assert sorted(upward) == []


def test_the_library_imports_no_orchestration() -> None:
    """The rule the layer table makes above, said for the case that matters most."""
    orchestration = _layer("orchestration")
    arrows = sorted(f"{a} -> {b}" for a, b in _arrows() if a.split(".")[0] == "privml"
                    and b.split(".")[0] in orchestration and (a, b) not in KNOWN_ARROWS)
    assert arrows == []


@pytest.mark.parametrize(("importer", "imported", "reason"), SEPARATE, ids=[f"{a}-{b}" for a, b, _ in SEPARATE])
def test_separate_units_do_not_import_each_other(importer: str, imported: str, reason: str) -> None:
    arrows = sorted(f"{a} -> {b}" for a, b in _arrows()
                    if _claim(a, LAYERS)[1] == importer and _claim(b, LAYERS)[1] == imported)
    assert arrows == [], reason


def test_crypto_primitives_never_import_services() -> None:
    upward = []
    for importer, imported in _arrows():
        if not (importer.startswith("privml.crypto") and imported.startswith("privml.crypto")):
            continue
        (low, _), (high, _) = _claim(importer, CRYPTO_LAYERS), _claim(imported, CRYPTO_LAYERS)
        if high > low:
            upward.append(f"{importer} ({CRYPTO_LAYERS[low][0]}) -> {imported} ({CRYPTO_LAYERS[high][0]})")
    assert sorted(upward) == []


def test_crypto_primitives_stand_on_the_foundation_only() -> None:
    """No workspace, no key store: a primitive works on bytes it is given."""
    primitives = CRYPTO_LAYERS[0][1]
    arrows = sorted(f"{a} -> {b}" for a, b in _arrows()
                    if a in primitives and not b.startswith("privml.crypto") and b != "privml.errors")
    assert arrows == []


def test_known_arrows_still_exist() -> None:
    """An exception that no longer occurs must leave KNOWN_ARROWS."""
    arrows = set(_arrows())
    assert [arrow for arrow in KNOWN_ARROWS if arrow not in arrows] == []


def _units_in_a_cycle_with(unit: str) -> set[str]:
    """The other core units that `unit` reaches and that reach it back (its strongly connected component)."""
    core = _layer("core")

    def unit_of(module: str) -> str | None:
        claimed = _claim(module, LAYERS)
        return claimed[1] if claimed and claimed[1] in core else None

    unit_edges: dict[str, set[str]] = {u: set() for u in core}
    for importer, imported in _arrows():
        a, b = unit_of(importer), unit_of(imported)
        if a and b and a != b:
            unit_edges[a].add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in unit_edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    return {other for other in reach(unit) if other != unit and unit in reach(other)}


@pytest.mark.parametrize("unit", _layer("core"))
def test_core_unit_is_in_no_import_cycle(unit: str) -> None:
    assert sorted(_units_in_a_cycle_with(unit)) == []


def _module_cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The groups of modules that import each other by some chain of imports (strongly connected
    components of more than one module), each sorted, sorted by their first module."""
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    groups = {frozenset({m, *(o for o in reach[m] if m in reach[o])}) for m in edges if m in reach[m]}
    return sorted(sorted(group) for group in groups if len(group) > 1)


def test_no_two_modules_import_each_other() -> None:
    """Inside a unit as between units (privml.models.features built its RowEncoder with a lazy import
    of privml.models.row_encoder, which imported the label helpers back from features): a module can
    be read knowing only the modules below it."""
    assert _module_cycles(graph()) == []


def test_the_cycle_check_sees_module_level_and_lazy_imports(tmp_path: Path) -> None:
    """The same reading as the real graph, on a package made here: a cycle closed by an import inside a
    function, or under TYPE_CHECKING, is a cycle."""
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "encoder.py").write_text("from probe.labels import MISSING\n\n\n"
                                        "def rows():\n    from probe.rows import Rows\n\n    return Rows\n")
    (package / "rows.py").write_text("from typing import TYPE_CHECKING\n\nfrom .labels import MISSING\n\n"
                                     "if TYPE_CHECKING:\n    from probe.encoder import Encoder\n")
    (package / "labels.py").write_text('MISSING = "<missing>"\n')
    (package / "lazy.py").write_text("def later():\n    import probe.eager\n")
    (package / "eager.py").write_text("from probe import lazy\n")
    edges = _read_graph(_sources_under(tmp_path, ("probe",)))
    assert edges["probe.rows"] >= {"probe.labels", "probe.encoder"}
    assert _module_cycles(edges) == [["probe.eager", "probe.lazy"], ["probe.encoder", "probe.rows"]]
    (package / "rows.py").write_text("from .labels import MISSING\n")
    (package / "lazy.py").write_text("")
    assert _module_cycles(_read_graph(_sources_under(tmp_path, ("probe",)))) == []


def test_recognizers_import_nothing_else_of_privml() -> None:
    """Below the techniques and the scanner, they stand on the standard library and pandas alone; an
    import of privml.detect or privml.transforms here would close the cycle the move removed."""
    assert "privml.recognizers.lexicons" in graph()["privml.recognizers.text"]  # the unit is read
    arrows = sorted(f"{a} -> {b}" for a, b in _arrows()
                    if a.startswith("privml.recognizers") and not b.startswith("privml.recognizers"))
    assert arrows == []


def test_every_command_reaches_the_cli_in_its_place() -> None:
    """The commands of pipelines/ and inference/ arrive as entry points (no import from privml.cli), and
    `privml --help` lists every command where it stood when privml.cli imported them itself."""
    import argparse
    from importlib.metadata import entry_points

    from privml.cli import COMMAND_GROUP, build_parser

    declared = {entry.value for entry in entry_points(group=COMMAND_GROUP)}
    assert declared == {"pipelines.cli:register", "pipelines.run_cli:register", "pipelines.images_cli:register",
                        "inference.cli:register", "pipelines.deploy_cli:register", "inference.cli:register_invoke"}
    before = ["sample-data", "scan", "anonymize", "reidentify", "risk", "keys", "encrypt", "decrypt",
              "pipeline", "audit", "iam-policy", "run", "runs", "image", "wheelhouse",
              "serve", "credentials", "capture", "deploy", "invoke"]  # `privml --help` at 18cb8a8
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert [name for name in sub.choices if name in before] == before  # commands added since may sit anywhere


def test_a_command_group_whose_package_is_absent_is_left_out(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """A privml without orchestration installed keeps its library commands; a broken import inside an
    installed group is not hidden."""
    import argparse
    from importlib.metadata import EntryPoint, EntryPoints

    import privml.cli as cli

    def commands(entries: list[EntryPoint]) -> list[str]:
        monkeypatch.setattr(cli, "entry_points", lambda group: EntryPoints(entries))
        sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        return list(sub.choices)

    absent = EntryPoint("40-absent", "privml_no_such_package.cli:register", cli.COMMAND_GROUP)
    listed = commands([absent, EntryPoint("50-run", "pipelines.run_cli:register", cli.COMMAND_GROUP)])
    assert listed[-2:] == ["run", "runs"] and "pipeline" not in listed
    (tmp_path / "privml_layers_probe.py").write_text("import privml_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = EntryPoint("40-broken", "privml_layers_probe:register", cli.COMMAND_GROUP)
    with pytest.raises(ModuleNotFoundError, match="privml_absent_dependency"):
        commands([broken])


def test_run_local_finds_its_server_through_the_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoints

    import pipelines.local.serving as serving
    from inference.artifact import serve_artifact
    from privml.errors import PrivmlError

    assert serving.installed_artifact_server() is serve_artifact
    monkeypatch.setattr(serving, "entry_points", lambda group, name: EntryPoints([]))
    with pytest.raises(PrivmlError, match="reinstall privml"):
        serving.installed_artifact_server()
