"""PrivacyTransformer: a policy turned into a fitted, reusable, scikit-learn compatible transform.

`fit` learns what the techniques and the anonymity model need (hierarchy mappings, the generalization
levels or Mondrian boxes); `transform` applies the same anonymization to any rows — the training table
or a single inference request. The fitted object holds no secret: keyed techniques hold only the key's
id, and the secret is derived through the key provider on first use after loading.

Inside a served model, `serve_only(columns)` restricts `transform` to the columns the model reads (plus
the quasi-identifiers the anonymity model routes on): identifier columns of a request are then never
transformed and their secrets never derived, so the endpoint needs no secret for them. For scoring a few
rows without pandas, `cell_function(column)` and `anonymity_engine()` give the fitted components, whose
row forms (`privml.rowform`) the serving layer assembles.

The label column is never part of the output (scikit-learn passes it as `y`); callers that need it next
to the anonymized rows re-attach it by index (`fit_transform` keeps the input index and, by default, every
row: see `suppressed_rows`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from privml.crypto.keys import KeyProvider
from privml.errors import PrivmlError
from privml.policy import Policy, Role, parse_policy
from privml.rowform import CellFunction
from privml.transforms import Context, Technique, technique_class

if TYPE_CHECKING:
    from privml.anonymity.engine import AnonymityEngine

log = logging.getLogger(__name__)

# Types a skops file of a PrivacyTransformer may contain besides skops' defaults (for `skops.io.load`).
TRUSTED_TYPES = ["privml.transformer.PrivacyTransformer"]

# Attributes that only live in memory: secrets, the provider, and objects rebuilt from plain state.
_RUNTIME_ATTRS = ("_secrets", "_provider", "_techniques", "_engine", "_policy_obj")


class PrivacyTransformer(TransformerMixin, BaseEstimator):
    """Anonymize a table as its policy says.

    Parameters
    ----------
    policy : dict
        The policy as plain data (what `yaml.safe_load` gives for a policy file); see `privml.policy`.
    base_dir : str or None
        Directory that relative paths in the policy (hierarchies) resolve against.
    key_provider : {"default", "local", "aws", "file", "none"}
        Where keyed techniques get their secrets: the local KMS in the workspace, AWS KMS, the
        derived-secrets file at `$PRIVML_KEY_FILE`, no keys at all, or whichever `$PRIVML_KEY_PROVIDER`
        names ("default"). `set_key_provider` binds a provider object instead.
    suppressed_rows : {"generalize", "drop"}
        What `fit_transform` does with the rows the anonymity model suppresses. "generalize" (the
        default) keeps them, every quasi-identifier released as `*` (the top of its hierarchy), so the
        output has one row per input row, as scikit-learn requires of a transformer: inside a Pipeline,
        `cross_val_score` or `GridSearchCV`, `y` is matched to the rows by position. "drop" leaves them
        out, as a release does; `privml anonymize` (the Anonymize job) drops them itself, using
        `suppressed_labels_`, so the transformer it saves stays Pipeline-safe. `transform` never drops.
    """

    def __init__(
        self, policy: dict[str, Any] | None = None, base_dir: str | None = None, key_provider: str = "default",
        suppressed_rows: str = "generalize",
    ):
        self.policy = policy
        self.base_dir = base_dir
        self.key_provider = key_provider
        self.suppressed_rows = suppressed_rows

    @classmethod
    def from_policy(cls, policy: Policy, key_provider: str = "default",
                    suppressed_rows: str = "generalize") -> PrivacyTransformer:
        data = policy.model_dump(mode="json", exclude_none=True)
        base = str(policy.base_dir) if policy.base_dir else None
        return cls(policy=data, base_dir=base, key_provider=key_provider, suppressed_rows=suppressed_rows)

    # -- secrets and runtime objects -------------------------------------------------------------

    def set_key_provider(self, provider: KeyProvider) -> PrivacyTransformer:
        self._provider = provider
        self._secrets = {}
        return self

    def __getstate__(self) -> dict[str, Any]:
        # A copy: on Python 3.11 object.__getstate__ returns the live __dict__, and popping from it would
        # strip the in-memory provider and secrets from the object being saved.
        state = dict(super().__getstate__())
        for attr in _RUNTIME_ATTRS:
            state.pop(attr, None)
        # The labels of the rows the fit suppressed are the fitting table's index (a caller's may be an
        # identifier: `set_index("ssn")`), needed only by the release that drops them: never in a saved
        # transformer, which ships with the model (invariant 1).
        if state.get("suppressed_labels_"):
            state["suppressed_labels_"] = []
        return state

    def _parsed_policy(self) -> Policy:
        cached = getattr(self, "_policy_obj", None)
        if cached is None:
            if self.policy is None:
                raise PrivmlError("PrivacyTransformer needs a policy")
            base = Path(self.base_dir) if self.base_dir else None
            cached = parse_policy(self.policy, source="policy", base_dir=base)
            self._policy_obj = cached
        return cached

    def _key_provider(self) -> KeyProvider:
        provider = getattr(self, "_provider", None)
        if provider is None:
            from privml.crypto.providers import default_key_provider, key_provider

            provider = default_key_provider() if self.key_provider == "default" else key_provider(self.key_provider)
            self._provider = provider
        return provider

    def _secret(self, technique: type[Technique], key_name: str) -> bytes:
        secrets: dict[tuple[str, str], bytes] = getattr(self, "_secrets", None) or {}
        self._secrets = secrets
        cache_key = (key_name, technique.purpose)
        if cache_key not in secrets:
            key_id = self.key_ids_[key_name] if hasattr(self, "key_ids_") else self._resolve_key(key_name)
            secrets[cache_key] = self._key_provider().derive_secret(key_id, technique.purpose, technique.secret_length)
        return secrets[cache_key]

    def _resolve_key(self, key_name: str) -> str:
        ref = self._parsed_policy().keys[key_name]
        resolve = getattr(self._key_provider(), "resolve", None)
        return resolve(ref) if resolve else ref

    def _technique(self, column: str) -> Technique:
        techniques: dict[str, Technique] = getattr(self, "_techniques", None) or {}
        self._techniques = techniques
        if column not in techniques:
            spec = self._parsed_policy().columns[column]
            state = dict(getattr(self, "column_states_", {}).get(column, {}))
            techniques[column] = technique_class(spec.action)(dict(spec.params), state)
        return techniques[column]

    def _context(self, column: str, frame: pd.DataFrame) -> Context:
        policy = self._parsed_policy()
        spec = policy.columns[column]
        cls = technique_class(spec.action)
        secret = self._secret(cls, spec.key) if cls.needs_key and spec.key else None
        return Context(column=column, secret=secret, frame=frame, resolve_path=policy.resolve_path)

    # -- fitting ---------------------------------------------------------------------------------

    def _check_frame(self, X: Any, *, fitting: bool) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise PrivmlError("PrivacyTransformer expects a pandas DataFrame with the raw columns")
        policy = self._parsed_policy()
        needed = [
            name
            for name, spec in policy.columns.items()
            if spec.role is not Role.LABEL and (fitting or not technique_class(spec.action).drops_column)
        ]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise PrivmlError(f"policy names column(s) missing from the table: {', '.join(missing)}")
        if policy.unlisted_columns == "error":
            extra = [str(c) for c in X.columns if c not in policy.columns]
            if extra:
                raise PrivmlError(f"column(s) not in the policy: {', '.join(extra)} (unlisted_columns: error)")
        return X

    def fit(self, X: pd.DataFrame, y: Any = None) -> PrivacyTransformer:
        self.fit_transform(X, y)
        return self

    def fit_columns(self, X: pd.DataFrame) -> PrivacyTransformer:
        """Fit the column techniques on `X` and not the anonymity model: the first step of every fit.
        What a technique learns does not depend on the rows (a hierarchy file, a key id; `fit` otherwise
        only checks that the column parses), so an engine that sees the table in parts (batches, Spark
        partitions) fits them on the first rows, checks every other part with `check_batch`, fits the
        anonymity model over the whole table itself and completes the fit with `attach_anonymity`."""
        if self.suppressed_rows not in ("generalize", "drop"):
            raise PrivmlError(f"suppressed_rows must be 'generalize' or 'drop', not {self.suppressed_rows!r}")
        for attr in (*[a for a in _RUNTIME_ATTRS if a != "_provider"], "column_states_", "key_ids_",
                     "anonymity_state_", "suppressed_labels_", "served_columns_", "n_rows_fitted_", "n_rows_out_"):
            self.__dict__.pop(attr, None)
        policy = self._parsed_policy()
        X = self._check_frame(X, fitting=True)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(X.columns)
        self.key_ids_ = {
            spec.key: self._resolve_key(spec.key)
            for spec in policy.columns.values()
            if spec.key and technique_class(spec.action).needs_key
        }
        states: dict[str, dict[str, Any]] = {}
        for column, spec in policy.columns.items():
            if spec.role is Role.LABEL:
                continue
            technique = self._technique(column)
            states[column] = technique.fit(X[column], self._context(column, X))
            technique.state.update(states[column])
        self.column_states_ = states
        self.columns_out_ = [
            c for c, spec in policy.columns.items()
            if spec.role is not Role.LABEL and not technique_class(spec.action).drops_column
        ]
        self.anonymity_state_: dict[str, Any] | None = None
        self.suppressed_labels_: list[Any] = []
        return self

    def check_batch(self, X: pd.DataFrame) -> pd.DataFrame:
        """Check a part of the table the column techniques were fitted on (`fit_columns` on its first
        rows) as `fit` checks the whole table: the columns, and every technique whose fit reads the rows
        fits this part to the same state — a row that does not parse fails here exactly as in `fit`.
        Returns `X`."""
        check_is_fitted(self, "column_states_")
        X = self._check_frame(X, fitting=True)
        for column, spec in self._parsed_policy().columns.items():
            if spec.role is Role.LABEL:
                continue
            technique = self._technique(column)
            if type(technique).fit is Technique.fit:  # learns nothing, checks nothing
                continue
            if technique.fit(X[column], self._context(column, X)) != self.column_states_.get(column, {}):
                raise PrivmlError(f"column {column}: a part of the table fits a different state than its first rows")
        return X

    def attach_anonymity(self, engine: AnonymityEngine | None, *, rows_fitted: int,
                         rows_out: int) -> PrivacyTransformer:
        """Complete a fit begun by `fit_columns` with the anonymity model fitted over the whole table's
        anonymized columns by another engine (batches, a tuple histogram, Spark): `engine` (None when
        the policy asks for no anonymity model), the rows it was fitted on and the rows released. The
        suppressed rows' labels are the engine's."""
        check_is_fitted(self, "column_states_")
        policy = self._parsed_policy()
        wanted = policy.anonymity is not None and bool(policy.quasi_identifiers)
        if engine is None and wanted:
            raise PrivmlError("anonymity: the policy asks for an anonymity model and none was fitted")
        if engine is not None and (not wanted or set(engine.quasi_identifiers) != set(policy.quasi_identifiers)):
            raise PrivmlError("anonymity: the fitted anonymity model is not the policy's")
        self.anonymity_state_ = engine.get_state() if engine is not None else None
        self._engine = engine
        self.suppressed_labels_ = engine.suppressed_labels() if engine is not None else []
        self.n_rows_fitted_ = int(rows_fitted)
        self.n_rows_out_ = int(rows_out)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, and return the anonymized training rows. Rows the anonymity model suppressed (their index
        labels in `suppressed_labels_`) come back with every quasi-identifier `*`, or are left out with
        `suppressed_rows="drop"`."""
        self.fit_columns(X)
        policy = self._parsed_policy()
        anonymized = self._apply_techniques(X)
        engine = None
        if policy.anonymity is not None and policy.quasi_identifiers:
            from privml.anonymity.engine import AnonymityEngine
            from privml.anonymity.hierarchy import ROOT
            from privml.policy.engine_config import anonymity_config

            engine = AnonymityEngine(anonymity_config(policy))
            released = engine.fit_transform(anonymized)
            suppressed_labels = engine.suppressed_labels()
            if self.suppressed_rows == "drop" or not suppressed_labels:
                anonymized = released
            else:  # the same rows, the suppressed ones at the top of every hierarchy
                anonymized = engine.transform(anonymized)
                suppressed = anonymized.index.isin(suppressed_labels)
                anonymized.loc[suppressed, policy.quasi_identifiers] = ROOT
        self.attach_anonymity(engine, rows_fitted=len(X), rows_out=len(anonymized))
        return anonymized

    def fit_stream(self, batches: Callable[[], Iterable[pd.DataFrame]]) -> PrivacyTransformer:
        """Fit on a table read in batches (`batches()` gives a fresh iterator of frames per pass, each
        indexed by the rows' positions in the table, e.g. `privml.io.stream.TableStream.batches`), with
        memory bounded as `privml.anonymity.streaming` says. The fitted transformer is the one
        `fit` gives on the concatenated table. The column techniques are fitted on the first batch:
        what they learn does not depend on the rows (a hierarchy file, a key id); each batch is still
        checked when it is applied."""
        first = next(iter(batches()), None)
        if first is None:
            raise PrivmlError("the table has no data rows")
        self.fit_columns(first)
        policy = self._parsed_policy()
        rows = 0
        engine = None
        if policy.anonymity is not None and policy.quasi_identifiers:
            from privml.anonymity.streaming import fit_streaming
            from privml.policy.engine_config import anonymity_config

            config = anonymity_config(policy)
            engine_columns = [c for c in self.columns_out_ if c in {*config.quasi_identifiers, *config.sensitive}]

            def anonymity_batches() -> Iterator[pd.DataFrame]:
                nonlocal rows
                rows = 0
                for frame in batches():
                    rows += len(self._check_frame(frame, fitting=True))
                    yield self._apply_techniques(frame, engine_columns)

            engine = fit_streaming(config, anonymity_batches)
            suppressed = len(engine.suppressed_labels())
        else:
            rows = sum(len(self._check_frame(frame, fitting=True)) for frame in batches())
            suppressed = 0
        return self.attach_anonymity(engine, rows_fitted=rows,
                                     rows_out=rows - suppressed if self.suppressed_rows == "drop" else rows)

    # -- applying --------------------------------------------------------------------------------

    def serve_only(self, columns: list[str]) -> PrivacyTransformer:
        """Restrict `transform` to `columns` (the ones the model downstream reads) and the
        quasi-identifiers the anonymity model needs; `fit` and `fit_transform` are not affected."""
        check_is_fitted(self, "column_states_")
        unknown = [c for c in columns if c not in self.columns_out_]
        if unknown:
            raise PrivmlError(f"serve_only: column(s) the transformer does not output: {', '.join(unknown)}")
        keep = set(columns) | set(self._parsed_policy().quasi_identifiers if self.anonymity_state_ else ())
        self.served_columns_ = [c for c in self.columns_out_ if c in keep]
        return self

    def _apply_techniques(self, X: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        for column in self.columns_out_ if columns is None else columns:
            out[column] = self._technique(column).apply(X[column], self._context(column, X))
        return pd.DataFrame(out, index=X.index)

    def anonymity_engine(self) -> AnonymityEngine | None:
        """The fitted anonymity engine, or None when the policy asks for no anonymity model."""
        engine = getattr(self, "_engine", None)
        if engine is None and self.anonymity_state_ is not None:
            from privml.anonymity.engine import AnonymityEngine

            engine = AnonymityEngine.from_state(self.anonymity_state_)
            self._engine = engine
        return engine

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Anonymize rows with the fitted policy; every row comes back (nothing is suppressed here)."""
        check_is_fitted(self, "column_states_")
        X = self._check_frame(X, fitting=False)
        anonymized = self._apply_techniques(X, getattr(self, "served_columns_", None))
        engine = self.anonymity_engine()
        if engine is not None:
            anonymized = engine.transform(anonymized)
        return anonymized

    def cell_function(self, column: str) -> CellFunction | None:
        """The row form of the fitted technique of an output column: raw cell → its anonymized cell, as
        `transform` gives it before the anonymity model. None when the technique has none (keyed ones:
        their secret stays with `transform`) or the column is not in the output."""
        check_is_fitted(self, "column_states_")
        if column not in self.columns_out_:
            return None
        return self._technique(column).cell_function()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "column_states_")
        return np.asarray(getattr(self, "served_columns_", None) or self.columns_out_, dtype=object)

    def reversible_columns(self) -> list[str]:
        """The columns a key holder can restore with `reidentify` (a reversible technique: `encrypt`)."""
        return [c for c, s in self._parsed_policy().columns.items() if technique_class(s.action).reversible]

    def reidentify(self, X: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
        """For key holders: decrypt the columns the policy encrypted (action `encrypt`)."""
        check_is_fitted(self, "column_states_")
        encrypted = self.reversible_columns()
        chosen = columns or encrypted
        unknown = [c for c in chosen if c not in encrypted]
        if unknown:
            raise PrivmlError(f"column(s) not encrypted by the policy, cannot be re-identified: {', '.join(unknown)}")
        out = X.copy()
        for column in chosen:
            if column not in X.columns:
                raise PrivmlError(f"column '{column}' is not in the table")
            technique = self._technique(column)
            out[column] = technique.reverse(X[column], self._context(column, X))  # type: ignore[attr-defined]
        return out

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted transformer with skops (no pickle, no secrets), atomically."""
        import skops.io as sio

        from privml.io import atomic_write_bytes

        check_is_fitted(self, "column_states_")
        atomic_write_bytes(path, sio.dumps(self))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivacyTransformer:
        import skops.io as sio

        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PrivmlError(f"{path}: cannot read transformer ({type(exc).__name__})") from None
        untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
        if untrusted:
            raise PrivmlError(f"{path}: refusing to load untrusted types: {', '.join(untrusted)}")
        obj = sio.loads(data, trusted=TRUSTED_TYPES)
        if not isinstance(obj, cls):
            raise PrivmlError(f"{path}: not a PrivacyTransformer")
        return obj
