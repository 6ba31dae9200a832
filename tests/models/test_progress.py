"""Progress of a long fit: the model is the one a plain fit gives, the job log gets bounded, value-free
progress lines with an estimate, and the local CLI shows them from the job's log as it grows."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from pipelines.local.progress import JOB_PROGRESS_PREFIX, Progress
from privml.models import progress
from privml.models.estimators import fit_model, hgb_classifier


@pytest.mark.parametrize("early_stopping", [False, True])
def test_the_model_is_the_one_a_plain_fit_gives(early_stopping: bool) -> None:
    X, y = make_classification(3000, 10, random_state=0)
    params = dict(random_state=3, early_stopping=early_stopping, max_iter=120, validation_fraction=0.1,
                  n_iter_no_change=5)
    plain = HistGradientBoostingClassifier(**params).fit(X, y)
    watched = progress.fit(HistGradientBoostingClassifier(**params), X, y, min_interval=0, poll=0.001)
    assert watched.n_iter_ == plain.n_iter_
    assert np.array_equal(watched.predict_proba(X), plain.predict_proba(X))
    assert np.array_equal(watched.train_score_, plain.train_score_)
    assert np.array_equal(watched.validation_score_, plain.validation_score_)
    assert watched.get_params() == plain.get_params()

    Xr, yr = make_regression(2000, 6, noise=3, random_state=1)
    reg = HistGradientBoostingRegressor(random_state=5, max_iter=80)
    assert np.array_equal(progress.fit(reg, Xr, yr, poll=0.001).predict(Xr),
                          HistGradientBoostingRegressor(random_state=5, max_iter=80).fit(Xr, yr).predict(Xr))


def test_fit_model_goes_through_progress_and_gives_the_same_model(caplog: pytest.LogCaptureFixture) -> None:
    import pandas as pd

    X, y = make_classification(1500, 4, random_state=2)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with caplog.at_level(logging.INFO, logger=progress.LOGGER_NAME):
        fitted = fit_model("hgb", frame, y, columns=list(frame), numeric=list(frame), bounds={}, seed=7)
    plain = hgb_classifier(len(frame), 7).fit(fitted.pipeline.named_steps["encode"].transform(frame), y)
    assert np.array_equal(fitted.pipeline.predict_proba(frame), plain.predict_proba(
        fitted.pipeline.named_steps["encode"].transform(frame)))
    messages = [r.getMessage() for r in caplog.records if r.name == progress.LOGGER_NAME]
    assert messages[0] == "training hgb: fitting HistGradientBoostingClassifier, 200 iterations"
    assert re.fullmatch(r"training hgb: done, 200 iteration\(s\) in \d+\.\ds", messages[-1])


def test_progress_lines_are_bounded_value_free_and_carry_an_estimate(caplog: pytest.LogCaptureFixture) -> None:
    X, y = make_classification(4000, 20, random_state=0)
    X = X * 1234.5678  # values a line must never carry
    with caplog.at_level(logging.INFO, logger=progress.LOGGER_NAME):
        progress.fit(HistGradientBoostingClassifier(max_iter=150, early_stopping=False, random_state=0), X, y,
                     what="training hgb", min_interval=0, poll=0.002)
    messages = [r.getMessage() for r in caplog.records if r.name == progress.LOGGER_NAME]
    middle = messages[1:-1]
    assert middle, messages  # at least one line while the fit ran
    assert len(messages) <= 10 + 2  # one a tenth at most, plus the first and the last
    pattern = r"training hgb: iteration (\d+)/150 \((\d+)%\), \d+s elapsed(, about \d+s left)?"
    done = [int(re.fullmatch(pattern, m).group(1)) for m in middle]  # type: ignore[union-attr]
    assert done == sorted(done) and all(0 <= d <= 150 for d in done)
    assert any("left" in m for m in middle if not m.startswith("training hgb: iteration 150/"))
    for message in messages:
        assert not re.search(r"\d+\.\d{3,}", message), message  # counts and whole seconds only


def test_the_rule_for_a_line() -> None:
    rule = progress.ProgressLine(total=100, min_interval=5, heartbeat=60, _last_time=0.0)
    assert not rule.due(5, 1.0)  # no new tenth
    assert not rule.due(15, 2.0)  # a new tenth, but under the minimum interval
    assert rule.due(15, 6.0)
    assert not rule.due(19, 30.0)  # still the same tenth
    assert rule.due(19, 66.5)  # the heartbeat
    assert rule.due(100, 72.0)
    assert progress.describe("training", 40, 200, 10.0, upper_bound=True) == \
        "training: iteration 40/at most 200 (20%), 10s elapsed, at most about 40s left"
    assert progress.describe("training", 200, 200, 50.0, upper_bound=False) == \
        "training: iteration 200/200 (100%), 50s elapsed"


def test_a_model_without_iterations_gets_a_first_and_a_last_line(caplog: pytest.LogCaptureFixture) -> None:
    X, y = make_classification(300, 5, random_state=0)
    with caplog.at_level(logging.INFO, logger=progress.LOGGER_NAME):
        model = progress.fit(LogisticRegression(), X, y, what="training logreg")
    assert hasattr(model, "coef_")
    messages = [r.getMessage() for r in caplog.records if r.name == progress.LOGGER_NAME]
    assert messages[0] == "training logreg: fitting LogisticRegression"
    assert re.fullmatch(r"training logreg: done in \d+\.\ds", messages[1]) and len(messages) == 2


def test_the_cli_shows_the_job_logs_progress_lines_as_they_come(tmp_path: Path) -> None:
    log = tmp_path / "algo-1" / "logs" / "stderr"
    out = io.StringIO()
    shown = Progress(3, stream=out, bar=False)
    shown.step_started("Train", "Training")
    shown.follow_job_log("Train", log)  # not there yet: waited for

    def job() -> None:
        log.parent.mkdir(parents=True)
        with log.open("w") as fh:
            fh.write("INFO privml.job_runner: starting\n")
            fh.write(JOB_PROGRESS_PREFIX + "training hgb: fitting HistGradientBoostingClassifier, 200 iterations\n")
            fh.flush()
            time.sleep(0.7)
            fh.write("WARNING sklearn: something\n" + JOB_PROGRESS_PREFIX + "training hgb: iteration 100/200 (50%)")
            fh.flush()
            time.sleep(0.7)
            fh.write(", 3s elapsed, about 3s left\n")  # a line written in two parts is shown once, whole

    writer = threading.Thread(target=job)
    writer.start()
    time.sleep(0.8)
    assert "Train: training hgb: fitting HistGradientBoostingClassifier, 200 iterations" in out.getvalue()
    writer.join()
    shown.step_finished("Train", "Succeeded", 2.0)
    shown.close()
    text = out.getvalue()
    assert "      Train: training hgb: iteration 100/200 (50%), 3s elapsed, about 3s left\n" in text
    assert "starting" not in text and "something" not in text
    assert text.index("iteration 100/200") < text.index("Train: ok in 2.0s")

    quiet = io.StringIO()
    silent = Progress(1, stream=quiet, enabled=False)
    silent.follow_job_log("Train", log)
    silent.close()
    assert quiet.getvalue() == ""


def test_the_training_job_writes_its_progress_to_the_job_log(job_copy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.models.jobs import run_training

    result = run_training(job_copy, {"model": "hgb", "seed": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(JOB_PROGRESS_PREFIX)]
    assert lines[0] == JOB_PROGRESS_PREFIX + "training hgb: fitting HistGradientBoostingClassifier, 200 iterations"
    assert re.fullmatch(re.escape(JOB_PROGRESS_PREFIX) + r"training hgb: done, 200 iteration\(s\) in \d+\.\ds",
                        lines[-1])
