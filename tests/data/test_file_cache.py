"""FileSource in memory (memory_budget): decoded once, then the same batches as streaming."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.data.test_file_sources import N_ROWS, in_memory, make_table, source, write_layout
from xentlearn.data import FileSource, RowSplit, TableFiles, TabularPreprocessor
from xentlearn.data._arrays import ArraySource
from xentlearn.exceptions import XentlearnInputError

LAYOUTS = ["csv", "parquet", "folder", "mixed"]
BIG = 1 << 40          # a budget every test table fits


def pair(path, **kwargs):
    """(streaming, in-memory) sources over the same files and options."""
    return source(path, memory_budget=0, **kwargs), source(path, memory_budget=BIG, **kwargs)


def assert_same_batches(got, want):
    got, want = list(got), list(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.X.dtype == b.X.dtype and a.X.shape == b.X.shape
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.targets, b.targets)
        if b.sample_weight is None:
            assert a.sample_weight is None
        else:
            np.testing.assert_array_equal(a.sample_weight, b.sample_weight)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_memory_yields_the_streaming_batches_bit_for_bit(tmp_path, layout, dtype):
    path = write_layout(make_table(), tmp_path, layout)
    # A fold of a cross-validation inside which a validation split is taken.
    filters = (RowSplit(3, 0.0, 0.8), RowSplit(7, 0.0, 0.25, inside=False))
    stream, cached = pair(path, dtype=dtype, sample_weight_column="w", read_batch_rows=37,
                          shuffle_buffer_rows=90, row_filters=filters)
    assert not stream.in_memory and cached.in_memory and cached._cache is None
    assert 0 < cached.n_samples < N_ROWS
    assert cached.decoded_bytes == cached.n_samples * (6 * np.dtype(dtype).itemsize + 8
                                                       + np.dtype(dtype).itemsize)
    # Full batch: the same blocks (cut at the same record batches), so the same sums.
    assert_same_batches(cached.batches(None), stream.batches(None))
    assert cached._cache is not None
    for k in (1, 16, 64, 5000):
        assert_same_batches(cached.batches(k), stream.batches(k))
        for skip in (0, 3):
            rng_s, rng_c = np.random.default_rng(k), np.random.default_rng(k)
            for _ in range(2):          # two epochs from one generator
                assert_same_batches(cached.batches(k, rng=rng_c, skip=skip),
                                    stream.batches(k, rng=rng_s, skip=skip))
            # The generators advanced identically: later epochs and draws agree too.
            assert rng_c.integers(1 << 62) == rng_s.integers(1 << 62)


def test_in_memory_file_order_equals_array_source(tmp_path):
    table = make_table()
    cached = source(write_layout(table, tmp_path, "mixed"), read_batch_rows=64,
                    memory_budget=BIG)
    X, y = in_memory(cached, table)
    for k in (7, 256):
        assert_same_batches(cached.batches(k), ArraySource(X, y).batches(k))


def test_mini_batches_own_their_arrays(tmp_path):
    cached = source(write_layout(make_table(), tmp_path, "parquet"), memory_budget=BIG)
    first = next(cached.batches(8, rng=np.random.default_rng(0)))
    first.X[:] = np.nan
    assert np.isfinite(np.concatenate([b.X for b in cached.batches(None)])).all()


def test_budget_decides_from_the_decoded_size(tmp_path):
    path = write_layout(make_table(), tmp_path, "parquet")
    size = source(path).decoded_bytes
    assert size == N_ROWS * (6 * 8 + 8)
    assert source(path, memory_budget=size).in_memory
    small = source(path, memory_budget=size - 1)
    assert not small.in_memory
    assert sum(b.X.shape[0] for b in small.batches(None)) == N_ROWS
    list(small.batches(10, rng=np.random.default_rng(0)))
    assert small._cache is None                     # streamed: nothing was kept
    assert not source(path).in_memory               # FileSource's default budget is 0


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0 ** 30, "1G", True, None])
def test_file_source_memory_budget_is_checked(tmp_path, bad):
    path = write_layout(make_table(), tmp_path, "parquet")
    with pytest.raises(XentlearnInputError, match=r"memory_budget must be a non-negative "
                                                  r"integer number of bytes, got"):
        source(path, memory_budget=bad)


def test_table_files_memory_budget_default_and_checks():
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    table = TableFiles("a.csv")
    assert table.memory_budget is None
    assert table.memory_budget_bytes == physical // 4 > 0
    assert TableFiles("a.csv", memory_budget=0).memory_budget_bytes == 0
    assert TableFiles("a.csv", memory_budget=np.int64(1 << 30)).memory_budget == 1 << 30
    for bad in (-1, 1.5, 2.0 ** 30, "1G", True):
        with pytest.raises(XentlearnInputError, match=r"TableFiles memory_budget must be a "
                                                      r"non-negative integer number of bytes"):
            TableFiles("a.csv", memory_budget=bad)
    # Split tables keep the budget.
    train, valid = TableFiles("a.csv", target="y", validation_fraction=0.2,
                              memory_budget=123).split_validation()
    assert train.memory_budget == valid.memory_budget == 123


def test_fitting_pass_is_not_read_again_and_a_fitted_preprocessor_counts_then_decodes(tmp_path):
    table = make_table()
    path = write_layout(table, tmp_path, "csv")
    stream, cached = pair(path)
    assert cached.kept_records() is not None and stream.kept_records() is None
    expected = list(stream.batches(None))
    write_layout(table.slice(0, 500), tmp_path, "csv")       # the kept rows are decoded
    assert_same_batches(cached.batches(None), expected)
    assert cached.kept_records() is None                      # released once decoded


def test_fitted_preprocessor_csv_rows_are_counted_and_kept_in_one_pass(tmp_path):
    table = make_table()
    path = write_layout(table, tmp_path, "mixed")
    fitted = source(path).preprocessor
    stream = source(path, memory_budget=0, preprocessor=fitted)
    cached = source(path, memory_budget=BIG, preprocessor=fitted)
    assert cached.n_samples == N_ROWS and cached.kept_records() is not None
    assert_same_batches(cached.batches(None), stream.batches(None))
    assert_same_batches(cached.batches(50, rng=np.random.default_rng(1)),
                        stream.batches(50, rng=np.random.default_rng(1)))


def test_files_changed_between_passes_are_named(tmp_path):
    table = make_table()
    path = write_layout(table, tmp_path, "parquet")
    fitted = source(path).preprocessor
    # A fitted preprocessor on Parquet: rows are counted from the metadata, then decoded.
    cached = source(path, memory_budget=BIG, preprocessor=fitted)
    assert cached.in_memory and cached.kept_records() is None
    write_layout(table.slice(0, 500), tmp_path, "parquet")
    with pytest.raises(XentlearnInputError, match="changed while being read"):
        list(cached.batches(None))


def test_replay_with_empty_files_and_row_groups_filtered_away(tmp_path):
    from tests.data.test_file_sources import write

    table = make_table()
    folder = tmp_path / "parts"
    write(table.slice(0, 400), folder / "a.parquet", row_group_size=30)
    write(table.slice(400, 0), folder / "b.parquet")                   # no rows
    write(table.slice(400, 350), folder / "c.csv")
    write(table.slice(750, 250), folder / "d.parquet", row_group_size=7)
    # Keeps about 1 row in 8: many record batches and row groups keep none.
    stream, cached = pair(folder, read_batch_rows=5, shuffle_buffer_rows=12,
                          row_filters=(RowSplit(11, 0.0, 0.125),))
    assert cached.in_memory and 60 < cached.n_samples < 200
    assert_same_batches(cached.batches(None), stream.batches(None))
    for seed in range(3):
        rng_s, rng_c = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(3):
            assert_same_batches(cached.batches(4, rng=rng_c), stream.batches(4, rng=rng_s))


def _count_csv_parses(monkeypatch) -> list:
    """(pyarrow.csv function, bytes of the source) for every open_csv / read_csv call."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parses = []
    for name in ("open_csv", "read_csv"):
        def counting(input_file, *args, _real=getattr(pacsv, name), _name=name, **kwargs):
            size = (input_file.size() if isinstance(input_file, pa.NativeFile)
                    else os.path.getsize(input_file))
            parses.append((_name, size))
            return _real(input_file, *args, **kwargs)
        monkeypatch.setattr(pacsv, name, counting)
    return parses


