"""Membership-inference audit of a trained model: how well can an attacker tell the rows it was trained
on (members: the train split) from rows it never saw (non-members: the test split)?

Two attacks, both scored on the same balanced audit pool (as many members as non-members, subsampled
with a fixed seed, at most MAX_ROWS_PER_SIDE of each so Evaluate stays fast):

- **Loss threshold** (Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine Learning: Analyzing
  the Connection to Overfitting", CSF 2018): a row is called a member when the model's loss on it is
  low. Classification loss = cross-entropy of the true label, regression loss = squared error. This is
  the threshold attack on the loss that TensorFlow Privacy's `membership_inference_attack`
  (tensorflow_privacy/privacy/privacy_tests/membership_inference_attack, AttackType.THRESHOLD_ATTACK)
  and ML Privacy Meter's population attack (a loss threshold set on population data) run; the
  figures are read off the ROC curve over every threshold, as both report them.
- **Shadow models calibrated per example** (LiRA: Carlini, Chien, Nasr, Song, Terzis, Tramèr,
  "Membership Inference Attacks From First Principles", IEEE S&P 2022, arXiv 2112.03570): SHADOW_MODELS
  models of the same kind (a copy of the audited model's estimator, same hyperparameters, same ε for a
  DP model, on the audited model's feature encoding) are fitted on random halves of the audit pool,
  drawn so that every row is IN exactly half of them.
  For each row the logit-scaled confidence of its true label, φ = log p - log(1 - p) (regression:
  φ = -log squared error), is modelled as a Gaussian over the IN models and over the OUT models (online
  LiRA); with this few shadow models the paper's fixed-variance variant is used (one variance over
  all rows per side, per-row means). The score is the log-likelihood ratio of the audited model's φ
  under IN against OUT. ML Privacy Meter (privacytrustlab/ml_privacy_meter) audits with reference
  models the same way (its LiRA and RMIA attacks, Zarifzadeh et al. 2024). The rows of the pool
  are the attacker's knowledge, which makes this an upper bound on what an attacker without the data
  could do.

Reported per attack: ROC AUC, the TPR at 0.1% and at 1% FPR (None when the pool has too few
non-members to resolve that rate: with n non-members the lowest non-zero FPR is 1/n), and the
membership advantage max(TPR - FPR) (Yeom et al.), the figure the MaxMembershipAdvantage gate reads.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline

SHADOW_MODELS = 8  # even: every row is IN exactly SHADOW_MODELS / 2 of them
MAX_ROWS_PER_SIDE = 2000  # members and non-members each; 1/2000 resolves the 0.1% FPR figure
MIN_ROWS_PER_SIDE = 20  # below this the shadow models have too little to learn from
LOW_FPRS = {"tpr_at_0.1pct_fpr": 0.001, "tpr_at_1pct_fpr": 0.01}
_CLIP = 1e-6  # probabilities are clipped to [_CLIP, 1 - _CLIP] so that φ and the loss stay finite
REGRESSION = "regression"


@dataclass
class AuditPool:
    """The balanced rows the attacks score: members first, then as many non-members."""

    X: pd.DataFrame
    y: np.ndarray
    is_member: np.ndarray  # bool, one per row


def audit_pool(members: tuple[pd.DataFrame, Any], non_members: tuple[pd.DataFrame, Any], *,
               seed: int, max_rows_per_side: int = MAX_ROWS_PER_SIDE) -> AuditPool:
    """min(len(members), len(non_members), max_rows_per_side) rows of each, sampled without replacement."""
    n = min(len(members[0]), len(non_members[0]), max_rows_per_side)
    rng = np.random.default_rng(seed)
    parts_X, parts_y = [], []
    for X, y in (members, non_members):
        chosen = np.sort(rng.choice(len(X), size=n, replace=False))
        parts_X.append(X.iloc[chosen])
        parts_y.append(np.asarray(y)[chosen])
    X_pool = pd.concat(parts_X, ignore_index=True)
    return AuditPool(X_pool, np.concatenate(parts_y), np.repeat([True, False], n))


def audit(model: Any, members: tuple[pd.DataFrame, Any], non_members: tuple[pd.DataFrame, Any], *,
          task: str, seed: int = 0, shadow_models: int = SHADOW_MODELS,
          max_rows_per_side: int = MAX_ROWS_PER_SIDE) -> dict[str, Any]:
    """Both attacks on `model` (a fitted estimator or Pipeline with predict_proba, or predict for
    regression). The dict is evaluation.json's `membership` entry."""
    pool = audit_pool(members, non_members, seed=seed, max_rows_per_side=max_rows_per_side)
    n = int(pool.is_member.sum())
    target_phi, target_loss = _statistics(model, pool.X, pool.y, task)
    attacks: dict[str, dict[str, Any] | None] = {"loss_threshold": attack_figures(-target_loss, pool.is_member)}
    notes = []
    if n < MIN_ROWS_PER_SIDE:
        attacks["shadow"] = None
        notes.append(f"shadow-model attack not run: {n} rows per side (< {MIN_ROWS_PER_SIDE})")
    else:
        try:
            scores = lira_scores(model, pool, target_phi, task=task, shadow_models=shadow_models, seed=seed)
        except ValueError as exc:  # a half the shadow model kind cannot be fitted on (e.g. one class)
            attacks["shadow"] = None
            notes.append(f"shadow-model attack not run: a shadow model could not be fitted ({type(exc).__name__})")
        else:
            attacks["shadow"] = attack_figures(scores, pool.is_member)
    ran = [a for a in attacks.values() if a is not None]
    if 1 / n > LOW_FPRS["tpr_at_0.1pct_fpr"]:
        notes.append(f"{n} non-members cannot resolve 0.1% FPR (lowest non-zero FPR 1/{n} = {1 / n:.2%})")
    return {
        "members": n,
        "non_members": n,
        "attacks": attacks,
        "advantage": max(a["advantage"] for a in ran),
        "lowest_resolvable_fpr": round(1 / n, 6),
        "shadow_models": shadow_models,
        "method": (f"loss threshold (Yeom et al. 2018) and online LiRA with {shadow_models} shadow models, "
                   f"fixed variance (Carlini et al. 2022), on {n} train rows against {n} test rows"),
        "notes": notes,
    }


