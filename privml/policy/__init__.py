"""The policy file: what each column is and what happens to it.

A policy is YAML validated by pydantic. Errors name the file, the field and what is allowed.
Keys are referenced by id or alias under `keys:`; key material never appears in a policy.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from privml.errors import PrivmlError
from privml.policy.anonymity import AnonymityPolicy
from privml.policy.detection import CustomRecognizerPolicy, DetectionPolicy
from privml.policy.differential_privacy import DifferentialPrivacyPolicy
from privml.policy.model_privacy import ModelPrivacyPolicy

__all__ = ["AnonymityPolicy", "ColumnPolicy", "CustomRecognizerPolicy", "DetectionPolicy",
           "DifferentialPrivacyPolicy", "Policy", "Role", "dump_policy", "load_detection", "load_policy",
           "parse_policy"]


class Role(StrEnum):
    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    FEATURE = "feature"
    LABEL = "label"


class ColumnPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="what the column is: it decides which privacy models count it")
    action: str = Field(default="keep", description="the technique applied to the column (see the actions)")
    params: dict[str, Any] = Field(default_factory=dict, description="the action's parameters (see the actions)")
    key: str | None = Field(default=None, description="name of an entry under `keys:`")
    dtype: Literal["auto", "string", "numeric", "date", "category"] = Field(
        default="auto", description="how the column's values are read (auto: inferred from the values)"
    )
    hierarchy: str | dict[str, Any] | None = Field(
        default=None, description="generalization hierarchy for a quasi-identifier (ARX CSV path or built-in)"
    )
    pii_type: str | None = Field(default=None, description="what `privml scan` detected; informational")
    allow_unique: bool = Field(
        default=False,
        description="a feature the anonymize-time safety net may emit although it is near-unique or looks like "
        "an identifier (only with role `feature`)",
    )
    bounds: tuple[float, float] | None = Field(
        default=None,
        description="declared [min, max] of a numeric feature (or label); differentially private training clips "
        "to it instead of learning bounds from the data (which would leak). A public fact, never the data's min/max",
    )
    range: tuple[float, float] | None = Field(
        default=None,
        description="public outer [min, max] of a numeric column that declares no `bounds`: DP bounds are "
        "searched within it, spending `differential_privacy.bounds_share` of ε",
    )

    categories: list[str] | None = Field(
        default=None,
        description="declared values a categorical feature can take after its action; differentially private "
        "training encodes exactly these instead of the categories found in the data (which would leak)",
    )

    candidates: list[str] | None = Field(
        default=None,
        description="public candidate values of a categorical feature (a superset, e.g. every label its "
        "hierarchy can release): a DP model keeps those whose noisy count passes, spending "
        "`differential_privacy.categories_share` of ε",
    )

    @field_validator("categories", "candidates")
    @classmethod
    def _distinct_categories(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError("must be a non-empty list of distinct values")
        return value

    @field_validator("bounds", "range")
    @classmethod
    def _ordered_bounds(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("must be [min, max] with min < max")
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(default=1, description="the policy format's version")
    keys: dict[str, str] = Field(default_factory=dict, description="key name -> KMS key id, ARN or alias")
    columns: dict[str, ColumnPolicy] = Field(description="column name -> its role and action")
    unlisted_columns: Literal["drop", "error"] = Field(
        default="drop", description="a column of the table the policy does not list: dropped, or an error"
    )
    anonymity: AnonymityPolicy | None = Field(
        default=None, description="privacy model targets over the quasi-identifiers, and the algorithm"
    )
    detection: DetectionPolicy | None = Field(
        default=None, description="`privml scan --rules`: an organisation's own recognizers and value lists"
    )
    model_privacy: ModelPrivacyPolicy | None = Field(
        default=None, description="privacy targets of the trained model (the membership-inference gate of Evaluate)"
    )
    differential_privacy: DifferentialPrivacyPolicy | None = Field(
        default=None, description="the share of a DP model's ε spent finding bounds and categories the columns "
        "do not declare",
    )
    bad_rows: Literal["error", "skip"] = Field(
        default="error", description="a row with more or fewer fields than the header: an error, or skipped and "
        "counted in the report",
    )
    base_dir: Path | None = Field(default=None, exclude=True, description="directory relative paths resolve against")

    @field_validator("keys")
    @classmethod
    def _keys_are_references(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, ref in keys.items():
            if not _looks_like_key_reference(ref):
                raise ValueError(
                    f"keys.{name} must be a key id, key ARN or alias/NAME (never key material)"
                )
        return keys

    @model_validator(mode="after")
    def _check_columns(self) -> Policy:
        from privml.transforms import technique_class  # the registry validates its own params

        for name, col in self.columns.items():
            try:
                cls = technique_class(col.action)
            except LookupError as exc:
                raise ValueError(f"columns.{name}.action: {exc}") from None
            try:
                cls.Params.model_validate(col.params)
            except ValidationError as exc:
                raise ValueError(f"columns.{name}.params: {_first_error(exc)}") from None
            if cls.needs_key:
                if col.key is None:
                    raise ValueError(f"columns.{name}.key: action '{col.action}' needs a key name from `keys:`")
                if col.key not in self.keys:
                    raise ValueError(f"columns.{name}.key: '{col.key}' is not defined under `keys:`")
        for name, col in self.columns.items():
            if col.allow_unique and col.role is not Role.FEATURE:
                raise ValueError(f"columns.{name}.allow_unique: only a column with role 'feature' may set it")
        labels = [n for n, c in self.columns.items() if c.role is Role.LABEL]
        if len(labels) > 1:
            raise ValueError(f"columns: at most one column may have role 'label' (found {', '.join(labels)})")
        return self

    def columns_with_role(self, role: Role) -> list[str]:
        return [name for name, col in self.columns.items() if col.role is role]

    @property
    def quasi_identifiers(self) -> list[str]:
        return self.columns_with_role(Role.QUASI_IDENTIFIER)

    @property
    def sensitive_attributes(self) -> list[str]:
        return self.columns_with_role(Role.SENSITIVE)

    @property
    def label(self) -> str | None:
        labels = self.columns_with_role(Role.LABEL)
        return labels[0] if labels else None

    def resolve_path(self, raw: str) -> Path:
        """A path from the policy (a hierarchy, a population table): relative to the policy file's
        directory, as `#include` and CSS `url()` resolve, so a policy means the same from any working
        directory; as given when absolute or when the policy came from no file."""
        path = Path(raw).expanduser()
        if path.is_absolute() or self.base_dir is None:
            return path
        return self.base_dir / path


def _looks_like_key_reference(ref: str) -> bool:
    return (
        ref.startswith(("alias/", "arn:aws:kms:", "arn:aws-", "local:"))
        or _is_uuid(ref)
    )


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def parse_policy(data: Any, source: str = "<policy>", base_dir: Path | None = None) -> Policy:
    if not isinstance(data, dict):
        raise PrivmlError(f"{source}: a policy is a YAML mapping with a `columns:` section")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        from privml.policy.mistakes import explain

        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = explain(err, Policy)
        where = f" field {loc}:" if loc else ""
        raise PrivmlError(f"{source}:{where} {msg}") from None
    policy.base_dir = base_dir
    return policy


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PrivmlError(f"{path}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivmlError(f"{path}: cannot read policy file ({type(exc).__name__})") from None
    try:
        _check_nesting(text, path)  # before the recursive composer and model see it
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PrivmlError(f"{path}:{where} not valid YAML") from None


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    return parse_policy(_read_yaml(path), source=str(path), base_dir=path.resolve().parent)


def load_detection(path: str | Path) -> DetectionPolicy:
    """The `detection:` section of a YAML file (a whole policy, or a file holding only that section)."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("detection"), dict):
        raise PrivmlError(f"{path}: expected a YAML mapping with a `detection:` section")
    try:
        return DetectionPolicy.model_validate(data["detection"])
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in ("detection", *err["loc"]))
        raise PrivmlError(f"{path}: field {loc}: {err['msg'].removeprefix('Value error, ')}") from None


