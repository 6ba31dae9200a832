"""Each component owns its internals: outside privml/transforms/, privml/anonymity/ and privml/models/, no
module names a technique, dispatches on a technique's name, or reads the anonymity engine's, the feature
encoder's or the privacy transformer's private state.

What is searched, precisely (the syntax tree of every .py file of the shipped packages privml/, inference/,
processing/, pipelines/ and training/, outside the three owning directories; comments and docstrings
are not code and are not searched):

1. technique classes: an identifier, attribute or imported name equal to the class name of a
   registered technique or of its `Params` (`Generalize`, `GeneralizeParams`, ...);
2. name dispatch: a comparison (`==`, `!=`, `in`, `not in`) or a `match` case of a registered
   technique's name (`"generalize"`, or a tuple/list/set of such strings) against an expression that
   reads an `action` or `name` (`spec.action`, `technique.name`, `spec["action"]`, `spec.get("action")`,
   or a variable so called);
3. engine and encoder state: an attribute, read on anything but `self`/`cls`, named like a fitted
   attribute (`self.<name>_ = ...`) or a private member (`_name`) of AnonymityEngine or FeatureEncoder
   (`tree_`, `labels_`, `levels_`, `hierarchies_`, `axes_`, `onehot_`, `_generalize`, ...), read from
   their source;
4. transformer internals: an attribute, read on anything but `self`/`cls` outside privml/transformer.py,
   named like a private member of PrivacyTransformer (`_technique`, `_context`, ...);
5. transformer state set from outside: an assignment (or `setattr` with a literal name) on anything but
   `self`/`cls` outside privml/transformer.py to a fitted attribute of PrivacyTransformer
   (`anonymity_state_`, `n_rows_out_`, ...): a fit done elsewhere is completed through its public methods.

Benchmarks and tests may inspect internals (they measure and check them) and are not searched.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

from privml.anonymity.engine import AnonymityEngine
from privml.models.features import FeatureEncoder
from privml.transformer import PrivacyTransformer
from privml.transforms import technique_class, technique_names

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("privml", "inference", "processing", "pipelines", "training")
OWNERS = ("privml/transforms/", "privml/anonymity/", "privml/models/")


def _members(cls: type) -> tuple[set[str], set[str]]:
    """(fitted attributes `self.x_ = ...`, private members `_x`) of a class, from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    fitted, private = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
                and isinstance(node.ctx, ast.Store):
            if node.attr.endswith("_") and not node.attr.startswith("_"):
                fitted.add(node.attr)
            elif node.attr.startswith("_") and not node.attr.startswith("__"):
                private.add(node.attr)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("_") \
                and not node.name.startswith("__"):
            private.add(node.name)
    return fitted, private


def _technique_identifiers() -> set[str]:
    names = set()
    for name in technique_names():
        cls = technique_class(name)
        names.add(cls.__name__)
        if cls.Params.__name__ != "NoParams":  # the shared empty model names no technique
            names.add(cls.Params.__name__)
    return names


def _reads_action_or_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("action", "name")
    if isinstance(node, ast.Attribute):
        return node.attr in ("action", "name")
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value in ("action", "name")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        first = node.args[0] if node.args else None
        return isinstance(first, ast.Constant) and first.value in ("action", "name")
    return False


