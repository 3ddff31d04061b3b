"""lbfgs on many rows in memory solves on every tenth row first (training.subsample_start):
the same optimum in fewer iterations over all rows, deterministic, resumable, and only
where it applies (convex model, fresh start, rows not streamed, enough of every class)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from xentlearn import LogisticRegression, MLPClassifier, training
from xentlearn.data import ArraySource, TableFiles
from xentlearn.estimators import _checkpoint, _inputs


def _table(n=100_000, d=10, classes=2, seed=0):
    """Rows as bench W5/W6 (columns scaled 0.5-2, a linear model on 30% of them, noise),
    sorted by label (the subsample is strided, so it keeps the class shares)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    W = rng.standard_normal((d, max(classes, 2) if classes > 2 else 1))
    W[rng.random(d) > 0.3] = 0.0
    if classes == 2:
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * X @ W[:, 0] + 0.3)))).astype(int)
    else:
        y = np.argmax(0.5 * X @ W + rng.gumbel(size=(n, classes)), axis=1)
    order = np.argsort(y, kind="stable")
    return X[order], y[order]


@pytest.fixture
def starts(monkeypatch):
    """Records each subsample start: (rows in the subsample, iterations it took)."""
    calls = []
    real = training.subsample_start

    def spy(objective, optimizer, rows, state, **kwargs):
        new = real(objective, optimizer, rows, state, **kwargs)
        calls.append(rows.n_samples)
        return new

    monkeypatch.setattr(training, "subsample_start", spy)
    return calls


def _without_start(monkeypatch):
    monkeypatch.setattr(_inputs, "SUBSAMPLE_MIN_ROWS", 10**12)


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the subsample's solve warns of nothing
        warnings.filterwarnings("ignore", category=ConvergenceWarning)   # max_iter=2 fits
        return est.fit(*args, **kwargs)


