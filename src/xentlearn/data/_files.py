"""CSV and Parquet files as a re-iterable source of batches, in bounded memory.

Files are read with pyarrow one record batch at a time (Parquet: row group by
row group, ``ParquetFile.iter_batches``; CSV: the streaming reader of
``pyarrow.csv.open_csv``), so no file is ever loaded whole. Mini-batches are
shuffled per epoch through a buffer of bounded size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from xentlearn._types import Batch
from xentlearn.data._arrays import block_rows
from xentlearn.data._tabular import TabularPreprocessor, column_kind
from xentlearn.exceptions import XentlearnInputError

_PARQUET_SUFFIXES = (".parquet", ".pq")
# pyarrow decompresses CSV by extension (pyarrow.input_stream(compression="detect")).
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
SUPPORTED_SUFFIXES = _CSV_SUFFIXES + _PARQUET_SUFFIXES
# The CSV reader infers column types from its first block, so a bigger block
# guesses better (a column of ints that turns to floats later); 4 MB of text
# is still small next to the shuffle buffer.
_CSV_BLOCK_BYTES = 4 << 20
# Parquet is read through a 1 MB buffered stream rather than pre-buffering
# whole column chunks: a file written with one huge row group then still
# streams in bounded memory.
_PARQUET_STREAM_BYTES = 1 << 20

PathArg = str | PathLike


def _file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


def list_data_files(path: PathArg | Sequence[PathArg]) -> list[Path]:
    """The CSV and Parquet files named by `path`.

    Parameters
    ----------
    path : str or PathLike, or a sequence of them
        A file (``.csv``, ``.csv.gz``, ``.csv.bz2``, ``.csv.zst``, ``.parquet``,
        ``.pq``) or a folder of such files. A folder is listed in sorted name
        order, without recursion; names starting with ``.`` or ``_`` (such as
        Spark's ``_SUCCESS``) and subfolders are skipped. CSV and Parquet files
        may be mixed: their columns are checked by ``scan_schema``.

    Returns
    -------
    list of Path
    """
    if isinstance(path, (str, PathLike)):
        paths = [Path(path)]
    else:
        paths = [Path(p) for p in path]
        if not paths:
            raise XentlearnInputError("no data path given: expected a CSV or Parquet file or folder")
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise XentlearnInputError(f"data path {str(p)!r} does not exist")
        if p.is_dir():
            found = []
            for child in sorted(p.iterdir()):
                if child.name.startswith((".", "_")) or child.is_dir():
                    continue
                if _file_format(child) is None:
                    raise XentlearnInputError(
                        f"{str(child)!r} in data folder {str(p)!r} is neither CSV nor Parquet: "
                        f"expected names ending in {', '.join(SUPPORTED_SUFFIXES)}")
                found.append(child)
            if not found:
                raise XentlearnInputError(
                    f"data folder {str(p)!r} holds no CSV or Parquet file "
                    f"(expected names ending in {', '.join(SUPPORTED_SUFFIXES)}; subfolders are not read)")
            files.extend(found)
        elif _file_format(p) is None:
            raise XentlearnInputError(
                f"data file {str(p)!r} has an unknown extension: expected one of "
                f"{', '.join(SUPPORTED_SUFFIXES)}")
        else:
            files.append(p)
    return files


def _as_files(files) -> list[Path]:
    if isinstance(files, (str, PathLike)):
        return list_data_files(files)
    return [Path(f) for f in files]


def _read_error(path: Path, exc: Exception) -> XentlearnInputError:
    return XentlearnInputError(f"cannot read {str(path)!r}: {exc}")


def _file_schema(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if _file_format(path) == "parquet":
            return pq.ParquetFile(path).schema_arrow
        # Opening the streaming reader parses the first block only.
        with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                            convert_options=pacsv.ConvertOptions(strings_can_be_null=True)) as r:
            return r.schema
    except (pa.ArrowException, OSError) as exc:
        raise _read_error(path, exc) from None


def _kind_or_type(arrow_type) -> str | None:
    try:
        return column_kind(arrow_type)
    except XentlearnInputError:
        return str(arrow_type)      # not a feature type: must then match exactly


def scan_schema(files) -> "pyarrow.Schema":  # noqa: F821 (pyarrow is imported lazily)
    """The common schema of `files`, checked to be consistent.

    Every file must hold the same column names, and each column the same kind
    (numeric, boolean or string: an int32 column in one file and a float64 one
    in another are both numeric). A column that is empty in the first block of
    a CSV file (pyarrow's null type) takes its type from another file.

    Parameters
    ----------
    files : list of Path, or a path accepted by ``list_data_files``

    Returns
    -------
    pyarrow.Schema
        Column names in the first file's order; types from the first file
        where the column is not null-typed.
    """
    import pyarrow as pa

    files = _as_files(files)
    first = _file_schema(files[0])
    names, types = list(first.names), {f.name: f.type for f in first}
    for path in files[1:]:
        schema = _file_schema(path)
        if set(schema.names) != set(names) or len(schema.names) != len(names):
            missing = [n for n in names if n not in schema.names]
            extra = [n for n in schema.names if n not in names]
            raise XentlearnInputError(
                f"{str(path)!r} has different columns from {str(files[0])!r}: "
                f"missing {missing}, extra {extra}; every data file must hold the same columns")
        for field in schema:
            known = types[field.name]
            kind, known_kind = _kind_or_type(field.type), _kind_or_type(known)
            if known_kind is None:
                types[field.name] = field.type
            elif kind is not None and kind != known_kind:
                raise XentlearnInputError(
                    f"column {field.name!r} is {field.type} in {str(path)!r} but {known} in "
                    f"{str(files[0])!r}; expected the same kind (number, boolean or string) in every file")
    return pa.schema([(n, types[n]) for n in names])


def _check_column(files: list[Path], schema, column: str, what: str) -> None:
    if column not in schema.names:
        raise XentlearnInputError(
            f"{what} column {column!r} not found in {str(files[0])!r}; "
            f"available columns: {', '.join(schema.names)}")


def _file_batches(path: Path, columns: list[str], *, rng, batch_rows: int,
                  csv_column_types: dict | None) -> Iterator:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if _file_format(path) == "parquet":
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=_PARQUET_STREAM_BYTES)
            groups = np.arange(pf.num_row_groups)
            if rng is not None:
                groups = rng.permutation(groups)
            for group in groups:
                yield from pf.iter_batches(batch_size=batch_rows, row_groups=[int(group)],
                                           columns=columns)
            return
        # An empty field is a missing value, for text columns too (pyarrow's default
        # reads it as the category ""), so it is reported or imputed like any other.
        convert = pacsv.ConvertOptions(include_columns=columns,
                                       column_types=csv_column_types or {},
                                       strings_can_be_null=True)
        with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                            convert_options=convert) as reader:
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
    except (pa.ArrowException, OSError) as exc:
        hint = ""
        if _file_format(path) == "csv" and isinstance(exc, pa.ArrowInvalid):
            hint = (" (CSV column types are inferred from the first 4 MB of the file; a column "
                    "whose later values do not fit that type needs fixing in the file)")
        raise XentlearnInputError(f"cannot read {str(path)!r}: {exc}{hint}") from None


def _iter_with_files(files, columns, *, rng=None, batch_rows=65536, csv_column_types=None):
    files = list(files)
    order = rng.permutation(len(files)) if rng is not None else range(len(files))
    for i in order:
        path = files[int(i)]
        for batch in _file_batches(path, columns, rng=rng, batch_rows=batch_rows,
                                   csv_column_types=csv_column_types):
            if batch.num_rows:
                yield path, batch


def iter_record_batches(files, columns: Sequence[str], *, rng: np.random.Generator | None = None,
                        batch_rows: int = 65536, csv_column_types: dict | None = None
                        ) -> Iterator:
    """Stream the given columns of `files` as pyarrow RecordBatches.

    Parameters
    ----------
    files : list of Path, or a path accepted by ``list_data_files``
    columns : sequence of str
        Columns to read (projection: others are not decoded).
    rng : numpy.random.Generator, optional
        None: files in order, rows in file order. Otherwise the files come in
        a random order, and so do the row groups inside each Parquet file
        (a CSV file has no row groups and is read front to back).
    batch_rows : int, default=65536
        At most this many rows per record batch.
    csv_column_types : dict of str to pyarrow.DataType, optional
        Types for CSV columns, instead of inferring them from the first block.

    Yields
    ------
    pyarrow.RecordBatch
    """
    for _, batch in _iter_with_files(_as_files(files), list(columns), rng=rng,
                                     batch_rows=batch_rows, csv_column_types=csv_column_types):
        yield batch


def _target_values(path: Path, batch, target: str) -> np.ndarray:
    """The raw target column of one batch as numpy (object for strings)."""
    import pyarrow as pa

    column = batch.column(target)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = column.to_numpy(zero_copy_only=False)
    n_missing = column.null_count
    if values.dtype.kind == "f":
        n_missing = int(np.count_nonzero(np.isnan(values)))
    if n_missing:
        raise XentlearnInputError(
            f"target column {target!r} has {n_missing} missing value(s) in {str(path)!r} "
            f"(within one batch of {batch.num_rows} rows); every training row needs a label")
    return values


def scan_target(files, target: str, *, batch_rows: int = 65536) -> np.ndarray:
    """Sorted distinct values of the target column, in one streaming pass.

    Parameters
    ----------
    files : list of Path, or a path accepted by ``list_data_files``
    target : str

    Returns
    -------
    ndarray of shape (n_classes,)
        numpy's type for the column: integers, floats, bools, or object
        (Python str) for string columns.

    Raises
    ------
    XentlearnInputError
        If the column is missing (naming the file and the available columns)
        or holds missing values (naming the count and the first file).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    files = _as_files(files)
    schema = scan_schema(files)
    _check_column(files, schema, target, "target")
    classes = None
    n_missing, first_bad = 0, None
    for path, batch in _iter_with_files(files, [target], batch_rows=batch_rows):
        column = batch.column(target)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        missing = column.null_count
        if pa.types.is_floating(column.type):
            missing += pc.sum(pc.is_nan(column)).as_py() or 0
        if missing:
            n_missing += missing
            first_bad = first_bad or path
            continue
        uniques = pc.unique(column).to_numpy(zero_copy_only=False)
        # The running union stays as small as the set of classes: the merge
        # costs O(n_classes) per batch, never O(rows).
        classes = uniques if classes is None else np.concatenate([classes, uniques])
        classes = np.unique(classes)
    if n_missing:
        raise XentlearnInputError(
            f"target column {target!r} has {n_missing} missing value(s) (first in "
            f"{str(first_bad)!r}); every training row needs a label")
    if classes is None:
        raise XentlearnInputError(f"no rows in {', '.join(str(f) for f in files)}")
    return classes


class FileSource:
    """CSV or Parquet files as a re-iterable source of shuffled batches.

    Parameters
    ----------
    paths : str or PathLike, or a sequence of them
        Files or folders (see ``list_data_files``).
    target : str
        The label column, passed raw to `encode_target`.
    features : list of str, optional
        Feature columns. Default: every column except `target` and
        `sample_weight_column`, in file order.
    preprocessor : TabularPreprocessor
        Turns the feature columns into a float matrix. If it is not fitted
        yet, it is fitted here in one streaming pass (which also counts rows).
    dtype : float32 or float64, default=float64
        dtype of ``Batch.X`` and ``Batch.sample_weight``.
    encode_target : callable
        ndarray of raw labels (strings as object, ints, bools, floats), shape
        (n_rows,) -> the engine's targets for those rows, shape (n_rows,) or
        (n_rows, k). Called once per record batch (the estimator builds it
        from ``scan_target``'s classes).
    sample_weight_column : str, optional
        A numeric column of non-negative weights.
    read_batch_rows : int, default=65536
        Rows per record batch read from the files.
    shuffle_buffer_rows : int, default=65536
        Rows held in the shuffle buffer (see Notes).

    Attributes
    ----------
    files : list of Path
    n_samples, n_features : int
    dtype : numpy.dtype
    feature_names : list of str
        The preprocessor's output feature names.

    Notes
    -----
    ``batches(None)`` yields the rows in file order, in chunks of about one
    record batch: the objective sums chunk terms, so this is the exact full
    gradient. ``batches(k)`` yields mini-batches of k rows (the last one
    shorter), in file order; with the same rows in memory, this is exactly
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

    Examples
    --------
    >>> import numpy as np, pyarrow as pa, pyarrow.parquet as pq, tempfile, os
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
                 shuffle_buffer_rows: int = 65536) -> None:
        import pyarrow as pa

        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise XentlearnInputError(f"dtype must be float32 or float64, got {self.dtype}")
        for name, value in (("read_batch_rows", read_batch_rows),
                            ("shuffle_buffer_rows", shuffle_buffer_rows)):
            if int(value) < 1:
                raise XentlearnInputError(f"{name} must be a positive integer, got {value!r}")
        self.files = list_data_files(paths)
        self.target = target
        self.sample_weight_column = sample_weight_column
        self.encode_target = encode_target
        self.preprocessor = preprocessor
        self.read_batch_rows = int(read_batch_rows)
        self.shuffle_buffer_rows = int(shuffle_buffer_rows)

        schema = scan_schema(self.files)
        _check_column(self.files, schema, target, "target")
        excluded = {target}
        if sample_weight_column is not None:
            _check_column(self.files, schema, sample_weight_column, "sample weight")
            excluded.add(sample_weight_column)
        if features is None:
            features = [n for n in schema.names if n not in excluded]
        features = list(features)
        for name in features:
            _check_column(self.files, schema, name, "feature")
            if name in excluded:
                raise XentlearnInputError(
                    f"feature column {name!r} is also the target or sample weight column")
        if not features:
            raise XentlearnInputError(
                f"no feature columns: {str(self.files[0])!r} holds only {', '.join(schema.names)}")
        self.features = features
        self.columns = features + sorted(excluded - {target}) + [target]
        # CSV integers are read as float64: the type is inferred from the first
        # block, and a later "2.5" in an integer feature would fail to convert.
        self._csv_types = {n: (pa.float64() if pa.types.is_integer(schema.field(n).type)
                               else schema.field(n).type)
                           for n in features if not pa.types.is_null(schema.field(n).type)}

        if preprocessor.is_fitted:
            self.n_samples = self._count_rows()
        else:
            self.n_samples = self._fit_preprocessor()
        missing = [c for c in preprocessor.columns_ if c not in features]
        if missing:
            raise XentlearnInputError(
                f"the preprocessor was fitted on columns {missing} that are not among the "
                f"features {features}")
        self.feature_names = preprocessor.feature_names_out
        self.n_features = preprocessor.n_features_out

    def __len__(self) -> int:
        return self.n_samples

    def _fit_preprocessor(self) -> int:
        n_rows = 0
        for _, batch in _iter_with_files(self.files, self.features, batch_rows=self.read_batch_rows,
                                         csv_column_types=self._csv_types):
            self.preprocessor.partial_fit(batch)
            n_rows += batch.num_rows
        try:
            self.preprocessor.finalize()
        except XentlearnInputError as exc:
            where = ", ".join(str(f) for f in self.files)
            raise XentlearnInputError(f"{exc} (in {where})") from None
        return n_rows

    def _count_rows(self) -> int:
        import pyarrow.parquet as pq

        n_rows = 0
        for path in self.files:
            if _file_format(path) == "parquet":
                n_rows += pq.ParquetFile(path).metadata.num_rows
            else:
                # Counting CSV rows needs a parse; converting one column is enough.
                for batch in _file_batches(path, [self.target], rng=None,
                                           batch_rows=self.read_batch_rows, csv_column_types=None):
                    n_rows += batch.num_rows
        return n_rows

    def n_batches(self, batch_size: int | None) -> int:
        """Batches in one pass (1 for full batch: one gradient step)."""
        if batch_size is None:
            return 1
        return -(-self.n_samples // batch_size)

    def _records(self, rng) -> Iterator:
        return _iter_with_files(self.files, self.columns, rng=rng, batch_rows=self.read_batch_rows,
                                csv_column_types=self._csv_types)

    def _encode(self, path: Path, record, out: np.ndarray | None = None) -> Batch:
        """Features, encoded targets and weights of one record batch."""
        try:
            X = self.preprocessor.transform(record, self.dtype, out=out)
        except XentlearnInputError as exc:
            raise XentlearnInputError(f"{exc} (in {str(path)!r})") from None
        targets = np.asarray(self.encode_target(_target_values(path, record, self.target)))
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
                f"non-finite value(s) in {str(path)!r}, the first is {w[np.argmax(bad)]!r}; "
                f"expected non-negative finite numbers")
        return w

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None
                ) -> Iterator[Batch]:
        """One pass over the data (one epoch); see the class Notes.

        Each mini-batch owns its arrays (they are not views of the reused
        shuffle buffer), so a consumer may keep them.
        """
        if batch_size is None:
            step = block_rows(self.n_features, self.dtype.itemsize)
            for path, record in self._records(None):
                chunk = self._encode(path, record)
                # Cache-sized row blocks (views), as ArraySource's full-batch pass.
                for start in range(0, chunk.X.shape[0], step):
                    yield _slice(chunk, slice(start, start + step))
            return
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise XentlearnInputError(
                f"batch_size must be a positive integer or None, got {batch_size!r}")
        yield from self._minibatches(int(batch_size), rng)

    def _minibatches(self, batch_size: int, rng) -> Iterator[Batch]:
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
                yield _take((X_buf, t_buf, w_buf), order, start, min(n, start + batch_size))


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
