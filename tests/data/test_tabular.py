"""TabularPreprocessor: streaming statistics, encodings, missing values, round trip."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from xentlearn.data._tabular import MISSING_CATEGORY, TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError


def _split(table: pa.Table, sizes) -> list[pa.RecordBatch]:
    """Record batches of the given sizes (uneven, to exercise the merge)."""
    out, start = [], 0
    for size in sizes:
        out.extend(table.slice(start, size).to_batches())
        start += size
    assert start == table.num_rows
    return out


def test_streaming_mean_std_match_numpy_on_the_full_data():
    rng = np.random.default_rng(0)
    n = 10_000
    # A large offset with a small spread: the naive sum-of-squares formula
    # loses about 8 digits here, the pairwise (Chan) merge does not.
    big = 1e6 + rng.standard_normal(n)
    small = rng.exponential(3.0, n)
    ints = rng.integers(-50, 50, n)
    table = pa.table({"big": big, "small": small, "ints": ints})
    batches = _split(table, [1, 7, 992, 3000, 4999, 1001])
    pre = TabularPreprocessor().fit(batches)
    for name, x in (("big", big), ("small", small), ("ints", ints.astype(float))):
        np.testing.assert_allclose(pre.means_[name], x.mean(), rtol=1e-12)
        np.testing.assert_allclose(pre.stds_[name], x.std(), rtol=1e-12)
    X = pre.transform(table)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(X.std(axis=0), 1.0, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:constant column")
def test_numeric_string_bool_encoding_and_feature_names():
    table = pa.table({
        "x": [1.0, 2.0, 3.0, 6.0],
        "colour": ["red", "blue", "red", "green"],
        "flag": [True, False, False, True],
        "k": pa.array([5, 5, 5, 5], pa.int32()),     # constant: std 0 -> divided by 1
    })
    pre = TabularPreprocessor().fit(table.to_batches(max_chunksize=3))
    assert pre.feature_names_out == ["x", "colour=blue", "colour=green", "colour=red", "flag", "k"]
    assert pre.n_features_out == 6
    X = pre.transform(table)
    x = np.array([1.0, 2.0, 3.0, 6.0])
    expected = np.column_stack([
        (x - 3.0) / x.std(),
        [0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0],
        [1, 0, 0, 1],                                 # booleans are 0/1, never standardised
        [0, 0, 0, 0],
    ])
    np.testing.assert_allclose(X, expected, rtol=1e-15)
    assert pre.stds_["k"] == 1.0 and pre.stds_["flag"] == 1.0


def test_standardize_false_passes_numbers_through():
    table = pa.table({"x": [1.5, -2.0, 7.0]})
    pre = TabularPreprocessor(standardize=False).fit([table])
    np.testing.assert_array_equal(pre.transform(table)[:, 0], [1.5, -2.0, 7.0])


def test_categories_are_learned_across_batches_and_sorted():
    b1 = pa.record_batch({"c": ["m", "z"]})
    b2 = pa.record_batch({"c": pa.array(["a", "m"]).dictionary_encode()})   # dictionary type too
    pre = TabularPreprocessor().fit([b1, b2])
    assert pre.categories_["c"] == ["a", "m", "z"]


def test_unknown_category_at_transform_is_all_zeros():
    pre = TabularPreprocessor().fit([pa.record_batch({"c": ["a", "b"], "x": [0.0, 1.0]})])
    X = pre.transform(pa.record_batch({"c": ["b", "never seen", "a"], "x": [0.0, 0.0, 0.0]}))
    np.testing.assert_array_equal(X[:, :2], [[0, 1], [0, 0], [1, 0]])


@pytest.mark.parametrize("column, values, count", [
    ("x", [1.0, None, 3.0, None], 2),
    ("x", [1.0, float("nan"), 3.0, 4.0], 1),          # NaN counts as missing
    ("c", ["a", None, "b", "a"], 1),
    ("f", [True, None, None, None], 3),
])
def test_missing_values_error_names_column_and_count(column, values, count):
    table = pa.table({column: values})
    pre = TabularPreprocessor()
    with pytest.raises(XentlearnInputError, match=rf"column '{column}' has {count} missing value"):
        pre.fit(table.to_batches(max_chunksize=2))


def test_missing_count_is_the_total_over_all_batches():
    batches = [pa.record_batch({"x": [None, 1.0]}), pa.record_batch({"x": [None, None, 2.0]})]
    with pytest.raises(XentlearnInputError, match="'x' has 3 missing"):
        TabularPreprocessor().fit(batches)


def test_impute_mean_fills_with_the_mean_of_present_values():
    table = pa.table({"x": [1.0, None, 5.0, float("nan")], "f": [True, None, True, False],
                      "c": ["a", None, "b", "a"]})
    pre = TabularPreprocessor(impute="mean", standardize=False).fit(table.to_batches(max_chunksize=3))
    assert pre.means_["x"] == 3.0
    assert pre.categories_["c"] == ["a", "b", MISSING_CATEGORY]
    X = pre.transform(table)
    np.testing.assert_allclose(X[:, 0], [1.0, 3.0, 5.0, 3.0])
    np.testing.assert_allclose(X[:, 1], [1.0, 2 / 3, 1.0, 0.0])    # bool: mean = fraction True
    np.testing.assert_array_equal(X[:, 2:5], [[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])


def test_impute_mean_standardised_fill_is_zero():
    table = pa.table({"x": [1.0, None, 2.0, 6.0]})
    pre = TabularPreprocessor(impute="mean").fit([table])
    x = np.array([1.0, 2.0, 6.0])
    np.testing.assert_allclose(pre.stds_["x"], x.std(), rtol=1e-15)    # nulls ignored
    assert pre.transform(table)[1, 0] == 0.0


def test_missing_at_transform_without_impute_is_an_error():
    pre = TabularPreprocessor().fit([pa.table({"x": [1.0, 2.0], "c": ["a", "b"]})])
    with pytest.raises(XentlearnInputError, match="'x' has 1 missing"):
        pre.transform(pa.table({"x": [None, 2.0], "c": ["a", "b"]}))
    with pytest.raises(XentlearnInputError, match="'c' has 2 missing"):
        pre.transform(pa.table({"x": [1.0, 2.0], "c": pa.array([None, None], pa.string())}))


def test_missing_category_unseen_in_fit_maps_to_zeros_with_impute():
    pre = TabularPreprocessor(impute="mean").fit([pa.table({"c": ["a", "b"]})])
    assert pre.categories_["c"] == ["a", "b"]
    X = pre.transform(pa.table({"c": ["b", None]}))
    np.testing.assert_array_equal(X, [[0, 1], [0, 0]])


def test_infinite_values_and_unsupported_types_are_errors():
    with pytest.raises(XentlearnInputError, match="'x' has 1 infinite"):
        TabularPreprocessor().fit([pa.table({"x": [1.0, float("inf")]})])
    with pytest.raises(XentlearnInputError, match="'t'.*duration"):
        TabularPreprocessor().fit([pa.table({"t": pa.array([0, 1], pa.duration("s"))})])
    with pytest.raises(XentlearnInputError, match="'t' holds dates .*dates='expand'"):
        TabularPreprocessor().fit([pa.table({"t": pa.array([0, 1], pa.timestamp("s"))})])


def test_kind_change_between_batches_is_an_error():
    pre = TabularPreprocessor().partial_fit(pa.record_batch({"x": [1.0]}))
    with pytest.raises(XentlearnInputError, match="'x' changes type"):
        pre.partial_fit(pa.record_batch({"x": ["a"]}))


def test_identifier_like_column_is_rejected_by_max_categories():
    with pytest.raises(XentlearnInputError, match="'id' has more than 5 distinct"):
        TabularPreprocessor(max_categories=5).fit([pa.table({"id": [f"u{i}" for i in range(6)]})])


def test_numeric_column_with_stray_text_names_the_text_not_an_identifier():
    values = [f"{i * 1.5:.2f}" for i in range(40)] + ["unknown", "n.a."]
    with pytest.raises(XentlearnInputError) as error:
        TabularPreprocessor(max_categories=30).fit([pa.table({"income": values})])
    message = str(error.value)
    assert "'income' holds numbers except for 2 distinct value(s)" in message
    assert "'n.a.', 'unknown'" in message and "identifier" not in message


def test_columns_select_and_order_the_features():
    table = pa.table({"a": [1.0, 2.0], "b": ["u", "v"], "y": [0, 1]})
    pre = TabularPreprocessor(["b", "a"]).fit([table])
    assert pre.feature_names_out == ["b=u", "b=v", "a"]
    with pytest.raises(XentlearnInputError, match="column 'a' not found"):
        pre.transform(pa.table({"b": ["u"]}))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_dtype_is_preserved(dtype):
    table = pa.table({"x": [1.0, 2.0, 4.0], "c": ["a", "b", "a"], "f": [True, False, True]})
    pre = TabularPreprocessor().fit([table])
    X = pre.transform(table, dtype)
    assert X.dtype == dtype
    np.testing.assert_allclose(X, pre.transform(table, np.float64), rtol=1e-7)


def test_to_dict_from_dict_round_trip_through_json():
    rng = np.random.default_rng(1)
    n = 500
    table = pa.table({
        "x": rng.standard_normal(n) * 3.3 + 1 / 7,
        "c": rng.choice(["é", "b", "a b", "z"], n),
        "f": rng.random(n) < 0.3,
        "i": pa.array(rng.integers(0, 9, n), pa.int16()),
    })
    pre = TabularPreprocessor(impute="mean").fit(table.to_batches(max_chunksize=77))
    state = json.loads(json.dumps(pre.to_dict()))
    loaded = TabularPreprocessor.from_dict(state)
    assert loaded.feature_names_out == pre.feature_names_out
    assert loaded.to_dict() == pre.to_dict()
    probe = pa.table({"x": [0.5, None], "c": ["a b", "unknown"], "f": [None, True],
                      "i": pa.array([3, 4], pa.int16())})
    np.testing.assert_array_equal(loaded.transform(table), pre.transform(table))   # bit-identical
    np.testing.assert_array_equal(loaded.transform(probe), pre.transform(probe))
    with pytest.raises(XentlearnInputError, match="cannot be refitted"):
        loaded.partial_fit(table)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(version=99), "version"),
    (lambda d: d["columns"][0].update(kind="weird"), "unknown kind"),
    (lambda d: d["columns"][0].pop("mean"), "mean"),
])
def test_from_dict_rejects_foreign_or_broken_state(mutate, match):
    state = TabularPreprocessor().fit([pa.table({"x": [1.0, 2.0]})]).to_dict()
    mutate(state)
    with pytest.raises(XentlearnInputError, match=match):
        TabularPreprocessor.from_dict(state)


@pytest.mark.parametrize("impute", [None, "mean"])
def test_an_all_missing_column_is_named_for_exclusion_whatever_the_imputation(impute):
    """Without imputation the advice was "pass impute='mean'", with it "exclude it": now
    both say to exclude it (drop=[name]); the empty name of a trailing delimiter says so."""
    table = pa.table({"x": [1.0, 2.0], "": pa.array([None, None], pa.null())})
    with pytest.raises(XentlearnInputError,
                       match=r"column '' \(an empty header cell: does every line end with a "
                             r"delimiter\?\) has no values .*exclude it \(drop=\[''\]\)"):
        TabularPreprocessor(impute=impute).fit([table])


def test_missing_values_in_new_rows_of_a_model_without_imputation():
    """The advice names what to do ("fill them, or train with impute='mean'"); it said
    "the preprocessor was fitted with impute=None", which the CLI showed as the flag value
    "--impute None" that does not exist."""
    pre = TabularPreprocessor().fit([pa.table({"x": [1.0, 2.0], "c": ["a", "b"]})])
    for column, values in (("x", [1.0, None]), ("c", ["a", None])):
        table = pa.table({"x": [1.0, 2.0], "c": ["a", "b"]}).set_column(
            0 if column == "x" else 1, column, pa.array(values))
        with pytest.raises(XentlearnInputError,
                           match=rf"column '{column}' has 1 missing value\(s\) \(null or NaN\); "
                                 r"the model was trained without imputation, so every value "
                                 r"must be present: fill them, or train with impute='mean'"):
            pre.transform(table)


def test_unfitted_use_is_an_error():
    with pytest.raises(XentlearnInputError, match="not fitted"):
        TabularPreprocessor().transform(pa.table({"x": [1.0]}))
    with pytest.raises(XentlearnInputError, match="impute"):
        TabularPreprocessor(impute="median")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["columns"][0].update(std=float("nan")), "std nan"),
    (lambda d: d["columns"][0].update(std=-1.0), "std -1.0"),
    (lambda d: d["columns"][0].update(mean="0"), "mean '0'"),
    (lambda d: d["columns"][1].update(name="x"), "distinct strings"),
    (lambda d: d["columns"][1].update(categories=["a", 1]), "categories must be"),
    (lambda d: d["columns"][1].update(categories=[]), "categories must be"),
    (lambda d: d.update(standardize="yes"), "standardize"),
    (lambda d: d.update(columns={"x": 1}), "columns must be a list"),
])
def test_from_dict_refuses_inconsistent_descriptions(edit, match):
    import pyarrow as pa

    state = TabularPreprocessor().fit([pa.record_batch({"x": [1.0, 3.0], "c": ["a", "b"]})]).to_dict()
    edit(state)
    with pytest.raises(XentlearnInputError, match=match):
        TabularPreprocessor.from_dict(state)


# ----------------------------------------------------------------- dates
def _calendar(dates):
    """(year, month, day of week, day of year) by Python's datetime, the reference."""
    return np.array([[d.year, d.month, d.weekday(), d.timetuple().tm_yday] for d in dates],
                    dtype=float)


