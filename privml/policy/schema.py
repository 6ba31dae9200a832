"""The policy's reference, generated from the policy model itself: JSON Schema and docs/policy.md.

`policy_json_schema()` is pydantic's `model_json_schema` of `Policy` with the allowed actions filled in
(the action registry of privml.transforms) and each action's parameters under `x-privml-actions`.
`policy_reference()` renders the same source as Markdown: every field with its type, default, allowed
values and description, the actions and their parameters, and an example that `parse_policy` accepts
(tests/cli/test_policy_reference.py regenerates docs/policy.md and fails when the committed file differs).
Regenerate with `privml policy reference -o docs/policy.md`.
"""

from __future__ import annotations

import copy
import json
import textwrap
from typing import Any

from pydantic import BaseModel

from privml.policy import (
    AnonymityPolicy,
    ColumnPolicy,
    CustomRecognizerPolicy,
    DetectionPolicy,
    DifferentialPrivacyPolicy,
    Policy,
)
from privml.policy.anonymity import LDiversity, TCloseness
from privml.policy.mistakes import RIGHT_FORM
from privml.policy.model_privacy import ModelPrivacyPolicy

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INTERNAL_FIELDS = {"base_dir"}  # set by the loader, never written in a policy

# Each section of the reference: its heading (the YAML path), the model, and one line on what it is.
SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("policy (top level)", Policy, "The file: a YAML mapping."),
    ("columns.NAME", ColumnPolicy, "One entry per column of the table, under the column's name."),
    ("anonymity", AnonymityPolicy,
     "Privacy model targets over the quasi-identifier columns; `anonymize` refuses (exit 1, nothing written) "
     "when they cannot be met."),
    ("anonymity.l_diversity", LDiversity, "l-diversity of each sensitive column within each class."),
    ("anonymity.t_closeness", TCloseness, "t-closeness of each sensitive column within each class."),
    ("model_privacy", ModelPrivacyPolicy,
     "Privacy targets of the trained model: Evaluate's membership-inference audit fails the gate above them."),
    ("differential_privacy", DifferentialPrivacyPolicy,
     "For a differentially private model (`ModelKind=dp_*`): the share of ε spent finding the bounds and "
     "categories the columns do not declare; the model spends the rest, so the run spends exactly ε."),
    ("detection", DetectionPolicy, "For `privml scan --rules FILE`: an organisation's own identifiers."),
    ("detection.recognizers[]", CustomRecognizerPolicy, "One custom identifier type."),
]

EXAMPLE = """\
version: 1
keys:
  tokens: alias/privml-tokens          # a key id, ARN or alias; never key material
columns:
  patient_id: {role: identifier, action: tokenize, key: tokens}
  name: {role: identifier, action: drop}
  age: {role: quasi_identifier, action: keep, hierarchy: hierarchies/age.csv}   # relative to this file
  sex: {role: quasi_identifier, action: keep}
  zip_code: {role: quasi_identifier, action: mask, params: {keep_first: 3}}
  diagnosis: {role: sensitive, action: keep}
  income: {role: feature, action: keep, bounds: [0, 500000]}
  readmitted: {role: label, action: keep}
unlisted_columns: drop
anonymity:
  algorithm: mondrian
  k: 5
  l_diversity: {l: 3}
  t_closeness: {t: 0.3}
  max_suppression: 0.02
  max_risk: 0.2
"""


def _actions() -> dict[str, type[BaseModel]]:
    from privml.transforms import technique_class, technique_names

    return {name: technique_class(name).Params for name in technique_names()}


def _needs_key(name: str) -> bool:
    from privml.transforms import technique_class

    return bool(technique_class(name).needs_key)


