"""The checkpoint parameters (DESIGN §6) as a user sets them: checkpoint_interval needs a
checkpoint path and is a positive finite number of seconds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification

from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.exceptions import XentlearnInputError


def _data():
    return make_classification(n_samples=60, n_features=4, n_informative=3, n_redundant=0,
                               random_state=0)


@pytest.mark.parametrize("cls", [LogisticRegression, MLPClassifier])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_checkpoint_interval_without_checkpoint_is_refused(cls, method):
    X, y = _data()
    est = cls(checkpoint_interval=30.0, max_iter=2)
    kwargs = {"classes": [0, 1]} if method == "partial_fit" else {}
    with pytest.raises(XentlearnInputError,
                       match=r"checkpoint_interval=30\.0 is set but checkpoint is None: .*"
                             r"Pass checkpoint=PATH as well, or leave checkpoint_interval=None"):
        getattr(est, method)(X, y, **kwargs)
    assert not hasattr(est, "classes_")           # nothing was trained


@pytest.mark.parametrize("interval", [0, -1.0, np.inf, np.nan, "5"])
def test_checkpoint_interval_is_a_positive_finite_number_of_seconds(interval, tmp_path):
    X, y = _data()
    est = LogisticRegression(checkpoint=str(tmp_path / "fit.ckpt"), checkpoint_interval=interval)
    with pytest.raises(ValueError, match="checkpoint_interval"):
        est.fit(X, y)
    assert not (tmp_path / "fit.ckpt").exists()


def test_checkpoint_interval_with_checkpoint_fits(tmp_path):
    X, y = _data()
    path = tmp_path / "fit.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, batch_size=8, random_state=0,
                            checkpoint=str(path), checkpoint_interval=1e-9).fit(X, y)
    assert est.n_iter_ == 2 and not path.exists()


def test_a_checkpoint_in_a_missing_folder_is_refused_before_training(tmp_path):
    # It failed at the first save, after the first epoch's work, as a bare OSError.
    from xentlearn.exceptions import CheckpointError

    X, y = _data()
    path = tmp_path / "no folder" / "fit.ckpt"
    est = LogisticRegression(checkpoint=str(path))
    with pytest.raises(CheckpointError, match=r"checkpoint='.*fit\.ckpt': there is no folder "
                                              r"'.*no folder' to write it in"):
        est.fit(X, y)
    assert not hasattr(est, "classes_")
