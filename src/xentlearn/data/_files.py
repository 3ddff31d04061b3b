"""CSV and Parquet files as a re-iterable source of batches, in bounded memory.

``FileSource`` reads through ``_readers`` (one record batch at a time), encodes
each batch with a ``TabularPreprocessor`` and shuffles mini-batches per epoch
through a buffer of bounded size. Rows whose decoded size fits the source's
``memory_budget`` are decoded once and kept; every pass then yields the same
batches as streaming, from memory.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from xentlearn._types import Batch
from xentlearn.data._arrays import ArraySource, block_rows
from xentlearn.data._readers import (
    RowSplit, _file_batches, _file_format, _iter_with_files,
    _scan_schemas, _target_values, _Unverified, csv_head_schema, first_row_holding,
    feature_columns, list_data_files, rows_mask)
from xentlearn.data._column_values import ColumnValuesError
from xentlearn.data._tabular import TabularPreprocessor
from xentlearn.exceptions import XentlearnInputError

# Bytes a row's target is counted for in FileSource.decoded_bytes: a class index
# (int64) or a binary label (float64 at most).
_TARGET_BYTES = 8
# Decoded record batches are handed back to the allocator this many bytes at a
# time (see FileSource._decode_all).
_RELEASE_BYTES = 16 << 20


class FileSource:
    """CSV or Parquet files as a re-iterable source of shuffled batches.

    Parameters
    ----------
    paths : str or PathLike, or a sequence of them
        Files or folders (see ``list_data_files``).
    target : str
        The label column, passed raw to `encode_target`.
    features : list of str, optional
        Feature columns. Default: every column except `target`,
        `sample_weight_column` and `drop`, in file order.
    preprocessor : TabularPreprocessor
        Turns the feature columns into a float matrix. If it is not fitted
        yet, it is fitted here in one streaming pass (which also counts rows).
    dtype : float32 or float64, default=float64
        dtype of ``Batch.X`` and ``Batch.sample_weight``.
    encode_target : callable
        ndarray of raw labels (strings as object, ints, bools, floats), shape
        (n_rows,) -> the engine's targets for those rows, shape (n_rows,) or
        (n_rows, k). Called once per record batch (the estimator builds it
        from ``scan_target``'s classes). Not called while the source is
        built: it may be set (attribute ``encode_target``) afterwards, before
        the first ``batches``.
    sample_weight_column : str, optional
        A numeric column of non-negative weights.
    read_batch_rows : int, default=65536
        Rows per record batch read from the files.
    shuffle_buffer_rows : int, default=65536
        Rows held in the shuffle buffer (see Notes).
    csv_block_bytes : int, optional
        Bytes pyarrow parses at once from a CSV file (``TableFiles.csv_block_bytes``);
        a row longer than this needs a larger value.
    drop : sequence of str, optional
        Columns left out of the default features (each must exist).
    na_values : sequence of str, optional
        Text tokens read as missing values (``TableFiles.na_values``).
    row_filters : sequence of RowSplit, optional
        Read only these rows of the files (a validation split or a
        cross-validation fold); every pass takes the same rows.
    memory_budget : int, default=0
        Bytes the decoded rows may take in memory. If `decoded_bytes` fits,
        the first ``batches`` call decodes every row into contiguous arrays
        and later passes read those (see Notes); 0 always streams. While it
        is not 0, the pass made here (fitting the preprocessor, or counting a
        CSV's rows) reads every column and keeps its record batches as long
        as their size (``RecordBatch.nbytes``) fits too, and the decode
        takes them instead of reading the files again.
        ``TableFiles.memory_budget`` is what an estimator passes.

    Attributes
    ----------
    files : list of Path
    n_samples, n_features : int
    dtype : numpy.dtype
    feature_names : list of str
        The preprocessor's output feature names.
    decoded_bytes : int
        The decoded rows' size: n_samples x (n_features x itemsize + 8 for the
        target + itemsize for a sample weight).
    in_memory : bool
        ``decoded_bytes <= memory_budget`` (and memory_budget > 0): the rows
        are decoded once and kept. Decided from the data and the budget
        alone, before any batch is read.

    Notes
    -----
    ``batches(None)`` yields the rows in file order, in ``ArraySource``'s
    cache-sized row blocks, cut across record batches as if the rows were one
    array: the objective sums block terms, so this is the exact full
    gradient, and with the same rows in memory it is exactly
    ``ArraySource(X, targets).batches(None)``, block for block (a block that
    spans two record batches is copied together while streaming).
    ``batches(k)`` yields mini-batches of k rows (the last one shorter), in
    file order; with the same rows in memory, this is exactly
    ``ArraySource(X, targets).batches(k)``. ``batches(k, rng=rng)`` shuffles:
    files and Parquet row groups are visited in random order, and rows are
    permuted within a buffer of `shuffle_buffer_rows` rows; mini-batches are
    cut from the permuted buffer and the remainder (fewer than k rows) is
    carried into the next buffer. Every row still appears exactly once per
    epoch, but the shuffle is approximate: rows far apart in a file (more
    than a buffer apart) are never in the same mini-batch unless their row
    groups are. This is the bounded-buffer shuffle of tf.data's
    ``Dataset.shuffle`` and of torch ``IterableDataset`` pipelines. Memory is
    O(shuffle_buffer_rows + read_batch_rows) rows, whatever the file sizes.

    In memory (`in_memory`), the first call of ``batches`` decodes the rows
    once (the kept record batches, or the files read again), in file order,
    into one (n_samples, n_features) array of `dtype` (with the targets and
    weights), remembering which rows each record batch held and from which
    file and Parquet row group it came. Every pass then yields exactly what
    streaming yields, bit for bit, without reading a file: full-batch blocks
    are the same rows (so the objective sums the same blocks in the same
    order), and a shuffled epoch replays the reader's
    random choices (file order, row-group order) and the buffer's
    permutations on row indices, gathering each mini-batch from the decoded
    rows with ``np.take``. So the budget changes speed and memory, never the
    batches (an estimator's lbfgs fit starts from a subsample solve where ``every``
    gives one, in memory only: the same optimum by another path), and a
    checkpoint written while streaming resumes in memory, and the reverse. The
    first whole shuffled pass checks that windows of `shuffle_buffer_rows` rows
    hold the labels in about the data's proportions (``LabelOrderWarning``). The
    full-batch pass is that of arrays (``ArraySource``'s blocks; the objective's
    threads), so training from the decoded rows costs what training from arrays
    does.

    Examples
    --------
    >>> import numpy as np, pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> from xentlearn.data import scan_target
    >>> path = os.path.join(tempfile.mkdtemp(), "d.parquet")
    >>> pq.write_table(pa.table({"x": [0.0, 1.0, 2.0], "y": ["a", "b", "a"]}), path)
    >>> classes = scan_target(path, "y")
    >>> src = FileSource(path, target="y", preprocessor=TabularPreprocessor(),
    ...                  encode_target=lambda y: np.searchsorted(classes, y))
    >>> batch = next(src.batches(2))
    >>> batch.X.shape, batch.targets.tolist()
    ((2, 1), [0, 1])
    """

    def __init__(self, paths, *, target: str, features: Sequence[str] | None = None,
                 preprocessor: TabularPreprocessor, dtype=np.float64,
                 encode_target: Callable[[np.ndarray], np.ndarray],
                 sample_weight_column: str | None = None, read_batch_rows: int = 65536,
                 shuffle_buffer_rows: int = 65536, csv_block_bytes: int | None = None,
                 drop: Sequence[str] = (), na_values: Sequence[str] = (),
                 row_filters: Sequence[RowSplit] = (), memory_budget: int = 0) -> None:
        import pyarrow as pa

        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise XentlearnInputError(f"dtype must be float32 or float64, got {self.dtype}")
        for name, value in (("read_batch_rows", read_batch_rows),
                            ("shuffle_buffer_rows", shuffle_buffer_rows)):
            if int(value) < 1:
                raise XentlearnInputError(f"{name} must be a positive integer, got {value!r}")
        if (isinstance(memory_budget, bool) or not isinstance(memory_budget, numbers.Integral)
                or memory_budget < 0):
            raise XentlearnInputError(
                f"memory_budget must be a non-negative integer number of bytes, got "
                f"{memory_budget!r}")
        self.memory_budget = int(memory_budget)
        self.files = list_data_files(paths)
        # The preprocessor's fitting pass's record batches, if kept for _decode_all.
        self._kept: list | None = None
        self.target = target
        self.sample_weight_column = sample_weight_column
        self.encode_target = encode_target
        self.preprocessor = preprocessor
        self.read_batch_rows = int(read_batch_rows)
        self.shuffle_buffer_rows = int(shuffle_buffer_rows)
        self.csv_block_bytes = csv_block_bytes
        self.na_values = tuple(na_values)
        self.row_filters = tuple(row_filters)

        # One CSV file read whole, every column of it, is parsed once: the types of
        # its first rows are taken for its first block's and proven by the first
        # pass, which reads the file with them (see csv_head_schema); if the file
        # refuses them, its first block is scanned for the types and the pass is
        # made again, as before. (Proving a column's type converts all of it: a
        # file with columns left out is scanned, so they are not converted.)
        self._block_types: list[dict | None] = [None] * len(self.files)
        head = self._head_schema()
        if head is not None:
            try:
                self._use_schema(head, features, drop)
            except XentlearnInputError:
                head = None                 # the scan's errors come first, as before
            else:
                head = head if set(self.columns) == set(head.names) else None
        if head is None:
            self._use_schema(self._scan(features, drop), features, drop)
        self._first_types = None if head is None else {f.name: f.type for f in head}
        try:
            self.n_samples = self._first_pass()
        except _Unverified:
            self._first_types = None
            self._use_schema(self._scan(features, drop), features, drop)
            self.n_samples = self._first_pass()
        if self._first_types is not None:   # proven: later passes read as after a scan
            self._block_types = [self._first_types]
            self._first_types = None
        features = self.features
        chosen = set(features)
        missing = [c for c in preprocessor.columns_ if c not in chosen]
        if missing:
            raise XentlearnInputError(
                f"the preprocessor was fitted on columns {missing} that are not among the "
                f"features {features}")
        self.feature_names = preprocessor.feature_names_out
        self.n_features = preprocessor.n_features_out
        itemsize = self.dtype.itemsize
        row_bytes = (self.n_features * itemsize + _TARGET_BYTES
                     + (itemsize if sample_weight_column is not None else 0))
        self.decoded_bytes = self.n_samples * row_bytes
        self.in_memory = 0 < self.decoded_bytes <= self.memory_budget
        self._cache: _Decoded | None = None
        self._order_checked = False     # LabelOrderWarning: checked on one shuffled pass
        if not self.in_memory and self._kept is not None:
            self._kept = None
            pa.default_memory_pool().release_unused()

    def __len__(self) -> int:
        return self.n_samples

    def _scan(self, features: Sequence[str] | None, drop: Sequence[str]):
        """``scan_schema`` of the files (the columns read: `features` and the target and
        weights, or all but `drop`), keeping each CSV file's first-block types
        (``_block_types``)."""
        read = None if features is None else {*features, self.target,
                                              self.sample_weight_column}
        schema, schemas = _scan_schemas(self.files, csv_block_bytes=self.csv_block_bytes,
                                        na_values=self.na_values, target=self.target,
                                        read=read, ignore=drop)
        self._block_types = [{f.name: f.type for f in s} if _file_format(path) == "csv"
                             else None for path, s in zip(self.files, schemas)]
        return schema

    def _head_schema(self):
        """``csv_head_schema`` of the one CSV file that the first pass reads whole, else None."""
        if not self.memory_budget or len(self.files) != 1:
            return None
        path = self.files[0]
        if _file_format(path) != "csv" or os.path.getsize(path) > self.memory_budget:
            return None
        return csv_head_schema(path, csv_block_bytes=self.csv_block_bytes,
                               na_values=self.na_values)

    def _use_schema(self, schema, features: Sequence[str] | None, drop: Sequence[str]) -> None:
        """Check the target, weight, dropped and feature columns against `schema`, and set
        ``features``, ``columns`` and the CSV column types they are read with."""
        import pyarrow as pa

        target, weight = self.target, self.sample_weight_column
        if target is None:
            raise XentlearnInputError("FileSource needs a target column to train on")
        features = feature_columns(self.files[0], schema.names, target, weight, features, drop)
        self.features = features
        self.columns = features + ([] if weight in (None, target) else [weight]) + [target]
        # CSV integers are read as float64: the type is inferred from the first
        # block, and a later "2.5" in an integer feature would fail to convert.
        self._csv_types = {n: (pa.float64() if pa.types.is_integer(schema.field(n).type)
                               else schema.field(n).type)
                           for n in features if not pa.types.is_null(schema.field(n).type)}

    def _first_pass(self) -> int:
        """Rows read by the pass made at construction (fitting the preprocessor if it is
        not fitted yet)."""
        if not self.preprocessor.is_fitted:
            return self._fit_preprocessor()
        # A CSV's rows are counted by parsing it: a source that may keep its rows
        # keeps that pass's record batches, as the fitting pass does.
        csv = any(_file_format(path) != "parquet" for path in self.files)
        self.n_samples = self._read_keeping() if self.memory_budget and csv \
            else self._count_rows()
        self._check_rows()
        return self.n_samples

    def _read_keeping(self, fit: bool = False) -> int:
        """Rows read (every column), fitting the preprocessor on them if `fit`; the
        record batches are kept (``_kept``) while they fit the budget, so that if the
        decoded rows fit too, the first pass decodes these instead of reading the
        files a second time."""
        import pyarrow as pa

        n_rows, kept, kept_bytes = 0, [], 0
        for located in self._located_records():
            record = located[-1]
            if fit:
                self._partial_fit(record.select(self.features))
            n_rows += record.num_rows
            if kept is not None:
                kept_bytes += record.nbytes
                kept = kept if kept_bytes <= self.memory_budget else None
            if kept is not None:
                kept.append(located)
        self._kept = kept
        pa.default_memory_pool().release_unused()    # the reader's freed buffers
        return n_rows

    def _fit_preprocessor(self) -> int:
        n_rows = 0
        if self.memory_budget:
            n_rows = self._read_keeping(fit=True)
        else:
            for _, batch in _iter_with_files(self.files, self.features,
                                             batch_rows=self.read_batch_rows,
                                             csv_block_bytes=self.csv_block_bytes,
                                             csv_column_types=self._csv_types,
                                             na_values=self.na_values,
                                             row_filters=self.row_filters):
                self._partial_fit(batch)
                n_rows += batch.num_rows
        self.n_samples = n_rows
        self._check_rows()
        where = ", ".join(str(f) for f in self.files)
        try:
            self.preprocessor.finalize()
        except ColumnValuesError as exc:
            raise self._located(exc, where) from None
        except XentlearnInputError as exc:
            raise XentlearnInputError(f"{exc} (in {where})") from None
        return n_rows

    def _partial_fit(self, batch) -> None:
        try:
            self.preprocessor.partial_fit(batch)
        except ColumnValuesError as exc:     # an infinite value
            raise self._located(exc, ", ".join(str(f) for f in self.files)) from None

    def _located(self, exc: ColumnValuesError, where: str) -> XentlearnInputError:
        """`exc` naming the row of the first value it is about, found by reading that
        column again, on this error only (`where` if it cannot be read)."""
        column = exc.column
        # The column's CSV type as the passes read it: set, or the file's first block's.
        types = [self._csv_types.get(column, (block or {}).get(column))
                 for block in self._block_types]
        first = first_row_holding(exc, self.files, row_filters=self.row_filters,
                                  batch_rows=self.read_batch_rows,
                                  csv_block_bytes=self.csv_block_bytes,
                                  na_values=self.na_values, tokens=self.preprocessor.na_values,
                                  column_types=types)
        return exc.located(first) if first else XentlearnInputError(f"{exc} (in {where})")

    def _check_rows(self) -> None:
        """Refuse files without a row to read, before anything is computed from them."""
        if self.n_samples:
            return
        where = ", ".join(repr(str(f)) for f in self.files)
        if self.row_filters:
            raise XentlearnInputError(
                f"the row split keeps no row of {where} on one side: too few rows for the "
                "validation fraction or the number of folds")
        raise XentlearnInputError(
            f"no data rows in {where}; expected at least one row")

    def _count_rows(self) -> int:
        import pyarrow.parquet as pq

        n_rows = 0
        for index, path in enumerate(self.files):
            if _file_format(path) == "parquet":
                total = pq.ParquetFile(path).metadata.num_rows
                # The split is a hash of the row index: no need to read the rows.
                for first in range(0, total, 1 << 20):
                    mask = rows_mask(self.row_filters, index, first, min(1 << 20, total - first))
                    n_rows += min(1 << 20, total - first) if mask is None else int(mask.sum())
            else:
                # Counting CSV rows needs a parse; converting one column is enough.
                for first, batch in _file_batches(path, [self.target], rng=None,
                                                  csv_block_bytes=self.csv_block_bytes,
                                                  batch_rows=self.read_batch_rows,
                                                  csv_column_types=None,
                                                  na_values=self.na_values):
                    mask = rows_mask(self.row_filters, index, first, batch.num_rows)
                    n_rows += batch.num_rows if mask is None else int(mask.sum())
        return n_rows

    def n_batches(self, batch_size: int | None) -> int:
        """Batches in one pass (1 for full batch: one gradient step)."""
        if batch_size is None:
            return 1
        return -(-self.n_samples // batch_size)

    def _records(self, rng) -> Iterator:
        return _iter_with_files(self.files, self.columns, rng=rng, batch_rows=self.read_batch_rows,
                                csv_block_bytes=self.csv_block_bytes,
                                csv_column_types=self._csv_types, na_values=self.na_values,
                                row_filters=self.row_filters)

    def _encode(self, path: Path, record, out: np.ndarray | None = None) -> Batch:
        """Features, encoded targets and weights of one record batch."""
        try:
            X = self.preprocessor.transform(record, self.dtype, out=out)
            targets = np.asarray(self.encode_target(_target_values(record, self.target)))
        except ColumnValuesError as exc:
            raise self._located(exc, repr(str(path))) from None
        except XentlearnInputError as exc:
            raise XentlearnInputError(f"{exc} (in {str(path)!r})") from None
        if targets.ndim == 0 or targets.shape[0] != record.num_rows:
            raise XentlearnInputError(
                f"encode_target returned targets of shape {targets.shape} for "
                f"{record.num_rows} rows of {str(path)!r}")
        return Batch(X, targets, self._weights(path, record))

    def _weights(self, path: Path, batch) -> np.ndarray | None:
        if self.sample_weight_column is None:
            return None
        name = self.sample_weight_column
        column = batch.column(name)
        if column.null_count:
            raise XentlearnInputError(
                f"sample weight column {name!r} has {column.null_count} missing value(s) in "
                f"{str(path)!r}; expected a non-negative number in every row")
        try:
            w = column.to_numpy(zero_copy_only=False).astype(self.dtype)
        except (TypeError, ValueError):
            raise XentlearnInputError(
                f"sample weight column {name!r} in {str(path)!r} has type {column.type}; "
                f"expected numbers") from None
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise XentlearnInputError(
                f"sample weight column {name!r} has {int(np.count_nonzero(bad))} negative or "
                f"non-finite value(s) in {str(path)!r}, the first is {w[np.argmax(bad)].item()!r}; "
                f"expected non-negative finite numbers")
        return w

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None,
                skip: int = 0) -> Iterator[Batch]:
        """One pass over the data (one epoch); see the class Notes.

        Each mini-batch owns its arrays (they are not views of the reused
        shuffle buffer), so a consumer may keep them. `skip` mini-batches are
        left out at the start: the files are still read and the shuffle buffer
        filled and permuted as in a whole pass (so `rng` advances identically
        and the later batches are the same), but the skipped rows are not
        gathered. This is how a checkpointed epoch is fast-forwarded.
        """
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or int(batch_size) != batch_size or batch_size < 1):
            raise XentlearnInputError(
                f"batch_size must be a positive integer or None, got {batch_size!r}")
        if batch_size is None:
            if self.in_memory:
                if self._cache is None:
                    self._cache = self._decode_all()
                cache = self._cache
                yield from ArraySource(cache.X, cache.targets, cache.weights).batches(None)
                return
            step = block_rows(self.n_features, self.dtype.itemsize)
            yield from _blocks_across(
                (self._encode(path, record) for path, record in self._records(None)), step)
            return
        if self.in_memory and self._cache is None:
            self._cache = self._decode_all()
        passes = (self._cached_minibatches if self.in_memory else self._minibatches)(
            int(batch_size), rng, skip)
        if rng is None or self._order_checked:
            yield from passes
            return
        window = max(self.shuffle_buffer_rows, int(batch_size))
        yield from _checking_label_order(passes, window)
        self._order_checked = True       # a whole shuffled pass was checked

    def every(self, step: int) -> ArraySource | None:
        """Every `step`-th row of the decoded rows (views), when they are kept in memory
        (decoding them now if need be); None when the files are streamed."""
        if not self.in_memory:
            return None
        if self._cache is None:
            self._cache = self._decode_all()
        return ArraySource(self._cache.X, self._cache.targets, self._cache.weights).every(step)

    def _decode_all(self) -> "_Decoded":
        """Every row, encoded, in file order, with where each record batch came from."""
        import pyarrow as pa

        pool = pa.default_memory_pool()
        X = np.empty((self.n_samples, self.n_features), dtype=self.dtype)
        targets = weights = None
        spans: list[tuple[int, int, int, int]] = []     # (file, row group, start, stop)
        n = freed = 0
        # pyarrow's allocator keeps freed pages for reuse: the decoded record batches'
        # are handed back every _RELEASE_BYTES, so that memory holds the kept batches
        # or the decoded rows, not both (give or take that much). Each hand-back costs
        # about as much as transforming a small record batch, hence not one per batch.
        records, self._kept = (self._located_records() if self._kept is None
                               else _emptied(self._kept)), None
        for index, group, path, record in records:
            m = record.num_rows
            if n + m > self.n_samples:
                raise self._changed_error()
            chunk = self._encode(path, record, out=X[n:n + m])
            if targets is None:
                targets = np.empty((self.n_samples,) + chunk.targets.shape[1:],
                                   dtype=chunk.targets.dtype)
                if chunk.sample_weight is not None:
                    weights = np.empty(self.n_samples, dtype=self.dtype)
            targets[n:n + m] = chunk.targets
            if weights is not None:
                weights[n:n + m] = chunk.sample_weight
            spans.append((index, group, n, n + m))
            n += m
            freed += record.nbytes
            del record, chunk
            if freed >= _RELEASE_BYTES:
                pool.release_unused()
                freed = 0
        pool.release_unused()
        if n != self.n_samples:
            raise self._changed_error()
        return _Decoded(X, targets, weights, spans, self._row_groups())

    def kept_records(self) -> Iterator[tuple[Path, object]] | None:
        """(path, record batch of every column) of the pass made at construction, when
        the rows are to be kept in memory and it kept them (None otherwise, and once
        decoded): the rows, read once, for a caller that needs another column's
        values (``TableFiles.scan_classes``)."""
        if self._kept is None or self._cache is not None:
            return None
        return ((path, record) for _, _, path, record in self._kept)

    def _changed_error(self) -> XentlearnInputError:
        return XentlearnInputError(
            f"{', '.join(str(f) for f in self.files)} changed while being read: "
            f"{self.n_samples} rows were counted, another number was decoded")

    def _row_groups(self) -> list[int | None]:
        """Row groups per file (None for CSV, which the reader reads front to back)."""
        import pyarrow.parquet as pq

        return [pq.ParquetFile(path).metadata.num_row_groups
                if _file_format(path) == "parquet" else None for path in self.files]

    def _located_records(self) -> Iterator[tuple[int, int, Path, object]]:
        """(file index, row group, path, record batch) in file order.

        The record batches of ``_records(None)`` (same reads, same row filters,
        empty ones left out), located so that a shuffled pass can be replayed.
        """
        import pyarrow as pa

        for index, path in enumerate(self.files):
            offsets = None
            if _file_format(path) == "parquet":
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(path).metadata
                offsets = np.cumsum([meta.row_group(g).num_rows
                                     for g in range(meta.num_row_groups)])
            # The columns whose type is not set (the target, weights, a feature empty
            # in every first block) are read with this file's first-block type: what
            # its streaming reader infers (pyarrow's read_csv would infer from every
            # block), so that a file whose later rows break that type is refused, as
            # when streaming, whether its rows are kept or not.
            types = self._csv_types
            if self._block_types[index] is not None:
                types = {**{n: self._block_types[index][n] for n in self.columns}, **types}
            for first, record in _file_batches(path, self.columns, rng=None,
                                               batch_rows=self.read_batch_rows,
                                               csv_column_types=types,
                                               csv_block_bytes=self.csv_block_bytes,
                                               na_values=self.na_values,
                                               whole_bytes=self.memory_budget,
                                               first_types=self._first_types):
                mask = rows_mask(self.row_filters, index, first, record.num_rows)
                if mask is not None:
                    record = record.filter(pa.array(mask))
                if record.num_rows:
                    group = 0 if offsets is None else int(np.searchsorted(offsets, first,
                                                                          side="right"))
                    yield index, group, path, record

    def _replayed_spans(self, rng: np.random.Generator) -> Iterator[tuple[int, int]]:
        """(start, stop) of the decoded rows of each record batch, in the order a
        shuffled streaming pass reads them, drawing from `rng` exactly as it does:
        the file order first, then each Parquet file's row-group order on entering it."""
        cache = self._cache
        for index in rng.permutation(len(self.files)):
            n_groups = cache.row_groups[int(index)]
            groups = (0,) if n_groups is None else rng.permutation(np.arange(n_groups))
            for group in groups:
                yield from cache.by_group.get((int(index), int(group)), ())

    def _cached_minibatches(self, batch_size: int, rng, skip: int) -> Iterator[Batch]:
        """``_minibatches`` on row indices of the decoded rows: the same batches, the
        same draws from `rng`, and no file read (see the class Notes)."""
        cache = self._cache
        capacity = max(self.shuffle_buffer_rows, batch_size)
        buffer = np.empty(capacity + self.read_batch_rows, dtype=np.intp)
        spans = ((start, stop) for _, _, start, stop in cache.spans) if rng is None \
            else self._replayed_spans(rng)
        n = 0
        for start, stop in spans:
            buffer[n:n + stop - start] = np.arange(start, stop)
            n += stop - start
            if n < capacity:
                continue
            rows = buffer[:n].copy() if rng is None else buffer[rng.permutation(n)]
            n_full = n - n % batch_size
            for first in range(0, n_full, batch_size):
                if skip:
                    skip -= 1
                    continue
                yield cache.take(rows[first:first + batch_size])
            # The remainder (< batch_size rows) is carried into the next fill.
            buffer[:n - n_full] = rows[n_full:]
            n -= n_full
        if n:
            rows = buffer[:n] if rng is None else buffer[rng.permutation(n)]
            for first in range(0, n, batch_size):
                if skip:
                    skip -= 1
                    continue
                yield cache.take(rows[first:first + batch_size])

    def _minibatches(self, batch_size: int, rng, skip: int) -> Iterator[Batch]:
        capacity = max(self.shuffle_buffer_rows, batch_size)
        # One buffer, allocated once per pass and refilled in place: a record
        # batch holds at most read_batch_rows rows, so it always fits on top of
        # fewer than `capacity` pending rows. Reusing it (rather than
        # concatenating and permuting copies) keeps the allocator from holding
        # several buffers' worth of freed memory.
        size = capacity + self.read_batch_rows
        X_buf = np.empty((size, self.n_features), dtype=self.dtype)
        t_buf = w_buf = None
        n = 0
        for path, record in self._records(rng):
            m = record.num_rows
            chunk = self._encode(path, record, out=X_buf[n:n + m])
            if t_buf is None:
                t_buf = np.empty((size,) + chunk.targets.shape[1:], dtype=chunk.targets.dtype)
                if chunk.sample_weight is not None:
                    w_buf = np.empty(size, dtype=self.dtype)
            t_buf[n:n + m] = chunk.targets
            if w_buf is not None:
                w_buf[n:n + m] = chunk.sample_weight
            n += m
            if n < capacity:
                continue
            order = None if rng is None else rng.permutation(n)
            n_full = n - n % batch_size
            for start in range(0, n_full, batch_size):
                if skip:
                    skip -= 1
                    continue
                yield _take((X_buf, t_buf, w_buf), order, start, start + batch_size)
            # The remainder (< batch_size rows) moves to the front of the buffer
            # and is mixed into the next fill.
            rest = slice(n_full, n) if order is None else order[n_full:]
            for a in (X_buf, t_buf, w_buf):
                if a is not None:
                    a[:n - n_full] = a[rest]
            n -= n_full
        if n:
            order = None if rng is None else rng.permutation(n)
            for start in range(0, n, batch_size):
                if skip:
                    skip -= 1
                    continue
                yield _take((X_buf, t_buf, w_buf), order, start, min(n, start + batch_size))


# Association between the shuffle windows and the labels (Cramer's V, less what shuffled
# rows give by chance), above which the rows are said to arrive grouped by label: 0 for
# shuffled rows, 1 for rows sorted by label, whatever the classes' shares.
_GROUPED_LABELS = 0.3


class LabelOrderWarning(UserWarning):
    """Shuffled mini-batches of files whose rows are grouped by label: successive
    shuffle buffers hold the labels in other proportions than the whole data."""


def _checking_label_order(batches: Iterator[Batch], window: int) -> Iterator[Batch]:
    """`batches` (one shuffled pass), and at its end a ``LabelOrderWarning`` when windows
    of `window` rows and the labels are associated: files sorted by label stream as runs of
    one class, and a mini-batch solver then fits each class in turn.

    The association is Cramer's V of the (window x label) counts with the chi-square
    statistic's expectation under independence, (W - 1)(K - 1), taken off: near 0 for
    shuffled rows however many classes, 1 for sorted rows however rare a class. Hard labels
    only (1-D targets: class indices, or 0/1); others pass unchecked, as do passes of
    fewer than two windows.
    """
    counts: list[np.ndarray] = []
    current, rows = np.zeros(0), 0
    for batch in batches:
        yield batch
        targets = batch.targets
        if targets.ndim != 1:
            yield from batches
            return
        found = np.bincount(targets.astype(np.intp, copy=False))
        current = np.pad(current, (0, max(0, len(found) - len(current))))
        current[:len(found)] += found
        rows += len(targets)
        if rows >= window:
            counts.append(current)
            current, rows = np.zeros(0), 0
    if len(counts) < 2:
        return
    width = max(len(c) for c in counts)
    observed = np.array([np.pad(c, (0, width - len(c))) for c in counts])
    observed = observed[:, observed.sum(axis=0) > 0]
    n_windows, n_labels = observed.shape
    if n_labels < 2:
        return
    total = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0) / total
    chi2 = ((observed - expected) ** 2 / expected).sum()
    excess = (chi2 - (n_windows - 1) * (n_labels - 1)) / (total * (min(n_windows, n_labels) - 1))
    association = float(np.sqrt(max(excess, 0.0)))
    if association > _GROUPED_LABELS:
        warnings.warn(LabelOrderWarning(
            f"the rows of the files are grouped by label: mini-batches are shuffled within "
            f"a buffer of about {window} rows (shuffle_buffer_rows), and successive buffers "
            f"hold the labels in other proportions than the whole data (association "
            f"{association:.2f}: 0 for shuffled rows, 1 for rows sorted by label), so "
            "mini-batch training sees one class after another and ends worse than on shuffled "
            "rows; shuffle the rows of the files once, train with solver='lbfgs' (full "
            "batch), or raise shuffle_buffer_rows"), stacklevel=2)