def attack_figures(scores: np.ndarray, is_member: np.ndarray) -> dict[str, float | None]:
    """AUC, TPR at the low FPRs and advantage of a score that is higher for rows called members."""
    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    non_members = int((~is_member).sum())
    figures: dict[str, float | None] = {"auc": round(float(roc_auc_score(is_member, scores)), 6)}
    for name, rate in LOW_FPRS.items():
        # the best TPR an attacker reaches without exceeding the FPR; unresolvable when 1/n > rate
        figures[name] = round(float(tpr[fpr <= rate].max()), 6) if 1 / non_members <= rate else None
    figures["advantage"] = round(float(np.max(tpr - fpr)), 6)
    return figures


def lira_scores(model: Any, pool: AuditPool, target_phi: np.ndarray, *, task: str, shadow_models: int,
                seed: int) -> np.ndarray:
    """Online LiRA with the fixed-variance estimate: log N(φ; μ_in, σ_in) - log N(φ; μ_out, σ_out)."""
    if shadow_models < 2 or shadow_models % 2:
        raise ValueError("shadow_models must be an even number >= 2")
    rows = len(pool.y)
    rng = np.random.default_rng(seed + 1)
    # every row IN exactly half the shadow models: a random half of the models per row
    inside = np.argsort(rng.random((shadow_models, rows)), axis=0) < shadow_models // 2
    phi = np.empty((shadow_models, rows))
    for index in range(shadow_models):
        shadow = fit_like(model, pool.X.iloc[np.flatnonzero(inside[index])], pool.y[inside[index]],
                          random_state=seed + 1 + index)
        phi[index], _ = _statistics(shadow, pool.X, pool.y, task)
    half = shadow_models // 2
    phi_in = phi.T[inside.T].reshape(rows, half)
    phi_out = phi.T[~inside.T].reshape(rows, half)
    mu_in, mu_out = phi_in.mean(axis=1), phi_out.mean(axis=1)
    sigma_in = max(float(np.std(phi_in - mu_in[:, None])), 1e-6)
    sigma_out = max(float(np.std(phi_out - mu_out[:, None])), 1e-6)
    return _log_normal(target_phi, mu_in, sigma_in) - _log_normal(target_phi, mu_out, sigma_out)


def fit_like(model: Any, X: pd.DataFrame, y: np.ndarray, *, random_state: int) -> Any:
    """A fresh copy of `model`'s estimator (same hyperparameters but its own `random_state`: a shadow
    model's noise and boosting draws are not the audited model's) fitted on (X, y).

    The steps before the estimator (privml's FeatureEncoder) are the audited model's, already fitted:
    every shadow model sees the same feature space, which a DP model's declared bounds are sized for.
    A diffprivlib estimator is fitted through privml.models.dp, as training fits it (its label-code
    workaround, leaks refused), and spends ε from a fresh accountant of its own.
    """
    from privml.models import dp

    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    *head, (name, last) = steps
    matrix = Pipeline(head).transform(X) if head else X
    last = _unfitted(last)
    if "random_state" in last.get_params(deep=False):
        last.set_params(random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and budget chatter of the shadow fits
        if _is_diffprivlib(last):
            dp.fit_without_leaks(last, matrix, y)
        else:
            last.fit(matrix, y)
    return Pipeline([*head, (name, last)]) if head else last


def _is_diffprivlib(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("diffprivlib")


def _unfitted(estimator: Any) -> Any:
    # diffprivlib's constructors replace accountant=None by the global default accountant, which
    # sklearn's clone() refuses as a modified parameter: build it from its parameters instead
    if _is_diffprivlib(estimator) and "accountant" in estimator.get_params(deep=False):
        from diffprivlib.accountant import BudgetAccountant

        params = {**estimator.get_params(deep=False), "accountant": BudgetAccountant()}  # unlimited, its own
        return type(estimator)(**params)
    return clone(estimator)


def _statistics(model: Any, X: pd.DataFrame, y: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """φ (LiRA's logit-scaled confidence) and the loss of each row."""
    if task == REGRESSION:
        squared = (np.asarray(y, dtype=float) - np.asarray(model.predict(X), dtype=float)) ** 2
        return -np.log(squared + 1e-12), squared
    proba = np.asarray(model.predict_proba(X), dtype=float)
    classes = list(model.classes_)
    column = np.array([classes.index(label) if label in classes else -1 for label in y])
    # a label the (shadow) model never saw has confidence 0
    p_true = np.where(column >= 0, proba[np.arange(len(y)), np.maximum(column, 0)], 0.0)
    p_true = np.clip(p_true, _CLIP, 1 - _CLIP)
    return np.log(p_true) - np.log1p(-p_true), -np.log(p_true)


def _log_normal(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma)