def policy_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a policy file."""
    schema = copy.deepcopy(Policy.model_json_schema(mode="validation"))
    for name in _INTERNAL_FIELDS:
        schema.get("properties", {}).pop(name, None)
    actions = _actions()
    column = schema["$defs"]["ColumnPolicy"]["properties"]
    column["action"]["enum"] = sorted(actions)
    schema["x-privml-actions"] = {name: params.model_json_schema() for name, params in actions.items()}
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "privml-policy-v1", **schema}


# -- Markdown -----------------------------------------------------------------------------------------
def _type_text(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return "mapping" if name not in defs or defs[name].get("type") == "object" else _type_text(defs[name], defs)
    if "anyOf" in prop:
        kinds = [_type_text(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        optional = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(dict.fromkeys(kinds)) + (" (optional)" if optional else "")
    kind = prop.get("type", "any")
    if ("enum" in prop or "const" in prop) and "type" not in prop:
        values = prop.get("enum", [prop.get("const")])
        kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    if kind == "array":
        if "prefixItems" in prop:
            return f"list of {len(prop['prefixItems'])} numbers"
        return f"list of {_type_text(prop.get('items', {}), defs)}s"
    if kind == "object":
        values = prop.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"mapping of name to {_type_text(values, defs)}"
        return "mapping"
    return {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean"}.get(kind, kind)


def _allowed(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "enum" in prop:
        return ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        if "enum" in target:
            return ", ".join(f"`{v}`" for v in target["enum"])
    if "anyOf" in prop:
        return "; ".join(a for a in (_allowed(p, defs) for p in prop["anyOf"]) if a)
    bounds = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in prop:
            bounds.append(f"{sign} {prop[key]:g}")
    if "pattern" in prop:
        bounds.append(f"matches `{prop['pattern']}`")
    if "maxLength" in prop:
        bounds.append(f"at most {prop['maxLength']} characters")
    return ", ".join(bounds)


def _default(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return "none"
    return f"`{json.dumps(value.value if hasattr(value, 'value') else value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_table(model: type[BaseModel], extra_allowed: dict[str, str] | None = None) -> list[str]:
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    rows = ["| field | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        if name in _INTERNAL_FIELDS:
            continue
        prop = schema["properties"][name]
        allowed = (extra_allowed or {}).get(name) or _allowed(prop, defs) or "—"
        rows.append(f"| `{name}` | {_cell(_type_text(prop, defs))} | {_cell(_default(model, name))} | "
                    f"{_cell(allowed)} | {_cell(field.description or '—')} |")
    return rows


def _params_table(params: type[BaseModel]) -> list[str]:
    if not params.model_fields:
        return ["No parameters."]
    return _field_table(params)


def policy_reference() -> str:
    """docs/policy.md: the policy format, generated from the model."""
    actions = _actions()
    lines = [
        "# The policy file",
        "",
        "<!-- Generated from the policy model by `privml policy reference -o docs/policy.md`; do not edit by hand "
        "(tests/cli/test_policy_reference.py fails when this file and the model differ). -->",
        "",
        "A policy says, for each column of a table, what it is (`role`) and what happens to it (`action`), and",
        "which privacy targets the anonymized table must meet (`anonymity`). `privml scan FILE --policy-out",
        "policy.yaml` proposes one; `privml policy schema` prints the same format as JSON Schema (for editors",
        "and validators). Paths in a policy (`hierarchy`, `population`) are relative to the policy file.",
        "Unknown fields are errors: a misspelt field never passes silently.",
        "",
        "## Example",
        "",
        "```yaml",
        EXAMPLE.rstrip("\n"),
        "```",
        "",
    ]
    for heading, model, summary in SECTIONS:
        extra = {"action": ", ".join(f"`{a}`" for a in sorted(actions))} if model is ColumnPolicy else None
        lines += [f"## `{heading}`", "", summary, "", *_field_table(model, extra), ""]
    lines += [
        "## Actions and their `params`",
        "",
        "The `action` of a column and the `params` it takes. Actions marked *keyed* need `key:` naming an entry",
        "of `keys:` (their secrets are derived from that key; the policy never holds key material).",
        "",
    ]
    for name, params in actions.items():
        keyed = " (keyed)" if _needs_key(name) else ""
        doc = textwrap.dedent(params.__doc__ or "").strip()
        lines += [f"### `{name}`{keyed}", ""]
        if doc and not doc.startswith(("Usage docs:", "!!! abstract")):
            lines += [doc, ""]
        lines += [*_params_table(params), ""]
    lines += [
        "## Common mistakes",
        "",
        "Each is an error (exit 2) that names the field and gives the right form:",
        "",
        "| field | right form |",
        "| --- | --- |",
        *[f"| `{field}` | {_cell(form)} |" for field, form in RIGHT_FORM.items()],
        "",
    ]
    return "\n".join(lines)
