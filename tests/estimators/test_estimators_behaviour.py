"""LogisticRegression and MLPClassifier against scikit-learn and the contract."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sklm
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.exceptions import DivergenceError, XentlearnInputError


def _standardised(n=200, d=5, classes=2, seed=0):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=min(d, 4),
                               n_redundant=0, n_classes=classes, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _sklearn_alpha(C, y_index, sample_weight=None, class_weight=None):
    # Ours: sum w_i l_i / sum w_i + alpha/2 ||W||^2; scikit-learn: C sum w_i l_i + 1/2 ||W||^2.
    w = np.ones(len(y_index)) if sample_weight is None else np.asarray(sample_weight, float)
    if class_weight is not None:
        w = w * class_weight[y_index]
    return 1.0 / (C * w.sum())


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("weighting", ["none", "balanced", "sample_weight"])
def test_lbfgs_reaches_sklearn_optimum(classes, weighting):
    X, y = _standardised(n=150, classes=classes, seed=classes)
    y = np.where(np.arange(len(y)) < 30, 0, y) if weighting == "balanced" else y  # imbalance
    C = 0.5
    sample_weight = None
    class_weight = None
    if weighting == "sample_weight":
        sample_weight = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    if weighting == "balanced":
        counts = np.bincount(y)
        class_weight = len(y) / (len(counts) * counts)
    reference = sklm.LogisticRegression(C=C, tol=1e-12, max_iter=10_000,
                                        class_weight="balanced" if class_weight is not None else None)
    reference.fit(X, y, sample_weight=sample_weight)
    alpha = _sklearn_alpha(C, y, sample_weight, class_weight)
    ours = LogisticRegression(alpha=alpha, tol=1e-10, max_iter=1000,
                              class_weight="balanced" if class_weight is not None else None)
    ours.fit(X, y, sample_weight=sample_weight)
    assert ours.coef_.shape == reference.coef_.shape
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("classes", [2, 3])
def test_full_batch_sgd_reaches_sklearn_optimum(classes):
    X, y = _standardised(n=200, classes=classes, seed=1)
    C = 0.5
    reference = sklm.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    ours = LogisticRegression(solver="sgd", batch_size="full", learning_rate_init=0.5,
                              momentum=0.9, alpha=_sklearn_alpha(C, y), max_iter=3000, tol=0.0,
                              n_iter_no_change=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-4, atol=1e-6)


def test_default_logistic_regression_converges_to_its_optimum():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    default = LogisticRegression().fit(X, y)
    tight = LogisticRegression(tol=1e-12, max_iter=5000).fit(X, y)
    gap = default.loss_curve_[-1] - tight.loss_curve_[-1]
    assert 0 <= gap < 1e-6


def test_soft_labels_equal_repeated_rows_with_probability_weights():
    X, y = _standardised(n=60, classes=3, seed=4)
    P = np.random.default_rng(0).dirichlet(np.ones(3), size=len(X))
    soft = LogisticRegression(alpha=1e-2, tol=1e-10, max_iter=500).fit(X, P)
    X_rep = np.repeat(X, 3, axis=0)
    y_rep = np.tile(np.arange(3), len(X))
    hard = LogisticRegression(alpha=1e-2, tol=1e-10, max_iter=500).fit(
        X_rep, y_rep, sample_weight=P.ravel())
    np.testing.assert_array_equal(soft.classes_, np.arange(3))
    np.testing.assert_allclose(soft.coef_, hard.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(soft.predict_proba(X), hard.predict_proba(X), rtol=1e-6)


def test_soft_label_model_scores_probability_rows_by_their_most_probable_class():
    # score(X, P) failed inside scikit-learn's accuracy_score ("a mix of continuous-multioutput
    # and multiclass targets"); it scores as validation accuracy does.
    X, y = _standardised(n=90, classes=3, seed=6)
    P = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    soft = LogisticRegression().fit(X, P)
    w = np.random.default_rng(2).uniform(0, 2, len(X))
    hits = soft.predict(X) == P.argmax(axis=1)
    assert soft.score(X, P) == pytest.approx(hits.mean())
    assert soft.score(X, P, sample_weight=w) == pytest.approx(w @ hits / w.sum())
    assert soft.score(X, P.argmax(axis=1)) == soft.score(X, P)      # hard labels as before
    assert soft.score(X, sp.csr_matrix(P)) == soft.score(X, P)
    with pytest.raises(XentlearnInputError, match=r"y has 2 columns, but the model was "
                                                  r"trained on soft labels over 3 classes"):
        soft.score(X, P[:, :2])


def test_l1_matches_saga_zeros_and_objective():
    X, y = _standardised(n=200, d=10, classes=2, seed=5)
    C = 0.05
    saga = sklm.LogisticRegression(l1_ratio=1.0, solver="saga", C=C, tol=1e-10,
                                   max_iter=100_000).fit(X, y)
    alpha = 1.0 / (C * len(y))
    ours = LogisticRegression(penalty="l1", solver="sgd", batch_size="full", alpha=alpha,
                              learning_rate_init=0.5, momentum=0.0, max_iter=5000, tol=0.0,
                              n_iter_no_change=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)

    def objective(coef, intercept):
        z = X @ coef.ravel() + intercept[0]
        return np.mean(np.logaddexp(0, z) - y * z) + alpha * np.abs(coef).sum()

    np.testing.assert_array_equal(ours.coef_ == 0, saga.coef_ == 0)
    assert (ours.coef_ == 0).sum() >= 2
    assert objective(ours.coef_, ours.intercept_) == pytest.approx(
        objective(saga.coef_, saga.intercept_), rel=1e-6)


def test_partial_fit_equals_fit_epoch_by_epoch():
    X, y = _standardised(n=120, classes=3, seed=6)
    kwargs = dict(solver="sgd", batch_size=20, shuffle=False, learning_rate_init=0.05,
                  random_state=0, n_iter_no_change=1000)
    fitted = MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, y)
    streamed = MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, **kwargs)
    for epoch in range(5):
        for start in range(0, 120, 40):  # chunks that are whole mini-batches
            streamed.partial_fit(X[start:start + 40], y[start:start + 40], classes=np.unique(y))
    # The chunked run takes the same 6 mini-batch steps per epoch in the same order.
    for a, b in zip(fitted.coefs_, streamed.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert streamed.n_iter_ == 15


def test_partial_fit_needs_classes_and_rejects_unknown_labels():
    X, y = _standardised(n=50, classes=3)
    clf = LogisticRegression(solver="adam")
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="7"):
        clf.partial_fit(X, np.where(y == 0, 7, y))


def test_string_labels_round_trip_and_float32_stays_float32():
    X, y = _standardised(n=90, classes=3)
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = LogisticRegression(dtype=np.float32).fit(X.astype(np.float64), labels)
    assert set(clf.predict(X)) <= {"cat", "dog", "emu"}
    assert clf.score(X, labels) > 0.8
    assert clf.coef_.dtype == np.float32 and clf.intercept_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    assert clf.decision_function(X).dtype == np.float32
    mlp = MLPClassifier(hidden_layer_sizes=(5,), dtype=np.float32, max_iter=5).fit(X, labels)
    assert all(w.dtype == np.float32 for w in mlp.coefs_ + mlp.intercepts_)


@pytest.mark.parametrize("Estimator", [LogisticRegression, MLPClassifier])
def test_sparse_equals_dense(Estimator):
    X, y = _standardised(n=80, classes=3)
    X[np.abs(X) < 0.7] = 0
    kwargs = dict(random_state=0, max_iter=20)
    if Estimator is MLPClassifier:
        kwargs["hidden_layer_sizes"] = (6,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = Estimator(**kwargs).fit(X, y)
        sparse = Estimator(**kwargs).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.predict_proba(sp.csc_matrix(X)), dense.predict_proba(X),
                               rtol=1e-8, atol=1e-10)


def test_multilabel():
    X, Y = make_classification(n_samples=200, n_features=6, random_state=0), None
    X = X[0]
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 3))
    Y = (X @ W + rng.normal(size=(200, 3)) > 0).astype(int)
    clf = LogisticRegression().fit(X, Y)
    assert clf.coef_.shape == (3, 6)
    assert clf.predict(X).shape == (200, 3)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 3) and np.all((proba >= 0) & (proba <= 1))
    assert ((proba > 0.5) == clf.predict(X)).all()
    assert np.mean(clf.predict(X) == Y) > 0.8


def test_early_stopping_stops_and_restores_best_weights():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, n_iter_no_change=3,
                        max_iter=500, learning_rate_init=0.01, alpha=0.0, random_state=0)
    clf.fit(X, y)
    assert clf.n_iter_ < 500
    val = [r["val_loss"] for r in clf.history_]
    assert clf.validation_scores_ == val
    best = int(np.argmin(val))
    assert best < len(val) - 1


def test_history_records():
    X, y = _standardised()
    clf = LogisticRegression(solver="adam", max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert [r["epoch"] for r in clf.history_] == [1, 2, 3]
    assert set(clf.history_[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy",
                                    "learning_rate", "seconds"}
    assert clf.loss_curve_ == [r["train_loss"] for r in clf.history_]


def test_max_iter_warns_convergence_warning():
    X, y = _standardised()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        LogisticRegression(max_iter=2).fit(X, y)


def test_divergence_raises_and_keeps_finite_parameters():
    X, y = _standardised()
    clf = LogisticRegression(solver="sgd", learning_rate_init=1e200, momentum=0.0)
    with pytest.raises(DivergenceError, match="smaller learning rate"):
        clf.fit(X * 1e100, y)
    assert np.isfinite(clf.coef_).all()


@pytest.mark.parametrize("sparse", [False, True])
def test_prediction_works_in_row_blocks_without_a_copy_of_x(sparse):
    # An MLP's hidden layer of all rows at once took 10x the memory of X; float32 X for a
    # float64 model was cast whole. Row blocks give the same numbers.
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40000, 20)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1.5, X, 0)) if sparse else X
    clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xs[:2000], y[:2000])
    tracemalloc.start()
    proba = clf.predict_proba(Xs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert proba.dtype == np.float64 and peak < 3 * X.nbytes
    # A float32 model casts float64 X a block at a time (a block of 20 columns' rows).
    X64 = rng.standard_normal((40000, 200))
    model32 = LogisticRegression(dtype=np.float32, max_iter=2).fit(X64[:500], y[:500])
    tracemalloc.start()
    model32.decision_function(X64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < X64.nbytes / 8
    dense = np.asarray(Xs.todense() if sparse else Xs, dtype=np.float64)
    W0, W1 = clf.coefs_
    z = np.maximum(dense @ W0 + clf.intercepts_[0], 0) @ W1 + clf.intercepts_[1]
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z[:, 0])), rtol=1e-12)


@pytest.mark.parametrize("make", [LogisticRegression, MLPClassifier])
@pytest.mark.parametrize("sparse", [False, True])
def test_float64_x_beyond_float32_is_refused_by_a_float32_model(make, sparse):
    X, y = _standardised()
    model = make(dtype=np.float32, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    X[0, 0] = 1e39                         # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"infinity or a value too large for dtype\('float32'\)"):
        model.predict_proba(sp.csr_matrix(X) if sparse else X)


def test_a_loss_that_grows_but_stays_finite_is_a_warning():
    # Steps far too large for the features: the loss grows by orders of magnitude, stays
    # finite, and the fit stops after n_iter_no_change epochs without improvement.
    X, y = _standardised(classes=3)
    clf = MLPClassifier(solver="sgd", hidden_layer_sizes=(5,), learning_rate_init=50.0,
                        max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"training loss grew from .* \(epoch 1\) to "
                      r".*: the steps are too large; lower learning_rate_init"):
        clf.fit(X, y)
    assert clf.n_iter_ < 30 and clf.loss_curve_[-1] > 1e6 * clf.loss_curve_[0]
    with warnings.catch_warnings(record=True) as caught:      # a sound fit says nothing of it
        warnings.simplefilter("always")
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(X, y)
    assert [str(w.message) for w in caught if "grew" in str(w.message)] == []


@pytest.mark.parametrize("bad, match", [
    (lambda X, y: (np.where(np.eye(*X.shape, dtype=bool), np.nan, X), y), "NaN"),
    (lambda X, y: (np.where(np.eye(*X.shape, dtype=bool), np.inf, X), y), "infinity|inf"),
    (lambda X, y: (X, y[:-1]), "inconsistent numbers of samples|samples"),
    (lambda X, y: (X, np.zeros_like(y)), "class"),
])
def test_bad_input_raises_and_leaves_fitted_estimator_unchanged(bad, match):
    X, y = _standardised()
    clf = LogisticRegression().fit(X, y)
    before = (clf.coef_.copy(), clf.intercept_.copy(), clf.n_features_in_, clf.n_iter_)
    Xb, yb = bad(X, y)
    with pytest.raises(ValueError, match=match):
        clf.fit(Xb, yb)
    np.testing.assert_array_equal(clf.coef_, before[0])
    assert (clf.n_features_in_, clf.n_iter_) == before[2:]


def test_negative_weights_and_wrong_feature_count():
    X, y = _standardised()
    clf = LogisticRegression()
    with pytest.raises(ValueError, match="sample_weight.*non-negative"):
        clf.fit(X, y, sample_weight=-np.ones(len(y)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="solver"):
        LogisticRegression(solver="newton").fit(X, y)


def test_warm_start_starts_from_assigned_coefficients():
    X, y = _standardised()
    opt = LogisticRegression(tol=1e-10, max_iter=500).fit(X, y)
    warm = LogisticRegression(warm_start=True, tol=1e-6).fit(X, y)
    warm.coef_ = opt.coef_.copy()
    warm.intercept_ = opt.intercept_.copy()
    warm.fit(X, y)
    assert warm.n_iter_ <= 1


def test_warm_start_uses_coefficients_assigned_before_any_fit():
    """As scikit-learn: coef_/intercept_ (coefs_/intercepts_) assigned to an estimator that
    never fitted are the starting point (they were ignored: a fresh start); one of the pair
    alone is refused, naming the other, and the estimator keeps what it had."""
    X, y = _standardised()
    opt = LogisticRegression(tol=1e-10, max_iter=500).fit(X, y)
    warm = LogisticRegression(warm_start=True, tol=1e-6)
    warm.coef_, warm.intercept_ = opt.coef_.copy(), opt.intercept_.copy()
    warm.fit(X, y)
    assert warm.n_iter_ <= 1
    np.testing.assert_allclose(warm.coef_, opt.coef_, rtol=1e-4)
    still = MLPClassifier(hidden_layer_sizes=(4,), warm_start=True, solver="sgd", max_iter=1,
                          learning_rate_init=1e-12, momentum=0.0)
    still.coefs_ = [np.ones((X.shape[1], 4)), np.ones((4, 1))]
    still.intercepts_ = [np.ones(4), np.ones(1)]
    still.fit(X, y)
    np.testing.assert_allclose(still.coefs_[1], 1.0, atol=1e-9)
    half = LogisticRegression(warm_start=True)
    half.coef_ = opt.coef_.copy()
    with pytest.raises(ValueError, match="coef_ is set but intercept_ is not"):
        half.fit(X, y)
    assert not hasattr(half, "classes_") and not hasattr(half, "intercept_")
    LogisticRegression(warm_start=True, fit_intercept=False).fit(X, y)   # nothing assigned


def test_pipeline_and_pandas_feature_names():
    import pandas as pd

    X, y = load_iris(return_X_y=True, as_frame=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.9
    clf = LogisticRegression().fit(StandardScaler().set_output(transform="pandas").fit_transform(X), y)
    assert list(clf.feature_names_in_) == list(X.columns)
    assert isinstance(X, pd.DataFrame)


def test_mlp_defaults_match_sklearn_on_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(random_state=0).fit(X_train, y_train).score(X_test, y_test)
        theirs = SkMLP(random_state=0).fit(X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.01


def test_warm_start_with_wrongly_shaped_coefficients_names_them():
    X, y = _standardised(classes=3)
    clf = LogisticRegression(warm_start=True).fit(X, y)
    clf.coef_ = clf.coef_[:, :2]
    with pytest.raises(ValueError, match=r"coef_.*shape"):
        clf.fit(X, y)


def test_partial_fit_refuses_other_classes_later():
    X, y = _standardised(classes=3)
    clf = LogisticRegression(solver="adam").partial_fit(X, y, classes=[0, 1, 2])
    # Plain values, not numpy reprs ([np.int64(0), ...] before).
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3\] differs from the classes "
                                         r"of the first partial_fit call, \[0, 1, 2\]$"):
        clf.partial_fit(X, y, classes=np.arange(4))
    with pytest.raises(ValueError, match=r"sample_weight contains 1 non-finite value\(s\) "
                                         r"\(NaN or inf\); the first is nan in row 2$"):
        LogisticRegression().fit(X[:4], y[:4], sample_weight=np.array([1.0, 1.0, np.nan, 1.0]))


def test_dataframe_with_a_text_column_names_it():
    import pandas as pd

    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["r", "g", "r", "g"],
                          "ok": [True, False, True, False]})
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['colour'\].*TableFiles"):
        LogisticRegression().fit(frame, [0, 1, 0, 1])
    LogisticRegression().fit(frame[["size", "ok"]], [0, 1, 0, 1])   # bool columns are numbers


def test_pandas_nullable_labels_keep_their_type():
    import pandas as pd

    X, y = _standardised(n=60, classes=3)
    clf = LogisticRegression().fit(X, pd.Series(y, dtype="Int64"))
    assert clf.classes_.dtype.kind == "i" and clf.predict(X).dtype.kind == "i"


def test_the_two_estimators_share_every_parameter_and_default():
    # scikit-learn needs explicit __init__ signatures, so the shared parameters are
    # written twice; this keeps the copies from drifting apart.
    import inspect

    def defaults(cls):
        return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != "self"}

    linear, mlp = defaults(LogisticRegression), defaults(MLPClassifier)
    assert set(linear) - set(mlp) == {"fit_intercept"}
    assert set(mlp) - set(linear) == {"hidden_layer_sizes", "activation"}
    differing = {name for name in set(linear) & set(mlp) if linear[name] != mlp[name]}
    # DESIGN: lbfgs for the linear model, adam for the MLP; the linear defaults reach
    # an objective gap below 1e-6 (tol, max_iter), the MLP's are scikit-learn's; alpha
    # is "auto" (scikit-learn's C=1) for the linear model, scikit-learn's 1e-4 for the MLP.
    assert differing == {"solver", "tol", "max_iter", "alpha"}
    assert [n for n in linear if n in mlp] == [n for n in mlp if n in linear]   # same order


def test_callbacks_are_checked_before_the_first_epoch():
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    calls = []
    est = LogisticRegression(callbacks=[lambda record, params: calls.append(1), 5])
    with pytest.raises(ValueError, match=r"callbacks\[1\] is 5 \(int\): expected a function"):
        est.fit(X, y)
    assert calls == [] and not hasattr(est, "coef_")


@pytest.mark.parametrize("sizes", [(10**7,), (10**11,), (1000, 10**9)])
def test_hidden_layer_sizes_beyond_memory_are_refused_before_allocating(sizes):
    import time

    X, y = np.random.default_rng(0).normal(size=(300, 64)), np.arange(300) % 3
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"too large for this machine: .*W0 64x"):
        MLPClassifier(hidden_layer_sizes=sizes, solver="lbfgs").fit(X, y)
    assert time.perf_counter() - start < 10.0     # no allocation: fast even on a busy machine


def test_values_near_the_float64_limit_name_their_column_for_lbfgs():
    import pandas as pd
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=50), "huge": rng.normal(size=50) * 1e300})
    with pytest.raises(ValueError, match=r"values in huge are so large .* Rescale"):
        LogisticRegression().fit(X, (X["a"] > 0).astype(int))


@pytest.mark.parametrize("penalty, classes", [("l1", 2), ("elasticnet", 3)])
def test_lbfgs_with_l1_runs_owlqn_to_sagas_optimum_and_support(penalty, classes):
    X, y = make_classification(n_samples=300, n_features=12, n_informative=4, n_redundant=2,
                               n_classes=classes, random_state=3)
    X = X * np.linspace(0.5, 3.0, X.shape[1])       # unequal scales: the preconditioner's job
    alpha = 0.02
    ours = LogisticRegression(penalty=penalty, alpha=alpha, l1_ratio=0.7, tol=1e-10,
                              max_iter=2000).fit(X, y)
    # scikit-learn >= 1.8 says l1 / elastic net with l1_ratio alone (penalty is deprecated).
    saga = sklm.LogisticRegression(C=1.0 / (len(y) * alpha),
                                   l1_ratio=1.0 if penalty == "l1" else 0.7, solver="saga",
                                   tol=1e-12, max_iter=100000).fit(X, y)
    coef, ref = ours.coef_, saga.coef_
    assert ((coef == 0) == (np.abs(ref) < 1e-7)).all()
    np.testing.assert_allclose(coef, ref, atol=2e-5)
    assert (coef == 0).sum() > 0


def test_alpha_auto_is_scikit_learns_default_c_including_weights():
    X, y = make_classification(n_samples=160, n_features=9, n_informative=5, n_classes=4,
                               random_state=2)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    cw = {0: 1.0, 1: 2.0, 2: 0.5, 3: 1.5}
    ours = LogisticRegression(class_weight=cw, tol=1e-10).fit(X, y, sample_weight=sw)
    theirs = sklm.LogisticRegression(class_weight=cw, tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)


def test_temperature_calibration_lowers_held_out_loss_of_an_overconfident_mlp():
    from scipy.special import softmax
    from sklearn.metrics import log_loss


    def expected_calibration_error(y_true, proba, bins=10):
        confidence, hit = proba.max(axis=1), proba.argmax(axis=1) == y_true
        which = np.minimum((confidence * bins).astype(int), bins - 1)
        return sum(abs(hit[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                   for b in range(bins) if (which == b).any())

    X, y = make_classification(n_samples=1200, n_features=20, n_informative=6, flip_y=0.15,
                               n_classes=3, random_state=5)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(128,), alpha=0.0, max_iter=150,
                              learning_rate_init=0.01, tol=0.0, random_state=0,
                              validation_fraction=0.2,    # overfits: confident, often wrong
                              calibration="temperature").fit(X_train, y_train)
    assert model.temperature_ > 1.5
    logits = model.decision_function(X_test)          # the raw logits, as trained
    raw, calibrated = softmax(logits, axis=1), model.predict_proba(X_test)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[raw.argmax(axis=1)])
    assert log_loss(y_test, calibrated) < 0.8 * log_loss(y_test, raw)
    assert expected_calibration_error(y_test, calibrated) < 0.7 * expected_calibration_error(
        y_test, raw)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X_test)), calibrated, rtol=1e-10)


def test_temperature_is_the_minimiser_of_the_held_out_log_loss():
    from xentlearn.estimators._calibration import fit_temperature
    from xentlearn.objective import make_loss

    rng = np.random.default_rng(1)
    logits = rng.normal(scale=4.0, size=(500, 4))
    targets = np.where(rng.random(500) < 0.6, logits.argmax(axis=1), rng.integers(0, 4, 500))
    T = fit_temperature(logits, targets, None, "multiclass")

    def loss(t):
        terms = make_loss("multiclass")(logits / t, targets, None)
        return terms.loss_sum / terms.weight_sum

    assert loss(T) <= min(loss(T * 1.001), loss(T / 1.001))
    grid = np.exp(np.linspace(-3, 3, 601))
    assert loss(T) <= min(loss(t) for t in grid) + 1e-12
    binary = fit_temperature(logits[:, :1], (targets == 0).astype(float), None, "binary")
    assert binary > 0


def test_calibration_needs_validation_data_for_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xentlearn.data import TableFiles

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": np.arange(20.0), "y": ["a", "b"] * 10}), path)
    with pytest.raises(ValueError, match="calibration='temperature' needs validation data"):
        LogisticRegression(calibration="temperature").fit(TableFiles(path, target="y"))


def test_partial_fit_on_files_with_more_columns_keeps_the_model_columns(tmp_path):
    """A continued fit on files that hold an extra column trains on the model's columns, as
    predict reads them; before, feature_columns_ took the new file's columns (['a', 'b',
    'c'] with preprocessing of ['a', 'b']): predict failed and the saved file did not load.
    A table naming other features is refused, the model unchanged."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from xentlearn import load
    from xentlearn.data import TableFiles
    from xentlearn.exceptions import XentlearnInputError

    rng = np.random.default_rng(3)
    a, b, c = rng.standard_normal((3, 60))
    label = np.where(a + b > 0, "yes", "no")
    pa_csv.write_csv(pa.table({"a": a, "b": b, "label": label}), tmp_path / "base.csv")
    pa_csv.write_csv(pa.table({"c": c, "b": b, "a": a, "label": label}), tmp_path / "extra.csv")
    model = LogisticRegression(solver="adam", random_state=0)
    model.partial_fit(TableFiles(tmp_path / "base.csv", target="label"))
    model.partial_fit(TableFiles(tmp_path / "extra.csv", target="label"))
    assert model.feature_columns_ == ["a", "b"] and model.n_iter_ == 2
    model.save(tmp_path / "m.xent")
    loaded = load(tmp_path / "m.xent")
    np.testing.assert_array_equal(loaded.predict(TableFiles(tmp_path / "extra.csv")),
                                  model.predict(TableFiles(tmp_path / "base.csv")))
    coef = model.coef_.copy()
    with pytest.raises(XentlearnInputError, match=r"feature columns 'a', 'b'; the table names "
                                                  r"'c', 'a'"):
        model.partial_fit(TableFiles(tmp_path / "extra.csv", target="label", features=["c", "a"]))
    np.testing.assert_array_equal(model.coef_, coef)
    assert model.n_iter_ == 2


