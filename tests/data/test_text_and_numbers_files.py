"""A Parquet folder where pandas wrote a column as string in one file (it held '?') and as
double in another (no '?'): with the token declared it trains as numbers, as the same data
from CSV does; without, the schema check refuses it and says to declare the tokens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xentlearn import LogisticRegression
from xentlearn.data import TableFiles, TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def pandas_frame(n: int, marks=(), seed: int = 0) -> pd.DataFrame:
    # UCI-style codes 1..10; with marks, '?' in those rows and the column is object.
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 11, n).astype(float)
    nuclei = codes
    if marks:
        nuclei = np.array([f"{c:g}" for c in codes], dtype=object)
        nuclei[list(marks)] = "?"
    return pd.DataFrame({"nuclei": nuclei, "size": rng.normal(size=n),
                         "label": rng.choice(["benign", "malignant"], n)})


def pandas_folders(tmp_path, text_first: bool = True):
    frames = [pandas_frame(80, marks=(3, 41), seed=1), pandas_frame(70, seed=2)]
    if not text_first:
        frames.reverse()
    for ext in ("parquet", "csv"):
        (tmp_path / ext).mkdir()
        for name, frame in zip("ab", frames):
            path = tmp_path / ext / f"{name}.{ext}"
            frame.to_parquet(path) if ext == "parquet" else frame.to_csv(path, index=False)
    return tmp_path / "parquet", tmp_path / "csv"


def test_the_folder_is_as_pandas_writes_it(tmp_path):
    parquet, _ = pandas_folders(tmp_path)
    kinds = [pq.read_schema(parquet / f).field("nuclei").type for f in ("a.parquet", "b.parquet")]
    assert pa.types.is_large_string(kinds[0]) or pa.types.is_string(kinds[0])
    assert kinds[1] == pa.float64()


@pytest.mark.parametrize("text_first", [True, False], ids=["text-first", "numbers-first"])
@pytest.mark.parametrize("budget", [0, None], ids=["streamed", "in-memory"])
def test_with_na_values_it_trains_as_the_csv_folder(tmp_path, budget, text_first):
    parquet, csv = pandas_folders(tmp_path, text_first)
    options = dict(target="label", na_values=["?"], impute="mean", memory_budget=budget)
    from_parquet = LogisticRegression(max_iter=30).fit(TableFiles(parquet, **options))
    from_csv = LogisticRegression(max_iter=30).fit(TableFiles(csv, **options))
    assert from_parquet._preprocessor.kinds_ == ["numeric", "numeric"]
    assert from_parquet._preprocessor.to_dict() == from_csv._preprocessor.to_dict()
    np.testing.assert_array_equal(from_parquet.coef_, from_csv.coef_)
    np.testing.assert_array_equal(from_parquet.predict_proba(TableFiles(parquet)),
                                  from_csv.predict_proba(TableFiles(csv)))


def test_without_na_values_the_refusal_says_to_declare_them(tmp_path):
    parquet, _ = pandas_folders(tmp_path)
    with pytest.raises(XentlearnInputError) as info:
        LogisticRegression(max_iter=3).fit(TableFiles(parquet, target="label", impute="mean"))
    message = str(info.value)
    assert message.startswith("column 'nuclei' is double in ") and "a.parquet" in message
    assert ("expected the same kind (number, boolean or string) in every file; if its text is "
            "numbers with missing-value tokens (pandas writes a column holding '?' as string), "
            "declare them, e.g. na_values=['?'] (and impute='mean'), and it is read as numbers "
            "in every file") in message, message


def test_text_that_is_not_numbers_is_refused_with_na_values(tmp_path):
    parquet, _ = pandas_folders(tmp_path)
    frame = pandas_frame(80, marks=(3,), seed=1)
    frame.loc[7, "nuclei"] = "big"
    frame.to_parquet(parquet / "a.parquet")
    with pytest.raises(XentlearnInputError,
                       match=r"column 'nuclei' is double \(numbers\) in some files but text in "
                             r"others, where it holds values that are not numbers \('big'\)"):
        LogisticRegression(max_iter=3).fit(TableFiles(parquet, target="label", na_values=["?"],
                                                      impute="mean"))


def test_a_boolean_and_a_number_are_still_refused(tmp_path):
    pq.write_table(pa.table({"f": [True, False], "y": ["a", "b"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"f": [1.0, 0.0], "y": ["a", "b"]}), tmp_path / "b.parquet")
    with pytest.raises(XentlearnInputError, match=r"in every file$"):
        TableFiles(tmp_path, target="y", na_values=["?"]).schema()


@pytest.mark.parametrize("order", ["text, numbers", "numbers, text"])
def test_merged_partial_fits_equal_one_pass(order):
    # Dask workers fit a file each and the client merges: the same as one pass, in
    # either order, and the text's words are refused there too.
    text = pa.record_batch({"x": pa.array(["1", "?", "4"], pa.large_string())})
    numbers = pa.record_batch({"x": pa.array([2.0, 7.0])})
    batches = [text, numbers] if order == "text, numbers" else [numbers, text]
    make = lambda: TabularPreprocessor(na_values=["?"], impute="mean")    # noqa: E731
    one_pass = make().fit(batches)
    merged = make().partial_fit(batches[0]).merge(make().partial_fit(batches[1])).finalize()
    assert one_pass.kinds_ == merged.kinds_ == ["numeric"]
    assert one_pass.to_dict() == merged.to_dict()
    assert one_pass.means_["x"] == pytest.approx(3.5)
    words = pa.record_batch({"x": pa.array(["1", "big"], pa.large_string())})
    for first, second in ((words, numbers), (numbers, words)):
        with pytest.raises(XentlearnInputError, match=r"not numbers \('big'\)"):
            make().fit([first, second])
        with pytest.raises(XentlearnInputError, match=r"not numbers \('big'\)"):
            make().partial_fit(first).merge(make().partial_fit(second)).finalize()
    # Without na_values, text and numbers in one column stay an error.
    with pytest.raises(XentlearnInputError, match="changes type between batches"):
        TabularPreprocessor().fit([text, numbers])


@pytest.mark.parametrize("na_values", [(), ("?",)])
def test_labels_of_two_kinds_across_files_are_refused_by_name(tmp_path, na_values):
    # A label column of 0/1 written as text in one file and as numbers in another: the
    # classes cannot be one sorted set (it was a TypeError from np.unique with na_values).
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=40), "y": [str(v) for v in rng.integers(0, 2, 40)]}
                 ).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"x": rng.normal(size=40), "y": rng.integers(0, 2, 40).astype(float)}
                 ).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(XentlearnInputError, match=r"target column 'y' holds numbers .*b\.parquet"
                       r".* but text .*a\.parquet.*class labels must be of one kind"):
        LogisticRegression().fit(TableFiles(tmp_path, target="y", na_values=list(na_values)))
