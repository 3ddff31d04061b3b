"""NaN and inf in a stored training state (DESIGN §4, §6): a model file or checkpoint whose
optimizer state holds a value that training never stores there is refused, naming the
entry; the non-finite values optimizers do store (initial sentinels, overflowed sums of
squares) load, and every solver's saved state loads and trains on."""

from __future__ import annotations

import io
import math
import re
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_classification

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.estimators import _checkpoint
from xentlearn.exceptions import CheckpointError, ModelFileError

SOLVERS = {
    "sgd adaptive": lambda: LogisticRegression(solver="sgd", learning_rate="adaptive",
                                               batch_size=30, max_iter=4, random_state=0),
    "adam": lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
    "lbfgs": lambda: LogisticRegression(max_iter=5),
    "lbfgs l1 (owlqn)": lambda: LogisticRegression(penalty="l1", max_iter=5),
    "early stopping": lambda: MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True,
                                            max_iter=6, random_state=0),
    "rmsprop": lambda: LogisticRegression(solver="rmsprop", max_iter=2, random_state=0),
    "adagrad l1": lambda: LogisticRegression(solver="adagrad", penalty="l1", max_iter=2,
                                             random_state=0),
}


def _data():
    return make_classification(n_samples=150, n_features=5, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)


def _quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _state_names(path, prefix: str) -> list[str]:
    return [name[len("arrays/"):-len(".npy")] for name in _entries(path)
            if name.startswith(f"arrays/{prefix}.")]


def _set(path, name: str, value, where=(0,)) -> None:
    """Rewrite array `name` of the file at `path` with `value` at flat index `where`."""
    entries = _entries(path)
    key = f"arrays/{name}.npy"
    array = np.load(io.BytesIO(entries[key]))
    if array.dtype.kind != "f":       # an int counter rewritten as a float entry
        array = array.astype(np.float64)
    array.flat[list(where)] = value
    buffer = io.BytesIO()
    np.save(buffer, array)
    entries[key] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for entry, data in entries.items():
            z.writestr(entry, data)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_every_solver_saved_after_fit_loads_and_trains_on(name, tmp_path):
    X, y = _data()
    est = _quietly(SOLVERS[name]().fit, X, y)
    est.save(tmp_path / "m.xent")
    loaded = xentlearn.load(tmp_path / "m.xent")
    _quietly(loaded.partial_fit, X, y)
    assert all(np.isfinite(p).all() for p in loaded._attributes_to_params().values())


# (solver, entry, value): the non-finite values training stores.
STORED = [
    ("lbfgs", "train.1.value", math.nan),               # before the first accepted step
    ("lbfgs l1 (owlqn)", "train.1.value", math.nan),
    ("lbfgs l1 (owlqn)", "train.1.best_value", math.inf),   # before the first accepted step
    ("lbfgs l1 (owlqn)", "train.1.best_pseudo_gradient", math.inf),
    ("lbfgs", "train.1.rho", math.inf),                 # 1 / (s.y) overflowed (float32)
    ("sgd adaptive", "train.1.1.best_value", math.inf),   # reduce_on_plateau, first window
    ("adam", "train.1.0.nu.W0", math.inf),              # g**2 overflowed: the step is 0
    ("rmsprop", "train.1.0.nu.b0", math.inf),
    ("adagrad l1", "train.1.0.0.sum_of_squares.W0", math.inf),
]


@pytest.mark.parametrize("name, entry, value", STORED)
def test_non_finite_values_that_training_stores_load(name, entry, value, tmp_path):
    X, y = _data()
    path = tmp_path / "m.xent"
    _quietly(SOLVERS[name]().fit, X, y).save(path)
    assert entry in _state_names(path, "train")
    _set(path, entry, value)
    loaded = xentlearn.load(path)
    _quietly(loaded.partial_fit, X, y)
    assert all(np.isfinite(p).all() for p in loaded._attributes_to_params().values())


