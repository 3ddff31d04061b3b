"""TableFiles: what a user passes to ``fit`` / ``predict`` to train on files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xentlearn.data._readers import (
    _CSV_BLOCK_BYTES, _iter_with_files, _target_values, check_csv_block_bytes, list_data_files,
    scan_schema)
from xentlearn.exceptions import XentlearnInputError


@dataclass(frozen=True)
class TableFiles:
    """CSV or Parquet files (or folders of them) to stream, never loaded whole.

    Pass it as X to an estimator's ``fit`` (with y=None), ``predict``,
    ``predict_proba``, ``decision_function`` or ``score``. The estimator
    learns the preprocessing at fit (numeric columns standardised, string
    columns one-hot encoded, booleans 0/1; see ``TabularPreprocessor``),
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

    def __post_init__(self) -> None:
        check_csv_block_bytes(self.csv_block_bytes)

    def files(self) -> list[Path]:
        """The data files, in order (errors name a missing path or a bad extension)."""
        return list_data_files(self.path)

    def iter_batches(self, features: Sequence[str], *, with_target: bool
                     ) -> Iterator[tuple[object, np.ndarray | None]]:
        """(record batch of `features`, raw target values or None), in file order."""
        files = self.files()
        schema = scan_schema(files, csv_block_bytes=self.csv_block_bytes)
        missing = [c for c in features if c not in schema.names]
        if missing:
            raise XentlearnInputError(
                f"{str(files[0])!r} lacks the feature column(s) {missing} the model was "
                f"trained on; it has {', '.join(schema.names)}")
        columns = list(features)
        if with_target and self.target not in columns:
            if self.target is None:
                raise XentlearnInputError("TableFiles needs target=<column> here")
            if self.target not in schema.names:
                raise XentlearnInputError(
                    f"target column {self.target!r} is not in {str(files[0])!r}; it has "
                    f"{', '.join(schema.names)}")
            columns.append(self.target)
        for path, batch in _iter_with_files(files, columns, batch_rows=self.batch_rows,
                                            csv_block_bytes=self.csv_block_bytes):
            y = _target_values(path, batch, self.target) if with_target else None
            yield batch, y
