"""The membership-inference audit (privml.models.membership) and its gate: a deliberately memorizing model
is caught at low false-positive rates, a DP model at ε = 1 is not, and the gate's reason names the
figure, the attack and where the bound came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from privml.models.evaluation import evaluate
from privml.models.membership import audit, audit_pool
from tests.models.jobs import JobDir

ADULT = Path(__file__).resolve().parents[2] / "examples" / "data" / "adult" / "adult.csv"


def _noisy_table(rows: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(rows, 10, flip_y=0.2, random_state=seed)  # 20% of the labels are noise
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]), np.where(y == 1, "yes", "no")


def test_a_memorizing_model_is_caught_at_low_false_positive_rates() -> None:
    X, y = _noisy_table()
    # distance-weighted neighbours: each training row is its own nearest neighbour, so it recalls its own
    # (even noisy) label with certainty; an unseen row gets a vote of its neighbours
    model = KNeighborsClassifier(5, weights="distance").fit(X[:1000], y[:1000])
    result = audit(model, (X[:1000], y[:1000]), (X[1000:], y[1000:]), task="binary", seed=0)
    shadow, loss = result["attacks"]["shadow"], result["attacks"]["loss_threshold"]
    assert result["members"] == result["non_members"] == 1000 and result["lowest_resolvable_fpr"] == 0.001
    assert shadow["auc"] > 0.8 and loss["auc"] > 0.7
    # at 1% FPR a guess finds 1% of the members; the calibrated attack finds more than ten times that
    assert shadow["tpr_at_1pct_fpr"] > 0.15
    assert shadow["tpr_at_0.1pct_fpr"] is not None and shadow["tpr_at_0.1pct_fpr"] > 0.05
    # per-example calibration is what resolves the low-FPR end: the global loss threshold cannot
    assert shadow["tpr_at_1pct_fpr"] > loss["tpr_at_1pct_fpr"] + 0.1
    assert result["advantage"] == max(shadow["advantage"], loss["advantage"]) > 0.4


def test_a_dp_model_at_epsilon_1_is_not_flagged() -> None:
    from privml.models.estimators import fit_model

    adult = pd.read_csv(ADULT, sep=";", dtype=str, keep_default_na=False).sample(n=8000, random_state=0)
    y = adult.pop("salary-class").to_numpy()
    X_train, X_test, y_train, y_test = adult[:4000], adult[4000:], y[:4000], y[4000:]
    # a DP model's categories are declared (here: every value the Adult file holds, as its documentation lists)
    categories = {c: sorted(adult[c].unique()) for c in adult.columns if c != "age"}
    fitted = fit_model("dp_logreg", X_train, y_train, columns=list(adult.columns), numeric=None,
                       bounds={"age": (17.0, 90.0)}, epsilon=1.0, seed=0, categories=categories)
    result = audit(fitted.pipeline, (X_train, y_train), (X_test, y_test), task="binary", seed=0)
    for name, figures in result["attacks"].items():
        assert abs(figures["auc"] - 0.5) < 0.03, name
        assert figures["tpr_at_1pct_fpr"] < 0.03, name
    assert result["advantage"] < 0.06


def test_regression_loss_is_the_squared_error() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=1200), "b": rng.normal(size=1200)})
    y = X["a"].to_numpy() + rng.normal(scale=1.0, size=1200)
    memorizing = KNeighborsRegressor(5, weights="distance").fit(X[:600], y[:600])
    result = audit(memorizing, (X[:600], y[:600]), (X[600:], y[600:]), task="regression", seed=0)
    # a memorized row has squared error 0: the loss threshold separates nearly all members
    assert result["attacks"]["loss_threshold"]["auc"] > 0.9
    assert result["attacks"]["shadow"]["auc"] > 0.8


def test_the_audit_pool_is_balanced_and_seeded() -> None:
    X, y = _noisy_table(300)
    members, non_members = (X[:200], y[:200]), (X[200:], y[200:])
    first = audit_pool(members, non_members, seed=4)
    again = audit_pool(members, non_members, seed=4)
    assert first.is_member.sum() == (~first.is_member).sum() == 100  # the smaller side sets the size
    assert first.X.equals(again.X) and not first.X.equals(audit_pool(members, non_members, seed=5).X)
    capped = audit_pool(members, non_members, seed=4, max_rows_per_side=50)
    assert len(capped.y) == 100


def test_a_tiny_pool_says_what_it_cannot_resolve() -> None:
    X, y = _noisy_table(30)
    model = KNeighborsClassifier(1).fit(X[:15], y[:15])
    result = audit(model, (X[:15], y[:15]), (X[15:], y[15:]), task="binary")
    assert result["attacks"]["shadow"] is None
    assert result["attacks"]["loss_threshold"]["tpr_at_0.1pct_fpr"] is None
    assert result["attacks"]["loss_threshold"]["tpr_at_1pct_fpr"] is None
    assert any("shadow-model attack not run: 15 rows per side" in note for note in result["notes"])
    assert any("15 non-members cannot resolve 0.1% FPR" in note for note in result["notes"])


def _report_with(anonymized: Path, dest: Path, model_privacy: dict | None) -> Path:
    shutil.copytree(anonymized / "report", dest)
    report = json.loads((dest / "report.json").read_text())
    report["model_privacy"] = model_privacy
    (dest / "report.json").write_text(json.dumps(report))
    return dest


@pytest.mark.parametrize(("declared", "parameter", "source", "limit"), [
    (None, 0.0001, "MaxMembershipAdvantage parameter", 0.0001),
    ({"max_membership_advantage": 0.0002}, 1.0, "policy model_privacy.max_membership_advantage", 0.0002),
    # a looser parameter cannot undo the policy's bound
    ({"max_membership_advantage": 0.0002}, 0.5, "policy model_privacy.max_membership_advantage", 0.0002),
])
def test_the_membership_gate_fails_with_a_reason(
    tmp_path: Path, trained_job: JobDir, anonymized: Path, declared: dict | None, parameter: float, source: str,
    limit: float,
) -> None:
    report_dir = _report_with(anonymized, tmp_path / "report", declared)
    result = evaluate(model_dir=trained_job.model_dir, train_dir=anonymized / "train", test_dir=anonymized / "test",
                      report_dir=report_dir, output_dir=tmp_path / "out", quality_margin=0.0, k_required=1,
                      max_membership_advantage=parameter)
    audit_entry = result["membership"]
    assert audit_entry["gate"] == {"max_advantage": limit, "source": source, "passed": 0}
    assert result["gates"]["privacy_passed"] == 0 and result["gates"]["quality_passed"] == 1
    worst = max(audit_entry["attacks"], key=lambda name: audit_entry["attacks"][name]["advantage"])
    assert result["gates"]["reason"] == (
        f"membership advantage {audit_entry['advantage']:.4f} ({worst.replace('_', ' ')} attack) > allowed "
        f"{limit:g} ({source})")


def test_the_membership_gate_is_off_by_default_and_passes_under_a_loose_bound(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    report_dir = _report_with(anonymized, tmp_path / "report", {"max_membership_advantage": 0.99})
    result = evaluate(model_dir=trained_job.model_dir, train_dir=anonymized / "train", test_dir=anonymized / "test",
                      report_dir=report_dir, output_dir=tmp_path / "out", quality_margin=0.0, k_required=1)
    assert result["membership"]["gate"]["passed"] == 1 and result["gates"]["passed"] == 1
