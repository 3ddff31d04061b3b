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


# ---------------------------------------------------------------- strict, bounded loading
#
# A model file may be damaged or written by hand. Each file below is a valid
# zip in the xentlearn format (written with xentlearn.io.write) whose metadata
# or arrays are wrong; load must refuse it with a ModelFileError naming the
# field, quickly and without allocating what the metadata claims.

# Generous for a loaded machine: the bugs these tests pin took 9 to 30 s, or hung.
_FAST_SECONDS = 3.0
_SMALL_BYTES = 16 * 2**20


def _parts(est, path):
    from xentlearn import io

    est.save(path)
    arrays, meta = io.read(path)
    return arrays, {k: v for k, v in meta.items() if k not in ("format", "format_version")}


def _refused(path, pattern: str) -> str:
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=pattern) as excinfo:
            xentlearn.load(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < _FAST_SECONDS, f"refusal took {elapsed:.2f} s"
    assert peak < _SMALL_BYTES, f"refusal allocated {peak} bytes"
    message = str(excinfo.value)
    assert str(path) in message
    return message


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """(arrays, meta) of a few small fitted models, by name."""
    import warnings

    from tests.cli import make_table, write_csv
    from xentlearn.data import TableFiles

    folder = tmp_path_factory.mktemp("models")
    X2, y2 = _data(2)
    X3, y3 = _data(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = {
            "binary": LogisticRegression(class_weight="balanced").fit(X2, y2),
            "multiclass": LogisticRegression().fit(X3, np.array(["a", "b", "c"])[y3]),
            "mlp": MLPClassifier(hidden_layer_sizes=(5, 4), max_iter=5, random_state=0).fit(X3, y3),
            "multilabel": LogisticRegression().fit(X2, (X2[:, :3] > 0).astype(int)),
            "files": LogisticRegression(max_iter=20).fit(
                TableFiles(write_csv(make_table(60, seed=0), folder / "t.csv"), target="species")),
        }
    import pandas as pd

    frame = pd.DataFrame(X2, columns=[f"f{i}" for i in range(X2.shape[1])])
    fitted["names"] = LogisticRegression().fit(frame, y2)
    return {name: _parts(est, folder / f"{name}.xent") for name, est in fitted.items()}


def _variant(saved_models, name, tmp_path, change):
    """Write model `name` after change(arrays, meta) (both copies, free to edit)."""
    import copy

    from xentlearn import io

    arrays, meta = saved_models[name]
    arrays, meta = dict(arrays), copy.deepcopy(meta)
    change(arrays, meta)
    path = tmp_path / f"{name}-changed.xent"
    io.write(path, arrays, meta)
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(arrays, meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def test_huge_hidden_layers_in_a_small_file_are_refused_without_allocating(saved_models, tmp_path):
    """Issue: [15000, 15000] in a 2.4 KB file allocated 3.7 GB building the model first."""
    path = _variant(saved_models, "mlp", tmp_path, _set("params", "hidden_layer_sizes", [15000, 15000]))
    _refused(path, r"array 'param.W0' has shape \(6, 5\), but .* give \(6, 15000\)")


@pytest.mark.parametrize("value, pattern", [
    (2e7, "meta field 'n_features_in' is 20000000.0; expected a positive integer"),
    (20_000_000, r"array 'param.W0' has shape \(6, 1\), but n_features_in=20000000, .* give \(20000000, 1\)"),
    (float("inf"), "meta field 'n_features_in' is inf"),    # what json reads for 1e400
    (10**12, r"give \(1000000000000, 1\)"),
    (0, "meta field 'n_features_in' is 0"),
    (True, "meta field 'n_features_in' is True"),
    ("6", "meta field 'n_features_in' is '6'"),
])
def test_n_features_in_must_match_the_arrays(saved_models, tmp_path, value, pattern):
    _refused(_variant(saved_models, "binary", tmp_path, _set("n_features_in", value)), pattern)


def test_n_features_in_written_as_1e400_is_refused(saved_models, tmp_path):
    from xentlearn import io

    path = _variant(saved_models, "binary", tmp_path, _set("n_features_in", 12345))
    arrays, meta = io.read(path)
    raw = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            raw[info.filename] = zf.read(info)
    raw["meta.json"] = raw["meta.json"].replace(b'"n_features_in": 12345', b'"n_features_in": 1e400')
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in raw.items():
            zf.writestr(name, data)
    _refused(path, "meta field 'n_features_in' is inf; expected a positive integer")


@pytest.mark.parametrize("change, pattern", [
    (_set("history", 0, "val_loss", "0.3"), r"meta field 'history\[0\].val_loss' is '0.3'; expected a number or null"),
    (_set("history", 0, "train_loss", None), r"'history\[0\].train_loss' is None; expected a number"),
    (_set("history", 0, "epoch", 1.5), r"'history\[0\].epoch' is 1.5; expected an integer"),
    (_set("history", 0, "seconds", list(range(20))), r"'history\[0\].seconds' is a JSON array of 20 items"),
    (_set("history", 0, "extra", 1), r"'history\[0\]' is a JSON object of 7 keys; expected an object with the keys"),
    (_set("history", 1, "junk"), r"'history\[1\]' is 'junk'"),
    (_set("history", {"epoch": 1}), "meta field 'history' is a JSON object of 1 keys; expected a list"),
])
def test_history_of_the_wrong_types_is_refused(saved_models, tmp_path, change, pattern):
    """Issue: such a history loaded, then `xentlearn info` failed with a TypeError."""
    _refused(_variant(saved_models, "binary", tmp_path, change), pattern)


def _drop_category(arrays, meta):
    column = next(c for c in meta["preprocessing"]["columns"] if c["kind"] == "categorical")
    column["categories"] = column["categories"][:-1]


def _rename_feature_column(arrays, meta):
    meta["feature_columns"][0] = "renamed"


INCONSISTENT = {
    # classes that do not fit the task
    "binary, one class": ("binary", lambda a, m: a.update(classes=a["classes"][:1]),
                          "array 'classes' holds 1 classes but task 'binary' needs exactly 2"),
    "binary, three classes": ("binary", lambda a, m: a.update(classes=np.array([0, 1, 2])),
                              "holds 3 classes but task 'binary' needs exactly 2"),
    "multiclass, two classes": ("multiclass", lambda a, m: a.update(classes=a["classes"][:2]),
                                "holds 2 classes but task 'multiclass' needs at least 3"),
    "multiclass, four classes": ("multiclass", lambda a, m: a.update(classes=np.array(list("abcd"))),
                                 r"array 'param.W0' has shape \(6, 3\), but .* give \(6, 4\)"),
    "2-D classes": ("binary", lambda a, m: a.update(classes=a["classes"][None, :]),
                    r"array 'classes' has shape \(1, 2\); expected one dimension"),
    "repeated classes": ("multiclass", lambda a, m: a.update(classes=np.array(["a", "b", "a"])),
                         "array 'classes' repeats a class"),
    "unsorted classes": ("multiclass", lambda a, m: a.update(classes=a["classes"][::-1].copy()),
                         "array 'classes' is not sorted"),
    "NaN class": ("binary", lambda a, m: a.update(classes=np.array([0.0, np.nan])), "NaN or infinite labels"),
    "multilabel classes": ("multilabel", lambda a, m: a.update(classes=np.array([0, 1, 5])),
                           r"must be 0..2 for task 'multilabel'"),
    "object classes flag on numbers": ("binary", _set("classes_object", True),
                                       r"array 'classes' has dtype int64; expected strings"),
    "unknown task": ("binary", _set("task", "regression"), "meta field 'task' is 'regression'"),
    # parameters
    "NaN weights": ("mlp", lambda a, m: a.update({"param.W1": a["param.W1"] * np.nan}),
                    "array 'param.W1' holds NaN or infinite values"),
    "infinite bias": ("binary", lambda a, m: a.update({"param.b0": a["param.b0"] + np.inf}),
                      "array 'param.b0' holds NaN or infinite values"),
    "float32 weights for float64": ("binary", lambda a, m: a.update({"param.W0": a["param.W0"].astype(np.float32)}),
                                    "array 'param.W0' has dtype float32; params.dtype is float64"),
    "missing bias": ("binary", lambda a, m: a.pop("param.b0"), "array 'param.b0' is missing"),
    "param_keys": ("binary", _set("param_keys", ["W0"]), r"meta field 'param_keys' is \['W0'\]"),
    "unknown array": ("binary", lambda a, m: a.update(extra=np.ones(2)), "array 'extra' is not part of a model file"),
    "fit_intercept": ("binary", _set("params", "fit_intercept", False), r"meta field 'param_keys' is \['W0', 'b0'\]"),
    # hyperparameters
    "unknown parameter": ("binary", _set("params", "C", 1.0), "meta field 'params.C' is not a parameter"),
    "negative alpha": ("binary", _set("params", "alpha", -1.0), "The 'alpha' parameter .* Got -1.0"),
    "NaN tol": ("binary", _set("params", "tol", float("nan")), "The 'tol' parameter"),
    "activation": ("mlp", _set("params", "activation", [1]), r"meta field 'params.activation' is \[1\]; expected"),
    "dtype": ("binary", _set("params", "dtype", "float16"), "meta field 'params.dtype' is 'float16'"),
    "callbacks": ("binary", _set("params", "callbacks", ["print"]), "meta field 'params.callbacks'"),
    "hidden sizes": ("mlp", _set("params", "hidden_layer_sizes", [5, 0]), "params.hidden_layer_sizes"),
    "estimator": ("binary", _set("estimator", "Pipeline"), "meta field 'estimator' is 'Pipeline'"),
    "class_weight pairs": ("binary", _set("params", "class_weight", {"pairs": [[0, -1.0]]}),
                           r"params.class_weight.pairs\[0\]' has weight -1.0"),
    # class weights and feature names
    "class_weight shape": ("binary", lambda a, m: a.update(class_weight=np.ones(3)),
                           r"array 'class_weight' has shape \(3,\)"),
    "class_weight NaN": ("binary", lambda a, m: a.update(class_weight=np.array([1.0, np.nan])),
                         "array 'class_weight' holds a weight that is negative, NaN or infinite"),
    "class_weight missing": ("binary", lambda a, m: a.pop("class_weight"), "array 'class_weight' is missing"),
    "class_weight unexpected": ("multiclass", lambda a, m: a.update(class_weight=np.ones(3)),
                                "array 'class_weight' is present but the model has no class weights"),
    "feature names length": ("names", lambda a, m: a.update(feature_names_in=a["feature_names_in"][:-1]),
                             r"array 'feature_names_in' has shape \(5,\) .* expected \(6,\)"),
    # preprocessing of models trained on files
    "preprocessing width": ("files", _drop_category,
                            "meta field 'preprocessing.columns' encode 4 features but n_features_in is 5"),
    "NaN std": ("files", _set("preprocessing", "columns", 0, "std", float("nan")),
                r"'preprocessing.columns\[0\].std' is nan; expected a finite number > 0"),
    "negative std": ("files", _set("preprocessing", "columns", 0, "std", -1.0), r"columns\[0\].std' is -1.0"),
    "zero std": ("files", _set("preprocessing", "columns", 0, "std", 0.0), r"columns\[0\].std' is 0.0"),
    "NaN mean": ("files", _set("preprocessing", "columns", 1, "mean", float("nan")), r"columns\[1\].mean' is nan"),
    "unknown kind": ("files", _set("preprocessing", "columns", 0, "kind", "time"), r"columns\[0\].kind' is 'time'"),
    "category types": ("files", _set("preprocessing", "columns", 2, "categories", [1, 2, 3]),
                       r"columns\[2\].categories' is \[1, 2, 3\]; expected"),
    "feature columns": ("files", _rename_feature_column, "meta field 'feature_columns'"),
    "target is a feature": ("files", _set("target_column", "x1"), "meta field 'target_column' is 'x1'"),
    "impute": ("files", _set("preprocessing", "impute", "median"), "meta field 'preprocessing' is invalid"),
    "columns without preprocessing": ("binary", _set("feature_columns", ["a"]), "meta field 'feature_columns'"),
}


@pytest.mark.parametrize("case", list(INCONSISTENT))
def test_inconsistent_model_files_are_refused_naming_the_field(saved_models, tmp_path, case):
    name, change, pattern = INCONSISTENT[case]
    _refused(_variant(saved_models, name, tmp_path, change), pattern)


@pytest.mark.parametrize("name", ["binary", "multiclass", "mlp", "multilabel", "files", "names"])
def test_unchanged_models_load(saved_models, tmp_path, name):
    """The control for the cases above: the same files, unchanged, load."""
    path = _variant(saved_models, name, tmp_path, lambda arrays, meta: None)
    assert xentlearn.load(path).n_features_in_ == saved_models[name][1]["n_features_in"]


def test_save_removes_temporaries_left_by_killed_saves(tmp_path):
    """Issue: 30 SIGKILLs during save left 30 '.model.xent.*.tmp' files, never cleaned."""
    X, y = _data()
    path = tmp_path / "model.xent"
    for random_part in ("abcdefgh", "01234567", "x_y_z_w_"):
        (tmp_path / f".model.xent.{random_part}.tmp").write_bytes(b"PK\x03\x04 half a model")
    (tmp_path / ".other.xent.abcdefgh.tmp").write_bytes(b"another model's")
    LogisticRegression().fit(X, y).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.xent.abcdefgh.tmp", "model.xent"]


def test_a_history_too_long_for_a_model_file_is_refused_at_save(tmp_path, monkeypatch):
    """save refuses what load would refuse, and says the history is the cause."""
    from xentlearn import io
    from xentlearn.io import _format

    X, y = _data()
    est = LogisticRegression(max_iter=3).fit(X, y)
    est.history_ = est.history_[:1] * 2000
    monkeypatch.setattr(_format, "MAX_META_BYTES", 100_000)
    with pytest.raises(io.MetadataTooLargeError, match="most of it is the training history, 2000 epochs"):
        est.save(tmp_path / "model.xent")
    assert list(tmp_path.iterdir()) == []


def test_a_fit_on_files_after_a_dataframe_fit_forgets_its_names(tmp_path):
    # The DataFrame's feature_names_in_ stayed: a 5-name array beside a 4-feature model
    # that save wrote and load refused.
    import pandas as pd

    import xentlearn
    from xentlearn.data import TableFiles

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"num": rng.normal(size=60), "cat": rng.choice(["a", "b", "c"], 60),
                          "y": rng.choice(["neg", "pos"], 60)})
    table.to_csv(tmp_path / "s.csv", index=False)
    est = LogisticRegression().fit(pd.DataFrame(rng.normal(size=(60, 5)), columns=list("pqrst")),
                                   table.y)
    est.fit(TableFiles(tmp_path / "s.csv", target="y"))
    assert not hasattr(est, "feature_names_in_") and est.n_features_in_ == 4
    est.save(tmp_path / "m.xent")
    loaded = xentlearn.load(tmp_path / "m.xent")
    np.testing.assert_array_equal(loaded.predict_proba(table), est.predict_proba(table))


def test_date_labels_round_trip(tmp_path):
    # A Parquet column of dates as the target trained, and its model file could not be loaded.
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    import xentlearn
    from xentlearn.data import TableFiles

    x = np.random.default_rng(0).normal(size=90)
    days = [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    y = pa.array([days[i] for i in np.digitize(x, [-0.4, 0.4])], pa.date32())
    pq.write_table(pa.table({"x": x, "y": y}), tmp_path / "d.parquet")
    table = TableFiles(tmp_path / "d.parquet", target="y")
    est = LogisticRegression().fit(table)
    est.save(tmp_path / "m.xent")
    loaded = xentlearn.load(tmp_path / "m.xent")
    assert loaded.classes_.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(loaded.predict(table), est.predict(table))


def test_a_table_too_wide_for_a_model_file_is_refused_at_save(tmp_path, monkeypatch):
    from xentlearn import io
    from xentlearn.data import TableFiles
    from xentlearn.io import _format

    rng = np.random.default_rng(0)
    values = rng.standard_normal((20, 1200))
    lines = [",".join([f"c{j}" for j in range(1200)] + ["y"])]
    lines += [",".join(map(str, row)) + f",{i % 2}" for i, row in enumerate(values)]
    (tmp_path / "wide.csv").write_text("\n".join(lines) + "\n")
    est = LogisticRegression(max_iter=3).fit(TableFiles(tmp_path / "wide.csv", target="y"))
    monkeypatch.setattr(_format, "MAX_META_BYTES", 100_000)
    with pytest.raises(io.MetadataTooLargeError, match=r"cannot save the model: its metadata "
                       r"would be more than a model file holds \(.*\), most of it the "
                       r"preprocessing of its 1200 table columns \(0 categories in all\)"):
        est.save(tmp_path / "model.xent")
    assert not (tmp_path / "model.xent").exists()


def test_temperature_calibration_and_checkpoint_path_round_trip(tmp_path):
    """calibration='temperature' divides the logits by the fitted temperature_: it must be saved."""
    import pathlib

    X, y = _data(3)
    est = LogisticRegression(calibration="temperature", checkpoint=pathlib.Path(tmp_path / "ck"),
                             random_state=0).fit(X, y)
    assert est.temperature_ != 1.0
    est.save(tmp_path / "model.xent")
    loaded = xentlearn.load(tmp_path / "model.xent")
    assert loaded.temperature_ == est.temperature_
    assert loaded.checkpoint is None        # saved (a Path), and a setting of that fit only
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("change, pattern", [
    (_set("temperature", -1.0), "meta field 'temperature' is -1.0; expected a finite number > 0"),
    (_set("temperature", float("nan")), "meta field 'temperature' is nan"),
    (_set("temperature", "2"), "meta field 'temperature' is '2'"),
    (_set("params", "calibration", None), "meta field 'temperature' is set but params.calibration"),
])
def test_a_wrong_temperature_is_refused(tmp_path, change, pattern):
    from xentlearn import io

    X, y = _data(3)
    LogisticRegression(calibration="temperature", random_state=0).fit(X, y).save(tmp_path / "m.xent")
    arrays, meta = io.read(tmp_path / "m.xent")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    change(arrays, meta)
    io.write(tmp_path / "bad.xent", arrays, meta)
    _refused(tmp_path / "bad.xent", pattern)


def test_model_with_expanded_dates_and_missing_tokens_round_trips(tmp_path):
    """Preprocessing version 2 (date columns, na_values) loads and predicts equal."""
    import pyarrow as pa

    from tests.cli import make_table, write_csv
    from xentlearn.data import TableFiles

    table = make_table(80, seed=3)
    days = np.datetime64("2024-01-01") + np.arange(80) * 5
    x2 = table.column("x2").to_pylist()
    table = table.set_column(1, "x2", pa.array(["?" if i % 9 == 0 else str(v) for i, v in enumerate(x2)]))
    table = table.append_column("day", pa.array(days.astype(str)))
    csv = write_csv(table, tmp_path / "t.csv")
    est = LogisticRegression(max_iter=30).fit(
        TableFiles(csv, target="species", dates="expand", na_values=["?"], impute="mean"))
    assert est.preprocessing_["version"] == 2
    est.save(tmp_path / "model.xent")
    loaded = xentlearn.load(tmp_path / "model.xent")
    np.testing.assert_array_equal(loaded.predict_proba(TableFiles(csv)), est.predict_proba(TableFiles(csv)))