CASES = {
    "binary": dict(classes=2, kwargs={}),
    "softmax": dict(classes=4, kwargs={}),
    "balanced float32": dict(classes=3, kwargs=dict(class_weight="balanced", dtype=np.float32)),
    "no intercept": dict(classes=2, kwargs=dict(fit_intercept=False)),
    "owlqn l1": dict(classes=2, kwargs=dict(penalty="l1", alpha=1e-3)),
    "owlqn elastic net softmax": dict(classes=3, kwargs=dict(penalty="elasticnet", alpha=1e-3,
                                                             l1_ratio=0.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_optimum_in_fewer_iterations_over_all_rows(case, starts, monkeypatch):
    X, y = _table(classes=CASES[case]["classes"])
    kwargs = dict(tol=1e-8, **CASES[case]["kwargs"])
    sub = _fit(LogisticRegression(**kwargs), X, y)
    assert starts == [10_000]
    _without_start(monkeypatch)
    cold = _fit(LogisticRegression(**kwargs), X, y)
    assert starts == [10_000]                        # not taken the second time
    # Easy data converges in a few iterations from anywhere; W5/W6-like rows do not.
    assert sub.n_iter_ < cold.n_iter_ if case in ("binary", "softmax") else (
        sub.n_iter_ <= cold.n_iter_)
    assert len(sub.history_) == sub.n_iter_          # the subsample's iterations not recorded
    rtol = 1e-3 if sub.coef_.dtype == np.float32 else 1e-6   # float32 stops where its sums do
    scale = np.abs(cold.coef_).max()
    np.testing.assert_allclose(sub.coef_, cold.coef_, rtol=0, atol=rtol * scale)
    # Softmax intercepts are free along (1, ..., 1) (no penalty, no change in the loss).
    centred = [b - b.mean() if b.size > 2 else b for b in (sub.intercept_, cold.intercept_)]
    np.testing.assert_allclose(*centred, rtol=0, atol=rtol * scale)
    assert sub.history_[-1]["train_loss"] <= cold.history_[-1]["train_loss"] * (1 + rtol)
    if "l1" in case or "elastic" in case:
        assert np.array_equal(sub.coef_ == 0, cold.coef_ == 0)     # the same support


def test_deterministic_and_seen_by_callbacks_as_full_iterations_only(starts):
    X, y = _table(classes=3)
    seen = []
    a = _fit(LogisticRegression(callbacks=[lambda record, params: seen.append(record.epoch)]),
             X, y)
    b = _fit(LogisticRegression(), X, y)
    assert starts == [10_000, 10_000]
    assert seen == list(range(1, a.n_iter_ + 1))
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.intercept_, b.intercept_)
    assert a.n_iter_ == b.n_iter_


def test_files_kept_in_memory_start_from_their_subsample_streamed_files_do_not(
        tmp_path, starts, monkeypatch):
    X, y = _table(classes=2, d=4)
    path = tmp_path / "t.csv"
    header = ",".join([f"x{j}" for j in range(X.shape[1])] + ["y"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="",
               fmt=["%.17g"] * X.shape[1] + ["%d"])
    in_memory = _fit(LogisticRegression(tol=1e-8), TableFiles(path, target="y"))
    assert starts == [10_000]
    streamed = _fit(LogisticRegression(tol=1e-8), TableFiles(path, target="y", memory_budget=0))
    assert starts == [10_000]
    _without_start(monkeypatch)
    cold = _fit(LogisticRegression(tol=1e-8), TableFiles(path, target="y"))
    assert in_memory.n_iter_ < cold.n_iter_ == streamed.n_iter_
    rows = pd.DataFrame(X[:1000], columns=header.split(",")[:-1])
    proba = cold.predict_proba(rows)
    np.testing.assert_allclose(in_memory.predict_proba(rows), proba, atol=1e-7)
    np.testing.assert_allclose(streamed.predict_proba(rows), proba, atol=1e-12)


def test_not_taken_where_it_does_not_apply(starts):
    X, y = _table(classes=2, d=4)
    _fit(MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=3), X, y)                                 # not convex
    warm = _fit(LogisticRegression(max_iter=2, warm_start=True), X, y)
    assert starts == [10_000]
    _fit(warm, X, y)                                 # from the current coefficients
    _fit(LogisticRegression(solver="adam", batch_size="full", max_iter=2), X, y)
    _fit(LogisticRegression(), X[:99_990], y[:99_990])   # 9,999 rows in a tenth
    rare = y.copy()
    rare[:200] = 2                                   # 20 rows of class 2 in the subsample
    _fit(LogisticRegression(), X, rare)
    assert starts == [10_000]


def test_a_parameter_heavy_model_needs_more_rows(starts):
    X, y = _table(n=100_000, d=600, classes=2)       # 601 parameters: 12,020 rows needed
    _fit(LogisticRegression(max_iter=2), X, y)
    assert starts == []


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("kill_after", [1, 2])
def test_an_interrupted_fit_resumes_bit_identically(kill_after, tmp_path, monkeypatch, starts):
    X, y = _table(classes=3)
    reference = _fit(LogisticRegression(tol=1e-10), X, y)
    real_save = _checkpoint.Checkpoint.save
    saves = []

    def save(self, state):
        real_save(self, state)
        saves.append(state.epoch)
        if len(saves) == kill_after:
            raise Interrupted

    monkeypatch.setattr(_checkpoint.Checkpoint, "save", save)
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupted):
        _fit(LogisticRegression(tol=1e-10, checkpoint=str(path)), X, y)
    monkeypatch.setattr(_checkpoint.Checkpoint, "save", real_save)
    resumed = _fit(LogisticRegression(tol=1e-10, checkpoint=str(path)), X, y)
    assert starts == [10_000, 10_000]                # the resumed fit starts from the file
    assert np.array_equal(resumed.coef_, reference.coef_)
    assert np.array_equal(resumed.intercept_, reference.intercept_)
    assert [r["train_loss"] for r in resumed.history_] == [
        r["train_loss"] for r in reference.history_]


def test_every_tenth_row_as_views():
    X = np.arange(60.0).reshape(20, 3)
    y, w = np.arange(20), np.linspace(1, 2, 20)
    rows = ArraySource(X, y, w).every(10)
    assert rows.n_samples == 2 and np.array_equal(rows.targets, [0, 10])
    assert np.shares_memory(rows.X, X) and np.array_equal(rows.X, X[[0, 10]])
    assert np.array_equal(rows.sample_weight, w[[0, 10]])


@pytest.mark.parametrize("row", [10, 12_345])        # in the subsample, and not
def test_a_missing_value_is_refused_as_without_the_start(row, starts, monkeypatch):
    X, y = _table(classes=2, d=4)
    X[row, 2] = np.nan
    with pytest.raises(ValueError) as started:
        _fit(LogisticRegression(), X, y)
    _without_start(monkeypatch)
    with pytest.raises(ValueError) as cold:
        _fit(LogisticRegression(), X, y)
    assert str(started.value) == str(cold.value) and "NaN" in str(cold.value)
    assert starts == ([] if row == 10 else [10_000])     # the whole's pass tells


def test_rows_of_weight_zero_count_for_nothing(starts):
    X, y = _table(classes=2, d=4)
    weights = np.ones(len(y))
    weights[::10] = 0.0                              # every row of the subsample
    _fit(LogisticRegression(), X, y, sample_weight=weights)
    assert starts == []
    weights[::10] = 2.0
    weighted = _fit(LogisticRegression(tol=1e-10), X, y, sample_weight=weights)
    assert starts == [10_000]
    repeated = np.concatenate([np.arange(len(y)), np.arange(0, len(y), 10)])
    np.testing.assert_allclose(weighted.coef_, _fit(LogisticRegression(tol=1e-10), X[repeated],
                                                    y[repeated]).coef_, rtol=1e-6)


def test_with_early_stopping_and_temperature(starts):
    X, y = _table(n=130_000, classes=3, d=4)       # 104,000 training rows
    est = _fit(LogisticRegression(early_stopping=True, calibration="temperature",
                                  validation_fraction=0.2, class_weight="balanced"), X, y)
    assert starts == [10_400] and est.temperature_ > 0
    assert len(est.history_) == est.n_iter_ and est.history_[0]["val_loss"] is not None


@pytest.mark.parametrize("layout", ["fortran", "dataframe"])
def test_column_major_rows_are_copied_row_major_for_the_subsample(layout, starts, monkeypatch):
    # A DataFrame's values are column-major: X[::10] of them has no unit stride, and the
    # products over it left BLAS (the start was slower than none). A C copy of the tenth.
    X, y = _table(classes=2, d=8)
    data = np.asfortranarray(X) if layout == "fortran" else pd.DataFrame(X)
    seen = []
    real = training.subsample_start

    def spy(objective, optimizer, rows, state, **kwargs):
        seen.append(rows.X.flags.c_contiguous)
        return real(objective, optimizer, rows, state, **kwargs)

    monkeypatch.setattr(training, "subsample_start", spy)
    est = _fit(LogisticRegression(tol=1e-10), data, y)
    assert seen == [True]
    reference = _fit(LogisticRegression(tol=1e-10), X, y).coef_
    np.testing.assert_allclose(est.coef_, reference, rtol=0,
                               atol=1e-7 * np.abs(reference).max())


def test_no_penalty_or_focal_loss_start_where_they_are(starts):
    X, y = _table(classes=2, d=4)
    _fit(LogisticRegression(penalty=None), X, y)     # separable rows would have no optimum
    _fit(LogisticRegression(focal_gamma=2.0), X, y)  # not convex
    assert starts == []
