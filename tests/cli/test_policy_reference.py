"""The policy reference comes from the policy model: `privml policy schema` (JSON Schema) and docs/policy.md
(regenerated here; the test fails when the committed file differs). Common mistakes get the right form."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from privml.cli import main
from privml.policy import parse_policy
from privml.policy.schema import EXAMPLE, SECTIONS, policy_json_schema, policy_reference

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "policy.md"


def test_committed_reference_is_what_the_model_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == policy_reference(), (
        "docs/policy.md differs from the policy model: run `privml policy reference -o docs/policy.md`")


def test_check_mode_of_the_command(tmp_path: Path, capsys) -> None:
    assert main(["policy", "reference", "-o", str(DOC), "--check"]) == 0
    stale = tmp_path / "policy.md"
    stale.write_text("old\n")
    assert main(["policy", "reference", "-o", str(stale), "--check"]) == 1
    assert "differs from the policy model" in capsys.readouterr().err


@pytest.mark.parametrize("model", [model for _heading, model, _summary in SECTIONS], ids=lambda m: m.__name__)
def test_every_field_is_described(model: type[BaseModel]) -> None:
    missing = [name for name, field in model.model_fields.items() if not field.description]
    assert not missing, f"{model.__name__}: fields without a description: {missing}"


def test_schema_is_valid_json_schema_and_accepts_the_example(capsys) -> None:
    assert main(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load(EXAMPLE)
    jsonschema.validate(example, schema)
    parse_policy(example)  # the model agrees with its schema on the example
    assert "base_dir" not in schema["properties"]
    action = schema["$defs"]["ColumnPolicy"]["properties"]["action"]
    assert {"keep", "tokenize", "generalize", "mask"} <= set(action["enum"])
    assert "keep_last" in schema["x-privml-actions"]["mask"]["properties"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "anonymity": {"l_diversity": 3}}, schema)


def test_reference_lists_every_field_type_default_and_allowed_value() -> None:
    doc = policy_reference()
    for _heading, model, _summary in SECTIONS:
        for name in model.model_fields:
            if name != "base_dir":
                assert f"| `{name}` |" in doc, name
    assert "| `algorithm` | string | `\"mondrian\"` | `global_recoding`, `mondrian` |" in doc
    assert "| `k` | integer | `5` | >= 1 |" in doc
    assert "### `tokenize` (keyed)" in doc and "### `mask`" in doc
    assert "```yaml\n" + EXAMPLE in doc + "\n"


@pytest.mark.parametrize(("anonymity", "expected"), [
    ({"l_diversity": 3}, "field anonymity.l_diversity: l_diversity takes a mapping, e.g. `l_diversity: {l: 3}`"),
    ({"t_closeness": 0.2}, "t_closeness takes a mapping, e.g. `t_closeness: {t: 0.2}`"),
    ({"l": 3}, "field anonymity.l: l is not a field here; did you mean `l_diversity: {l: ...}`?"),
    ({"suppresion": 0.1}, "suppresion is not a field here; the fields are: algorithm, k, l_diversity"),
    ({"l_diversity": {"kind": "entropy"}}, "field anonymity.l_diversity.l: l is required, e.g. `l_diversity: {l: 3}`"),
])
def test_common_mistakes_get_the_right_form(anonymity: dict, expected: str) -> None:
    from privml.errors import PrivmlError

    with pytest.raises(PrivmlError) as info:
        parse_policy({"columns": {"age": {"role": "quasi_identifier"}}, "anonymity": anonymity}, source="p.yaml")
    assert expected in str(info.value)


def test_a_column_written_as_a_bare_action_gets_the_right_form() -> None:
    from privml.errors import PrivmlError

    with pytest.raises(PrivmlError, match=r"field columns\.age: age takes a mapping, e.g. `\{role: feature"):
        parse_policy({"columns": {"age": "keep"}}, source="p.yaml")
