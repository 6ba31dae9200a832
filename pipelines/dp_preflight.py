"""Before any job starts, `privml run --local|--aws` with a differentially private model refuses a policy
that leaves a model input's bounds or categories to the data (exit 2, one line naming the columns).

The run's model is the `ModelKind` parameter (or the config's), its ε `DpEpsilon` (or the config's); the
policy is the one the run stores (--local) or the one at the config's policy URI (--aws). The check is
privml.models.dp_policy's, on the policy alone, so both modes refuse the same runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from privml.errors import PrivmlError


def is_dp_run(parameters: Mapping[str, str], *, default_model: str = "hgb", default_epsilon: float = 0.0) -> bool:
    from privml.models.estimators import MODEL_KINDS

    kind = parameters.get("ModelKind") or default_model
    try:
        epsilon = float(parameters.get("DpEpsilon", default_epsilon))
    except ValueError:
        epsilon = 0.0  # refused by the parameter checks with their own message
    return (kind in MODEL_KINDS and MODEL_KINDS[kind].private) or epsilon > 0


def check_dp_policy_text(policy_text: bytes, *, source: str, parameters: Mapping[str, str],
                         default_model: str = "hgb", default_epsilon: float = 0.0) -> None:
    """PrivmlError (exit 2) when the run trains a DP model and the policy gives an input no domain."""
    if not is_dp_run(parameters, default_model=default_model, default_epsilon=default_epsilon):
        return
    import yaml

    from privml.models import dp
    from privml.models.dp_policy import check_dp_policy
    from privml.policy import parse_policy

    try:
        data = yaml.safe_load(policy_text)
    except yaml.YAMLError:
        raise PrivmlError(f"{source}: not valid YAML") from None
    policy = parse_policy(data, source=source)
    kind = parameters.get("ModelKind") or default_model
    check_dp_policy(policy, label_bounds=kind in dp.LABEL_BOUNDED_KINDS, label=parameters.get("Label") or None,
                    source=source)