MAX_POLICY_DEPTH = 16  # a policy nests 5 levels (columns → name → hierarchy → levels → item); 16 is ample


def _check_nesting(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_POLICY_DEPTH, naming the field where it goes too deep. Walks
    the parser's events (a loop, not recursion), so any depth is refused with exit 2, not RecursionError."""
    names: list[str] = []  # the path of keys and indexes down to the current node
    stack: list[list[Any]] = []  # per open collection: [is_mapping, expecting_key, next_index]

    def enter_value() -> None:
        if stack and not stack[-1][0]:  # a sequence item
            names.append(f"[{stack[-1][2]}]")
            stack[-1][2] += 1

    def leave_value() -> None:
        if stack:
            top = stack[-1]
            if top[0]:
                top[1] = True
            if names:
                names.pop()

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            enter_value()
            if len(stack) >= MAX_POLICY_DEPTH:
                field = ".".join(_safe_key(n) for n in names[:6]) + (".…" if len(names) > 6 else "")
                raise PrivmlError(f"{path}: field {field or '(top)'} is nested deeper than {MAX_POLICY_DEPTH} levels")
            stack.append([isinstance(event, yaml.MappingStartEvent), True, 0])
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
            leave_value()
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            top = stack[-1] if stack else None
            if top is not None and top[0] and top[1]:  # a mapping key
                names.append(str(getattr(event, "value", "*")))
                top[1] = False
            else:
                enter_value()
                leave_value()


def _safe_key(name: str) -> str:
    """A YAML key as a message may quote it: printable, at most 40 characters."""
    text = "".join(c if c.isprintable() else "?" for c in name[:40])
    return text + ("…" if len(name) > 40 else "")


def dump_policy(policy: Policy) -> str:
    data = policy.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    for col in data["columns"].values():
        if not col.get("params"):
            col.pop("params", None)
        if col.get("dtype") == "auto":
            col.pop("dtype")
        if not col.get("allow_unique"):
            col.pop("allow_unique", None)
    # Options at their defaults stay out, so a policy written before they existed reads the same.
    if data.get("bad_rows") == "error":
        data.pop("bad_rows")
    if isinstance(data.get("anonymity"), dict) and data["anonymity"].get("missing") == "value":
        data["anonymity"].pop("missing")
    return yaml.safe_dump(data, sort_keys=False)