@pytest.mark.filterwarnings("ignore:column.s. that look like identifiers")
@pytest.mark.parametrize("fitted", [False, True])
@pytest.mark.parametrize("drop", [(), ("row",)])
def test_a_csv_kept_in_memory_is_parsed_once(tmp_path, monkeypatch, fitted, drop):
    path = write_layout(make_table(), tmp_path, "csv")
    size = os.path.getsize(path)

    def make(budget, preprocessor):
        return FileSource(path, target="label", drop=drop, preprocessor=preprocessor,
                          encode_target=lambda y: np.unique(y, return_inverse=True)[1],
                          sample_weight_column="w", row_filters=[RowSplit(5, 0.0, 0.7)],
                          memory_budget=budget, csv_block_bytes=4096, read_batch_rows=100)

    stream = make(0, TabularPreprocessor())
    want = [list(stream.batches(None)), list(stream.batches(32, rng=np.random.default_rng(1)))]
    parses = _count_csv_parses(monkeypatch)
    cached = make(BIG, stream.preprocessor if fitted else TabularPreprocessor())
    assert cached.in_memory and cached.feature_names == stream.feature_names
    assert_same_batches(cached.batches(None), want[0])
    assert_same_batches(cached.batches(32, rng=np.random.default_rng(1)), want[1])
    whole = [name for name, n in parses if n == size]
    if not drop:
        # The file is parsed by one read_csv; its column types come from its first
        # rows (at most a block), not from a parse of its first block before it.
        assert whole == ["read_csv"]
        assert sum(n for _, n in parses) <= size + 4096
    else:
        # A column left out is not converted beyond the first block, which is scanned.
        assert whole == ["open_csv", "read_csv"]


