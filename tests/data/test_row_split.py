"""Row splits of files (validation_fraction, cross-validation folds): a hash of each row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from xentlearn.data import FileSource, RowSplit, TableFiles, TabularPreprocessor, row_uniforms
from xentlearn.exceptions import XentlearnInputError

# The row index column "i" is, rightly, an identifier.
pytestmark = pytest.mark.filterwarnings("ignore::xentlearn.data.ColumnWarning")


def _rows(table: TableFiles) -> list[int]:
    return [v for chunk in table.iter_column("i") for v in chunk.to_pylist()]


@pytest.fixture
def files(tmp_path):
    """The same 1000 rows as one CSV file and as two Parquet files of small row groups."""
    n = 1000
    table = pa.table({"i": np.arange(n), "y": np.arange(n) % 3})
    pacsv.write_csv(table, tmp_path / "all.csv")
    (tmp_path / "parts").mkdir()
    pq.write_table(table.slice(0, 600), tmp_path / "parts" / "a.parquet", row_group_size=64)
    pq.write_table(table.slice(600), tmp_path / "parts" / "b.parquet", row_group_size=64)
    return tmp_path


def test_validation_split_is_disjoint_complete_and_the_same_every_time(files):
    for path in (files / "all.csv", files / "parts"):
        train, valid = TableFiles(path, target="y", validation_fraction=0.3,
                                  split_seed=4).split_validation()
        train_rows, valid_rows = _rows(train), _rows(valid)
        assert sorted(train_rows + valid_rows) == list(range(1000))
        assert not set(train_rows) & set(valid_rows)
        assert 240 < len(valid_rows) < 360                      # 300 expected
        assert _rows(valid) == valid_rows                       # a second pass: same rows
        # Smaller record batches cut the files elsewhere: still the same rows.
        small = TableFiles(path, target="y", validation_fraction=0.3, split_seed=4,
                           batch_rows=7).split_validation()[1]
        assert _rows(small) == valid_rows
    # The two layouts of the same rows split differently (rows are keyed by file and
    # position), but a new seed always gives a new split.
    other = TableFiles(files / "all.csv", target="y", validation_fraction=0.3,
                       split_seed=5).split_validation()[1]
    assert _rows(other) != _rows(TableFiles(files / "all.csv", target="y", validation_fraction=0.3,
                                            split_seed=4).split_validation()[1])


def test_shuffled_epochs_see_exactly_the_training_rows(files):
    train, valid = TableFiles(files / "parts", target="y", validation_fraction=0.25,
                              standardize=False).split_validation()
    source = FileSource(train.path, target="y", features=["i"],
                        preprocessor=TabularPreprocessor(standardize=False),
                        encode_target=lambda y: y, row_filters=train.row_filters,
                        read_batch_rows=50, shuffle_buffer_rows=128)
    expected = sorted(_rows(train))
    assert source.n_samples == len(expected)
    rng = np.random.default_rng(0)
    orders = []
    for _ in range(2):                      # row groups and rows in a new order each epoch
        seen = np.concatenate([b.X[:, 0] for b in source.batches(32, rng=rng)]).astype(int)
        assert sorted(seen.tolist()) == expected
        orders.append(seen.tolist())
    assert orders[0] != orders[1]


def test_folds_partition_the_rows_and_uniforms_are_uniform(files):
    folds = [_rows(TableFiles(files / "all.csv", target="y",
                              row_filters=[RowSplit(9, k / 4, (k + 1) / 4)])) for k in range(4)]
    assert sorted(sum(folds, [])) == list(range(1000))
    u = row_uniforms(1, 0, 0, 200_000)
    assert abs(u.mean() - 0.5) < 0.005 and u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 10).astype(int), minlength=10)
    assert counts.min() > 19_000 and counts.max() < 21_000
    np.testing.assert_array_equal(row_uniforms(1, 0, 500, 10), u[500:510])
    assert not np.array_equal(row_uniforms(1, 1, 0, 10), u[:10])    # another file


def test_bad_split_arguments_and_an_empty_side_are_named(files):
    for bad in (0.0, 1.0, -0.1, True, "0.2"):
        with pytest.raises(XentlearnInputError, match="validation_fraction must be a number"):
            TableFiles("a.csv", validation_fraction=bad)
    with pytest.raises(XentlearnInputError, match="needs TableFiles"):
        TableFiles("a.csv").split_validation()
    empty = TableFiles(files / "all.csv", target="y", row_filters=[RowSplit(0, 0.5, 0.5)])
    with pytest.raises(XentlearnInputError, match="the row split keeps no row"):
        FileSource(empty.path, target="y", preprocessor=TabularPreprocessor(),
                   encode_target=lambda y: y, row_filters=empty.row_filters)
