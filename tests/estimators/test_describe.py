"""xentlearn.describe: a model file in plain values, read without scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import xentlearn
from xentlearn.exceptions import ModelFileError


def _data(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    y = rng.integers(0, n_classes, size=120)
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_model_description_matches_the_loaded_estimator(tmp_path, n_classes):
    X, y = _data(n_classes)
    labels = np.array(["ant", "bee", "cat"])[y]
    est = xentlearn.LogisticRegression(class_weight="balanced").fit(X, labels)
    est.save(tmp_path / "m.xent")
    d = xentlearn.describe(tmp_path / "m.xent")
    loaded = xentlearn.load(tmp_path / "m.xent")
    assert d["estimator"] == "LogisticRegression"
    assert d["classes"] == list(loaded.classes_) and d["target"] is None
    assert d["n_features_in"] == 4 and d["feature_names"] == ["x0", "x1", "x2", "x3"]
    assert d["parameter_shapes"] == {"coef_": list(loaded.coef_.shape),
                                     "intercept_": list(loaded.intercept_.shape)}
    assert d["n_parameters"] == loaded.coef_.size + loaded.intercept_.size
    params = loaded.get_params()
    assert d["params"]["alpha"] == params["alpha"] and d["params"]["solver"] == params["solver"]
    assert d["params"]["class_weight"] == "balanced"
    assert "callbacks" not in d["params"] and "verbose" not in d["params"]
    assert d["training"]["epochs"] == loaded.n_iter_
    assert d["training"]["final_train_loss"] == loaded.history_[-1]["train_loss"]
    coef = {c["feature"]: c["coef"] for c in d["coefficients"]}
    if n_classes == 2:
        assert d["positive_class"] == loaded.classes_[1]
        assert [coef[f"x{j}"] for j in range(4)] == list(loaded.coef_[0])
        assert d["intercept"] == loaded.intercept_[0]
        magnitudes = [abs(c["coef"]) for c in d["coefficients"]]
    else:
        for k, label in enumerate(loaded.classes_):
            assert [coef[f"x{j}"][label] for j in range(4)] == list(loaded.coef_[k])
        magnitudes = [max(map(abs, c["coef"].values())) for c in d["coefficients"]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    json.dumps(d)   # plain values only


def test_mlp_description_has_layer_shapes_and_no_coefficients(tmp_path):
    X, y = _data(3)
    est = xentlearn.MLPClassifier(hidden_layer_sizes=(5, 3), max_iter=3, random_state=0)
    with pytest.warns(Warning):
        est.fit(X, y)
    est.save(tmp_path / "m.xent")
    d = xentlearn.describe(tmp_path / "m.xent")
    assert d["parameter_shapes"] == {"coefs_[0]": [4, 5], "coefs_[1]": [5, 3],
                                     "coefs_[2]": [3, 3], "intercepts_[0]": [5],
                                     "intercepts_[1]": [3], "intercepts_[2]": [3]}
    assert d["params"]["hidden_layer_sizes"] == (5, 3)
    assert d["coefficients"] is None and d["intercept"] is None


def test_a_damaged_file_is_a_model_file_error_naming_the_field(tmp_path):
    X, y = _data(2)
    xentlearn.LogisticRegression().fit(X, y).save(tmp_path / "m.xent")
    with zipfile.ZipFile(tmp_path / "m.xent") as source:
        entries = {name: source.read(name) for name in source.namelist()}
    meta = json.loads(entries["meta.json"])
    meta["task"] = "regression"
    entries["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "bad.xent", "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)
    with pytest.raises(ModelFileError, match="meta field 'task'"):
        xentlearn.describe(tmp_path / "bad.xent")
    with pytest.raises(ModelFileError, match="no-such.xent"):
        xentlearn.describe(tmp_path / "no-such.xent")


def test_version_and_info_import_neither_scikit_learn_nor_scipy(tmp_path):
    # Start-up time (issue #13.6) is dominated by these imports; their absence is
    # what can be asserted without timing a shared machine.
    X, y = _data(2)
    xentlearn.LogisticRegression().fit(X, y).save(tmp_path / "m.xent")
    heavy = ("sklearn", "scipy", "pyarrow", "numpy")
    probe = "; print(sorted(m for m in {heavy} if m in sys.modules))"
    code = ("import sys, contextlib, io; from xentlearn.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): status = main({argv})\n"
            "assert status == 0" + probe)
    version = subprocess.run(
        [sys.executable, "-c", code.format(argv=["--version"], heavy=heavy)],
        capture_output=True, text=True, check=True)
    assert version.stdout.split() == ["[]"]
    info = subprocess.run(
        [sys.executable, "-c", code.format(argv=["info", str(tmp_path / "m.xent")], heavy=heavy)],
        capture_output=True, text=True, check=True)
    assert info.stdout.strip() == "['numpy']"
