"""Full-batch blocks of files: ArraySource's blocks, cut across record batches."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.test_file_cache import assert_same_batches, pair
from tests.data.test_file_sources import make_table, write_layout
from xentlearn._types import Batch
from xentlearn.data import RowSplit
from xentlearn.data import _arrays, _files
from xentlearn.data._arrays import ArraySource


@pytest.mark.parametrize("sizes", [[10], [3, 4, 5], [7, 7, 7], [1] * 9, [20, 1, 13, 6], [6, 7]])
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_across_chunks_are_the_blocks_of_the_rows_as_one_array(sizes, weighted):
    rng = np.random.default_rng(len(sizes))
    n, step = sum(sizes), 7
    X, t = rng.normal(size=(n, 3)), rng.integers(0, 3, size=n)
    w = rng.random(n) if weighted else None
    bounds = np.cumsum([0] + sizes)
    chunks = (Batch(X[a:b].copy(), t[a:b].copy(), None if w is None else w[a:b].copy())
              for a, b in zip(bounds[:-1], bounds[1:]))
    got = list(_files._blocks_across(chunks, step))
    want = [slice(a, a + step) for a in range(0, n, step)]
    assert len(got) == len(want)
    for block, rows in zip(got, want):
        np.testing.assert_array_equal(block.X, X[rows])
        np.testing.assert_array_equal(block.targets, t[rows])
        if w is None:
            assert block.sample_weight is None
        else:
            np.testing.assert_array_equal(block.sample_weight, w[rows])


@pytest.mark.parametrize("layout", ["csv", "parquet", "mixed"])
def test_full_batch_blocks_equal_array_source_streamed_and_in_memory(tmp_path, layout,
                                                                     monkeypatch):
    # Blocks of 300 rows over record batches of 37 rows and a row filter: most
    # blocks span several record batches, some two files.
    for module in (_files, _arrays):
        monkeypatch.setattr(module, "block_rows", lambda n_features, itemsize: 300)
    table = make_table()
    stream, cached = pair(write_layout(table, tmp_path, layout), read_batch_rows=37,
                          row_filters=(RowSplit(3, 0.0, 0.9),), sample_weight_column="w")
    # The filtered rows in file order, from the streamed pass (checked against the
    # table in test_file_sources), as one array.
    rows = list(stream.batches(None))
    X, y, w = (np.concatenate([getattr(b, f) for b in rows])
               for f in ("X", "targets", "sample_weight"))
    want = list(ArraySource(X, y, w).batches(None))
    assert len(want) > 2
    assert_same_batches(stream.batches(None), want)
    assert_same_batches(cached.batches(None), want)