@pytest.mark.parametrize("kind", ["date32", "timestamp", "iso-text", "day-first-text"])
def test_dates_expand_into_calendar_parts(kind):
    import datetime

    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=int(d))
            for d in np.random.default_rng(0).integers(0, 2000, 40)]
    column = {"date32": pa.array(days, pa.date32()),
              "timestamp": pa.array([datetime.datetime(d.year, d.month, d.day, 13) for d in days],
                                    pa.timestamp("s")),
              "iso-text": pa.array([d.isoformat() for d in days]),
              "day-first-text": pa.array([d.strftime("%d/%m/%Y") for d in days])}[kind]
    table = pa.table({"when": column, "x": np.arange(40.0) % 7})
    with pytest.raises(XentlearnInputError, match="'when' holds dates.*dates='expand'"):
        TabularPreprocessor().fit([table])
    pre = TabularPreprocessor(dates="expand", standardize=False).fit(table.to_batches(13))
    assert pre.feature_names_out == ["when.year", "when.month", "when.day_of_week",
                                     "when.day_of_year", "x"]
    np.testing.assert_array_equal(pre.transform(table)[:, :4], _calendar(days))
    # Round trip through the description, strictly read back.
    state = json.loads(json.dumps(pre.to_dict()))
    assert state["version"] == 2 and state["columns"][0]["kind"] == "date"
    again = TabularPreprocessor.from_dict(state)
    np.testing.assert_array_equal(again.transform(table), pre.transform(table))
    # The interim form (kind "categorical", the parts as categories, expand "date") reads too.
    interim = dict(state, columns=[dict(state["columns"][0], kind="categorical",
                                        categories=["year", "month", "day_of_week",
                                                    "day_of_year"], expand="date"),
                                   state["columns"][1]])
    np.testing.assert_array_equal(TabularPreprocessor.from_dict(interim).transform(table),
                                  pre.transform(table))
    if kind == "day-first-text":
        assert again.date_formats_ == {"when": "%d/%m/%Y"}
        with pytest.raises(XentlearnInputError, match="'when' holds dates, but 'soon' is not"):
            again.transform(pa.table({"when": ["01/02/2021", "soon"], "x": [1.0, 2.0]}))


