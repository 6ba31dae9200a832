"""The Train step as a library call: anonymized splits + fitted PrivacyTransformer → model directory.

training/train.py parses nothing itself: it calls `run_training_job`, which reads the SageMaker training
contract (privml.models.jobenv), checks the inputs, fits the model on the already-anonymized train split
(the transformer is NOT refitted), and writes the model directory — all of it or none:

    model.skops                   the fitted [privacy, model] pipeline
    metadata.json                 what was trained on what, and how well
    code/privml_inference.py      the serving program (SAGEMAKER_PROGRAM), from inference/privml_inference.py
    code/requirements.txt         privml, offline from code/wheels: the serving toolkit installs it
    code/wheels/*.whl             the wheels the job itself was shipped (privml and the wheelhouse)

The serving container keeps nothing of code/ but what its toolkit installs from it (see
inference/privml_inference.py), so privml reaches it through requirements.txt, not beside the program.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sklearn.pipeline import Pipeline

from privml.errors import PrivmlError
from privml.io import atomic_write_bytes
from privml.models import data as splits
from privml.models.dp_policy import domain_spec
from privml.models.estimators import MODEL_KINDS, fit_model, resolve_kind
from privml.models.features import numeric_view
from privml.models.jobenv import TrainingEnv, job_controls
from privml.models.metrics import model_metrics
from privml.models.persistence import dumps_model
from privml.models.tasks import check_task_name, choose_task, is_classification
from privml.policy import Policy, Role, load_policy, parse_policy

log = logging.getLogger(__name__)

KNOWN_HYPERPARAMETERS = ("model", "dp_epsilon", "label", "seed", "task")

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
# A name nothing installed shadows: the privml wheel's top-level `inference` package would win over
# an `inference.py` in the serving container's import.
PROGRAM = "privml_inference.py"
HANDLER_FILE = f"code/{PROGRAM}"
REQUIREMENTS_FILE = "code/requirements.txt"
WHEELS_DIR = "code/wheels"


@dataclass(frozen=True)
class TrainingRequest:
    model: str
    dp_epsilon: float
    label: str | None
    seed: int
    ignored: tuple[str, ...] = ()
    task: str | None = None  # None: chosen from the train split's label (privml.models.tasks)
    model_given: bool = True  # False: `model` is the default, re-chosen for the task Train decides


def dp_scope(encoder: Any, sources: Mapping[str, str] | None = None) -> str:
    """What ε covers, for the model card: every numeric input is clipped to bounds and every categorical
    input encoded over values that were declared or found under DP (Train refuses anything else)."""
    found = sorted(c for c, how in (sources or {}).items() if how.startswith("DP"))
    text = ("ε covers what the model learns from the encoded rows and how its input domain was found: numeric "
            "features are clipped to bounds and categorical features encoded over values that are "
            "declared in the policy")
    if found:
        text += f" or found under DP from a declared share of ε ({', '.join(found)})"
    learned = [c for c in encoder.categorical_columns_ if c not in encoder.declared_categories_]
    if learned:  # FeatureEncoder(require_categories=True) refuses this; said, should an old model be read
        text += f"; the values of {', '.join(learned)} were taken from the data and are not covered by ε"
    return text


def parse_hyperparameters(hps: Mapping[str, str]) -> TrainingRequest:
    try:
        epsilon = float(hps.get("dp_epsilon", "0") or "0")
    except ValueError:
        raise PrivmlError("hyperparameter dp_epsilon: not a number") from None
    if not math.isfinite(epsilon):
        raise PrivmlError("hyperparameter dp_epsilon: must be finite")
    try:
        seed = int(hps.get("seed", "0") or "0")
    except ValueError:
        raise PrivmlError("hyperparameter seed: not an integer") from None
    task = check_task_name(hps.get("task"))
    given = hps.get("model") or None
    kind = resolve_kind(given, epsilon, task)
    ignored = tuple(sorted(k for k in hps if k not in KNOWN_HYPERPARAMETERS))
    return TrainingRequest(kind, epsilon, hps.get("label") or None, seed, ignored, task, given is not None)


def load_transformer_channel(directory: Path) -> tuple[Any, Policy, list[splits.InputFile]]:
    """The fitted PrivacyTransformer and its policy from the `transformer` channel."""
    from privml.transformer import PrivacyTransformer

    path = directory / "transformer.skops"
    if not path.is_file():
        raise PrivmlError(f"transformer channel: no transformer.skops in {directory}")
    transformer = PrivacyTransformer.load(path)
    files = [splits.describe_file("transformer", path)]
    policy_path = directory / "policy.yaml"
    if policy_path.is_file():
        policy = load_policy(policy_path)
        files.append(splits.describe_file("transformer", policy_path))
    elif transformer.policy is not None:
        policy = parse_policy(transformer.policy, source=f"{path} (embedded policy)")
    else:
        raise PrivmlError(f"transformer channel: no policy.yaml in {directory} and none in the transformer")
    if not hasattr(transformer, "columns_out_"):
        raise PrivmlError(f"{path}: the transformer is not fitted")
    return transformer, policy, files


def handler_source() -> bytes:
    """inference/privml_inference.py, shipped in the model as code/privml_inference.py.

    Looked up next to the installed privml package first (the wheel ships `inference/` beside `privml/`),
    then through the import system.
    """
    candidates = [Path(__file__).resolve().parents[2] / "inference" / PROGRAM]
    try:
        spec = importlib.util.find_spec("inference.privml_inference")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin))
    for path in candidates:
        if path.is_file():
            return path.read_bytes()
    raise PrivmlError(f"cannot find inference/{PROGRAM} to ship with the model (is privml installed whole?)")


def serving_requirements() -> bytes:
    """code/requirements.txt: privml at this job's version, from code/wheels only (no network in the
    serving container). pip reads `--find-links wheels` relative to this file."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pin = f"privml=={version('privml')}"
    except PackageNotFoundError:  # pragma: no cover - the job runs privml, so it is installed
        pin = "privml"
    return ("# the serving toolkit runs `pip install . -r requirements.txt` in its copy of code/\n"
            f"--no-index\n--find-links wheels\n{pin}\n").encode()