def _emptied(items: list) -> Iterator:
    """The items of `items`, each dropped from the list as it is given (memory is freed
    as a consumer moves on)."""
    items.reverse()
    while items:
        yield items.pop()


class _Decoded:
    """A FileSource's rows decoded in memory: X, targets, weights (in file order) and
    `spans`, (file index, row group, start, stop) of each record batch read."""

    def __init__(self, X: np.ndarray, targets, weights, spans: list, row_groups: list):
        self.X, self.targets, self.weights = X, targets, weights
        self.spans = spans
        self.row_groups = row_groups
        self.by_group: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for index, group, start, stop in spans:
            self.by_group.setdefault((index, group), []).append((start, stop))

    def take(self, rows: np.ndarray) -> Batch:
        """The given rows, as new arrays."""
        w = None if self.weights is None else np.take(self.weights, rows)
        return Batch(np.take(self.X, rows, axis=0), np.take(self.targets, rows, axis=0), w)


def _take(buffers, order, start: int, stop: int) -> Batch:
    """Rows start:stop of the buffers (through `order` if given), as new arrays."""
    if order is None:
        X, t, w = (None if a is None else a[start:stop].copy() for a in buffers)
    else:
        idx = order[start:stop]
        X, t, w = (None if a is None else np.take(a, idx, axis=0) for a in buffers)
    return Batch(X, t, w)