def test_na_values_are_missing_in_text_columns_and_kept_by_the_description():
    table = pa.table({"c": ["a", "?", "b", "-"], "x": [1.0, 2.0, 3.0, 4.0]})
    pre = TabularPreprocessor(na_values=["?", "-"], impute="mean").fit([table])
    assert pre.categories_["c"] == ["a", "b", MISSING_CATEGORY]
    state = pre.to_dict()
    assert state["na_values"] == ["?", "-"] and state["version"] == 2
    again = TabularPreprocessor.from_dict(state)
    np.testing.assert_array_equal(again.transform(table), pre.transform(table))
    # A numeric column made text by a token is named, with the tokens to declare.
    spoiled = pa.table({"age": [str(a) for a in range(20, 60)] + ["?"]})
    with pytest.raises(XentlearnInputError, match=r"'age' holds numbers except for 1 .*'\?'.*"
                                                  r"na_values=\['\?'\]"):
        TabularPreprocessor().fit([spoiled])


def test_description_is_read_strictly_and_version_1_still_loads():
    table = pa.table({"c": ["a", "b"], "x": [1.0, 2.0]})
    plain = TabularPreprocessor().fit([table]).to_dict()
    assert plain["version"] == 1 and "na_values" not in plain      # readable by older releases
    TabularPreprocessor.from_dict(plain)
    state = TabularPreprocessor(na_values=["?"]).fit([table]).to_dict()
    bad_states = [
        dict(state, extra=1),
        dict(state, na_values="?"),
        dict(state, na_values=["?", "?"]),
        dict(state, dates="maybe"),
        dict(state, version=3),
        dict(state, columns=[{"name": "d", "kind": "categorical", "categories": ["year"],
                              "expand": "date", "format": None, "means": [0.0],
                              "stds": [1.0]}]),
        dict(state, columns=[{"name": "d", "kind": "date", "format": "%Q",
                              "means": [0.0] * 4, "stds": [1.0] * 4}]),
        dict(state, columns=[{"name": "d", "kind": "date", "format": None,
                              "means": [0.0] * 4, "stds": [1.0, 1.0, 0.0, 1.0]}]),
        dict(plain, columns=[{"name": "d", "kind": "date", "format": None,
                              "means": [0.0] * 4, "stds": [1.0] * 4}]),      # v1 has no dates
    ]
    for bad in bad_states:
        with pytest.raises(XentlearnInputError, match="not a valid TabularPreprocessor"):
            TabularPreprocessor.from_dict(bad)


