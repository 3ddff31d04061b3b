"""TableFiles: what a user passes to ``fit`` / ``predict`` to train on files."""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from xentlearn._checks import python_scalar
from xentlearn.data._readers import (
    _CSV_BLOCK_BYTES, RowSplit, _iter_with_files, _target_values, check_csv_block_bytes,
    distinct_labels, first_row_holding, list_data_files, scan_schema, scan_target)
from xentlearn.data._frames import listed_columns
from xentlearn.data._column_values import ColumnValuesError
from xentlearn.data._tabular import DATE_MODES, ColumnWarning
from xentlearn.exceptions import XentlearnInputError

# A numeric target with more distinct values than this is taken for a
# regression target unless max_classes is given; text targets have max_classes.
NUMERIC_CLASSES_LIMIT = 100
DEFAULT_MAX_CLASSES = 1000
# validation_fraction's hash seed is split_seed mixed with this, so a validation
# split inside a cross-validation fold (same split_seed) is independent of the folds.
_VALIDATION_SALT = 0x5EED_0F_7A1


# Labels that mark a missing one (pyarrow reads "", "NA", "null", ... as missing already).
# ("unknown" and "none" are left out: classes as often, such as damage none/minor/major.)
_MISSING_LABEL_MARKERS = frozenset({"?", "-", "--", ".", "missing"})


