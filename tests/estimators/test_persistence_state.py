"""Model files keep the training state: partial_fit after load continues exactly as it
would have on the object that was saved, and saving never changes what training does next."""

from __future__ import annotations

import copy
import json
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_classification

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.exceptions import ModelFileError

ESTIMATORS = {
    "adam mlp": lambda: MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0),
    "sgd nesterov": lambda: MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", max_iter=2,
                                          random_state=1),
    "adamw clipped": lambda: LogisticRegression(solver="adamw", max_grad_norm=0.5, max_iter=3,
                                                random_state=2),
    "adaptive l1": lambda: LogisticRegression(solver="sgd", penalty="l1", learning_rate="adaptive",
                                              max_iter=3, random_state=3),
    "lbfgs": lambda: LogisticRegression(max_iter=5),
    "rmsprop auto alpha": lambda: LogisticRegression(solver="rmsprop", max_iter=2,
                                                     random_state=4),
}


def _data():
    return make_classification(n_samples=150, n_features=5, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)


def _params(est):
    return est._attributes_to_params()


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_partial_fit_after_load_equals_partial_fit_on_the_saved_object(name, tmp_path):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ESTIMATORS[name]().fit(X, y)
        est.partial_fit(X[:60], y[:60])
    est.save(tmp_path / "m.xent")
    loaded = xentlearn.load(tmp_path / "m.xent")
    untouched = copy.deepcopy(est)
    for model in (est, loaded):
        model.partial_fit(X[60:], y[60:])
        model.partial_fit(X, y)
    for key, value in _params(est).items():
        assert np.array_equal(_params(loaded)[key], value), key
    assert loaded.n_iter_ == est.n_iter_ == untouched.n_iter_ + 2
    # Saving changed nothing for the object that was saved.
    untouched.partial_fit(X[60:], y[60:])
    untouched.partial_fit(X, y)
    for key, value in _params(est).items():
        assert np.array_equal(_params(untouched)[key], value), key


def _rewrite(path, edit_meta=None, edit_arrays=None):
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    meta = json.loads(entries["meta.json"])
    if edit_meta:
        edit_meta(meta)
    entries["meta.json"] = json.dumps(meta).encode()
    if edit_arrays:
        edit_arrays(entries)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


@pytest.mark.parametrize("edit_meta, edit_arrays, match", [
    (lambda m: m["train_state"].update(rng_state="x"), None, "training state"),
    (lambda m: m["train_state"].update(epoch=-1), None, "training state"),
    # A generator state of 50 strings of 10 M characters took 2 GB to load.
    (lambda m: m["train_state"]["rng_state"].update(state={
        "__ndarray__": [1] * 50, "dtype": "U10000000"}), None, "must have an integer dtype"),
    (lambda m: m["train_state"]["rng_state"].update(bit_generator="random"), None,
     "bit_generator must be one of"),
    (lambda m: m.pop("train_state"), None, "train_state' is missing"),
    (None, lambda e: e.pop(next(n for n in e if n.startswith("arrays/train."))), "training state"),
    (None, lambda e: e.__setitem__(next(n for n in e if "train.1" in n and "mu" in n),
                                   _npy(np.zeros((2, 2)))), "training state"),
    # Adam's step count at -5 failed as "math domain error", naming nothing.
    (None, lambda e: e.__setitem__("arrays/train.1.0.count.npy", _npy(np.int64(-5))),
     r"entry 'train/1/0/count' must be a non-negative integer, got -5"),
    (None, lambda e: e.__setitem__("arrays/train.1.0.count.npy", _npy(np.float64(2.5))),
     r"entry 'train/1/0/count' must be a non-negative integer, got 2.5"),
])
def test_a_damaged_training_state_is_a_model_file_error(edit_meta, edit_arrays, match, tmp_path):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ESTIMATORS["adam mlp"]().fit(X, y)
    path = tmp_path / "m.xent"
    est.save(path)
    _rewrite(path, edit_meta, edit_arrays)
    with pytest.raises(ModelFileError, match=match):
        xentlearn.load(path)


def _npy(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_file_without_training_state_continues_with_a_fresh_optimizer(tmp_path):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ESTIMATORS["adam mlp"]().fit(X, y)
    path = tmp_path / "m.xent"
    est.save(path)

    def drop_state(entries):
        for name in [n for n in entries if n.startswith("arrays/train.")]:
            del entries[name]

    _rewrite(path, lambda m: m.pop("train_state"), drop_state)
    loaded = xentlearn.load(path)
    assert loaded._state is None
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == est.n_iter_ + 1