# ----------------------------------------------------------------- column warnings
def test_identifier_free_text_and_constant_columns_are_named_in_one_warning_each():
    from xentlearn.data import ColumnWarning

    n = 60
    rng = np.random.default_rng(0)
    table = pa.table({
        "customer_id": 1000 + 3 * rng.permutation(n),            # whole, distinct
        "Individual ID": [f"P{i}" for i in rng.permutation(n)],   # text, distinct
        "PassengerId": np.arange(n) % 30,                         # repeats, but named so
        "ticket": [f"T{2 * i // 3}" for i in range(n)],           # 40 of 60: free text
        "x": rng.normal(size=n),                                  # distinct floats: fine
        "count": rng.integers(0, 5, n),                           # repeats: fine
        "one": np.ones(n),
        "flag": np.zeros(n, dtype=bool),
        "unit": ["kg"] * n,
    })
    with pytest.warns(ColumnWarning) as caught:
        TabularPreprocessor().fit(table.to_batches(max_chunksize=17))
    by_problem = {w.message.problem: w.message for w in caught}
    assert set(by_problem) == {"identifier", "free_text", "constant"}
    assert by_problem["identifier"].columns == ["customer_id", "Individual ID", "PassengerId"]
    assert by_problem["free_text"].columns == ["ticket"]
    assert by_problem["constant"].columns == ["one", "flag", "unit"]
    assert "drop=[...]" in str(by_problem["identifier"])