def test_validation_files_are_read_with_the_training_columns(tmp_path):
    """Validation files must hold the training features and may hold more: a file lacking
    one is refused naming the column and the file (it said "the preprocessor was fitted on
    columns ['b'] that are not among the features ['a']"); one with an extra column scores
    as the same file without it."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from xentlearn.data import TableFiles

    rng = np.random.default_rng(5)
    a, b, c = rng.standard_normal((3, 80))
    label = np.where(a - b > 0, "yes", "no")
    for name, columns in (("train", {"a": a, "b": b}), ("valid", {"a": a, "b": b}),
                          ("extra", {"c": c, "b": b, "a": a}), ("nob", {"a": a})):
        pa_csv.write_csv(pa.table({**columns, "label": label}), tmp_path / f"{name}.csv")
    fit = lambda valid: LogisticRegression(max_iter=5).fit(  # noqa: E731
        TableFiles(tmp_path / "train.csv", target="label"),
        validation_data=TableFiles(tmp_path / valid, target="label"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        val_losses = [[r["val_loss"] for r in fit(name).history_]
                      for name in ("extra.csv", "valid.csv")]
        assert val_losses[0] == val_losses[1] and len(val_losses[0]) == 5
        with pytest.raises(ValueError, match=r"feature column 'b' not found in '.*nob.csv'"):
            fit("nob.csv")


@pytest.mark.parametrize("make", [lambda: LogisticRegression(warm_start=True),
                                  lambda: MLPClassifier(hidden_layer_sizes=(3,), max_iter=5,
                                                        warm_start=True)],
                         ids=["linear", "mlp"])
def test_warm_start_on_other_classes_is_refused_and_changes_nothing(make):
    # As scikit-learn's MLP; it used to start afresh silently (other n_features: refused).
    X, y = _standardised(classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = make().fit(X, y)
    coef = [c.copy() for c in getattr(clf, "coefs_", [getattr(clf, "coef_", None)])]
    for other in (y % 2, np.where(y == 2, 7, y)):
        with pytest.raises(ValueError, match=r"warm_start=True starts from the fitted "
                                             r"coefficients, which are for multiclass targets "
                                             r"with classes \[0, 1, 2\]; this y has .* set "
                                             r"warm_start=False to start afresh"):
            clf.fit(X, other)
        assert list(clf.classes_) == [0, 1, 2]
        now = getattr(clf, "coefs_", [getattr(clf, "coef_", None)])
        assert all(np.array_equal(a, b) for a, b in zip(now, coef))
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X[:, :3], y)


def test_partial_fit_refuses_temperature_calibration_and_keeps_the_temperature():
    X, y = _standardised(n=400, classes=3)
    clf = LogisticRegression(solver="adam", calibration="temperature", max_iter=5,
                             early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    temperature = clf.temperature_
    with pytest.raises(ValueError, match=r"partial_fit cannot fit calibration='temperature'.*"
                                         r"set calibration=None for partial_fit, or call fit"):
        clf.partial_fit(X, y)
    assert clf.temperature_ == temperature
    clf.set_params(calibration=None).partial_fit(X, y)
    assert not hasattr(clf, "temperature_")


def test_labels_that_are_numbers_in_an_object_array_fit_and_score():
    # scikit-learn's metrics call them "unknown": a model fitted on them could not score.
    from sklearn.model_selection import cross_val_score

    X, y = _standardised(n=90, classes=3)
    labels = np.array([1, 2, 3], dtype=object)[y]
    clf = LogisticRegression().fit(X, labels)
    assert clf.classes_.dtype == np.int64 and list(clf.classes_) == [1, 2, 3]
    assert clf.score(X, labels) == LogisticRegression().fit(X, y + 1).score(X, y + 1)
    assert np.isfinite(cross_val_score(LogisticRegression(), X, labels, cv=3)).all()


def test_a_sparse_indicator_matrix_is_multilabel_y():
    from sklearn.preprocessing import MultiLabelBinarizer

    X, y = _standardised(n=120)
    sets = [[0, 1] if label else [2] for label in y]
    sparse_y = MultiLabelBinarizer(sparse_output=True).fit_transform(sets)
    assert sp.issparse(sparse_y)
    clf = LogisticRegression().fit(X, sparse_y)
    dense = LogisticRegression().fit(X, sparse_y.toarray())
    assert np.array_equal(clf.coef_, dense.coef_)
    assert clf.score(X, sparse_y) == dense.score(X, sparse_y.toarray())


def test_hidden_layer_sizes_takes_any_array_like():
    X, y = _standardised(n=60)
    clf = MLPClassifier(hidden_layer_sizes=np.array([4, 3]), max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(5, 4), (4, 3), (3, 1)]


def test_all_zero_class_weights_are_refused_and_cost_a_pass_only_when_one_is_zero(monkeypatch):
    from xentlearn.estimators import _inputs

    X, y = _standardised(n=60)
    with pytest.raises(ValueError, match=r"every training row has loss weight 0"):
        LogisticRegression(alpha=0.1, class_weight={0: 0, 1: 0}).fit(X, y)
    passes = []
    real = _inputs.loss_weight_sum
    monkeypatch.setattr(_inputs, "loss_weight_sum",
                        lambda *a, **k: passes.append(1) or real(*a, **k))
    LogisticRegression(alpha=0.1, class_weight="balanced").fit(X, y)
    assert passes == []
    LogisticRegression(alpha=0.1, class_weight={0: 0.0, 1: 1.0}).fit(X, y)
    assert passes == [1]