def _slice(batch: Batch, rows) -> Batch:
    w = None if batch.sample_weight is None else batch.sample_weight[rows]
    return Batch(batch.X[rows], batch.targets[rows], w)


def _blocks_across(chunks: Iterator[Batch], step: int) -> Iterator[Batch]:
    """Consecutive blocks of `step` rows (the last one shorter) of the rows of
    `chunks` taken as one array: views of a chunk where a block lies inside one,
    a copy of the pieces where it spans several (so the blocks are those of
    ``ArraySource``, whatever the record batches)."""
    pieces: list[Batch] = []        # the start of the next block, fewer than `step` rows
    held = 0
    for chunk in chunks:
        m, start = chunk.X.shape[0], 0
        if held:
            start = min(step - held, m)
            pieces.append(_slice(chunk, slice(0, start)))
            held += start
            if held < step:
                continue
            yield _joined(pieces)
            pieces, held = [], 0
        for first in range(start, m - step + 1, step):
            yield _slice(chunk, slice(first, first + step))
        rest = start + (m - start) // step * step
        if rest < m:
            pieces, held = [_slice(chunk, slice(rest, m))], m - rest
    if held:
        yield _joined(pieces)


def _joined(pieces: list[Batch]) -> Batch:
    if len(pieces) == 1:
        return pieces[0]
    w = (None if pieces[0].sample_weight is None
         else np.concatenate([p.sample_weight for p in pieces]))
    return Batch(np.concatenate([p.X for p in pieces]),
                 np.concatenate([p.targets for p in pieces]), w)
