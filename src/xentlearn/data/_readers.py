"""Reading CSV and Parquet files in bounded memory: listing, schemas, record batches.

Files are read with pyarrow one record batch at a time (Parquet: row group by
row group, ``ParquetFile.iter_batches``; CSV: the streaming reader of
``pyarrow.csv.open_csv``), so no file is ever loaded whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from xentlearn.data._tabular import column_kind
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
                    f"data folder {str(p)!r} holds no CSV or Parquet file (expected names "
                    f"ending in {', '.join(SUPPORTED_SUFFIXES)}; subfolders are not read)")
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


# Separators a CSV header is sniffed for.
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16
_QUOTED = re.compile(r'"[^"]*"')
_DECIMAL_COMMA = re.compile(r"\d,\d")
_DECIMAL_POINT = re.compile(r"\d\.\d")


def _csv_options(path: Path, **convert) -> dict:
    """open_csv's read, parse and convert options for `path`, its dialect sniffed.

    The delimiter is the one of ``_DELIMITERS`` that occurs most often in the
    header line outside quoted names (a tie, or none at all, is ','). A ';'
    file whose first 64 KB show numbers with a decimal comma ("1,5") and none
    with a decimal point is read with ``decimal_point=","``: the spreadsheet
    convention of locales whose decimal mark is the comma (R's read.csv2).
    `convert` goes to ``ConvertOptions``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    lines = head.splitlines()
    header = _QUOTED.sub("", lines[0]) if lines else ""
    counts = [header.count(d) for d in _DELIMITERS]
    delimiter = _DELIMITERS[counts.index(max(counts))] if max(counts) > counts[0] else ","
    if delimiter == ";":
        body = _QUOTED.sub("", "\n".join(lines[1:]))
        if _DECIMAL_COMMA.search(body) and not _DECIMAL_POINT.search(body):
            convert.setdefault("decimal_point", ",")
    return {"read_options": pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            "parse_options": pacsv.ParseOptions(delimiter=delimiter),
            "convert_options": pacsv.ConvertOptions(strings_can_be_null=True, **convert)}


def _file_schema(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if _file_format(path) == "parquet":
            return pq.ParquetFile(path).schema_arrow
        # Opening the streaming reader parses the first block only.
        with pacsv.open_csv(path, **_csv_options(path)) as reader:
            return reader.schema
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
                    f"{str(files[0])!r}; expected the same kind (number, boolean or string) "
                    f"in every file")
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
        options = _csv_options(path, include_columns=columns,
                               column_types=csv_column_types or {})
        with pacsv.open_csv(path, **options) as reader:
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
