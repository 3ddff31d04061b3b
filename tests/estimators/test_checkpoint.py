"""Checkpoints (DESIGN §6): an interrupted fit resumes bit-identically; a checkpoint of
other hyperparameters or data, or a damaged one, is refused and left as it is."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification

from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.data import TableFiles
from xentlearn.estimators import _checkpoint
from xentlearn.exceptions import CheckpointError
from xentlearn.optimizers import state_to_arrays


class Interrupted(Exception):
    """Stands for a kill right after the n-th checkpoint write."""


def _data(n=240, classes=3, seed=0):
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=classes, random_state=seed)
    return X, y


def _fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


def _interrupt_after(monkeypatch, n_saves: int):
    """Make the n-th checkpoint write the last thing the process does."""
    real_save = _checkpoint.Checkpoint.save
    count = {"saves": 0}

    def save(self, state):
        real_save(self, state)
        count["saves"] += 1
        if count["saves"] == n_saves:
            raise Interrupted

    monkeypatch.setattr(_checkpoint.Checkpoint, "save", save)
    return count


def _params(est):
    return est._attributes_to_params()


def _assert_same_fit(resumed, reference):
    for key, value in _params(reference).items():
        assert np.array_equal(_params(resumed)[key], value), key
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in reference.history_]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_] == strip
    # The optimizer's state too (a plateau's best value, Adam's moments), bit for bit.
    got = state_to_arrays(resumed._state.opt_state)
    expected = state_to_arrays(reference._state.opt_state)
    assert got.keys() == expected.keys()
    for path, value in expected.items():
        assert np.asarray(got[path]).tobytes() == np.asarray(value).tobytes(), path


def _interval(checkpoint):
    """Save after every mini-batch; the reference fit (no checkpoint) takes no interval."""
    return None if checkpoint is None else 1e-9


CASES = {
    "lbfgs MLP": lambda cp: MLPClassifier(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=25,
                                          random_state=0, checkpoint=cp),
    "lbfgs linear": lambda cp: LogisticRegression(max_iter=30, tol=1e-12, checkpoint=cp),
    "sgd mini-batch": lambda cp: MLPClassifier(hidden_layer_sizes=(5,), solver="sgd",
                                               batch_size=32, max_iter=8, random_state=1,
                                               checkpoint=cp),
    "adam early stopping": lambda cp: MLPClassifier(hidden_layer_sizes=(9,), max_iter=40,
                                                    early_stopping=True, n_iter_no_change=8,
                                                    learning_rate_init=0.05, batch_size=16,
                                                    random_state=4, checkpoint=cp),
    "adam mid-epoch": lambda cp: MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, batch_size=8,
                                               random_state=2, checkpoint=cp,
                                               checkpoint_interval=_interval(cp)),
    # A strong L2 penalty in the value the plateau rule keeps: the first step after a
    # resume (plain-dict parameters) gives the value the flat ones gave.
    "adaptive sgd MLP, strong L2": lambda cp: MLPClassifier(
        hidden_layer_sizes=(5,), solver="sgd", learning_rate="adaptive", batch_size=120,
        max_iter=3, alpha=3.0, random_state=0, checkpoint=cp, checkpoint_interval=_interval(cp)),
    "adaptive sgd": lambda cp: LogisticRegression(solver="sgd", learning_rate="adaptive",
                                                  batch_size=20, max_iter=6, random_state=3,
                                                  checkpoint=cp, checkpoint_interval=_interval(cp)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kill_after", [1, 3, 7])
def test_interrupted_fit_resumes_bit_identically(case, kill_after, tmp_path, monkeypatch):
    X, y = _data()
    path = tmp_path / "fit.ckpt"
    reference = _fit_quietly(CASES[case](None), X, y)
    count = _interrupt_after(monkeypatch, kill_after)
    with pytest.raises(Interrupted):
        _fit_quietly(CASES[case](str(path)), X, y)
    assert path.exists() and count["saves"] == kill_after
    monkeypatch.undo()
    resumed = _fit_quietly(CASES[case](str(path)), X, y)
    _assert_same_fit(resumed, reference)
    assert not path.exists()                      # removed after a successful fit


@pytest.mark.parametrize("make", [
    lambda cp: MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", batch_size=120, max_iter=50,
                             tol=10.0, n_iter_no_change=2, random_state=0, checkpoint=cp),
    lambda cp: LogisticRegression(max_iter=200, tol=1e-3, checkpoint=cp)],
    ids=["plateau", "gradient tolerance"])
def test_a_fit_killed_after_its_stopping_epochs_checkpoint_resumes_stopped(
        make, tmp_path, monkeypatch):
    # The checkpoint written at the epoch a stopping rule fired is the fit's last write
    # before the model: a kill there must not resume into an epoch the fit never took.
    X, y = _data()
    path = tmp_path / "fit.ckpt"
    reference = _fit_quietly(make(None), X, y)
    assert reference.n_iter_ < reference.max_iter
    _interrupt_after(monkeypatch, reference.n_iter_)          # one save per epoch
    with pytest.raises(Interrupted):
        _fit_quietly(make(str(path)), X, y)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # no ConvergenceWarning either
        resumed = make(str(path)).fit(X, y)
    assert resumed.n_iter_ == reference.n_iter_
    _assert_same_fit(resumed, reference)
    assert not path.exists()


def test_checkpoints_are_stored_uncompressed(tmp_path, monkeypatch):
    # Written at every epoch end: deflating the state's floats cost several times the
    # rest of a write (an L-BFGS MLP fit ran 3x slower with a checkpoint).
    import zipfile

    X, y = _data()
    path = _leave_checkpoint(tmp_path, monkeypatch, CASES["lbfgs MLP"], X, y)
    with zipfile.ZipFile(path) as zf:
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_STORED}


def test_random_state_none_resumes_the_same_split_and_init(tmp_path, monkeypatch):
    X, y = _data()
    path = tmp_path / "fit.ckpt"
    _interrupt_after(monkeypatch, 2)

    def make(cp):
        return CASES["adam early stopping"](cp).set_params(random_state=None)

    with pytest.raises(Interrupted):
        _fit_quietly(make(str(path)), X, y)
    monkeypatch.undo()
    start = _checkpoint.Checkpoint(path, None, {})._read()[1]["fit"]["start_rng_state"]
    resumed = _fit_quietly(make(str(path)), X, y)
    # The uninterrupted run from the same first random state gives the same model.
    from xentlearn.training import generator_from_state, rng_state_from_json
    reference = _fit_quietly(make(None).set_params(
        random_state=generator_from_state(rng_state_from_json(start))), X, y)
    _assert_same_fit(resumed, reference)


def test_interrupted_fit_on_parquet_files_resumes_mid_epoch(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X, y = _data(n=300)
    table = pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])},
                      "label": np.array(["a", "b", "c"])[y]})
    data = tmp_path / "train.parquet"
    pq.write_table(table, data, row_group_size=50)
    files = TableFiles(data, target="label", batch_rows=40, shuffle_buffer_rows=64)

    def make(cp):
        return MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, batch_size=16, random_state=0,
                             checkpoint=cp, checkpoint_interval=_interval(cp))

    reference = _fit_quietly(make(None), files)
    path = tmp_path / "fit.ckpt"
    _interrupt_after(monkeypatch, 13)             # inside the first epoch (19 batches)
    with pytest.raises(Interrupted):
        _fit_quietly(make(str(path)), files)
    monkeypatch.undo()
    _assert_same_fit(_fit_quietly(make(str(path)), files), reference)


def _leave_checkpoint(tmp_path, monkeypatch, est_factory, X, y, name="fit.ckpt"):
    path = tmp_path / name
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _fit_quietly(est_factory(str(path)), X, y)
    monkeypatch.undo()
    return path


def test_a_checkpoint_saved_after_the_epochs_last_batch_resumes(tmp_path):
    # Saved after the last step, before the epoch's end (validation, callbacks): a kill
    # there leaves batch == the number of batches, which resumes by finishing the epoch.
    from xentlearn import io

    class Boom(Exception):
        pass

    def boom(record, params):
        raise Boom

    X, y = _data()
    path = tmp_path / "end.ckpt"
    options = dict(solver="sgd", batch_size=60, max_iter=3, random_state=0,
                   checkpoint=str(path), checkpoint_interval=1e-9)
    with pytest.raises(Boom):
        _fit_quietly(LogisticRegression(callbacks=[boom], **options), X, y)
    assert io.read(path)[1]["state"]["batch"] == 4          # 240 rows, batches of 60
    resumed = _fit_quietly(LogisticRegression(**options), X, y)
    _assert_same_fit(resumed, _fit_quietly(LogisticRegression(
        **dict(options, checkpoint=None, checkpoint_interval=None)), X, y))


def test_sync_every_changes_nothing_in_memory_so_a_checkpoint_resumes(tmp_path, monkeypatch):
    # It decides a Dask mini-batch fit, whose checkpoint layout records the value used.
    X, y = _data()
    make = CASES["sgd mini-batch"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    resumed = _fit_quietly(make(str(path)).set_params(sync_every=5), X, y)
    _assert_same_fit(resumed, _fit_quietly(make(None), X, y))


def test_class_weight_in_another_key_order_is_the_same_hyperparameter(tmp_path, monkeypatch):
    X, y = _data()

    def make(checkpoint, weights):
        return CASES["sgd mini-batch"](checkpoint).set_params(class_weight=weights)

    path = _leave_checkpoint(tmp_path, monkeypatch,
                             lambda cp: make(cp, {0: 1.0, 1: 2.0}), X, y)
    resumed = _fit_quietly(make(str(path), {1: 2.0, 0: 1.0}), X, y)
    _assert_same_fit(resumed, _fit_quietly(make(None, {0: 1.0, 1: 2.0}), X, y))
    # Another weight is refused, shown as the dict the user gave.
    path = _leave_checkpoint(tmp_path, monkeypatch,
                             lambda cp: make(cp, {0: 1.0, 1: 2.0}), X, y)
    with pytest.raises(CheckpointError, match=re.escape(
            "class_weight: checkpoint {0: 1.0, 1: 2.0}, now {0: 1.0, 1: 3.0}")):
        make(str(path), {1: 3.0, 0: 1.0}).fit(X, y)


def test_other_hyperparameters_or_data_are_refused_and_nothing_is_overwritten(
        tmp_path, monkeypatch):
    X, y = _data()
    make = CASES["sgd mini-batch"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"other hyperparameters \(alpha: checkpoint "
                                              r"0\.0001, now 0\.5\)"):
        make(str(path)).set_params(alpha=0.5).fit(X, y)
    with pytest.raises(CheckpointError, match=r"other data \(first rows"):
        make(str(path)).fit(X[::-1], y[::-1])
    with pytest.raises(CheckpointError, match=r"other data \(number of rows"):
        make(str(path)).fit(X[:200], y[:200])
    with pytest.raises(CheckpointError, match=r"other data \(classes"):
        make(str(path)).fit(X, np.array(["p", "q", "r"])[y])
    assert path.read_bytes() == before
    assert isinstance(CheckpointError("x"), ValueError)
    # verbose and callbacks do not change what training computes: resumed.
    resumed = _fit_quietly(make(str(path)).set_params(callbacks=[lambda r, p: None]), X, y)
    _assert_same_fit(resumed, _fit_quietly(make(None), X, y))


def test_other_validation_data_or_warm_start_coefficients_are_refused(tmp_path, monkeypatch):
    # Both change what the fit computes (early stopping, calibration; the starting point),
    # and neither is a hyperparameter nor in the training rows' fingerprint.
    import pandas as pd

    X, y = _data()

    def table(name, rows):
        frame = pd.DataFrame(X[rows], columns=[f"x{i}" for i in range(X.shape[1])])
        frame["y"] = y[rows]
        frame.to_csv(tmp_path / name, index=False)
        return TableFiles(tmp_path / name, target="y")

    train = table("train.csv", slice(0, 150))
    valid_a, valid_b = table("a.csv", slice(150, 240)), table("b.csv", slice(150, 230))

    def make(cp):
        return MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, early_stopping=True,
                             batch_size=32, random_state=1, checkpoint=cp)

    path = tmp_path / "fit.ckpt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _fit_quietly(make(str(path)), train, validation_data=valid_a)
    monkeypatch.undo()
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"other data \(validation rows"):
        make(str(path)).fit(train, validation_data=valid_b)
    assert path.read_bytes() == before
    resumed = _fit_quietly(make(str(path)), train, validation_data=valid_a)
    _assert_same_fit(resumed, _fit_quietly(make(None), train, validation_data=valid_a))

    def warm(cp, start):
        est = LogisticRegression(max_iter=30, tol=1e-12, warm_start=True, checkpoint=cp)
        est.coef_, est.intercept_ = np.full((3, X.shape[1]), start), np.zeros(3)
        return est

    path = tmp_path / "warm.ckpt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _fit_quietly(warm(str(path), 0.0), X, y)
    monkeypatch.undo()
    before = path.read_bytes()
    refused = warm(str(path), 1.0)
    with pytest.raises(CheckpointError, match=r"by a fit from other starting coefficients "
                                              r"\(warm_start\): resume from the same ones"):
        refused.fit(X, y)
    assert path.read_bytes() == before
    assert np.all(refused.coef_ == 1.0)              # the estimator as it was
    _assert_same_fit(_fit_quietly(warm(str(path), 0.0), X, y), _fit_quietly(warm(None, 0.0), X, y))


def test_a_checkpoint_with_an_unknown_stop_reason_is_refused_and_left(tmp_path, monkeypatch):
    from xentlearn import io

    X, y = _data()
    make = CASES["sgd mini-batch"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    arrays, meta = io.read(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    meta["state"]["stop_reason"] = "bored"
    io.write(path, arrays, meta, compress=False)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"stop_reason must be one of \('converged', "
                                              r"'early_stopping', 'callback'\), got 'bored'"):
        make(str(path)).fit(X, y)
    assert path.read_bytes() == before


@pytest.mark.parametrize("field, value, match", [
    (("fit", "data"), [1], r"its 'fit.data' is malformed"),
    (("fit", "data", "layout"), "x", r"its 'fit.data' is malformed"),
    (("fit", "data", "layout"), {"backend": "dask"}, r"a layout this version cannot read"),
    # The generator state comes from the file: an array of 50 strings of 10 M characters
    # each took 2 GB; a bit generator's name picked the np.random function called.
    (("state", "rng_state"), {"bit_generator": "PCG64", "state": {
        "__ndarray__": [1] * 50, "dtype": "U10000000"}}, r"must have an integer dtype"),
    (("state", "rng_state"), {"bit_generator": "PCG64", "state": {
        "__ndarray__": [1] * 2000, "dtype": "<u8"}}, r"a list of at most 1024 integers"),
    (("state", "rng_state"), {"bit_generator": "seed", "state": {}},
     r"bit_generator must be one of \['MT19937'"),
    (("fit", "start_rng_state"), {"bit_generator": "PCG64", "state": {
        "__ndarray__": [1], "dtype": "(200000000,)f8"}}, r"bad generator state"),
    # Past the epoch's end: the fit failed with "every training row has loss weight 0".
    (("state", "batch"), 50, r"it is 50 batches into an epoch of \d+"),
    # numpy's own setter raised IndexError for a short key.
    (("fit", "start_rng_state"), {"bit_generator": "MT19937", "state": {
        "key": {"__ndarray__": [1, 2], "dtype": "<u4"}, "pos": 0}},
     r"bad generator state \(a MT19937 state numpy cannot take"),
])
def test_malformed_checkpoint_fields_are_refused_and_left(tmp_path, monkeypatch, field, value,
                                                          match):
    from xentlearn import io

    X, y = _data()
    make = CASES["sgd mini-batch"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    arrays, meta = io.read(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    node = meta
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    io.write(path, arrays, meta, compress=False)
    before = path.read_bytes()
    legacy = np.random.get_state()[1].copy()
    make_fresh = make(str(path))
    with pytest.raises(CheckpointError, match=match):
        make_fresh.fit(X, y)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(np.random.get_state()[1], legacy)


def test_truncated_or_foreign_checkpoints_are_refused_and_left(tmp_path, monkeypatch):
    X, y = _data()
    make = CASES["lbfgs linear"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    truncated = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(truncated)
    with pytest.raises(CheckpointError, match="cannot be read"):
        make(str(path)).fit(X, y)
    assert path.read_bytes() == truncated
    model = tmp_path / "model.xent"
    _fit_quietly(LogisticRegression(), X, y).save(model)
    # It said "(kind None)" of a model file.
    with pytest.raises(CheckpointError, match=r"model.xent is a model file \(xentlearn.load "
                                              r"reads it\), not a checkpoint; it was left as it is"):
        make(str(model)).fit(X, y)
    other = _leave_checkpoint(tmp_path, monkeypatch, CASES["lbfgs MLP"], X, y, "mlp.ckpt")
    with pytest.raises(CheckpointError, match="of a MLPClassifier fit, not a LogisticRegression"):
        LogisticRegression(max_iter=30, checkpoint=str(other)).fit(X, y)


def test_checkpoint_parameters_are_validated():
    X, y = _data()
    with pytest.raises(ValueError, match="checkpoint_interval"):
        LogisticRegression(checkpoint="x.ckpt", checkpoint_interval=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="checkpoint"):
        LogisticRegression(checkpoint=5).fit(X, y)


def test_a_changed_default_step_is_refused_not_resumed(tmp_path, monkeypatch):
    """learning_rate_init=None is stored as the step it resolves to: a checkpoint written
    under another default (another version) is refused, not resumed at a new step."""
    from xentlearn.estimators import _mlp

    X, y = _data()
    make = CASES["adam mid-epoch"]
    path = _leave_checkpoint(tmp_path, monkeypatch, make, X, y)
    stored = _checkpoint.Checkpoint.open(make(str(path)), np.random.default_rng(0)).stored
    assert stored[1]["fit"]["params"]["learning_rate_init"] == _mlp._ADAM_DEFAULT_STEP["adam"]
    before = path.read_bytes()
    monkeypatch.setitem(_mlp._ADAM_DEFAULT_STEP, "adam", 0.001)
    with pytest.raises(CheckpointError, match=r"learning_rate_init: checkpoint 0\.00128, "
                                              r"now 0\.001"):
        make(str(path)).fit(X, y)
    assert path.read_bytes() == before
