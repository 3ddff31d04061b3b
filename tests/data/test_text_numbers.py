"""Numbers written as text (a Parquet string column, a DataFrame's object column) are
numbers once their missing-value tokens are declared, as a CSV reader reads them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles
from xentlearn.data._column_values import InfiniteValuesError
from xentlearn.data._tabular import TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError

N = 300


def _columns(seed: int = 0, n: int = N, markers=(4, 90, 150)):
    rng = np.random.default_rng(seed)
    codes = [str(v) for v in rng.integers(1, 11, n)]
    for row in markers:
        codes[row] = "?"
    x = np.linspace(0.0, 1.0, n) + seed
    labels = ["a" if c != "?" and int(c) > 5 else "b" for c in codes]
    return x, codes, labels


def _write(path, seed: int = 0, markers=(4, 90, 150)) -> None:
    x, codes, labels = _columns(seed, markers=markers)
    if path.suffix == ".parquet":
        pq.write_table(pa.table({"x": x, "code": codes, "label": labels}), path)
    else:
        path.write_text("x,code,label\n" + "".join(
            f"{float(a)!r},{c},{y}\n" for a, c, y in zip(x, codes, labels)))


def _fit(table):
    model = LogisticRegression(max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no numbers_as_text warning either
        return model.fit(table)


@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
def test_parquet_text_of_numbers_is_numeric_as_from_csv(tmp_path, budget):
    _write(tmp_path / "d.csv")
    _write(tmp_path / "d.parquet")
    models = {ext: _fit(TableFiles(tmp_path / f"d.{ext}", target="label", na_values=["?"],
                                   impute="mean", memory_budget=budget))
              for ext in ("csv", "parquet")}
    for model in models.values():
        assert model._preprocessor.kinds_ == ["numeric", "numeric"]
    csv, parquet = models["csv"]._preprocessor, models["parquet"]._preprocessor
    assert parquet.means_ == pytest.approx(csv.means_, rel=1e-12)
    assert parquet.stds_ == pytest.approx(csv.stds_, rel=1e-12)
    np.testing.assert_allclose(models["parquet"].coef_, models["csv"].coef_, rtol=1e-8)
    # Each model predicts on the other format's file (the tokens travel with the model).
    for model in models.values():
        expected = model.predict_proba(TableFiles(tmp_path / "d.csv"))
        np.testing.assert_allclose(model.predict_proba(TableFiles(tmp_path / "d.parquet")),
                                   expected, rtol=1e-12)


def test_folder_of_parquet_files_with_and_without_markers(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / "a.parquet", seed=0, markers=())           # numbers only, as text
    _write(folder / "b.parquet", seed=1)                       # with "?"
    model = _fit(TableFiles(folder, target="label", na_values=["?"], impute="mean"))
    assert model._preprocessor.kinds_ == ["numeric", "numeric"]
    codes = [c for seed, m in ((0, ()), (1, (4, 90, 150))) for c in _columns(seed, markers=m)[1]]
    numbers = np.array([float(c) for c in codes if c != "?"])
    assert model._preprocessor.means_["code"] == pytest.approx(numbers.mean(), rel=1e-12)
    assert model._preprocessor.stds_["code"] == pytest.approx(numbers.std(), rel=1e-12)


def test_dataframe_object_column_of_numbers(tmp_path):
    x, codes, labels = _columns()
    frame = pd.DataFrame({"x": x, "code": codes, "label": labels})
    _write(tmp_path / "d.csv")
    model = _fit(TableFiles(tmp_path / "d.csv", target="label", na_values=["?"],
                            impute="mean"))
    np.testing.assert_allclose(model.predict_proba(frame.drop(columns="label")),
                               model.predict_proba(TableFiles(tmp_path / "d.csv")), rtol=1e-12)
    pre = TabularPreprocessor(na_values=["?"], impute="mean").fit(
        [pa.Table.from_pandas(frame[["x", "code"]], preserve_index=False)])
    assert pre.kinds_ == ["numeric", "numeric"]


def test_counts_across_batches_and_merges():
    values = [str(v) for v in range(1, 2001)] + ["?", " 7 ", "nan"]
    table = pa.table({"c": values})
    one = TabularPreprocessor(na_values=["?"], impute="mean")
    for batch in table.to_batches(max_chunksize=700):
        one.partial_fit(batch)
    merged = TabularPreprocessor(na_values=["?"], impute="mean").partial_fit(
        table.slice(0, 1500)).merge(
        TabularPreprocessor(na_values=["?"], impute="mean").partial_fit(table.slice(1500)))
    numbers = np.arange(1, 2002, dtype=float)
    numbers[-1] = 7.0
    for pre in (one, merged):
        pre.finalize()                  # 2000 distinct numbers: over max_categories, still numbers
        assert pre.kinds_ == ["numeric"]
        assert pre.means_["c"] == pytest.approx(numbers.mean(), rel=1e-12)
        assert pre.missing_count("c") == 2         # "?" declared, "nan" read as NaN
    without = TabularPreprocessor(na_values=["?"]).partial_fit(table)
    with pytest.raises(XentlearnInputError, match=r"column 'c' has 2 missing value"):
        without.finalize()


def test_text_stays_text_and_infinity_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # numbers_as_text: 'red' in a third
        pre = TabularPreprocessor().fit([pa.table({"c": ["1", "2", "red"] * 20})])
    assert pre.kinds_ == ["categorical"]
    # Over max_categories while numbers, then a word: too many categories after all.
    with pytest.raises(XentlearnInputError, match=r"column 'c' holds numbers except for 1 "):
        TabularPreprocessor(max_categories=10).fit(
            [pa.table({"c": [str(v) for v in range(20)]}), pa.table({"c": ["red"]})])
    with pytest.raises(InfiniteValuesError, match=r"column 'c' has 1 infinite value"):
        TabularPreprocessor(na_values=["?"]).fit([pa.table({"c": ["1", "inf", "2"]})])


def test_text_of_numbers_keeps_its_type_without_na_values(tmp_path):
    # Codes written as strings on purpose (zip codes) stay categories: only declared
    # missing-value tokens say that text is numbers with gaps, as a CSV reader reads it.
    codes = ["75001", "69002", "13003"] * 40
    pq.write_table(pa.table({"zip": codes, "label": ["a", "b", "a", "b"] * 30}),
                   tmp_path / "z.parquet")
    kept = _fit(TableFiles(tmp_path / "z.parquet", target="label"))
    assert kept._preprocessor.kinds_ == ["categorical"]
    assert kept._preprocessor.categories_["zip"] == ["13003", "69002", "75001"]
    declared = _fit(TableFiles(tmp_path / "z.parquet", target="label", na_values=["?"]))
    assert declared._preprocessor.kinds_ == ["numeric"]
    pre = TabularPreprocessor().fit([pa.table({"c": ["1", "inf", "2"]})])
    assert pre.kinds_ == ["categorical"]
    # Past max_categories while numbers, and no na_values: too many categories.
    with pytest.raises(XentlearnInputError, match=r"more than 10 distinct values"):
        TabularPreprocessor(max_categories=10).fit([pa.table({"c": [str(v) for v in range(20)]})])


def test_warning_says_the_column_is_then_read_as_numbers(tmp_path):
    _write(tmp_path / "d.parquet")
    with pytest.warns(UserWarning, match=r"na_values=\['\?'\] \(and impute='mean'\), and the "
                                         r"column is read as numbers \(from CSV, Parquet"):
        LogisticRegression(max_iter=100).fit(TableFiles(tmp_path / "d.parquet", target="label"))