@dataclass(frozen=True)
class TableFiles:
    """CSV or Parquet files (or folders of them) to train on, never loaded whole as text.

    Read in record batches; ``fit`` keeps the decoded rows in memory when they
    fit `memory_budget`, and streams them otherwise.

    Pass it as X to an estimator's ``fit`` (with y=None), ``predict``,
    ``predict_proba``, ``decision_function`` or ``score``. The estimator
    learns the preprocessing at fit (numeric columns standardised, string
    columns one-hot encoded, booleans 0/1 and not standardised: a Parquet
    bool column, or a CSV column of true/false; see ``TabularPreprocessor``),
    stores it, and applies it to every later table.

    Parameters
    ----------
    path : str, PathLike, or a sequence of them
        Files or folders (``.csv``, ``.csv.gz``, ``.parquet``, ``.pq``). A CSV
        file's delimiter is read from its header: ',', ';', tab or '|'; a ';'
        file whose numbers are written with decimal commas ("1,5", as
        spreadsheets in such locales write them) is read as such.
    target : str or None
        The label column (any type). Needed by fit and score.
    features : sequence of str or None
        Feature columns; default every column but the target and weights.
    sample_weight : str or None
        A column of non-negative sample weights.
    standardize : bool, default=True
    impute : None or "mean"
        None: a missing value is an error naming the column and count. "mean":
        numeric gaps take the column mean, categorical gaps a "<missing>" category.
    max_categories : int, default=1000
        Refuse string columns with more distinct values (ids, free text).
    batch_rows, shuffle_buffer_rows : int, default=65536
        Rows per record batch read, and rows held in the shuffle buffer.
    csv_block_bytes : int, default=4194304 (4 MiB)
        Bytes of CSV text parsed at a time, from 1024 to 2**31 - 1. Every row
        must fit in one block: a file with longer rows (a long free-text
        field) is refused with an error that names the line and the block
        size it needs. Column types are inferred from the first block.
    drop : sequence of str, default=()
        Columns that are not features (identifiers, leaks, free text); each
        must exist. Ignored where `features` is given.
    na_values : sequence of str, default=()
        Tokens that mean "missing" besides pyarrow's ("", "NA", "N/A", "NaN",
        "null", ...), such as "?" or "-". In a CSV file they are read as
        missing before the column types are inferred, so a numeric column with
        a few "?" stays numeric; with them declared, a Parquet column of type
        string whose other values all read as numbers is numeric too, as the
        same CSV column would be (and a model trained on one predicts on the
        other); without, it keeps its text type (codes stay categories). So
        with them, a Parquet folder where the column is string in one file
        (it held "?") and double in another trains as numbers; without, it
        is refused. The model keeps them and applies them to every later
        table. Undeclared, such tokens make the column text: an
        error if they are at most 5% of its distinct values, else, where they
        are at most 5 values in fewer than half of its rows, a
        ``ColumnWarning`` naming them and their rows, and the column is one-hot
        encoded (CSV and Parquet alike; see ``xentlearn.data._tabular``).
    dates : {"refuse", "expand"}, default="refuse"
        Date and timestamp columns (typed, or text in a common date format):
        refused with an error naming them, or expanded into four numeric
        features: year, month, day of week (Monday = 0), day of year.
    max_classes : int or None, default=None
        The most distinct target values accepted. None: a numeric target
        with more than 100 distinct values is refused as a regression target,
        and any target with more than 1000. Give it explicitly for integer
        class codes with more than 100 classes.
    validation_fraction : float or None, default=None
        Hold out this fraction of the rows (0 < f < 1) as validation data,
        chosen by a hash of (split_seed, file, row): the same rows on every
        epoch, pass and run, in no memory per row. ``fit`` then scores them
        after every epoch (history, early stopping) and trains on the rest;
        ``split_validation()`` gives the two tables.
    split_seed : int, default=0
        Seed of the validation split's hash.
    row_filters : sequence of RowSplit, default=()
        Read only the rows that every ``RowSplit`` selects (set by
        ``split_validation`` and by cross-validation; rarely by hand).
    memory_budget : int or None, default=None
        Bytes that ``fit`` may use to keep the decoded training rows in
        memory. If the rows' decoded size (rows x output features x the
        training dtype's itemsize, plus 8 bytes a row for the target and the
        itemsize again for a sample-weight column) fits, the files are read
        once: the record batches of the first pass (the one that learns the
        preprocessing and counts the rows) are kept, as far as they fit the
        budget too, and decoded into contiguous arrays, and every later pass
        (each L-BFGS evaluation, each epoch) reads those instead of
        re-reading and re-decoding the files; otherwise ``fit`` streams, in
        bounded memory. None: a quarter of the machine's physical memory
        (``memory_budget_bytes``). 0: always stream. The training and
        validation rows share the budget (training rows first). Keeping the
        rows does not change what is computed: the same blocks and the same
        shuffled mini-batches, bit for bit, as streaming (so a checkpoint
        resumes whatever the budget). ``predict`` and ``score`` always stream
        (one pass; with a Dask client current, on the workers, a task per file).
        The CLI's ``--memory-budget``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from xentlearn import LogisticRegression
    >>> from xentlearn.data import TableFiles
    >>> path = os.path.join(tempfile.mkdtemp(), "train.parquet")
    >>> pq.write_table(pa.table({"size": [1.0, 2.0, 8.0, 9.0], "colour": ["red", "red", "blue", "red"],
    ...                          "label": ["small", "small", "big", "big"]}), path)
    >>> clf = LogisticRegression(alpha=0.1).fit(TableFiles(path, target="label"))
    >>> clf.classes_.tolist(), clf.feature_columns_
    (['big', 'small'], ['size', 'colour'])
    >>> clf.predict(TableFiles(path)).tolist()
    ['small', 'small', 'big', 'big']
    """

    path: object
    target: str | None = None
    features: Sequence[str] | None = None
    sample_weight: str | None = None
    standardize: bool = True
    impute: str | None = None
    max_categories: int = 1000
    batch_rows: int = 65536
    shuffle_buffer_rows: int = 65536
    csv_block_bytes: int = _CSV_BLOCK_BYTES
    drop: Sequence[str] = ()
    na_values: Sequence[str] = ()
    dates: str = "refuse"
    max_classes: int | None = None
    validation_fraction: float | None = None
    split_seed: int = 0
    row_filters: Sequence[RowSplit] = ()
    memory_budget: int | None = None

    def __post_init__(self) -> None:
        check_csv_block_bytes(self.csv_block_bytes)
        # Stored as tuples: the dataclass is frozen, and hashable fields compare by value.
        for name in ("drop", "na_values"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise XentlearnInputError(
                    f"TableFiles {name} must be a sequence of strings, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.dates not in DATE_MODES:
            raise XentlearnInputError(
                f"TableFiles dates must be one of {', '.join(map(repr, DATE_MODES))}, "
                f"got {self.dates!r}")
        if self.max_classes is not None and (
                isinstance(self.max_classes, bool) or not isinstance(self.max_classes, int)
                or self.max_classes < 2):
            raise XentlearnInputError(
                f"TableFiles max_classes must be an integer >= 2, got {self.max_classes!r}")
        f = self.validation_fraction
        if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float))
                              or not 0.0 < f < 1.0 or not math.isfinite(f)):
            raise XentlearnInputError(
                f"TableFiles validation_fraction must be a number between 0 and 1 "
                f"(exclusive), got {f!r}")
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int):
            raise XentlearnInputError(
                f"TableFiles split_seed must be an integer, got {self.split_seed!r}")
        filters = tuple(self.row_filters)
        if not all(isinstance(r, RowSplit) for r in filters):
            raise XentlearnInputError("TableFiles row_filters must be RowSplit objects")
        object.__setattr__(self, "row_filters", filters)
        budget = self.memory_budget
        if budget is not None:
            if (isinstance(budget, bool) or not isinstance(budget, numbers.Integral)
                    or budget < 0):
                raise XentlearnInputError(
                    f"TableFiles memory_budget must be a non-negative integer number of bytes "
                    f"(0: always stream; None: a quarter of the physical memory), got "
                    f"{budget!r}")
            object.__setattr__(self, "memory_budget", int(budget))

    @property
    def memory_budget_bytes(self) -> int:
        """`memory_budget` in bytes, with None resolved to a quarter of physical memory."""
        return default_memory_budget() if self.memory_budget is None else self.memory_budget

    def files(self) -> list[Path]:
        """The data files, in order (errors name a missing path or a bad extension)."""
        return list_data_files(self.path)

    def split_validation(self) -> tuple["TableFiles", "TableFiles"]:
        """(training rows, validation rows) of a table with ``validation_fraction``.

        Both read the same files; a hash of (split_seed, file, row) sends
        each row to one side, the same one on every pass. The two tables
        have no ``validation_fraction`` of their own.

        Examples
        --------
        >>> train, valid = TableFiles("data.csv", target="y", validation_fraction=0.2).split_validation()
        >>> train.row_filters[0].inside, valid.row_filters[0].inside, valid.row_filters[0].high
        (False, True, 0.2)
        """
        if self.validation_fraction is None:
            raise XentlearnInputError("split_validation needs TableFiles(..., validation_fraction=f)")
        held_out = RowSplit(self.split_seed ^ _VALIDATION_SALT, 0.0,
                            float(self.validation_fraction))
        train = replace(self, validation_fraction=None,
                        row_filters=self.row_filters + (held_out._replace(inside=False),))
        valid = replace(self, validation_fraction=None,
                        row_filters=self.row_filters + (held_out,))
        return train, valid

    def schema(self):
        """The common pyarrow schema of the files (see ``scan_schema``; the columns
        dropped, or not among `features`, may differ between files)."""
        read = None if self.features is None else {*self.features, self.target,
                                                   self.sample_weight}
        return scan_schema(self.files(), csv_block_bytes=self.csv_block_bytes,
                           na_values=self.na_values, target=self.target, read=read,
                           ignore=self.drop)

    def scan_classes(self, records=None, *, whole_files: bool = False) -> np.ndarray:
        """Sorted distinct values of the target column, refusing what is not a class label.

        A float target with a value that is not a whole number (0.5, or inf)
        is refused as a regression target (1.0 and 2.0 are class codes), a
        numeric target with more than 100 distinct values is a regression
        target (unless `max_classes` is set), and any target with more than
        `max_classes` (default 1000) distinct values is refused: the error
        names the column and what to pass. Reading stops as soon as the
        limit is passed.

        Parameters
        ----------
        records : iterable of (path, pyarrow.RecordBatch), optional
            This table's rows, already read (``FileSource.kept_records()``):
            scanned instead of reading the target column from the files.
        whole_files : bool, default=False
            `records` are every row of each file, in file order: a missing
            label is then named by its row (reading the files, it always is).
        """
        if self.target is None:
            raise XentlearnInputError("TableFiles needs target=<column> here")
        limit = DEFAULT_MAX_CLASSES if self.max_classes is None else self.max_classes
        stop = max(limit, NUMERIC_CLASSES_LIMIT)
        if records is None:
            classes = scan_target(self.files(), self.target, batch_rows=self.batch_rows,
                                  csv_block_bytes=self.csv_block_bytes,
                                  na_values=self.na_values, stop_after=stop)
        else:
            classes = distinct_labels(records, self.target, stop_after=stop,
                                      whole_files=whole_files)
            if classes is None:
                raise XentlearnInputError("no rows to read the classes from")
        count = f"more than {stop}" if len(classes) > stop else str(len(classes))
        shown = ", ".join(repr(python_scalar(c)) for c in classes[:3])
        if classes.dtype.kind == "f":
            # scikit-learn's "continuous" targets: 0.5 is no class code, whatever
            # max_classes says (1.0 and 2.0 are, as for scikit-learn).
            fractional = classes[~(np.isfinite(classes) & (classes == np.floor(classes)))]
            if fractional.size:
                raise XentlearnInputError(
                    f"target column {self.target!r} holds non-integer numbers (such as "
                    f"{python_scalar(fractional[0])!r}; {count} distinct values): a "
                    f"classifier needs class labels, text or whole-number class codes; is it "
                    f"a regression target? xentlearn trains classifiers")
        if (classes.dtype.kind in "iuf" and self.max_classes is None
                and len(classes) > NUMERIC_CLASSES_LIMIT):
            raise XentlearnInputError(
                f"target column {self.target!r} holds {count} distinct numbers ({shown}, ...): "
                f"it looks like a regression target, and xentlearn trains classifiers; if "
                f"they are integer class codes, pass max_classes=N with N at least the "
                f"number of classes")
        if len(classes) > limit:
            raise XentlearnInputError(
                f"target column {self.target!r} has {count} distinct values ({shown}, ...), "
                f"more than max_classes={limit}; expected class labels: check the column, "
                f"or raise max_classes")
        markers = [c for c in classes.tolist()
                   if isinstance(c, str) and c.strip().lower() in _MISSING_LABEL_MARKERS]
        if markers:
            warnings.warn(ColumnWarning(
                f"target column {self.target!r} has the class(es) "
                f"{', '.join(map(repr, markers))}, which usually mark a missing label: the "
                "model learns to predict them as a class; if they mean unknown, remove those "
                "rows", "missing_label_marker", [self.target]), stacklevel=2)
        return classes

    def iter_batches(self, features: Sequence[str], *, with_target: bool,
                     file_index: int | None = None
                     ) -> Iterator[tuple[object, np.ndarray | None]]:
        """(record batch of `features`, raw target values or None), in file order.

        `file_index` reads only that file of ``files()`` (a Dask worker's share
        of a prediction): its rows keep their numbers in the whole table, so the
        row filters keep the same rows, and only its own columns are checked.
        """
        files = self.files()
        row_filters = self.row_filters
        if file_index is not None:
            files = [files[file_index]]
            row_filters = [FileRowSplit(split, file_index) for split in row_filters]
        schema = scan_schema(files, csv_block_bytes=self.csv_block_bytes,
                             na_values=self.na_values, target=self.target,
                             read={*features, *([self.target] if with_target else [])})
        present = set(schema.names)
        missing = [c for c in features if c not in present]
        if missing:
            raise XentlearnInputError(
                f"{str(files[0])!r} lacks the feature column(s) {missing} the model was "
                f"trained on; it has {listed_columns(schema.names)}")
        columns = list(features)
        if with_target and self.target not in columns:
            if self.target is None:
                raise XentlearnInputError("TableFiles needs target=<column> here")
            if self.target not in schema.names:
                raise XentlearnInputError(
                    f"target column {self.target!r} is not in {str(files[0])!r}; it has "
                    f"{listed_columns(schema.names)}")
            columns.append(self.target)
        for path, batch in _iter_with_files(files, columns, batch_rows=self.batch_rows,
                                            csv_block_bytes=self.csv_block_bytes,
                                            na_values=self.na_values,
                                            row_filters=row_filters):
            try:
                y = _target_values(batch, self.target) if with_target else None
            except ColumnValuesError as exc:
                raise self.located(exc, file_index) from None
            yield batch, y

    def located(self, error: ColumnValuesError, file_index: int | None = None,
                name: str | None = None) -> XentlearnInputError:
        """`error`, raised for the rows of ``iter_batches`` (such as a missing feature
        value), naming the row of the first such value in its file, or the files
        where it cannot be found. On this error only: the column is read again
        (``first_row_holding``), the same rows as ``iter_batches(file_index=...)``;
        `name` is that one file as the message names it (default: its path)."""
        files = self.files()
        row_filters = self.row_filters
        if file_index is not None:
            files = [files[file_index]]
            row_filters = [FileRowSplit(split, file_index) for split in row_filters]
        names = [str(f) for f in files] if name is None else [name]
        first = first_row_holding(error, files, row_filters=row_filters,
                                  batch_rows=self.batch_rows,
                                  csv_block_bytes=self.csv_block_bytes,
                                  na_values=self.na_values, tokens=self.na_values, names=names)
        if first:
            return error.located(first)
        return XentlearnInputError(f"{error} (in {', '.join(map(repr, names))})")

    def iter_column(self, name: str, *, as_written: bool = False) -> Iterator:
        """The values of column `name` (a pyarrow array per record batch), in file order.

        The same rows as ``iter_batches`` (row filters and missing-value tokens
        apply), so a column that is not a feature, such as an identifier, can be
        put next to predictions row for row. With `as_written`, a CSV file's
        values are the text written (an identifier 007 stays "007", not the
        number 7; Parquet columns keep their type).
        """
        import pyarrow as pa

        files = self.files()
        schema = scan_schema(files, csv_block_bytes=self.csv_block_bytes,
                             na_values=self.na_values, read={name})
        if name not in schema.names:
            raise XentlearnInputError(
                f"column {name!r} is not in {str(files[0])!r}; it has "
                f"{listed_columns(schema.names)}")
        for _, batch in _iter_with_files(files, [name], batch_rows=self.batch_rows,
                                         csv_column_types={name: pa.string()} if as_written
                                         else None,
                                         csv_block_bytes=self.csv_block_bytes,
                                         na_values=self.na_values,
                                         row_filters=self.row_filters):
            yield batch.column(0)


class FileRowSplit:
    """A ``RowSplit`` of a whole table, seen by a reader of one of its files alone: the
    file keeps its number in the table (readers number their own files from 0), so
    the split keeps the same rows."""

    def __init__(self, split: RowSplit, file_index: int):
        self.split, self.file_index = split, file_index

    def mask(self, file_index: int, first_row: int, n_rows: int) -> np.ndarray:
        return self.split.mask(self.file_index + file_index, first_row, n_rows)


def default_memory_budget() -> int:
    """A quarter of the machine's physical memory, in bytes (``TableFiles.memory_budget``).

    From ``os.sysconf`` (page size x physical pages); 0 (always stream) where
    the platform does not tell.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0
    return max(0, int(total)) // 4