def _technique_strings(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in names
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(isinstance(e, ast.Constant) and e.value in names for e in node.elts)
    return False


def violations(root: Path) -> list[str]:
    """Every place under `root` that breaks one of the module docstring's four rules."""
    technique_ids = _technique_identifiers()
    names = set(technique_names())
    engine_fitted, engine_private = _members(AnonymityEngine)
    encoder_fitted, encoder_private = _members(FeatureEncoder)
    component_state = engine_fitted | engine_private | encoder_fitted | encoder_private
    transformer_fitted, transformer_private = _members(PrivacyTransformer)
    found = []
    for package in SHIPPED:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else ():
            relative = path.relative_to(root).as_posix()
            if relative.startswith(OWNERS) or "/.venv/" in relative:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
            for node in ast.walk(tree):
                where = f"{relative}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Name) and node.id in technique_ids:
                    found.append(f"{where}: names technique class {node.id}")
                elif isinstance(node, ast.alias) and node.name.split(".")[-1] in technique_ids:
                    found.append(f"{where}: imports technique class {node.name}")
                elif isinstance(node, ast.Attribute):
                    on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                    if node.attr in technique_ids:
                        found.append(f"{where}: names technique class {node.attr}")
                    elif not on_self and node.attr in component_state:
                        found.append(f"{where}: reads engine/encoder state .{node.attr}")
                    elif not on_self and node.attr in transformer_private and relative != "privml/transformer.py":
                        found.append(f"{where}: reads PrivacyTransformer's private .{node.attr}")
                    elif not on_self and isinstance(node.ctx, ast.Store) and node.attr in transformer_fitted \
                            and relative != "privml/transformer.py":
                        found.append(f"{where}: sets PrivacyTransformer's fitted .{node.attr}")
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                        and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                        and node.args[1].value in transformer_fitted | transformer_private \
                        and relative != "privml/transformer.py":
                    found.append(f"{where}: sets PrivacyTransformer's .{node.args[1].value}")
                elif isinstance(node, ast.Compare):
                    sides = [node.left, *node.comparators]
                    if any(_technique_strings(s, names) for s in sides) \
                            and any(_reads_action_or_name(s) for s in sides):
                        found.append(f"{where}: dispatches on a technique name")
                elif isinstance(node, ast.Match) and _reads_action_or_name(node.subject):
                    for case in node.cases:
                        if any(isinstance(p, ast.MatchValue) and _technique_strings(p.value, names)
                               for p in ast.walk(case.pattern)):
                            found.append(f"{where}: dispatches on a technique name (match)")
    return sorted(found, key=lambda f: (f.split(":")[0], int(f.split(":")[1])))


def test_rules_are_live(tmp_path: Path) -> None:
    """What the search looks for exists, and each rule fires: a rule over an empty set would pass
    without checking anything."""
    assert {"Generalize", "GeneralizeParams", "Keep", "Redact"} <= _technique_identifiers()
    engine_fitted, engine_private = _members(AnonymityEngine)
    assert {"tree_", "labels_", "levels_", "hierarchies_", "axes_"} <= engine_fitted
    assert "_generalize" in engine_private
    encoder_fitted, _ = _members(FeatureEncoder)
    assert {"onehot_", "numeric_low_", "set_members_", "feature_columns_"} <= encoder_fitted
    assert "_technique" in _members(PrivacyTransformer)[1]
    assert {"anonymity_state_", "n_rows_out_", "column_states_"} <= _members(PrivacyTransformer)[0]
    probe = tmp_path / "privml" / "serving" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "if spec.action == 'generalize': pass\n"
        "if technique.name in ('keep', 'redact'): pass\n"
        "if name == 'keep': pass\n"
        "match spec.get('action'):\n    case 'drop': pass\n"
        "x = engine.tree_\n"
        "y = privacy._technique('c')\n"
        "from privml.transforms.generalize import GeneralizeParams\n"
        "z = self.tree_  # a class's own state is its own\n"
        "transformer.anonymity_state_ = {}\n"
        "setattr(transformer, 'column_states_', {})\n",
        encoding="utf-8",
    )
    found = violations(tmp_path)
    assert [f.split(": ", 1)[1] for f in found] == [
        "dispatches on a technique name", "dispatches on a technique name", "dispatches on a technique name",
        "dispatches on a technique name (match)", "reads engine/encoder state .tree_",
        "reads PrivacyTransformer's private ._technique", "imports technique class GeneralizeParams",
        "sets PrivacyTransformer's fitted .anonymity_state_", "sets PrivacyTransformer's .column_states_",
    ], found


def test_no_module_outside_the_components_knows_their_internals() -> None:
    found = violations(REPO)
    assert not found, "component internals named outside their package:\n" + "\n".join(found)
