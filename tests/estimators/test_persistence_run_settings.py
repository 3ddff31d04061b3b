"""What a loaded model's get_params() holds: every hyperparameter of the saved one, except
the settings of the fit that made it (callbacks, checkpoint, checkpoint_interval), which
are None, so that fit on a loaded model never resumes from or writes to that fit's
checkpoint path. Pickle keeps them all."""

from __future__ import annotations

import json
import pathlib
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_classification

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier

RUN_SETTINGS = ("callbacks", "checkpoint", "checkpoint_interval")


def _data():
    return make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _meta(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("meta.json"))


@pytest.mark.parametrize("cls", [LogisticRegression, MLPClassifier])
@pytest.mark.parametrize("as_path", [False, True])
def test_loaded_params_are_the_saved_ones_without_the_run_settings(cls, as_path, tmp_path):
    X, y = _data()
    checkpoint = tmp_path / "original" / "fit.ckpt"
    checkpoint.parent.mkdir()
    est = _fit(cls(max_iter=3, random_state=0, alpha=0.01, callbacks=[lambda r, p: None],
                   checkpoint=checkpoint if as_path else str(checkpoint),
                   checkpoint_interval=60.0), X, y)
    est.save(tmp_path / "m.xent")
    stored = _meta(tmp_path / "m.xent")["params"]
    assert [stored[name] for name in RUN_SETTINGS] == [None, None, None]
    loaded = xentlearn.load(tmp_path / "m.xent")
    params, saved = loaded.get_params(), est.get_params()
    assert [params[name] for name in RUN_SETTINGS] == [None, None, None]
    assert {k: v for k, v in params.items() if k not in RUN_SETTINGS + ("dtype",)} == {
        k: v for k, v in saved.items() if k not in RUN_SETTINGS + ("dtype",)}
    assert np.dtype(params["dtype"]) == np.dtype(saved["dtype"])
    # Pickle is an exact copy of the object, as scikit-learn's.
    copied = pickle.loads(pickle.dumps(est.set_params(callbacks=None)))
    assert copied.checkpoint == est.checkpoint and copied.checkpoint_interval == 60.0


def test_fit_on_a_loaded_model_leaves_the_original_checkpoint_path_alone(tmp_path):
    X, y = _data()
    checkpoint = tmp_path / "fit.ckpt"
    est = _fit(LogisticRegression(max_iter=20, checkpoint=str(checkpoint)), X, y)
    assert not checkpoint.exists()               # removed after the successful fit
    est.save(tmp_path / "m.xent")
    # Another run now uses that path (here: whatever another program wrote there).
    checkpoint.write_bytes(b"someone else's file")
    loaded = xentlearn.load(tmp_path / "m.xent")
    _fit(loaded, X[::-1], y[::-1])               # was: CheckpointError, it cannot be read
    assert checkpoint.read_bytes() == b"someone else's file"
    # A new path checkpoints the new fit, as for any estimator.
    other = tmp_path / "new.ckpt"
    refit = _fit(loaded.set_params(checkpoint=str(other), checkpoint_interval=1e-9), X, y)
    assert refit.n_iter_ > 0 and not other.exists()


def test_files_that_stored_the_checkpoint_path_load_without_it(tmp_path):
    """Files of earlier versions hold the original fit's path and interval."""
    X, y = _data()
    path = tmp_path / "m.xent"
    _fit(MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0), X, y).save(path)
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    meta = json.loads(entries["meta.json"])
    meta["params"].update(checkpoint=str(pathlib.Path("/elsewhere/fit.ckpt")),
                          checkpoint_interval=30.0)
    entries["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    loaded = xentlearn.load(path)
    assert loaded.checkpoint is None and loaded.checkpoint_interval is None