def test_distinct_tracking_is_bounded(monkeypatch):
    from xentlearn.data import _tabular

    monkeypatch.setattr(_tabular, "_DISTINCT_LIMIT", 100)
    pre = TabularPreprocessor()
    with pytest.warns(_tabular.ColumnWarning, match="of the first 100"):
        pre.fit(pa.table({"id": np.arange(1000)}).to_batches(max_chunksize=64))
    assert pre._distinct["id"].values is None            # freed once past the limit


def test_unseen_categories_are_counted_across_batches():
    pre = TabularPreprocessor().fit([pa.table({"c": ["a", "b"] * 10})])
    unseen: dict = {}
    for batch in pa.table({"c": ["a", "z", "y", "z", "b"]}).to_batches(max_chunksize=2):
        pre.transform(batch, unseen=unseen)
    count, examples = unseen["c"]
    assert count == 3 and examples == {"y", "z"}


def test_text_that_only_looks_like_dates_stays_text():
    versions = pa.table({"v": ["1.2.3", "1.10.2", "2.0.1"] * 5})
    pre = TabularPreprocessor().fit([versions])
    assert pre.kinds_ == ["categorical"]
    mixed = pa.table({"d": ["2024-01-31", "soon"] * 5})           # not every value is a date
    assert TabularPreprocessor().fit([mixed]).kinds_ == ["categorical"]


@pytest.mark.parametrize("bad", ["2024-13-45", "never"])
def test_a_date_column_with_a_few_other_values_names_them(bad):
    # One malformed date made the whole column text (one category per date), silently.
    import datetime

    days = [(datetime.date(2024, 1, 1) + datetime.timedelta(days=i)).isoformat()
            for i in range(120)]
    days[57] = bad
    column = pa.table({"d": days})
    pre = TabularPreprocessor(dates="expand")
    with pytest.raises(XentlearnInputError, match=rf"column 'd' holds dates, but '{bad}' is "
                                                  r"not one in the format '%Y-%m-%d'"):
        pre.fit([column])
    with pytest.raises(XentlearnInputError, match=r"column 'd' holds dates \(such as"):
        TabularPreprocessor().fit([column])                        # refused as dates
    # A malformed date among a few is still a date; a word among a few is text.
    assert TabularPreprocessor(dates="expand").fit(
        [pa.table({"d": ["2024-01-31", "2024-02-01"] * 5})]).kinds_ == ["date"]
    with pytest.raises(XentlearnInputError, match="'2024-13-45' is not one"):
        TabularPreprocessor(dates="expand").fit([pa.table({"d": ["2024-01-31", "2024-13-45"]})])


def test_a_missing_column_is_named_with_the_available_ones_quoted():
    # A name holding a comma must not read as two columns in the list.
    prep = TabularPreprocessor(["x", "height, cm"])
    batch = pa.record_batch([pa.array([1.0, 2.0]), pa.array(["a", "b"])], ["x", "city, land"])
    with pytest.raises(XentlearnInputError,
                       match=r"column 'height, cm' not found; available columns: 'x', "
                             r"'city, land'"):
        prep.partial_fit(batch)


@pytest.mark.parametrize("fmt, values, read", [
    ("%Y-%m-%d", ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2024-04-31",
                  "2024-12-31", "2024-01-01"], [1, 0, 0, 1, 0, 1, 1]),
    ("%d/%m/%Y", ["30/02/2024", "31/01/2024", "31/06/2024", "01/03/2024"], [0, 1, 0, 1]),
    ("%m/%d/%Y %H:%M", ["02/30/2024 10:00", "02/29/2024 23:59", "09/31/2024 00:00"], [0, 1, 0]),
    # A UTC offset moves the timestamp's day; the day is checked as written.
    ("%Y-%m-%dT%H:%M:%S%z", ["2024-02-30T23:00:00-0500", "2024-02-29T23:00:00-0500",
                            "2024-03-01T01:00:00+0300", "2024-02-30T01:00:00+0500",
                            "2023-06-31T00:30:00+0200"], [0, 1, 1, 0, 0]),
])
def test_read_dates_refuses_days_their_months_do_not_have(fmt, values, read):
    # pyarrow's strptime reads 2024-02-30 as 2024-03-01.
    import datetime

    import pyarrow as pa

    from xentlearn.data._dates import read_dates

    parsed = read_dates(pa.chunked_array([values[:2], values[2:]]), fmt).to_pylist()
    assert [p is not None for p in parsed] == [bool(r) for r in read]
    for value, date in zip(values, parsed):
        if date is not None:
            naive = datetime.datetime.strptime(value, fmt)
            assert date == (naive if naive.tzinfo is None else naive.astimezone(date.tzinfo))


def test_the_identifier_warning_says_what_numbers_and_text_each_risk():
    # Numbers distinct in every row were told to let a model "memorise the training rows",
    # which a standardised number does not; an amount may also differ in every row.
    numbers = pa.table({"n": list(range(1000, 1040))})
    with pytest.warns(UserWarning) as caught:
        TabularPreprocessor().fit([numbers])
    message = str(next(w.message for w in caught if "identifiers" in str(w.message)))
    assert "memorise" not in message
    assert message.endswith("tell nothing of the label but how the rows were numbered: exclude "
                            "them (drop=[...]), unless a column of numbers is a measurement "
                            "(an amount, a count)")
    text = pa.table({"t": [f"id-{i}" for i in range(40)]})
    with pytest.warns(UserWarning) as caught:
        TabularPreprocessor().fit([text])
    message = str(next(w.message for w in caught if "identifiers" in str(w.message)))
    assert "memorise the training rows through them" in message and "measurement" not in message


def test_dates_that_read_day_first_and_month_first_alike_are_named():
    # 01/02/2024 ... 11/12/2024: read day first (the first of DATE_FORMATS), silently.
    import warnings as w

    from xentlearn.data import ColumnWarning

    guessed = pa.table({"d": [f"{i:02d}/{i + 1:02d}/2024" for i in range(1, 12)]})
    with pytest.warns(ColumnWarning, match=r"date column\(s\) whose days are all 12 or less, "
                      r"so that they read day first and month first alike: 'd' \(read "
                      r"%d/%m/%Y, not %m/%d/%Y\); read day first") as caught:
        TabularPreprocessor(dates="expand").fit([guessed])
    assert [c.message.problem for c in caught if isinstance(c.message, ColumnWarning)] == [
        "dates_ambiguous"]
    # A later batch with a day over 12 settles it: no warning.
    settled = pa.table({"d": ["25/12/2024"]})
    with w.catch_warnings():
        w.simplefilter("error", ColumnWarning)
        TabularPreprocessor(dates="expand").fit([guessed, settled])
        TabularPreprocessor(dates="expand").fit([pa.table({"d": ["2024-01-02", "2024-03-04"]})])
    # Merged (each Dask worker fits its parts): one part with a day over 12 settles it.
    with w.catch_warnings():
        w.simplefilter("error", ColumnWarning)
        a = TabularPreprocessor(dates="expand").partial_fit(guessed)
        a.merge(TabularPreprocessor(dates="expand").partial_fit(settled)).finalize()
    with pytest.warns(ColumnWarning, match="read day first and month first alike"):
        a = TabularPreprocessor(dates="expand").partial_fit(guessed)
        a.merge(TabularPreprocessor(dates="expand").partial_fit(guessed)).finalize()
    # Parts that fixed other formats read, and learned, other dates: refused (it raised
    # KeyError, or trained on moments of two formats; review).
    month_first = pa.table({"d": ["01/13/2024", "02/14/2024"]})
    for first, second in ((month_first, guessed), (guessed, month_first)):
        a = TabularPreprocessor(dates="expand").partial_fit(first)
        with pytest.raises(XentlearnInputError, match=r"column 'd' holds dates read as "
                           r"'%(m/%d|d/%m)/%Y' in some rows and as '%(d/%m|m/%d)/%Y' in others"):
            a.merge(TabularPreprocessor(dates="expand").partial_fit(second))


def test_thousands_dots_with_a_decimal_comma_read_as_text_are_named():
    # 1.234,56 (dots grouping thousands, a decimal comma) is text pyarrow cannot read:
    # it became one category per value, silently (review).
    column = pa.table({"amount": [f"{i}.{i:03d},5{i % 10}" for i in range(1, 40)]})
    with pytest.raises(XentlearnInputError, match=r"holds numbers written with a comma"):
        TabularPreprocessor().fit([column])
    typed_then_text = TabularPreprocessor(dates="expand")
    import datetime

    typed_then_text.partial_fit(pa.table({"d": [datetime.date(2024, 1, 2)]}))
    typed_then_text.merge(TabularPreprocessor(dates="expand").partial_fit(
        pa.table({"d": ["01/02/2024", "03/04/2024"]})))
    typed_then_text.finalize()          # the typed part has no format: no KeyError (review)


@pytest.mark.parametrize("empty_first", [True, False])
def test_a_batch_where_a_text_column_is_empty_says_nothing_of_its_kind(empty_first):
    # A file or row group where the date column is empty: "changes type between batches:
    # string (date) then string (categorical)" (review), even with impute="mean".
    dates = pa.table({"d": pa.array(["2024-01-02", "2024-03-04"], pa.string())})
    empty = pa.table({"d": pa.array([None, None], pa.string())})
    batches = [empty, dates] if empty_first else [dates, empty]
    pre = TabularPreprocessor(dates="expand", impute="mean").fit(batches)
    assert pre.kinds_ == ["date"] and pre.missing_count("d") == 2
    numbers = pa.table({"x": pa.array([1.0, 2.0])})
    empty_text = pa.table({"x": pa.array([None], pa.string())})
    assert TabularPreprocessor(impute="mean").fit([empty_text, numbers]).kinds_ == ["numeric"]



@pytest.mark.parametrize("typed", [True, False])
def test_missing_dates_are_imputed_with_the_mean_of_the_dates_present(typed):
    # The NaN parts of missing dates went into the moments: every mean NaN, and the
    # imputed rows then "infinite values" (review).
    import datetime

    values = [datetime.date(2024, 1, 2), None, datetime.date(2024, 3, 4)]
    column = pa.array(values) if typed else pa.array(
        [None if v is None else v.isoformat() for v in values])
    pre = TabularPreprocessor(dates="expand", impute="mean").fit([pa.table({"d": column})])
    assert pre.means_["d.year"] == 2024.0 and pre.means_["d.month"] == 2.0
    X = pre.transform(pa.table({"d": column}))
    assert np.isfinite(X).all()
    np.testing.assert_allclose(X[1], 0.0, atol=1e-12)     # the mean, standardised


def test_a_typed_date_part_takes_the_format_of_a_text_part_merged_after_it():
    import datetime

    text = pa.table({"d": ["01/02/2024", "03/04/2024"]})
    for first, second in ((pa.table({"d": [datetime.date(2024, 1, 2)]}), text),
                          (text, pa.table({"d": [datetime.date(2024, 1, 2)]}))):
        merged = TabularPreprocessor(dates="expand").partial_fit(first)
        with pytest.warns(UserWarning, match="read day first and month first alike"):
            merged.merge(TabularPreprocessor(dates="expand").partial_fit(second)).finalize()
        assert merged.date_formats_ == {"d": "%d/%m/%Y"}