def serving_wheels(wheelhouse: Path | None) -> dict[str, bytes]:
    """The job's own wheels, for code/wheels: the serving container installs privml from them."""
    if wheelhouse is None or not wheelhouse.is_dir():
        log.warning("no wheelhouse beside the job: the model serves only from an image with privml installed")
        return {}
    return {f"{WHEELS_DIR}/{wheel.name}": wheel.read_bytes() for wheel in sorted(wheelhouse.glob("*.whl"))}


@dataclass
class TrainedModel:
    pipeline: Pipeline
    metadata: dict[str, Any]


def train_on_splits(
    train: Any,
    validation: Any | None,
    transformer: Any,
    policy: Policy,
    request: TrainingRequest,
) -> TrainedModel:
    """Fit the model on the anonymized train split and compose [privacy, model]."""
    label = request.label or policy.label
    if not label:
        raise PrivmlError("no label column: set the `label` hyperparameter or give a column role 'label' in the policy")
    if label not in train.columns:
        splits.check_label(train, label, "train")  # raises: the column is missing
    choice = choose_task(request.task, train[label], label)  # the task is decided here, once
    splits.check_label(train, label, "train")  # empty cells
    task = choice.task
    log.info("%s", choice.line())
    # no kind given: the default for the task (hgb; dp_logreg, or dp_linreg for regression, when ε > 0)
    kind = resolve_kind(request.model if request.model_given else None, request.dp_epsilon, task)
    y_train = _label_values(train, label, task, "train")
    released = [str(c) for c in transformer.get_feature_names_out() if str(c) != label]
    # identifiers stay out of the model whatever their action: a pseudonym or token is still one per
    # person, so it can only memorize people (and would make every request's one-hot unseen)
    identifiers = [c for c in released if c in policy.columns and policy.columns[c].role is Role.IDENTIFIER]
    features = [c for c in released if c not in identifiers]
    if not features:
        raise PrivmlError("the transformer outputs no feature columns (identifiers are never model features)")
    splits.check_columns(train, features, [], "train")
    numeric = splits.feature_types(train, features, policy)
    bounds = {name: col.bounds for name, col in policy.columns.items() if col.bounds is not None}
    categories = {name: col.categories for name, col in policy.columns.items() if col.categories is not None}
    spec = policy.columns.get(label)
    label_bounds = spec.bounds if spec is not None else None
    private = MODEL_KINDS[kind].private
    fitted = fit_model(
        kind, train[features], y_train, columns=features, numeric=numeric, bounds=bounds,
        epsilon=request.dp_epsilon, seed=request.seed, categories=categories, task=task,
        label_bounds=label_bounds,
        domain=domain_spec(policy, label=label, transformer=transformer) if private else None,
    )
    if fitted.domain is not None and label in fitted.domain.bounds:  # declared, or DP bounds
        label_bounds = fitted.domain.bounds[label]
    metrics = {"train": model_metrics(fitted.pipeline, train[features], y_train, task)}
    rows = {"train": len(train)}
    if validation is not None:
        splits.check_label(validation, label, "validation")
        y_val = _label_values(validation, label, task, "validation")
        splits.check_columns(validation, features, numeric, "validation")
        metrics["validation"] = model_metrics(fitted.pipeline, validation[features], y_val, task)
        rows["validation"] = len(validation)
    # The served transform computes only what the model reads: identifier columns of a request are never
    # transformed, so the endpoint derives (and is given) no secret for them.
    transformer.serve_only(features)
    pipeline = Pipeline([("privacy", transformer), ("model", fitted.pipeline)])
    estimator = fitted.pipeline.named_steps["classifier"]
    metadata = {
        "model": kind,
        "model_description": MODEL_KINDS[kind].description,
        "estimator": type(estimator).__name__,
        "task": task,
        "task_reason": choice.reason,
        "differential_privacy": private,
        "dp_epsilon": request.dp_epsilon if private else None,
        "epsilon_spent": fitted.epsilon_spent,
        "epsilon_parts": fitted.epsilon_parts,
        "dp_domain": fitted.domain.sources if fitted.domain is not None else None,
        "dp_scope": (dp_scope(fitted.pipeline.named_steps["encode"], fitted.domain.sources if fitted.domain else None)
                     if private else None),
        "feature_columns": features,
        "excluded_identifier_columns": identifiers,
        "numeric_columns": numeric,
        "declared_bounds": {c: list(b) for c, b in bounds.items() if c in numeric},
        # DP: the bounds every bounded input was encoded with (declared or DP bounds; public either way)
        "dp_bounds": ({c: list(b) for c, b in fitted.domain.bounds.items()} if fitted.domain is not None
                      else None),
        "input_columns": [str(c) for c in getattr(transformer, "feature_names_in_", [])],
        "label": label,
        "label_bounds": list(label_bounds) if label_bounds is not None and not is_classification(task) else None,
        "classes": [str(c) for c in fitted.pipeline.classes_] if is_classification(task) else None,
        "seed": request.seed,
        "rows": rows,
        "metrics": metrics,
        "ignored_hyperparameters": list(request.ignored),
        "versions": _versions(),
    }
    return TrainedModel(pipeline, metadata)


