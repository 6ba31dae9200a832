"""Validation errors in the policy's own terms: the field, what is wrong, and the right form.

pydantic says "Input should be a valid dictionary or instance of LDiversity" for `l_diversity: 3`; a
person needs "l_diversity takes a mapping, e.g. `l_diversity: {l: 3}`". `explain` turns the first error of
a policy's validation into such a message, from the location and the model the location points into.
Messages quote field names and the policy's own spelling, never a value from the data.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

# The right form of the fields people most often write as a bare value, by the field's location
# (`*` is any column name).
RIGHT_FORM = {
    "anonymity": "`anonymity: {k: 5}`",
    "anonymity.l_diversity": "`l_diversity: {l: 3}` (optional `kind: distinct | entropy | recursive`; "
                             "`c` with recursive)",
    "anonymity.t_closeness": "`t_closeness: {t: 0.2}` (optional `distance: equal | ordered`)",
    "columns": "`columns: {age: {role: quasi_identifier, action: generalize}}`",
    "columns.*": "`{role: feature, action: keep}` under the column's name",
    "columns.*.params": "`params: {keep_last: 4}` (each action's parameters: docs/policy.md)",
    "columns.*.bounds": "`bounds: [0, 120]` ([min, max])",
    "columns.*.categories": "`categories: [a, b, c]`",
    "columns.*.range": "`range: [0, 1000000]` ([min, max], public)",
    "differential_privacy": "`differential_privacy: {bounds_share: 0.1, categories_share: 0.1}`",
    "keys": "`keys: {tokens: alias/privml-tokens}` (a name, then a key id, ARN or alias)",
    "detection": "`detection: {recognizers: [...], allow: [...], deny: [...]}`",
    "model_privacy": "`model_privacy: {max_membership_advantage: 0.1}`",
    "detection.recognizers": "`recognizers: [{name: employee_id, regex: 'EMP-\\d{6}'}]`",
}
# A field written where another was meant: the name people use, and the field it belongs in.
MEANT = {
    "anonymity.l": "l_diversity: {l: ...}",
    "anonymity.t": "t_closeness: {t: ...}",
    "anonymity.suppression": "max_suppression",
    "anonymity.k_anonymity": "k",
    "anonymity.diversity": "l_diversity: {l: ...}",
    "anonymity.l-diversity": "l_diversity: {l: ...}",
    "anonymity.t-closeness": "t_closeness: {t: ...}",
    "columns.*.hierarchy_path": "hierarchy",
    "columns.*.type": "dtype (or role)",
    "columns.*.method": "action",
    "columns.*.technique": "action",
}
_SHAPE_ERRORS = {"dict_type", "model_type", "model_attributes_type", "list_type", "tuple_type"}
_SHAPE_WORDS = {"dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
                "list_type": "a list", "tuple_type": "a list"}


def _pattern(loc: tuple[Any, ...]) -> str:
    """`columns.age.params` -> `columns.*.params` (a column name is any name)."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "columns":
        parts[1] = "*"
    return ".".join(parts)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly or through Optional, dict values or list items."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, dict, list):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose field the last part of `loc` names (None if the path leaves the models)."""
    current: type[BaseModel] | None = root
    for part in loc[:-1]:
        if current is None:
            return None
        if isinstance(part, int) or part not in current.model_fields:
            continue  # a dict key (column name) or a list index: stay on the container's item model
        current = _inner_model(current.model_fields[part].annotation)
    return current


def explain(error: Any, root: type[BaseModel]) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) in the policy's terms."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    pattern = _pattern(loc)
    name = str(loc[-1]) if loc else "policy"
    if kind in _SHAPE_ERRORS and pattern in RIGHT_FORM:
        return f"{name} takes {_SHAPE_WORDS[kind]}, e.g. {RIGHT_FORM[pattern]}"
    if kind == "extra_forbidden":
        if pattern in MEANT:
            return f"{name} is not a field here; did you mean `{MEANT[pattern]}`?"
        model = model_at(root, loc)
        if model is not None:
            fields = ", ".join(n for n, f in model.model_fields.items() if not f.exclude)
            return f"{name} is not a field here; the fields are: {fields}"
    if kind == "missing" and len(loc) >= 1:
        parent = _pattern(loc[:-1])
        if parent in RIGHT_FORM:
            return f"{name} is required, e.g. {RIGHT_FORM[parent]}"
    return message
