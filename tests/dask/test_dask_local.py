"""Dask input on dask's synchronous scheduler (no cluster): packing, the metadata pass,
label encoding, the per-part sums and predictions, equal to the in-memory fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dask
import dask.array as da
import dask.dataframe as dd

from tests.dask.conftest import fit_quietly, problem, relative_difference, soft_labels
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.data import ArraySource, column_moments
from xentlearn.data._dask import DaskSource, is_dask_collection
from xentlearn.exceptions import XentlearnInputError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _lr(**kw):
    return LogisticRegression(tol=1e-10, max_iter=1000, **kw)


def test_detected_without_importing_dask_for_other_input():
    assert is_dask_collection(da.zeros((2, 2)))
    assert is_dask_collection(dd.from_pandas(pd.DataFrame({"a": [1.0]}), npartitions=1))
    assert not is_dask_collection(np.zeros((2, 2)))
    assert not is_dask_collection(pd.DataFrame({"a": [1.0]}))


@pytest.mark.parametrize("case", ["binary", "softmax", "weights", "balanced", "soft",
                                  "rechunked", "empty partition"])
def test_equal_to_in_memory(case):
    classes = 2 if case in ("binary", "weights", "rechunked", "empty partition") else 3
    X, y = problem(classes=classes)
    w = np.random.default_rng(1).uniform(0, 3, len(y)) if case == "weights" else None
    kw = {"class_weight": "balanced"} if case == "balanced" else {}
    target = soft_labels(y, classes) if case == "soft" else y
    reference = _lr(**kw).fit(X, target, sample_weight=w)
    chunks = (250, 300, 1, 649) if case == "rechunked" else 300
    Xd = da.from_array(X, chunks=(chunks, -1))
    yd = da.from_array(target, chunks=(300,) + target.shape[1:])    # other chunks: aligned
    if case == "empty partition":
        Xd = da.concatenate([Xd, Xd[:0]])
        yd = da.concatenate([yd, yd[:0]])
    wd = None if w is None else da.from_array(w, chunks=400)
    fitted = _lr(**kw).fit(Xd, yd, sample_weight=wd)
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    assert relative_difference(fitted.intercept_, reference.intercept_) < 1e-6
    assert np.array_equal(fitted.classes_, reference.classes_)
    assert fitted.score(Xd, yd, sample_weight=wd) == pytest.approx(
        reference.score(X, target, sample_weight=w), abs=1e-12)


@pytest.mark.parametrize("classes", [2, 3], ids=["binary", "softmax"])
def test_float32_equal_to_in_memory_to_float32_precision(classes):
    # README: dask fits match in memory within 1e-6 in float64, and as closely as float32
    # resolves the loss in float32: the sums' order differs, tol=1e-10 is out of float32's
    # reach, so each fit stops where its line search finds no decrease (binary here: 1.6e-4,
    # with a column of mean 50 and spread 3). Both stay float32.
    X, y = problem(classes=classes)
    reference = _lr(dtype=np.float32).fit(X.astype(np.float32), y)
    fitted = _lr(dtype=np.float32).fit(da.from_array(X.astype(np.float32), chunks=(300, -1)),
                                       da.from_array(y, chunks=300))
    assert fitted.coef_.dtype == reference.coef_.dtype == np.float32
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-3
    assert relative_difference(fitted.intercept_, reference.intercept_) < 1e-3


def test_dataframe_unknown_partitions_and_classes_missing_from_partitions():
    X, y = problem(classes=4)
    order = np.argsort(y, kind="stable")          # sorted labels: most partitions lack classes
    X, y = X[order], np.array(["a", "b", "c", "d"])[y[order]]
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]).assign(label=y)
    ddf = dd.from_pandas(frame, npartitions=5).clear_divisions()
    reference = _lr().fit(frame.drop(columns="label"), frame["label"])
    fitted = _lr().fit(ddf.drop(columns="label"), ddf["label"])
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    assert list(fitted.classes_) == ["a", "b", "c", "d"]
    assert list(fitted.feature_names_in_) == list(reference.feature_names_in_)
    proba = fitted.predict_proba(ddf.drop(columns="label"))
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(frame.drop(columns="label")),
                               atol=1e-6)
    assert fitted.predict(ddf.drop(columns="label")).compute().tolist() == \
        reference.predict(frame.drop(columns="label")).tolist()


def test_predictions_are_dask_arrays_equal_to_in_memory():
    X, y = problem(classes=3)
    model = _lr().fit(X, y)
    Xd = da.from_array(X, chunks=(500, -1))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        lazy = getattr(model, method)(Xd)
        assert isinstance(lazy, da.Array), method
        assert lazy.chunks[0] == Xd.chunks[0]
        np.testing.assert_array_equal(lazy.compute(), getattr(model, method)(X))
    w = np.random.default_rng(0).uniform(size=len(y))
    assert model.score(Xd, da.from_array(y, chunks=500), da.from_array(w, chunks=500)) == \
        pytest.approx(model.score(X, y, w), abs=1e-12)
    binary = _lr().fit(X, y == 1)
    assert binary.decision_function(Xd).compute().shape == (len(y),)


def test_a_frame_model_predicting_an_array_warns_of_the_names_once():
    # scikit-learn's warning was repeated by every partition's task (10 here).
    import warnings

    X, y = problem()
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    model = _lr().fit(dd.from_pandas(frame, npartitions=3), dd.from_pandas(pd.Series(y), 3))
    Xd = da.from_array(X, chunks=(len(X) // 10, -1))
    for call in (lambda: model.predict(Xd).compute(), lambda: model.score(Xd, y)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        named = [w for w in caught if "does not have valid feature names" in str(w.message)]
        assert len(named) == 1, [str(w.message) for w in caught]


def test_a_shared_source_is_read_once_per_partition_by_fit_and_score(tmp_path):
    # X and y of one DataFrame: each optimised alone, both fused their own read.
    calls = []

    def load(i):
        calls.append(i)
        rng = np.random.default_rng(i)
        frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=list("abc"))
        return frame.assign(y=(frame.a > 0).astype(int))

    source = dd.from_map(load, range(4))
    X, y = source[list("abc")], source.y
    calls.clear()
    model = _lr().fit(X, y)
    assert sorted(calls) == [0, 1, 2, 3]
    calls.clear()
    model.score(X, y)
    assert sorted(calls) == [0, 1, 2, 3]


@pytest.mark.parametrize("kinds", ["array, series, array", "frame, array, series",
                                   "frame, array, array", "array, series, none"])
def test_arrays_and_frames_mixed_pair_the_same_rows(kinds):
    # One graph for a mix of kinds listed the partitions out of order (and swapped y with
    # the weights): the fit was another model, or failed on the weights as labels.
    X, y = problem()
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    reference = _lr().fit(X, y, sample_weight=None if kinds.endswith("none") else w)
    rows = len(y) // 5

    def lazy(kind, values):
        if kind == "none":
            return None
        if kind == "array":
            return da.from_array(values, chunks=(rows,) + values.shape[1:])
        frame = pd.DataFrame(values) if values.ndim == 2 else pd.Series(values)
        return dd.from_pandas(frame, npartitions=5, sort=False)

    Xd, yd, wd = (lazy(kind, values) for kind, values in zip(kinds.split(", "), (X, y, w)))
    fitted = _lr().fit(Xd, yd, sample_weight=wd)
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    assert fitted.score(Xd, yd, sample_weight=wd) == pytest.approx(
        reference.score(X, y, sample_weight=None if wd is None else w), abs=1e-12)


def test_predictions_on_empty_partitions():
    # A filtered DataFrame has empty partitions; scikit-learn's checks refuse 0 rows.
    X, y = problem(classes=3)
    model = _lr().fit(X, y)
    n = len(y)
    Xd = da.from_array(X, chunks=((n // 2, 0, n - n // 2), -1))
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    dfd = dd.from_pandas(frame, npartitions=3)
    dfd = dd.concat([dfd, dfd[dfd.f0 > 1e9]])              # three empty partitions
    framed = _lr().fit(frame, y)
    for method in ("predict", "predict_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(model, method)(Xd).compute(),
                                      getattr(model, method)(X))
        np.testing.assert_array_equal(getattr(framed, method)(dfd).compute(),
                                      getattr(framed, method)(frame))
    yd = da.from_array(y, chunks=((n // 2, 0, n - n // 2),))
    assert model.score(Xd, yd) == model.score(X, y)


def test_empty_partitions_of_a_file_model_say_nothing(tmp_path):
    # Their stand-in row of zeros holds the category '0.0', which was warned of as unseen.
    import warnings

    from xentlearn.data import TableFiles

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "c": rng.choice(["a", "b"], 80),
                          "y": rng.choice(["n", "p"], 80)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = _lr().fit(TableFiles(tmp_path / "t.csv", target="y"))
    dfd = dd.from_pandas(frame.drop(columns="y"), npartitions=2)
    dfd = dd.concat([dfd, dfd[dfd.x > 1e9]])               # two empty partitions
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(model.predict_proba(dfd).compute(),
                                      model.predict_proba(frame))


def test_metadata_moments_equal_one_pass_in_memory():
    X, y = problem()
    w = np.random.default_rng(0).uniform(0, 2, len(y))
    source = DaskSource.from_collections(da.from_array(X, chunks=(170, -1)),
                                         da.from_array(y, chunks=170),
                                         da.from_array(w, chunks=170), dtype=np.float64)
    expected = column_moments(ArraySource(X, y, w).batches(None))
    got = source.column_moments()
    assert got.weight_sum == pytest.approx(expected.weight_sum)
    np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(got.var, expected.var, rtol=1e-10)
    assert source.n_samples == len(y) and len(source.parts) == 8


def test_column_chunks_refused_with_the_fix():
    X, y = problem()
    with pytest.raises(XentlearnInputError, match=r"chunked along its columns.*rechunk\(\{1: -1\}\)"):
        _lr().fit(da.from_array(X, chunks=(300, 3)), da.from_array(y, chunks=300))


@pytest.mark.parametrize("bad, message", [
    ("nan", r"X contains 1 non-finite value\(s\) \(NaN or inf\); the first is nan in row 400 "
            r"\(partition 1, its row 100\)$"),
    ("nan in a frame", r"X contains 1 non-finite value\(s\) \(NaN or inf\); the first is nan in "
                       r"row 103 of partition 1$"),               # lengths unknown
    ("partitions", r"y has 2 partitions but X has 4"),
    ("missing label", r"y has a missing label \(nan\) in row 305; every sample needs a label"),
    ("one class", r"only one class"),
    ("zero weights", r"zero for every row"),
])
def test_bad_input_named(bad, message):
    X, y = problem()
    w = None
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y.astype(float), chunks=300)
    if bad == "nan":
        X = X.copy()
        X[400, 2] = np.nan
        Xd = da.from_array(X, chunks=(300, -1))
    elif bad == "nan in a frame":
        frame = pd.DataFrame(X)
        frame.iloc[403, 2] = np.nan
        Xd = dd.from_pandas(frame, npartitions=4)       # 300 rows per partition
        yd = dd.from_pandas(pd.Series(y), npartitions=4)
    elif bad == "partitions":
        frame = dd.from_pandas(pd.DataFrame(X), npartitions=4)
        Xd, yd = frame, dd.from_pandas(pd.Series(y), npartitions=2)
    elif bad == "missing label":
        yd = da.from_array(np.where(np.arange(len(y)) == 305, np.nan, y), chunks=300)
    elif bad == "one class":
        yd = da.zeros(len(y), chunks=300)
    elif bad == "zero weights":
        w = da.zeros(len(y), chunks=300)
    with pytest.raises(XentlearnInputError, match=message):
        _lr().fit(Xd, yd, sample_weight=w)


def test_unknown_lengths_with_in_memory_y_refused():
    X, y = problem()
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    with pytest.raises(XentlearnInputError, match="partitioned like X"):
        _lr().fit(frame, y)


def test_in_memory_y_split_by_known_chunks():
    X, y = problem()
    reference = _lr().fit(X, y)
    fitted = _lr().fit(da.from_array(X, chunks=(333, -1)), y)
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6


def test_mlp_lbfgs_and_early_stopping_run():
    X, y = problem(n=600, classes=3)
    Xd, yd = da.from_array(X, chunks=(200, -1)), da.from_array(y, chunks=200)
    mlp = fit_quietly(MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30,
                                    random_state=0), Xd, yd)
    reference = fit_quietly(MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30,
                                          random_state=0), X, y)
    assert relative_difference(mlp.coefs_[0], reference.coefs_[0]) < 1e-6
    stopped = fit_quietly(_lr(early_stopping=True, random_state=0), Xd, yd)
    assert stopped.history_[0]["val_loss"] is not None


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_equals_in_memory_bit_for_bit(solver):
    """On the local scheduler every part is in one shard: local SGD is the in-memory
    epoch (same shuffle, same batches across part boundaries, same updates)."""
    X, y = problem(n=900, classes=3)
    make = lambda: MLPClassifier(hidden_layer_sizes=(5,), solver=solver, batch_size=64,  # noqa: E731
                                 max_iter=4, random_state=0, learning_rate_init=0.01)
    reference = fit_quietly(make(), X, y)
    fitted = fit_quietly(make(), da.from_array(X, chunks=(250, -1)), da.from_array(y, chunks=250))
    for a, b in zip(fitted.coefs_, reference.coefs_):
        np.testing.assert_array_equal(a, b)
    assert fitted.loss_curve_ == reference.loss_curve_


def test_shard_rows_take_equals_concatenated_indexing():
    from xentlearn.data._dask import ShardRows
    from xentlearn._types import Batch

    rng = np.random.default_rng(0)
    parts = [Batch(rng.normal(size=(n, 3)), rng.integers(0, 3, n), rng.uniform(size=n))
             for n in (5, 1, 7)]
    rows = ShardRows(parts)
    X = np.concatenate([p.X for p in parts])
    t = np.concatenate([p.targets for p in parts])
    index = rng.permutation(13)[:9]
    batch = rows.take(index)
    np.testing.assert_array_equal(batch.X, X[index])
    np.testing.assert_array_equal(batch.targets, t[index])


def test_average_trees_weights_and_counts():
    from xentlearn.training._distributed import average_trees

    a, b = {"W": np.array([1.0, 3.0])}, {"W": np.array([3.0, 7.0])}
    np.testing.assert_allclose(average_trees([a, b], [1, 3])["W"], [2.5, 6.0])
    assert average_trees([a, b], [0, 5]) is b
    from xentlearn import optimizers

    opt = optimizers.adam(0.1)
    s1, s2 = opt.init(a), opt.init(a)
    _, s1 = opt.update(a, s1, a)
    _, s2 = opt.update(b, s2, b)
    _, s2 = opt.update(b, s2, b)
    merged = average_trees([s1, s2], [1, 1])
    arrays = optimizers.state_to_arrays(merged)
    counts = [v for k, v in arrays.items() if v.dtype.kind == "i"]
    assert counts and all(int(c) == 2 for c in counts)


def test_sparse_chunks_equal_to_in_memory():
    import scipy.sparse as sp

    X, y = problem()
    X[np.abs(X) < 0.8] = 0.0
    reference = _lr().fit(sp.csr_matrix(X), y)
    Xd = da.from_array(X, chunks=(300, -1)).map_blocks(sp.csr_matrix, dtype=X.dtype,
                                                       meta=sp.csr_matrix((0, 0)))
    fitted = _lr().fit(Xd, da.from_array(y, chunks=300))
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    # Predictions too (len() of a sparse chunk raised TypeError in every partition).
    for method in ("predict", "predict_proba"):
        np.testing.assert_array_equal(getattr(fitted, method)(Xd).compute(),
                                      getattr(fitted, method)(sp.csr_matrix(X)))


def test_multilabel_and_class_weight_dict():
    X, y = problem(classes=3)
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    reference = _lr().fit(X, Y)
    fitted = _lr().fit(da.from_array(X, chunks=(300, -1)), da.from_array(Y, chunks=(300, 3)))
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    weights = {0: 2.0, 2: 0.5}
    reference = _lr(class_weight=weights).fit(X, y)
    fitted = _lr(class_weight=weights).fit(da.from_array(X, chunks=(300, -1)),
                                           da.from_array(y, chunks=300))
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6


def test_partial_fit_on_dask_equals_in_memory():
    X, y = problem(classes=3)
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)
    here = LogisticRegression(solver="adam", batch_size=50, random_state=0)
    there = LogisticRegression(solver="adam", batch_size=50, random_state=0)
    for _ in range(2):
        here.partial_fit(X, y, classes=[0, 1, 2])
        there.partial_fit(Xd, yd, classes=[0, 1, 2])
    np.testing.assert_array_equal(there.coef_, here.coef_)
    with pytest.raises(XentlearnInputError, match="classes must be given"):
        LogisticRegression(solver="adam").partial_fit(Xd, yd)


@pytest.mark.parametrize("kw", [{"penalty": "l1", "alpha": 1e-3},
                                {"penalty": "elasticnet", "alpha": 1e-3, "l1_ratio": 0.5},
                                {"solver": "adam", "batch_size": "full", "max_iter": 30}])
def test_owlqn_and_full_batch_first_order_equal_to_in_memory(kw):
    X, y = problem(classes=3)
    make = lambda: LogisticRegression(tol=1e-10, **{"max_iter": 1000, **kw})  # noqa: E731
    reference = fit_quietly(make(), X, y)
    fitted = fit_quietly(make(), da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300))
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    if kw.get("penalty") == "l1":
        np.testing.assert_array_equal(fitted.coef_ == 0, reference.coef_ == 0)


@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_preconditioner_takes_the_metadata_moments_no_extra_pass(monkeypatch, weighted):
    """R1: the column moments of lbfgs's preconditioner come from the metadata pass
    (``DaskSource.moments``); no part is brought to the client for them, nor read again."""
    from xentlearn.data import _dask
    from xentlearn.estimators import _build

    X, y = problem(classes=3)
    w = np.random.default_rng(2).uniform(0, 2, len(y)) if weighted else None
    reference = _lr().fit(X, y, sample_weight=w)
    passes = {"fetch": 0, "moments pass": 0, "moments": []}
    original_fetch, original_map_parts = DaskSource.fetch, DaskSource.map_parts
    original_preconditioner = _build.input_preconditioner

    def counting_fetch(self, index):
        passes["fetch"] += 1
        return original_fetch(self, index)

    def counting_map_parts(self, fn, *args):
        passes["moments pass"] += fn is _dask.part_moments
        return original_map_parts(self, fn, *args)

    def recording_preconditioner(moments, *args, **kwargs):
        passes["moments"].append(moments)
        return original_preconditioner(moments, *args, **kwargs)

    monkeypatch.setattr(DaskSource, "fetch", counting_fetch)
    monkeypatch.setattr(DaskSource, "map_parts", counting_map_parts)
    monkeypatch.setattr(_build, "input_preconditioner", recording_preconditioner)
    fitted = _lr().fit(da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300),
                       sample_weight=None if w is None else da.from_array(w, chunks=300))
    assert passes["fetch"] == 0 and passes["moments pass"] == 0
    [moments] = passes["moments"]
    expected = column_moments(ArraySource(X, y, w).batches(None))
    np.testing.assert_allclose(moments.mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(moments.var, expected.var, rtol=1e-10)
    assert relative_difference(fitted.coef_, reference.coef_) < 1e-6
    assert relative_difference(fitted.intercept_, reference.intercept_) < 1e-6


def test_every_backend_has_the_protocol_methods_with_one_signature():
    """The loop has one code path: every backend answers full_batch, minibatch_epoch and
    evaluate, with the Protocol's arguments (no backend-specific hook)."""
    import inspect

    from xentlearn.training import Backend, SerialBackend, ThreadBackend
    from xentlearn.training import _loop
    from xentlearn.training._distributed import DaskBackend

    for name in ("full_batch", "minibatch_epoch", "evaluate"):
        expected = list(inspect.signature(getattr(Backend, name)).parameters)
        for backend in (SerialBackend, ThreadBackend, DaskBackend):
            assert list(inspect.signature(getattr(backend, name)).parameters) == expected, \
                (backend.__name__, name)
    assert "hasattr(backend" not in inspect.getsource(_loop)