@pytest.mark.parametrize("rows, kind", [
    # An integer feature whose first rows mislead nothing: its later "2.5" is read
    # as the double every number is read as.
    ([f"{i},{i % 2},{'ab'[i % 2]}" for i in range(60)] + ["2.5,1,a"], "no scan"),
    # The first rows hold integers, the first block text: the feature is a category.
    ([f"{i},{i % 2},{i % 3}" for i in range(40)]
     + [f"{i},{i % 2},{'ab'[i % 2]}" for i in range(20)], "scan"),
    # Integer labels in the first rows, a "0.5" later in the first block: double labels.
    ([f"{i},{i % 2},{'ab'[i % 2]}" for i in range(40)] + ["1,0.5,a"]
     + [f"{i},{i % 2},{'ab'[i % 2]}" for i in range(20)], "scan"),
])
def test_first_rows_that_mislead_the_types_fall_back_to_the_first_block(
        tmp_path, monkeypatch, rows, kind):
    from xentlearn.data import _readers

    # First rows of 64 bytes, blocks of 1 KiB: the rows after the fifth decide too.
    monkeypatch.setattr(_readers, "_SNIFF_BYTES", 64)
    path = tmp_path / "late.csv"
    path.write_text("n,label,c\n" + "\n".join(rows * 4) + "\n")

    def make(budget):
        return FileSource(path, target="label", features=["n", "c"], memory_budget=budget,
                          preprocessor=TabularPreprocessor(), csv_block_bytes=1024,
                          read_batch_rows=30,
                          encode_target=lambda y: np.unique(y, return_inverse=True)[1])

    stream = make(0)
    want = list(stream.batches(None)), list(stream.batches(16, rng=np.random.default_rng(2)))
    parses = _count_csv_parses(monkeypatch)
    cached = make(BIG)
    assert cached.in_memory and cached.feature_names == stream.feature_names
    assert_same_batches(cached.batches(None), want[0])
    assert_same_batches(cached.batches(16, rng=np.random.default_rng(2)), want[1])
    whole = [name for name, n in parses if n == os.path.getsize(path)]
    assert whole == (["read_csv"] if kind == "no scan" else ["read_csv", "open_csv", "read_csv"])


def test_csv_head_schema_vouches_only_for_types_it_can_prove(tmp_path, monkeypatch):
    from xentlearn.data import _readers

    monkeypatch.setattr(_readers, "_SNIFF_BYTES", 40)
    path = tmp_path / "head.csv"
    # 40 bytes end inside the third row: only the first two complete rows are read.
    path.write_text("a,b,c,d\n1,2.5,x,true\n3,4,y,false\n5.5,z,1,maybe\n")
    head = _readers.csv_head_schema(path)
    assert [str(t) for t in head.types] == ["int64", "double", "string", "bool"]
    for text in ("a,b\n" + "1,\n" * 20 + "3,4\n",       # empty in the first rows
                 "a,b\n1,2020-01-01\n2,2020-01-02\n",   # dates
                 "a,a\n1,2\n",                          # names that are not unique
                 "a,b\n"):                              # no row
        path.write_text(text)
        assert _readers.csv_head_schema(path) is None, text


@pytest.mark.parametrize("column", ["y", "w"])
def test_a_label_or_weight_that_breaks_its_first_block_type_is_refused_kept_or_streamed(
        tmp_path, column):
    from xentlearn import LogisticRegression

    # Labels and weights are integers in the first block of 1 KiB, "2.5" later: the
    # streaming reader types them int64 from that block and refuses the file.
    rows = [f"{i % 7},{i % 2},{1 + i % 3}" for i in range(300)]
    rows[250] = "5,2.5,1" if column == "y" else "5,0,2.5"
    path = tmp_path / "late.csv"
    path.write_text("n,y,w\n" + "\n".join(rows) + "\n")
    message = (r"cannot read '.*late.csv': In CSV column #\d: CSV conversion error to int64: "
               r"invalid value '2.5' \(CSV column types are inferred from the first 1024 bytes")
    for budget in (0, BIG):
        with pytest.raises(XentlearnInputError, match=message):
            LogisticRegression(max_iter=3).fit(TableFiles(
                path, target="y", features=["n"], sample_weight="w", csv_block_bytes=1024,
                memory_budget=budget))
