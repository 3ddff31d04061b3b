"""est.save / xentlearn.load: bit-identical round trips, clear refusals, no pickle."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_classification

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.exceptions import ModelFileError


def _data(classes=3):
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=classes, random_state=0)
    return X, y


@pytest.mark.parametrize("make", [
    lambda: (LogisticRegression(), _data(2)[0], _data(2)[1]),
    lambda: (LogisticRegression(class_weight={0: 2.0, 2: 0.5}), *_data(3)),
    lambda: (LogisticRegression(dtype=np.float32), _data(3)[0], np.array(["a", "b", "c"])[_data(3)[1]]),
    lambda: (MLPClassifier(hidden_layer_sizes=(5, 4), activation="tanh", max_iter=5, random_state=0), *_data(3)),
    lambda: (LogisticRegression(fit_intercept=False), _data(2)[0], (_data(2)[0][:, :3] > 0).astype(int)),
    lambda: (LogisticRegression(), _data(3)[0], np.array(["ant", "bee", "cat"], dtype=object)[_data(3)[1]]),
])
def test_round_trip_predicts_bit_identically(make, tmp_path):
    est, X, y = make()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    path = tmp_path / "model.xent"
    est.save(path)
    loaded = xentlearn.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.classes_.dtype == est.classes_.dtype
    for method in ("predict", "predict_proba", "decision_function"):
        a, b = getattr(est, method)(X), getattr(loaded, method)(X)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert loaded.history_ == est.history_ and loaded.n_iter_ == est.n_iter_


def test_save_unfitted_raises_and_failed_save_keeps_old_file(tmp_path, monkeypatch):
    X, y = _data()
    path = tmp_path / "model.xent"
    LogisticRegression().fit(X, y).save(path)
    before = path.read_bytes()
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        LogisticRegression().save(path)
    import numpy.lib.format as npformat

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(npformat, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        MLPClassifier(max_iter=2).fit(X, y).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.xent"]


def test_foreign_corrupt_and_truncated_files_raise_model_file_error(tmp_path):
    X, y = _data()
    good = tmp_path / "good.xent"
    LogisticRegression().fit(X, y).save(good)
    truncated = tmp_path / "truncated.xent"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    foreign = tmp_path / "foreign.xent"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("meta.json", '{"format": "something-else"}')
    text = tmp_path / "text.xent"
    text.write_text("hello")
    for path, match in [(truncated, "corrupt or truncated"), (foreign, "foreign"),
                        (text, "not a xentlearn model file"), (tmp_path / "missing", "does not exist")]:
        with pytest.raises(ModelFileError, match=match):
            xentlearn.load(path)


def test_pickle_still_works():
    X, y = _data()
    est = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict_proba(X), est.predict_proba(X))


def test_a_well_formed_file_describing_an_inconsistent_model_is_refused(tmp_path):
    from xentlearn import io

    X, y = _data()
    path = tmp_path / "model.xent"
    LogisticRegression().fit(X, y).save(path)
    arrays, meta = io.read(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    for name, change in [("shape", lambda a, m: a.update({"param.W0": a["param.W0"][:2]})),
                         ("task", lambda a, m: m.update({"task": "evil"})),
                         ("solver", lambda a, m: m["params"].update({"solver": "evil"}))]:
        bad_arrays, bad_meta = dict(arrays), {**meta, "params": dict(meta["params"])}
        change(bad_arrays, bad_meta)
        io.write(tmp_path / f"{name}.xent", bad_arrays, bad_meta)
        with pytest.raises(ModelFileError, match="does not describe a model"):
            xentlearn.load(tmp_path / f"{name}.xent")
