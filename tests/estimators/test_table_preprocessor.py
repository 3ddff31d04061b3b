"""Models trained on files apply their preprocessing to DataFrames; TablePreprocessor
is that preprocessing as a scikit-learn transformer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.pipeline import make_pipeline

import xentlearn
from xentlearn import LogisticRegression, MLPClassifier
from xentlearn.cli import main as cli_main
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError
from xentlearn.preprocessing import TablePreprocessor

from tests.cli import make_table, write_csv

FEATURES = ["x1", "x2", "color"]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "train.csv"
    return write_csv(make_table(300, seed=1), path)


@pytest.fixture(scope="module")
def file_model(table_csv):
    return LogisticRegression().fit(TableFiles(table_csv, target="species"))


def _frame(table_csv) -> pd.DataFrame:
    return pd.read_csv(table_csv)


def test_dataframe_predictions_equal_file_predictions(file_model, table_csv):
    frame = _frame(table_csv)
    from_file = file_model.predict_proba(TableFiles(table_csv))
    # Columns in another order, an extra column, the target still present: all by name.
    shuffled = frame[["color", "species", "x2", "x1"]].assign(extra=1.0)
    np.testing.assert_array_equal(file_model.predict_proba(shuffled), from_file)
    np.testing.assert_array_equal(file_model.predict_proba(pl.from_pandas(shuffled)), from_file)
    np.testing.assert_array_equal(file_model.predict(frame), file_model.predict(TableFiles(table_csv)))
    assert file_model.score(frame, frame["species"]) > 0.8     # not the 1/3 of a skipped preprocessing


def test_unseen_categories_in_a_dataframe_are_named_as_in_files(file_model, table_csv, tmp_path):
    # Silent before: every row of an upper-cased column encoded all zeros, no warning.
    from xentlearn.data import UnseenCategoryWarning

    frame = _frame(table_csv).assign(color=lambda f: f["color"].str.upper())
    frame.to_csv(tmp_path / "upper.csv", index=False)
    with pytest.warns(UnseenCategoryWarning) as from_file:
        file_model.predict_proba(TableFiles(tmp_path / "upper.csv"))
    with pytest.warns(UnseenCategoryWarning) as from_frame:
        file_model.predict_proba(frame)
    assert [str(w.message) for w in from_frame] == [str(w.message) for w in from_file]
    shown = str(from_frame[0].message)
    assert f"column 'color': {len(frame)} row(s) hold values not seen" in shown
    with pytest.warns(UnseenCategoryWarning, match="column 'color'"):
        file_model.preprocessor_.transform(frame)


def test_dataframe_missing_column_and_numpy_array_are_refused(file_model, table_csv):
    frame = _frame(table_csv)
    with pytest.raises(XentlearnInputError, match=r"lacks the column\(s\) \['color'\]"):
        file_model.predict(frame.drop(columns="color"))
    numeric = frame[["x1", "x2"]].to_numpy()
    with pytest.raises(XentlearnInputError, match="trained on table files.*ndarray has no column"):
        file_model.predict(numeric)
    with pytest.raises(XentlearnInputError, match="was numeric .* not numbers"):
        file_model.predict(frame.assign(x1="oops"))


def test_cli_model_loaded_in_python_predicts_dataframes(table_csv, tmp_path):
    model = tmp_path / "m.xent"
    code = cli_main(["train", str(table_csv), "--target", "species", "--out", str(model),
                     "--quiet", "--max-iter", "50"])
    assert code == 0
    loaded = xentlearn.load(model)
    frame = _frame(table_csv)
    np.testing.assert_array_equal(loaded.predict_proba(frame),
                                  loaded.predict_proba(TableFiles(table_csv)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_continues_a_file_model_on_dataframes(table_csv):
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est.fit(TableFiles(table_csv, target="species"))
    frame = _frame(table_csv)
    est.partial_fit(frame, frame["species"])
    assert est.n_iter_ == 3
    with pytest.raises(XentlearnInputError, match="trained on table files"):
        est.partial_fit(frame[["x1", "x2"]].to_numpy(), frame["species"])


def test_fresh_fit_on_arrays_forgets_the_table_preprocessing(table_csv):
    est = LogisticRegression().fit(TableFiles(table_csv, target="species"))
    frame = _frame(table_csv)
    est.fit(frame[["x1", "x2"]].to_numpy(), frame["species"])
    assert not hasattr(est, "preprocessor_") and not hasattr(est, "feature_columns_")
    assert est.predict(frame[["x1", "x2"]].to_numpy()).shape == (len(frame),)


def test_preprocessor_attribute_transforms_like_the_files(file_model, table_csv):
    pre = file_model.preprocessor_
    assert isinstance(pre, TablePreprocessor)
    assert list(pre.feature_names_in_) == FEATURES
    names = pre.get_feature_names_out().tolist()
    assert names == ["x1", "x2", "color=blue", "color=green", "color=red"]
    frame = _frame(table_csv)
    Z = pre.transform(frame)
    # Standardised with the population std, one-hot in sorted category order.
    np.testing.assert_allclose(Z[:, 0], (frame.x1 - frame.x1.mean()) / frame.x1.std(ddof=0),
                               rtol=1e-12)
    np.testing.assert_array_equal(Z[:, 2:], pd.get_dummies(frame.color).to_numpy(float))
    logits = Z @ file_model.coef_.T + file_model.intercept_
    np.testing.assert_allclose(logits, file_model.decision_function(frame), rtol=1e-12)


def test_table_preprocessor_in_a_pipeline_equals_training_from_files(table_csv):
    frame = _frame(table_csv)
    pipe = make_pipeline(TablePreprocessor(FEATURES), LogisticRegression()).fit(
        frame, frame["species"])
    files = LogisticRegression().fit(TableFiles(table_csv, target="species"))
    np.testing.assert_allclose(pipe.predict_proba(frame), files.predict_proba(frame),
                               rtol=1e-6, atol=1e-9)


def test_table_preprocessor_errors_and_dtype():
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "t": ["x", "y", "x"]})
    pre = TablePreprocessor(dtype=np.float32).fit(pl.from_pandas(frame))
    assert pre.transform(frame).dtype == np.float32
    assert pre.n_features_in_ == 2 and pre.kinds_ == ["numeric", "categorical"]
    with pytest.raises(XentlearnInputError, match="named columns.*ndarray"):
        TablePreprocessor().fit(frame.to_numpy())
    with pytest.raises(XentlearnInputError, match=r"more than once"):
        TablePreprocessor().fit(pd.concat([frame, frame["a"]], axis=1))
    with pytest.raises(XentlearnInputError, match="column 'a' has 1 missing"):
        TablePreprocessor().fit(frame.assign(a=[1.0, None, 2.0]))
    imputed = TablePreprocessor(impute="mean").fit(frame.assign(a=[1.0, None, 3.0]))
    assert imputed.means_["a"] == 2.0
    # Unknown categories at transform time: all-zero block, as OneHotEncoder("ignore"),
    # and a warning, as OneHotEncoder(handle_unknown="warn").
    from xentlearn.data import UnseenCategoryWarning

    with pytest.warns(UnseenCategoryWarning, match=r"column 't': 1 row\(s\) .*such as 'z'"):
        encoded = pre.transform(frame.assign(t=["z", "x", "y"]))
    np.testing.assert_array_equal(encoded[:, 1:], [[0, 0], [1, 0], [0, 1]])


def test_table_preprocessor_reads_dates_and_missing_tokens_and_advises_in_its_words():
    # Its advice named TableFiles' drop=[...], dates= and na_values=, which it lacked.
    from xentlearn.data import ColumnWarning

    frame = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=4),
                          "x": ["1", "?", "3", "4"], "k": [1, 1, 1, 1]})
    with pytest.raises(XentlearnInputError, match=r"exclude the column \(columns= leaving out "
                                                  r"'when'\) or expand it .*dates='expand'"):
        TablePreprocessor(na_values=["?"], impute="mean").fit(frame)
    with pytest.warns(ColumnWarning, match=r"constant column\(s\): 'k' .*exclude them: "
                                           r"columns= leaving them out"):
        pre = TablePreprocessor(dates="expand", na_values=["?"], impute="mean").fit(frame)
    import warnings

    with warnings.catch_warnings(record=True) as caught:       # as any library warning:
        warnings.simplefilter("default")                        # once, and ...
        for _ in range(3):
            TablePreprocessor(dates="expand", na_values=["?"], impute="mean").fit(frame)
        warnings.filterwarnings("ignore", module="xentlearn")   # ... filtered by module
        TablePreprocessor(dates="expand", na_values=["?"], impute="mean").fit(frame)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        failed = TablePreprocessor(dates="expand", na_values=["?"], impute="mean")
        with pytest.raises(ColumnWarning):
            failed.fit(frame)
    assert not hasattr(failed, "n_features_in_")
    assert pre.kinds_ == ["date", "numeric", "numeric"]
    assert pre.get_feature_names_out().tolist()[:2] == ["when.year", "when.month"]
    np.testing.assert_allclose(pre.transform(frame)[:, 4], [-1.336306, 0, 0.267261, 1.069045],
                               atol=1e-6)


def test_numbers_in_object_or_categorical_columns_fit_as_scikit_learn_fits_them():
    from decimal import Decimal

    import sklearn.linear_model as sklm

    rng = np.random.default_rng(0)
    values = rng.normal(size=(80, 2)).round(3)
    y = (values[:, 0] + rng.logistic(size=80) > 0).astype(int)
    expected = LogisticRegression().fit(values, y).coef_
    frames = [pd.DataFrame(values, columns=["a", "b"]).astype(object),
              pd.DataFrame({"a": values[:, 0].tolist(),
                            "b": [Decimal(str(v)) for v in values[:, 1]]}),
              pd.DataFrame({"a": pd.Categorical(values[:, 0]), "b": values[:, 1]})]
    for frame in frames:
        np.testing.assert_allclose(LogisticRegression().fit(frame, y).coef_, expected)
        sklm.LogisticRegression().fit(frame, y)       # scikit-learn takes them too
    mixed = pd.DataFrame({"a": [True, 1, 0, False] * 20, "b": values[:, 1]}, dtype=object)
    np.testing.assert_allclose(LogisticRegression().fit(mixed, y).coef_,
                               sklm.LogisticRegression().fit(mixed, y).coef_, atol=1e-3)
    gaps = pd.DataFrame({"a": [1, np.nan] * 40, "b": values[:, 1]}, dtype=object)
    with pytest.raises(ValueError, match="Input X contains NaN"):   # missing, not text
        LogisticRegression().fit(gaps, y)
    for text in ("x", "0.5"):      # text, even of numbers, is no number
        with pytest.raises(XentlearnInputError, match=r"non-numeric column\(s\) \['b'\]"):
            LogisticRegression().fit(frames[0].assign(b=text), y)
    # Non-string column names: the preprocessing's names are their text.
    numbered = pd.DataFrame({0: values[:, 0], 1: ["p", "q"] * 40, 2: values[:, 1]})
    pre = TablePreprocessor(columns=[0, 2]).fit(numbered)
    assert pre.get_feature_names_out().tolist() == ["0", "2"]


def test_table_preprocessor_takes_sparse_and_large_unsigned_columns():
    # A pandas sparse column was "mixes value types"; a uint64 beyond 2**53 a raw ArrowInvalid.
    frame = pd.DataFrame({"s": pd.arrays.SparseArray([0.0, 1.0, 0.0, 2.0]),
                          "u": np.array([1, 2**60, 3, 2**63 + 5], dtype=np.uint64)})
    dense = pd.DataFrame({"s": [0.0, 1.0, 0.0, 2.0], "u": frame["u"].astype(np.float64)})
    np.testing.assert_array_equal(TablePreprocessor().fit(frame).transform(frame),
                                  TablePreprocessor().fit(dense).transform(dense))
    pre = TablePreprocessor().fit(frame)
    assert pre.get_feature_names_out(["s", "u"]).tolist() == ["s", "u"]
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        pre.get_feature_names_out(["u", "s"])