def _label_values(frame: Any, label: str, task: str, split: str) -> Any:
    """The label as the model learns it: class names as text, a regression target as floats."""
    if is_classification(task):
        return frame[label].astype(str).to_numpy()
    values = numeric_view(frame[label])
    bad = values.isna().to_numpy() & frame[label].notna().to_numpy()
    if bad.any():
        first = int(bad.argmax())
        raise PrivmlError(f"{split} split: label column '{label}' is a regression target but {int(bad.sum())} "
                          f"row(s) are not numbers (first: row {first + 1})")
    return values.to_numpy(dtype=float)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("privml", "scikit-learn", "diffprivlib", "skops", "numpy", "pandas"):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    return out


def run_training_job(env: TrainingEnv, *, wheelhouse: Path | None = None) -> dict[str, Any]:
    """Everything the training job does; returns the metadata written. Raises PrivmlError on bad input.
    `wheelhouse`: the wheels the job was shipped (training/train.py's `wheels/`), copied into the model."""
    request = parse_hyperparameters(env.hyperparameters)
    train, train_files = splits.read_split("train", env.channel("train"))
    validation, val_files = None, []
    if splits.table_files(env.channel("validation")):
        validation, val_files = splits.read_split("validation", env.channel("validation"))
    else:
        log.warning("no validation channel: metrics are reported on the train split only")
    transformer, policy, transformer_files = load_transformer_channel(env.channel("transformer"))
    trained = train_on_splits(train, validation, transformer, policy, request)
    metadata = trained.metadata
    metadata["inputs"] = [f.lineage() for f in (*train_files, *val_files, *transformer_files)]
    metadata["controls"] = job_controls(env.config_dir)
    metadata["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    # everything is built in memory first, so a failure leaves the model directory as it was
    outputs = {
        MODEL_FILE: dumps_model(trained.pipeline),
        METADATA_FILE: (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode(),
        HANDLER_FILE: handler_source(),
        REQUIREMENTS_FILE: serving_requirements(),
        **serving_wheels(wheelhouse),
    }
    write_model_dir(env.model_dir, outputs)
    return metadata


def write_model_dir(model_dir: Path, outputs: Mapping[str, bytes]) -> None:
    written: list[Path] = []
    try:
        for name, payload in outputs.items():
            path = model_dir / name
            atomic_write_bytes(path, payload, mode=0o644)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise

