"""TabularPreprocessor.merge: partial_fit on parts (one per worker), merged in order, is
partial_fit on the whole (R2 of issue #12: the workers fit the files' preprocessing)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyarrow as pa
import pytest

from xentlearn.data import ColumnWarning, TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError


def _batches(n_batches=6, rows=50, seed=0):
    """Record batches with every kind of column: numeric (one far from zero with a tiny
    spread, known only to ~1e-4 of its spread in float64, so compared more loosely),
    whole-number ids, booleans, text categories (some missing), text dates, and a column
    that is all missing in the first batches."""
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(n_batches):
        ids = np.arange(b * rows, (b + 1) * rows)
        colour = rng.choice(["red", "green", "blue", "teal"][: 2 + b % 3], size=rows).astype(object)
        colour[rng.random(rows) < 0.1] = None
        late = None if b < 2 else rng.normal(size=rows)
        days = rng.integers(0, 800, size=rows)
        batches.append(pa.record_batch({
            "price": 100.0 + rng.normal(scale=3.0, size=rows),
            "offset": 1e9 + rng.normal(scale=1e-3, size=rows),
            "customer_id": ids.astype(np.int64),
            "member": rng.random(rows) < 0.3,
            "colour": pa.array(colour, pa.string()),
            "day": pa.array([str(np.datetime64("2023-01-01") + int(d)) for d in days]),
            "late": pa.array(late if late is not None else [None] * rows, pa.float64()),
        }))
    return batches


def _make():
    return TabularPreprocessor(impute="mean", dates="expand")


def _fit(batches, finalize=True):
    pre = _make()
    for batch in batches:
        pre.partial_fit(batch)
    if not finalize:
        return pre
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pre.finalize()
    return pre, sorted((w.message.problem, tuple(w.message.columns)) for w in caught
                       if isinstance(w.message, ColumnWarning))


def _assert_same_dict(a, b, rel=1e-12):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same_dict(a[key], b[key], rel)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_dict(x, y, rel)
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-300), (a, b)
    else:
        assert a == b


@pytest.mark.parametrize("cut", [1, 3, 5])
def test_merge_of_two_parts_equals_partial_fit_on_the_whole(cut):
    batches = _batches()
    whole, whole_warnings = _fit(batches)
    first, second = _fit(batches[:cut], finalize=False), _fit(batches[cut:], finalize=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = first.merge(second).finalize()
    assert sorted((w.message.problem, tuple(w.message.columns)) for w in caught
                  if isinstance(w.message, ColumnWarning)) == whole_warnings
    assert ("identifier", ("customer_id",)) in whole_warnings
    assert merged.categories_ == whole.categories_
    assert merged.kinds_ == whole.kinds_ and merged.date_formats_ == whole.date_formats_
    for key in whole.means_:
        loose = key == "offset"
        assert merged.means_[key] == pytest.approx(whole.means_[key], rel=1e-12, abs=0)
        assert merged.stds_[key] == pytest.approx(whole.stds_[key], rel=1e-4 if loose else 1e-12,
                                                  abs=0)
    # The tiny spread on a 1e9 offset survives (Chan's update, not a sum of squares, which
    # would cancel to noise): the last bits of 1e9 + x are 1.2e-7, a tenth of a percent
    # of the spread, and where the batches are cut moves the rounding of their means.
    assert merged.stds_["offset"] == pytest.approx(1e-3, rel=0.2)
    merged.stds_["offset"] = whole.stds_["offset"]
    _assert_same_dict(merged.to_dict(), whole.to_dict())
    np.testing.assert_allclose(merged.transform(batches[0]), whole.transform(batches[0]),
                               rtol=1e-9, atol=1e-9)


def test_many_parts_in_order_and_empty_parts():
    batches = _batches(n_batches=5)
    whole, _ = _fit(batches)
    merged = _make()                            # an empty start, as the client's
    for batch in batches:
        merged.merge(_make().partial_fit(batch))
        merged.merge(_make())                   # a worker whose file had no rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged.finalize()
    merged.stds_["offset"] = whole.stds_["offset"]
    _assert_same_dict(merged.to_dict(), whole.to_dict())


def test_merge_does_not_change_the_other_side():
    batches = _batches(n_batches=2)
    second = _fit(batches[1:], finalize=False)
    before = (second._stats["price"].n, second._stats["price"].mean, set(second._seen["colour"]))
    _fit(batches[:1], finalize=False).merge(second)
    assert (second._stats["price"].n, second._stats["price"].mean,
            set(second._seen["colour"])) == before


def test_repeated_ids_across_parts_are_no_identifier():
    a = TabularPreprocessor().partial_fit(pa.record_batch({"n": np.arange(20.0)}))
    b = TabularPreprocessor().partial_fit(pa.record_batch({"n": np.arange(10.0, 30.0)}))
    a.merge(b)
    assert not a._distinct["n"].unique


@pytest.mark.parametrize("first, second, message", [
    ({"x": [1.0, 2.0]}, {"x": ["a", "b"]}, r"column 'x' changes type between batches: "
                                           r"double \(numeric\) then string \(categorical\)"),
    ({"x": ["a"]}, {"y": ["a"]}, r"different columns"),
])
def test_conflicts_named(first, second, message):
    a = TabularPreprocessor().partial_fit(pa.record_batch(first))
    b = TabularPreprocessor().partial_fit(pa.record_batch(second))
    with pytest.raises(XentlearnInputError, match=message):
        a.merge(b)


def test_settings_must_match_and_categories_stay_bounded():
    a = TabularPreprocessor(max_categories=3).partial_fit(pa.record_batch({"c": ["a", "b"]}))
    with pytest.raises(XentlearnInputError, match="different standardize: True and False"):
        a.merge(TabularPreprocessor(standardize=False, max_categories=3))
    b = TabularPreprocessor(max_categories=3).partial_fit(pa.record_batch({"c": ["c", "d"]}))
    with pytest.raises(XentlearnInputError, match=r"column 'c' has more than 3 distinct"):
        a.merge(b)
    loaded = TabularPreprocessor.from_dict(
        TabularPreprocessor().fit([pa.record_batch({"c": ["a", "b"]})]).to_dict())
    with pytest.raises(XentlearnInputError, match="from_dict"):
        TabularPreprocessor().merge(loaded)