def test_a_checkpoint_resumes_only_on_the_layout_it_was_written_on(tmp_path):
    # Parts, workers and sync_every decide a Dask mini-batch fit's bits: another layout
    # resumed such a checkpoint silently (review: 0.03 to 0.5 off the uninterrupted fit).
    from xentlearn.exceptions import CheckpointError

    X, y = problem(n=900, classes=3, seed=2)
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)
    path = tmp_path / "fit.ckpt"

    def adam(**kw):
        return LogisticRegression(solver="adam", batch_size=50, max_iter=4, random_state=0,
                                  tol=0.0, **kw)

    def stop_at_two(record, params):
        if record.epoch == 2:
            raise KeyboardInterrupt

    with dask.config.set({"xentlearn.sync-every": 3}):
        reference = fit_quietly(adam(), Xd, yd)
        with pytest.raises(KeyboardInterrupt):
            adam(checkpoint=path, callbacks=[stop_at_two]).fit(Xd, yd)
    written = path.read_bytes()
    for other, where in [
            (lambda: fit_quietly(adam(checkpoint=path), Xd, yd), "sync_every None"),
            (lambda: fit_quietly(adam(checkpoint=path), X, y), "in this process"),
            (lambda: fit_quietly(adam(checkpoint=path), da.from_array(X, chunks=(450, -1)),
                                 da.from_array(y, chunks=450)), "2 parts of 450, 450 rows")]:
        with dask.config.set({"xentlearn.sync-every": None}):
            with pytest.raises(CheckpointError, match=r"was written by a fit on a Dask cluster "
                               r"\(3 parts of 300, 300, 300 rows; 1 worker, parts \[\[0, 1, "
                               r"2\]\]; sync_every 3\); this one runs .*" + where):
                other()
        assert path.read_bytes() == written
    with dask.config.set({"xentlearn.sync-every": 3}):
        resumed = fit_quietly(adam(checkpoint=path), Xd, yd)
    np.testing.assert_array_equal(resumed.coef_, reference.coef_)