# (solver, entry, value, what the message says).
REFUSED = [
    ("adam", "train.1.0.nu.W0", math.nan, "optimizer state entry 'train.1.0.nu.W0' holds NaN"),
    ("adam", "train.1.0.nu.b1", -math.inf, "'train.1.0.nu.b1' holds -inf"),
    ("adam", "train.1.0.mu.W1", math.inf, "'train.1.0.mu.W1' holds inf"),
    ("adam", "train.1.0.count", math.nan, "'train.1.0.count' holds NaN"),
    ("adam", "train.1.1.learning_rate", math.inf, "'train.1.1.learning_rate' holds inf"),
    ("sgd adaptive", "train.1.0.0.trace.W0", math.nan, "'train.1.0.0.trace.W0' holds NaN"),
    ("sgd adaptive", "train.1.1.best_value", math.nan, "'train.1.1.best_value' holds NaN"),
    ("sgd adaptive", "train.1.1.scale", math.inf, "'train.1.1.scale' holds inf"),
    ("lbfgs", "train.1.value", math.inf, "'train.1.value' holds inf"),
    ("lbfgs", "train.1.s_history.0", math.nan, "'train.1.s_history.0' holds NaN"),
    ("lbfgs", "train.1.rho", math.nan, "'train.1.rho' holds NaN"),
    ("lbfgs l1 (owlqn)", "train.1.best_value", math.nan, "'train.1.best_value' holds NaN"),
    ("lbfgs l1 (owlqn)", "train.1.y_history.3", -math.inf, "'train.1.y_history.3' holds -inf"),
    ("rmsprop", "train.1.0.nu.W0", math.nan, "'train.1.0.nu.W0' holds NaN"),
]


@pytest.mark.parametrize("name, entry, value, match", REFUSED)
def test_a_non_finite_value_training_never_stores_is_refused(name, entry, value, match,
                                                             tmp_path):
    X, y = _data()
    path = tmp_path / "m.xent"
    _quietly(SOLVERS[name]().fit, X, y).save(path)
    _set(path, entry, value, where=(-1,))
    with pytest.raises(ModelFileError, match=f"model file .* {re.escape(match)}"):
        xentlearn.load(path)


class Interrupted(Exception):
    pass


def _leave_checkpoint(tmp_path, monkeypatch, make, X, y):
    path = tmp_path / "fit.ckpt"
    real_save = _checkpoint.Checkpoint.save

    def save(self, state):
        real_save(self, state)
        raise Interrupted

    monkeypatch.setattr(_checkpoint.Checkpoint, "save", save)
    with pytest.raises(Interrupted):
        _quietly(make(str(path)).fit, X, y)
    monkeypatch.undo()
    return path


def _early(checkpoint):
    return MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, batch_size=16,
                         max_iter=5, random_state=0, checkpoint=checkpoint)


@pytest.mark.parametrize("entry, value, match", [
    ("state.1.0.nu.W0", math.nan, "optimizer state entry 'state.1.0.nu.W0' holds NaN"),
    ("state.0.W1", math.inf, "parameter 'state.0.W1' holds inf"),
    ("state.2.0.best_params.b0", math.nan,
     "stopping rule state entry 'state.2.0.best_params.b0' holds NaN"),
])
def test_a_checkpoint_with_a_non_finite_state_is_refused_and_left(entry, value, match,
                                                                  tmp_path, monkeypatch):
    X, y = _data()
    path = _leave_checkpoint(tmp_path, monkeypatch, _early, X, y)
    assert entry in _state_names(path, "state")
    _set(path, entry, value)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"cannot be resumed: {re.escape(match)}; it was "
                                              f"left as it is"):
        _early(str(path)).fit(X, y)
    assert path.read_bytes() == before


def test_a_checkpoint_holding_the_initial_best_resumes(tmp_path, monkeypatch):
    """The early-stopping rule's best is inf until an epoch ends: a stored inf resumes."""
    X, y = _data()
    path = _leave_checkpoint(tmp_path, monkeypatch, _early, X, y)
    _set(path, "state.2.0.best", math.inf)
    resumed = _quietly(_early(str(path)).fit, X, y)
    assert not path.exists()
    assert all(np.isfinite(p).all() for p in resumed._attributes_to_params().values())
