"""Every solver and schedule through the estimators; files equal arrays; verbose bar."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.data import TableFiles


def _data():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_redundant=0,
                               n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


# lbfgs refuses the non-smooth penalties (tested in test_estimators_behaviour).
SOLVER_PENALTY = [(solver, penalty) for solver in ["sgd", "adam", "adamw", "adagrad", "rmsprop", "lbfgs"]
                  for penalty in ["l2", "l1", "elasticnet"] if solver != "lbfgs" or penalty == "l2"]


@pytest.mark.parametrize("solver, penalty", SOLVER_PENALTY)
def test_every_solver_and_penalty_lowers_the_loss(solver, penalty):
    X, y = _data()
    clf = LogisticRegression(solver=solver, penalty=penalty, alpha=3e-2, max_iter=30,
                             learning_rate_init=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-1] < 0.8 * np.log(3)
    assert clf.score(X, y) > 0.7
    if penalty == "l1":
        assert (clf.coef_ == 0).any()    # the proximal step gives exact zeros


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "step", "exponential", "cosine",
                                      "adaptive"])
def test_every_schedule_runs_and_reports_its_learning_rate(schedule):
    X, y = _data()
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate=schedule,
                        learning_rate_init=0.1, warmup_epochs=2, decay_epochs=3, max_iter=12,
                        batch_size=50, random_state=0, tol=0.0, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    lrs = [r["learning_rate"] for r in clf.history_]
    assert lrs[0] < 0.1                               # warming up
    if schedule == "constant":
        assert lrs[-1] == pytest.approx(0.1)
    elif schedule != "adaptive":
        assert lrs[-1] < 0.1                          # decayed
    assert all(isinstance(lr, float) for lr in lrs)


def test_adaptive_divides_by_five_on_plateau():
    X, y = _data()
    clf = LogisticRegression(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5,
                             batch_size=10, n_iter_no_change=2, tol=10.0, max_iter=20,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    lrs = np.array([r["learning_rate"] for r in clf.history_])
    ratios = lrs[1:] / lrs[:-1]
    assert np.all(np.isclose(ratios, 1.0) | np.isclose(ratios, 0.2))
    assert np.isclose(ratios, 0.2).any()


def test_verbose_draws_a_progress_bar_on_stderr(capsys):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LogisticRegression(solver="adam", max_iter=2, verbose=True, tol=0.0).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch" in err and "loss" in err


def test_unstandardised_data_converges_with_lbfgs_and_sgd_says_to_scale():
    X, y = load_digits(return_X_y=True)            # pixel values 0..16
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = LogisticRegression(max_iter=300, tol=1e-4).fit(X, y)   # 165 (scikit-learn: 169)
    assert clf.score(X, y) > 0.95
    with pytest.warns(ConvergenceWarning, match="before the loss stopped improving by "
                                                "tol=0.0001; .*scale the features"):
        LogisticRegression(solver="sgd", max_iter=2, tol=1e-4).fit(X, y)
    # With early stopping the rule is the validation metric's (it said "the loss").
    with pytest.warns(ConvergenceWarning, match="before the validation accuracy stopped "
                                                "improving by tol=0.0001"):
        LogisticRegression(solver="sgd", max_iter=2, tol=1e-4, early_stopping=True,
                           validation_metric="accuracy").fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lbfgs_on_badly_scaled_data_reaches_the_optimum_without_scaling(n_classes):
    # Units from 1e-2 to 1e2 and offsets up to 1e3: plain L-BFGS (and scikit-learn's
    # lbfgs) crawls for thousands of iterations here. The standardising preconditioner
    # gets there as fast as on standardised data, to the same optimum, in user units;
    # scikit-learn's Newton solver (invariant to such rescaling) is the oracle.
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=n_classes,
                               random_state=0)
    rng = np.random.default_rng(0)
    X = X * 10.0 ** rng.uniform(-2, 2, 8) + rng.choice([0.0, 50.0, -1e3], 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = LogisticRegression(alpha=1.0 / len(X), tol=1e-8).fit(X, y)
    assert ours.n_iter_ <= 100               # 29 and 52; thousands without the preconditioner
    theirs = SkLogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    ours_p, theirs_p = ours.predict_proba(X), theirs.predict_proba(X)
    np.testing.assert_allclose(ours_p, theirs_p, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4, atol=1e-4)
    # Coefficients in the user's units: compare them in standardised units, where all
    # are of order one.
    np.testing.assert_allclose(ours.coef_ * X.std(axis=0), theirs.coef_ * X.std(axis=0),
                               atol=1e-4)


def test_mlp_lbfgs_preconditions_its_first_layer(monkeypatch):
    from xentlearn.estimators import _build

    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    rng = np.random.default_rng(0)
    X = X * 10.0 ** rng.uniform(-2, 2, 8) + rng.choice([0.0, 50.0, -1e3], 8)

    def final_loss():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=50,
                                random_state=0).fit(X, y)
        return mlp.history_[-1]["train_loss"]

    preconditioned = final_loss()
    monkeypatch.setattr(_build, "input_preconditioner", lambda *args, **kwargs: None)
    assert preconditioned < final_loss()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_survives_a_column_too_small_to_scale_in_its_dtype(dtype):
    # 1 / rms^2 = 1e40 overflows float32: that column is left unscaled, not turned into
    # an inf direction that would end training at the start as if converged.
    X, y = make_classification(n_samples=300, n_features=3, n_informative=2, n_redundant=0,
                               random_state=0)
    X[:, 2] *= 1e-20
    clf = LogisticRegression(alpha=0.0, dtype=dtype, tol=1e-4).fit(X, y)
    reference = LogisticRegression(alpha=0.0, dtype=dtype, tol=1e-4).fit(X[:, :2], y)
    assert clf.n_iter_ > 3
    # float64 scales the tiny column too, and may use it: at least as good as without it.
    assert clf.score(X, y) >= reference.score(X[:, :2], y) - 0.02


def test_training_from_parquet_equals_training_in_memory(tmp_path):
    X, y = _data()
    labels = np.array(["ant", "bee", "cat"])[y]
    table = pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "label": labels})
    pq.write_table(table, tmp_path / "train.parquet", row_group_size=64)
    kwargs = dict(solver="sgd", batch_size=32, shuffle=False, max_iter=3, random_state=0,
                  learning_rate_init=0.05, hidden_layer_sizes=(6,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        memory = MLPClassifier(**kwargs).fit(X, labels)
        files = MLPClassifier(**kwargs).fit(
            TableFiles(tmp_path / "train.parquet", target="label", standardize=False,
                       batch_rows=50))
    np.testing.assert_array_equal(files.classes_, memory.classes_)
    for a, b in zip(files.coefs_, memory.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(files.predict_proba(TableFiles(tmp_path / "train.parquet")),
                               memory.predict_proba(X), rtol=1e-10)
    assert files.score(TableFiles(tmp_path / "train.parquet", target="label")) == pytest.approx(
        memory.score(X, labels))


def test_early_stopping_on_validation_accuracy_restores_the_most_accurate_epoch():
    X, y = load_digits(return_X_y=True)
    seen = {}

    def remember(record, params):
        seen[record.epoch] = {k: v.copy() for k, v in params.items()}

    clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                        validation_metric="accuracy", n_iter_no_change=3, max_iter=300,
                        learning_rate_init=0.01, random_state=0, callbacks=[remember])
    clf.fit(X / 16, y)
    accuracies = [r["val_accuracy"] for r in clf.history_]
    assert clf.validation_scores_ == accuracies
    best = 1 + int(np.argmax(accuracies))
    assert best < clf.n_iter_
    np.testing.assert_array_equal(clf.coefs_[0], seen[best]["W0"])


def test_polars_input_gives_feature_names():
    import polars as pl

    X, y = _data()
    frame = pl.DataFrame({f"f{j}": X[:, j] for j in range(X.shape[1])})
    clf = LogisticRegression().fit(frame, y)
    assert list(clf.feature_names_in_) == [f"f{j}" for j in range(X.shape[1])]
    np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))


def test_callbacks_see_the_last_epoch_when_a_stopping_rule_fires():
    X, y = _data()
    seen = []
    clf = LogisticRegression(solver="adam", max_iter=500, tol=1e-2, n_iter_no_change=2,
                             callbacks=[lambda record, params: seen.append(record.epoch)])
    clf.fit(X, y)
    assert clf.n_iter_ < 500
    assert seen == list(range(1, clf.n_iter_ + 1))


def test_early_stopping_with_adaptive_learning_rate_stops_and_restores():
    X, y = load_digits(return_X_y=True)
    seen = {}

    def remember(record, params):
        seen[record.epoch] = params["W0"].copy()

    clf = MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.1, early_stopping=True, n_iter_no_change=3,
                        max_iter=300, alpha=0.0, random_state=0, callbacks=[remember])
    clf.fit(X / 16, y)
    val = [r["val_loss"] for r in clf.history_]
    best = 1 + int(np.argmin(val))
    assert clf.n_iter_ < 300 and best < clf.n_iter_
    np.testing.assert_array_equal(clf.coefs_[0], seen[best])


def test_divergence_keeps_the_history_up_to_the_failure():
    from xentlearn.exceptions import DivergenceError

    X, y = _data()

    def explode(record, params):          # blow the parameters up after epoch 3
        if record.epoch == 3:
            params["W0"][...] = 1e308

    clf = LogisticRegression(solver="sgd", max_iter=10, callbacks=[explode], tol=0.0)
    with pytest.raises(DivergenceError, match="epoch 4"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3


def test_lbfgs_progress_counts_iterations_without_a_misleading_total_or_rate(capsys):
    X, y = _data()
    LogisticRegression(verbose=True).fit(X, y)
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "iteration" in final and "max|grad|" in final
    assert "lr=" not in final and "/1000" not in final and "%" not in final


@pytest.mark.parametrize("early_stopping", [False, True])
def test_lbfgs_on_arrays_reads_x_once_before_training(monkeypatch, early_stopping):
    """One pass over the training rows checks them for NaN/inf, gives lbfgs's
    preconditioner its moments and evaluates the objective where training starts (the
    loop's first step reads nothing); held-out rows are checked apart. Same bits as the
    passes taken separately."""
    import sklearn.utils.validation as validation

    from xentlearn.data import _stats
    from xentlearn.estimators import _inputs
    from xentlearn.training import ThreadBackend

    X, y = make_classification(n_samples=3000, n_features=6, random_state=0)
    X = X * [1.0, 10.0, 0.1, 1.0, 3.0, 1e3] + 50.0
    passes = []
    original_pass, original_first_pass = ThreadBackend.full_batch, _inputs.training_moments
    monkeypatch.setattr(ThreadBackend, "full_batch",
                        lambda *args: passes.append(1) or original_pass(*args))
    with monkeypatch.context() as patched:     # the loop evaluates the start itself
        patched.setattr(_inputs, "training_moments",
                        lambda *args: (original_first_pass(args[0])[0], None))
        reference = LogisticRegression(early_stopping=early_stopping, random_state=0).fit(X, y)
    reference_passes, passes[:] = len(passes), []
    rows, finite_checks = [], []
    original_moments, original_check = _stats._block_moments, validation._assert_all_finite
    monkeypatch.setattr(_stats, "_block_moments",
                        lambda block, w: rows.append(block.shape[0]) or original_moments(block, w))
    monkeypatch.setattr(validation, "_assert_all_finite",
                        lambda a, *args, **kwargs: finite_checks.append(np.shape(a))
                        or original_check(a, *args, **kwargs))
    fitted = LogisticRegression(early_stopping=early_stopping, random_state=0).fit(X, y)
    n_held_out = int(np.ceil(0.1 * 3000)) if early_stopping else 0
    assert sum(rows) == 3000 - n_held_out
    # scikit-learn's own pass over X is not made: only the held-out rows are its to check.
    assert [shape for shape in finite_checks if len(shape) == 2] == (
        [(n_held_out, 6)] if early_stopping else [])
    assert len(passes) == reference_passes - 1 and fitted.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(fitted.coef_, reference.coef_)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 2999])       # the last row lands in the held-out split
def test_lbfgs_refuses_nan_and_inf_anywhere_with_scikit_learns_message(bad, row):
    X, y = make_classification(n_samples=3000, n_features=4, random_state=0)
    X[row, 2] = bad
    message = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    for early_stopping in (False, True):
        with pytest.raises(ValueError, match=message):
            LogisticRegression(early_stopping=early_stopping, random_state=0).fit(X, y)


def test_lbfgs_refuses_nan_in_rows_of_zero_weight():
    """A block of zero-weight rows adds nothing to the moments: its rows are checked apart."""
    X, y = make_classification(n_samples=40_000, n_features=5, random_state=0)
    w = np.ones(40_000)
    w[-20_000:] = 0.0                 # the last row block holds only zero weights
    X[-1, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LogisticRegression().fit(X, y, sample_weight=w)
