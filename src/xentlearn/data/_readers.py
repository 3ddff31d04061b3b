"""Reading CSV and Parquet files in bounded memory: listing, schemas, record batches.

Files are read with pyarrow one record batch at a time (Parquet: row group by
row group, ``ParquetFile.iter_batches``; CSV: the streaming reader of
``pyarrow.csv.open_csv``), so no file is ever loaded whole.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
from collections.abc import Collection, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np

from xentlearn.data._column_values import ColumnValuesError, MissingValuesError
from xentlearn.data._frames import listed_columns
from xentlearn.data._tabular import column_kind
from xentlearn.exceptions import XentlearnInputError

_PARQUET_SUFFIXES = (".parquet", ".pq")
# pyarrow decompresses CSV by extension (pyarrow.input_stream(compression="detect")).
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
SUPPORTED_SUFFIXES = _CSV_SUFFIXES + _PARQUET_SUFFIXES
# The CSV reader infers column types from its first block, so a bigger block
# guesses better (a column of ints that turns to floats later); 4 MB of text
# is still small next to the shuffle buffer. Every row must fit in one block:
# TableFiles(csv_block_bytes=...) raises it for files with longer rows.
_CSV_BLOCK_BYTES = 4 << 20
# pyarrow keeps the block size in an int32; below 1 KiB a header rarely fits.
_CSV_BLOCK_LIMITS = (1 << 10, (1 << 31) - 1)
# Chunk size of the scans that locate a bad byte or a long row, on error only.
_SCAN_BYTES = 1 << 20
# Parquet is read through a 1 MB buffered stream rather than pre-buffering
# whole column chunks: a file written with one huge row group then still
# streams in bounded memory.
_PARQUET_STREAM_BYTES = 1 << 20
# A row group read whole is cut into record batches that share its buffers, so
# its memory is freed only once all of them are: this bounds what a reader that
# hands batches back one by one (FileSource's decode) holds on top of them.
_WHOLE_ROW_GROUP_BYTES = 64 << 20

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


def check_csv_block_bytes(value) -> int:
    """`value` as a CSV block size in bytes, or an error naming the accepted range."""
    low, high = _CSV_BLOCK_LIMITS
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            low <= value <= high):
        raise XentlearnInputError(
            f"csv_block_bytes must be an integer from {low} to {high} (bytes), got {value!r}")
    return int(value)


def _first_non_utf8(path: Path) -> tuple[int, int, int] | None:
    """(offset, byte, line) of the first byte of `path` that is not UTF-8 text, or None.

    Reads the (decompressed) file front to back in 1 MB chunks; only called
    once pyarrow has refused the file, so the cost is paid on error only.
    """
    import pyarrow as pa

    offset, line, carry = 0, 1, b""
    with pa.input_stream(str(path), compression="detect") as stream:
        while True:
            chunk = stream.read(_SCAN_BYTES)
            data = carry + chunk
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as error:
                # A character cut by the chunk boundary is completed by the next chunk.
                if chunk and error.end == len(data) and error.reason == "unexpected end of data":
                    good = error.start
                else:
                    return (offset + error.start, data[error.start],
                            line + data.count(b"\n", 0, error.start))
            if not chunk:
                return None
            line += data.count(b"\n", 0, good)
            offset += good
            carry = data[good:]


def _encoding_error(path: Path, column: str | None = None) -> XentlearnInputError | None:
    """The error for a CSV file that is not UTF-8, or None if every byte is UTF-8."""
    found = _first_non_utf8(path)
    if found is None:
        return None
    offset, byte, line = found
    where = f"byte 0x{byte:02x} at offset {offset}"
    if _file_format(path) == "csv" and not path.name.lower().endswith(".csv"):
        where += " of the decompressed text"
    where += f", line {line}" + ("" if column is None else f", column {column!r}")
    return XentlearnInputError(
        f"{str(path)!r} is not UTF-8 text ({where}); re-save it as UTF-8 "
        "(spreadsheets often save CSV as Latin-1 or Windows-1252)")


def _check_not_utf16(path: Path, head: bytes) -> None:
    """Refuse UTF-16 (or UTF-32) text, as Excel's "Unicode Text" and PowerShell write
    it: read as UTF-8 its NUL bytes split the header into nonsense fields."""
    # UTF-16 text of ASCII characters is every other byte NUL; a stray NUL in UTF-8 is not.
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or 4 * head.count(0) >= len(head) > 0:
        raise XentlearnInputError(
            f"{str(path)!r} is not UTF-8 text: it holds NUL bytes"
            + (" after a UTF-16 byte order mark" if head[:2] in (b"\xff\xfe", b"\xfe\xff")
               else "") + " (UTF-16 text, as Excel's \"Unicode Text\" and PowerShell save "
            "it?); re-save it as UTF-8")


def _first_long_row(path: Path, limit: int) -> tuple[int, int] | None:
    """(line number, length in bytes with its newline) of the first line longer than `limit`."""
    import pyarrow as pa

    line, length = 1, 0           # length: bytes of the current line read so far
    with pa.input_stream(str(path), compression="detect") as stream:
        while chunk := stream.read(_SCAN_BYTES):
            newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n"))
            if not newlines.size:
                length += len(chunk)
                continue
            lengths = np.diff(newlines, prepend=-1)
            lengths[0] += length
            long = np.flatnonzero(lengths > limit)
            if long.size:
                return line + int(long[0]), int(lengths[long[0]])
            line += newlines.size
            length = len(chunk) - int(newlines[-1]) - 1
    return (line, length) if length > limit else None


def _csv_error(path: Path, exc: Exception, block_bytes: int) -> XentlearnInputError:
    """pyarrow's CSV error in words that say what to do.

    pyarrow's own messages blame what it was doing when it failed: a row longer
    than a block says "straddling object straddles two block boundaries" (a
    header longer than the first block, "Empty CSV file or block"), bytes
    that are not UTF-8 fail the conversion of a string column. Both are found
    in the file (one scan, on error only) to name the line and the fix.
    """
    import pyarrow as pa

    message = str(exc)
    straddles = "straddl" in message
    # A header longer than the first block reads as an empty block.
    if straddles or "Empty CSV file or block" in message:
        found = _first_long_row(path, block_bytes)
        high = _CSV_BLOCK_LIMITS[1]
        if found is None and not straddles:
            return XentlearnInputError(f"cannot read {str(path)!r}: {exc}")
        if found is None:
            return XentlearnInputError(
                f"cannot read {str(path)!r}: a row is longer than the CSV block size of "
                f"{block_bytes} bytes that rows are parsed in; read it with a larger block: "
                f"TableFiles(..., csv_block_bytes={min(2 * block_bytes, high)}) or more")
        line, length = found
        if length >= high:
            return XentlearnInputError(
                f"cannot read {str(path)!r}: line {line} is {length} bytes long; pyarrow "
                f"parses CSV rows of at most {high} bytes: split that row or convert the "
                "file to Parquet")
        return XentlearnInputError(
            f"cannot read {str(path)!r}: line {line} is {length} bytes long, more than the "
            f"CSV block size of {block_bytes} bytes (every row must fit in one block); read "
            f"it with a larger block: TableFiles(..., csv_block_bytes="
            f"{min(1 << length.bit_length(), high)}) or more")
    if "invalid UTF8" in message:
        error = _encoding_error(path)
        if error is not None:
            return error
    ragged = _RAGGED.search(message)
    if ragged:
        found = _first_ragged_line(path, int(ragged.group(1)))
        if found is not None:
            line, fields = found
            return XentlearnInputError(
                f"cannot read {str(path)!r}: line {line} has {fields} fields where the header "
                f"has {ragged.group(1)}; a value holding the delimiter needs quotes, or that "
                f"line has a missing or an extra field")
    hint = ""
    if isinstance(exc, pa.ArrowInvalid) and "conversion error" in message:
        hint = (f" (CSV column types are inferred from the first {block_bytes} bytes of the "
                "file; a column whose later values do not fit that type needs fixing in "
                "the file)")
    return XentlearnInputError(f"cannot read {str(path)!r}: {exc}{hint}")


# pyarrow's message for a row with another number of fields than the header.
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


def _first_ragged_line(path: Path, expected: int) -> tuple[int, int] | None:
    """(line number, fields) of the first row that does not have `expected` fields, read
    by Python's csv module with the file's delimiter (quotes respected; blank lines
    skipped, as pyarrow does); None if none is found. On error only."""
    import csv
    import io

    import pyarrow as pa

    delimiter = _csv_options(path)["parse_options"].delimiter
    try:
        with pa.input_stream(str(path), compression="detect") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            reader = csv.reader(text, delimiter=delimiter)
            for row in reader:
                if row and len(row) != expected:
                    return reader.line_num, len(row)
    except (csv.Error, OSError, pa.ArrowException):
        return None
    return None


def _check_names(path: Path, schema) -> None:
    """Refuse duplicated column names: every later step selects columns by name."""
    names = schema.names
    counts = collections.Counter(names)
    for name in (n for n in dict.fromkeys(names) if counts[n] > 1):
        positions = [i + 1 for i, n in enumerate(names) if n == name]
        if len(positions) > 1:
            columns = ", ".join(map(str, positions[:-1])) + f" and {positions[-1]}"
            what = ("columns without a name (an empty header cell)" if name == ""
                    else f"columns named {name!r}")
            raise XentlearnInputError(
                f"{str(path)!r} has {len(positions)} {what}: columns {columns}; column names "
                "must be unique: rename or remove the duplicates")


# Separators a CSV header is sniffed for.
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16
_QUOTED = re.compile(r'"[^"]*"')
# Whole fields of a ';' file: a number with a decimal comma (and dots grouping its
# thousands), and a number with a dot (a decimal point, "2.5", or dots grouping
# thousands, "1.500"), which read with a decimal comma is text. Text with several dots
# that group no thousands (10.0.2.2, 1.3.0, 31.01.2024) is no such number.
_DECIMAL_COMMA_NUMBER = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})*,\d+|[+-]?\d+,\d+")
_DOT_NUMBER = re.compile(r"[+-]?\d+\.\d+|[+-]?\d{1,3}(?:\.\d{3})+")


def _csv_options(path: Path, *, block_bytes: int | None = None, na_values: Sequence[str] = (),
                 **convert) -> dict:
    """open_csv's read, parse and convert options for `path`, its dialect sniffed.

    The delimiter is the one of ``_DELIMITERS`` that occurs most often in the
    header line outside quoted names (a tie, or none at all, is ','). A ';'
    file whose first 64 KB show numbers with a decimal comma ("1,5") is read
    with ``decimal_point=","``: the spreadsheet convention of locales whose
    decimal mark is the comma (R's read.csv2); if they also show numbers with a
    dot ("2.5", or "1.500" grouping thousands), which no reading takes for sure,
    the file is refused, naming both (dotted text such as 10.0.2.2 is no number).
    `block_bytes` is the parse block size (default ``_CSV_BLOCK_BYTES``),
    `na_values` are read as missing on top of pyarrow's defaults ("", "NA",
    "N/A", "NaN", "null", ...), and `convert` goes to ``ConvertOptions``.
    Declaring a token such as "?" here, before types are inferred, is what
    keeps a numeric column with a few "?" numeric.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with pa.input_stream(str(path), compression="detect") as stream:
        raw = stream.read(_SNIFF_BYTES)
    _check_not_utf16(path, raw)
    head = raw.decode("utf-8", errors="replace")
    # Lines end at \n or \r as a CSV reader ends them (not at str.splitlines's \u2028).
    header, _, body = head.replace("\r\n", "\n").replace("\r", "\n").partition("\n")
    header = _QUOTED.sub("", header)
    counts = [header.count(d) for d in _DELIMITERS]
    delimiter = _DELIMITERS[counts.index(max(counts))] if max(counts) > counts[0] else ","
    if len(raw) == _SNIFF_BYTES:
        # The last line of a full head may be cut inside a field ("10.0" of 10.0.2.2).
        body = body[:body.rfind("\n") + 1]
    if delimiter == ";" and _sniff_decimal_comma(path, body):
        convert.setdefault("decimal_point", ",")
    block_bytes = _CSV_BLOCK_BYTES if block_bytes is None else block_bytes
    if na_values:
        defaults = pacsv.ConvertOptions().null_values
        convert["null_values"] = defaults + [v for v in na_values if v not in defaults]
    return {"read_options": pacsv.ReadOptions(block_size=block_bytes),
            "parse_options": pacsv.ParseOptions(delimiter=delimiter),
            "convert_options": pacsv.ConvertOptions(strings_can_be_null=True, **convert)}


def _sniff_decimal_comma(path: Path, body: str) -> bool:
    """Whether the ';' file's `body` (its lines after the header; fields quoted or not) write
    numbers with a decimal comma. Refuses a file that also writes numbers with a dot
    ("2.5", or "1.500" grouping thousands): read with decimal commas they would be text
    (one category each, or 1.500 read as 1.5)."""
    import csv

    comma = dot = None
    rows = csv.reader(io.StringIO(body, newline=""), delimiter=";")
    while True:
        number = rows.line_num + 2          # the record's first line (the header is line 1)
        try:
            fields = next(rows)
        except (StopIteration, csv.Error):   # csv.Error: quoting pyarrow reports itself
            break
        for field in map(str.strip, fields):
            if comma is None and _DECIMAL_COMMA_NUMBER.fullmatch(field):
                comma = (field, number)
            elif dot is None and _DOT_NUMBER.fullmatch(field):
                dot = (field, number)
        if comma is not None and dot is not None:
            raise XentlearnInputError(
                f"{str(path)!r} writes numbers with a decimal comma ({comma[0]!r}, line "
                f"{comma[1]}) and numbers with a dot ({dot[0]!r}, line {dot[1]}), which are "
                "not read as numbers with either mark; re-save it with one decimal mark and "
                "no thousands separators (or as Parquet)")
    return comma is not None


def _file_schema(path: Path, *, csv_block_bytes: int | None = None,
                 na_values: Sequence[str] = ()):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    block_bytes = _CSV_BLOCK_BYTES if csv_block_bytes is None else csv_block_bytes
    try:
        if _file_format(path) == "parquet":
            schema = pq.ParquetFile(path).schema_arrow
        else:
            # Opening the streaming reader parses the first block only.
            with pacsv.open_csv(path, **_csv_options(path, block_bytes=block_bytes,
                                                     na_values=na_values)) as reader:
                schema = reader.schema
    except (pa.ArrowException, OSError) as exc:
        if _file_format(path) == "csv":
            raise _csv_error(path, exc, block_bytes) from None
        raise _read_error(path, exc) from None
    if _file_format(path) == "csv":
        # pyarrow keeps a header that is not UTF-8 as raw bytes (reading a name
        # then fails to decode), and reads a column that is not UTF-8 in the
        # first block as binary.
        try:
            names = schema.names
        except UnicodeDecodeError:
            names = None
        binary = [i for i, field in enumerate(schema) if pa.types.is_binary(field.type)]
        if binary or names is None:
            # With one binary column and a clean header, the first bad byte is in it.
            column = names[binary[0]] if len(binary) == 1 and names is not None else None
            error = _encoding_error(path, column)
            if error is not None:
                raise error
    _check_names(path, schema)
    return schema


# The types csv_head_schema vouches for. Given explicitly, each is converted by
# the converter pyarrow's inference tries for it; the others (dates, times and
# timestamps with their units and time zones, binary, null) are left to the scan.
_HEAD_TYPES = ("int64", "double", "bool", "string")


class _Unverified(Exception):
    """A CSV file refused the types of its first rows (``csv_head_schema``): its first
    block decides them, scanned by ``scan_schema``."""


def csv_head_schema(path: Path, *, csv_block_bytes: int | None = None,
                    na_values: Sequence[str] = ()):
    """The columns of a CSV file and the types of its first rows, or None.

    The first rows are the complete lines of the first min(64 KiB, block) bytes,
    parsed with the file's options: some of the first block's rows. pyarrow
    infers a column's type as the first, in the order null, int64, bool, date,
    time, timestamp, double, string, binary, that converts every value, so
    each type here comes no later than the first block's. A file that then
    converts whole with these types has exactly them as its first block's
    types, for none of its values needs a later one. A column whose first
    rows are int64 may be read as double (``FileSource`` reads numeric features
    so): if the whole file converts, its first block's type is int64 or
    double, since a text that converts to a double and to a bool, date, time
    or timestamp converts to an integer too. So the file read whole once with
    these types (``_file_batches(first_types=...)``) gives the batches it gives
    after ``scan_schema`` parsed its first block, and a file that refuses them
    raises ``_Unverified`` (then it is scanned and read again).

    None where that cannot be told from the first rows: no complete data row,
    names that are not unique or not UTF-8, a type other than int64, double,
    bool or string (a column empty in the first rows, dates, non-UTF-8 text).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    block_bytes = _CSV_BLOCK_BYTES if csv_block_bytes is None else csv_block_bytes
    limit = min(_SNIFF_BYTES, block_bytes)
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(limit + 1)
        if len(head) > limit:
            # Complete lines only, as pyarrow's chunker cuts a block.
            head = head[:max(head.rfind(b"\n", 0, limit), head.rfind(b"\r", 0, limit)) + 1]
        options = _csv_options(path, block_bytes=block_bytes, na_values=na_values)
        rows = pacsv.read_csv(pa.BufferReader(head), **options)
        names = rows.schema.names
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        return None
    if (not rows.num_rows or len(set(names)) != len(names)
            or any(str(t) not in _HEAD_TYPES for t in rows.schema.types)):
        return None
    return rows.schema


def _kind_or_type(arrow_type) -> str | None:
    try:
        return column_kind(arrow_type)
    except XentlearnInputError:
        return str(arrow_type)      # not a feature type: must then match exactly


def scan_schema(files, *, csv_block_bytes: int | None = None, na_values: Sequence[str] = (),
                target: str | None = None, read: Collection[str] | None = None,
                ignore: Collection[str] = ()
                ) -> "pyarrow.Schema":  # noqa: F821 (pyarrow is imported lazily)
    """The common schema of `files`, checked to be consistent.

    Every file must hold the same column names, and each column the same kind
    (numeric, boolean or string: an int32 column in one file and a float64 one
    in another are both numeric). A column that is empty in the first block of
    a CSV file (pyarrow's null type) takes its type from another file. With
    `na_values`, a column of text in some files and numbers in others (pandas
    writes a column holding "?" as string) is taken as float64: the
    preprocessor reads its text as numbers or refuses it; without, it is
    refused with the advice to declare them. The `target` column (class
    labels) is of one kind in every file, or refused as such.

    Parameters
    ----------
    files : list of Path, or a path accepted by ``list_data_files``
    csv_block_bytes : int, optional
        Bytes per CSV parse block; types are inferred from the first block.
    na_values : sequence of str, optional
        Extra CSV tokens read as missing (they then do not make a column text).
    target : str, optional
        The label column, if known: named as such when its kind changes.
    read, ignore : collections of str, optional
        Only the columns in `read` (default: all) and not in `ignore` (the
        columns dropped) are compared between files: a file may hold a column
        that is never read (a note, an export's extra field) that others lack.

    Returns
    -------
    pyarrow.Schema
        Column names in the first file's order (then those not read that only
        later files hold); types from the first file where the column is not
        null-typed.
    """
    return _scan_schemas(files, csv_block_bytes=csv_block_bytes, na_values=na_values,
                         target=target, read=read, ignore=ignore)[0]


def _scan_schemas(files, *, csv_block_bytes: int | None = None, na_values: Sequence[str] = (),
                  target: str | None = None, read: Collection[str] | None = None,
                  ignore: Collection[str] = ()) -> tuple:
    """(``scan_schema``'s common schema, the schema of each file): a CSV file's own is
    the types its streaming reader infers from its first block."""
    import pyarrow as pa

    def compared(names) -> list[str]:
        return [n for n in names if n not in ignore and (read is None or n in read)]

    files = _as_files(files)
    first = _file_schema(files[0], csv_block_bytes=csv_block_bytes, na_values=na_values)
    names, types = list(first.names), {f.name: f.type for f in first}
    # The file each column's type in `types` was first met in (for messages).
    seen_in = dict.fromkeys(names, files[0])
    schemas = [first]
    for path in files[1:]:
        schema = _file_schema(path, csv_block_bytes=csv_block_bytes, na_values=na_values)
        schemas.append(schema)
        ours, theirs = compared(names), compared(schema.names)
        if set(theirs) != set(ours) or len(theirs) != len(ours):
            missing = [n for n in ours if n not in theirs]
            extra = [n for n in theirs if n not in ours]
            raise XentlearnInputError(
                f"{str(path)!r} has different columns from {str(files[0])!r}: "
                f"missing {missing}, extra {extra}; every data file must hold the same columns "
                "(but for those dropped)")
        for field in schema:
            if field.name not in types:         # a column not read, in later files only
                names.append(field.name)
                types[field.name], seen_in[field.name] = field.type, path
                continue
            if not compared([field.name]):
                continue
            known = types[field.name]
            kind, known_kind = _kind_or_type(field.type), _kind_or_type(known)
            if known_kind is None:
                types[field.name], seen_in[field.name] = field.type, path
            elif kind is not None and kind != known_kind:
                if field.name == target:
                    raise _labels_of_two_kinds(target, field.type, path, known,
                                               seen_in[field.name])
                if {kind, known_kind} == {"numeric", "categorical"} and na_values:
                    # Text in one file, numbers in another: numbers written as text where
                    # a token made pandas write the column as string. The preprocessor
                    # reads the text as numbers or refuses it (TabularPreprocessor's
                    # _text_and_numbers); CSV files read the column as numbers.
                    types[field.name], seen_in[field.name] = pa.float64(), path
                    continue
                raise XentlearnInputError(
                    f"column {field.name!r} is {field.type} in {str(path)!r} but {known} in "
                    f"{str(seen_in[field.name])!r}; expected the same kind (number, boolean "
                    f"or string) in every file" + _mixed_advice(kind, known_kind))
    return pa.schema([(n, types[n]) for n in names]), schemas


def _labels_of_two_kinds(target: str, arrow_type, path, known_type, known_path
                         ) -> XentlearnInputError:
    # Labels of two kinds never sort into one set of classes (pandas writes a column of
    # 0/1 as double in one file and, holding '?', as string in another).
    return XentlearnInputError(
        f"target column {target!r} holds {_label_kind(arrow_type)} ({arrow_type}) in "
        f"{str(path)!r} but {_label_kind(known_type)} ({known_type}) in {str(known_path)!r}; "
        f"class labels must be of one kind in every file: write them alike (all numbers or "
        f"all text)")


def _mixed_advice(kind: str, known_kind: str) -> str:
    """What to do about a column of numbers in one file and text in another."""
    if {kind, known_kind} != {"numeric", "categorical"}:
        return ""
    return ("; if its text is numbers with missing-value tokens (pandas writes a column "
            "holding '?' as string), declare them, e.g. na_values=['?'] (and "
            "impute='mean'), and it is read as numbers in every file")


def _check_column(files: list[Path], schema, column: str, what: str) -> None:
    if column not in schema.names:
        raise XentlearnInputError(
            f"{what} column {column!r} not found in {str(files[0])!r}; "
            f"available columns: {listed_columns(schema.names)}")


def feature_columns(path, names: Sequence[str], target: str | None,
                    sample_weight: str | None, features: Sequence[str] | None,
                    drop: Sequence[str]) -> list[str]:
    """The feature columns of a table whose columns are `names` (those of file `path`):
    `features`, or all but the target, the sample weight column and `drop`, checked.

    Linear in the number of columns: a table may have tens of thousands.

    Raises
    ------
    XentlearnInputError
        The target, weight, a dropped or a feature column is not in `names`, a feature
        is also the target or weight column, or no feature is left.
    """
    present = set(names)
    where = repr(str(path))

    def absent(column: str, what: str) -> XentlearnInputError:
        return XentlearnInputError(f"{what} column {column!r} not found in {where}; "
                                   f"available columns: {listed_columns(names)}")

    excluded = set()
    for column, what in ((target, "target"), (sample_weight, "sample weight")):
        if column is not None:
            if column not in present:
                raise absent(column, what)
            excluded.add(column)
    unknown = [c for c in drop if c not in present]
    if unknown:
        raise XentlearnInputError(f"column(s) to drop {unknown} not found in {where}; it has "
                                  f"{listed_columns(names)}")
    if features is None:
        dropped = set(drop)
        features = [n for n in names if n not in excluded and n not in dropped]
    features = list(features)
    for name in features:
        if name not in present:
            raise absent(name, "feature")
        if name in excluded:
            raise XentlearnInputError(
                f"feature column {name!r} is also the target or sample weight column")
    if not features:
        raise XentlearnInputError(
            f"no feature columns: {where} holds only {listed_columns(names)}"
            + (f" and drops {', '.join(drop)}" if drop else ""))
    return features


def _null_tokens(batch, na_values: Sequence[str]):
    """`batch` with the string values in `na_values` replaced by nulls (Parquet text columns;
    the CSV reader does this itself, before inferring types)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not na_values:
        return batch
    tokens = pa.array(list(na_values), pa.string())
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.if_else(pc.is_in(column, value_set=tokens.cast(column.type)),
                                pa.scalar(None, column.type), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _file_batches(path: Path, columns: list[str], *, rng, batch_rows: int,
                  csv_column_types: dict | None, csv_block_bytes: int | None = None,
                  na_values: Sequence[str] = (), whole_bytes: int = 0,
                  first_types: dict | None = None) -> Iterator[tuple[int, object]]:
    """(index of the first row in the file, record batch) for `columns` of one file.

    For a reader that keeps the rows anyway, `whole_bytes` lets it read whole
    what fits: a CSV file of at most that many bytes is parsed by one
    ``read_csv`` call, on pyarrow's threads: the same record batches as the
    streaming reader gives (both cut the text at the same ``csv_block_bytes``
    boundaries), parsed faster; a Parquet row group whose
    uncompressed size fits (and is at most ``_WHOLE_ROW_GROUP_BYTES``) is read
    by one ``read_row_group`` (its columns decoded on pyarrow's threads) and
    cut where ``iter_batches`` cuts it, every `batch_rows` rows from the start
    of the group.

    `first_types` (a CSV file read whole; type by column name, from
    ``csv_head_schema``) claims the types of the file's first block without a
    scan of it: every column is read with its type (`csv_column_types` on
    top), and if pyarrow refuses one, ``_Unverified`` is raised before any
    batch. Read with them, the batches are those read after a scan.

    The row index is the row's position in the file whatever the reading
    order: Parquet row groups visited in a random order keep their offsets
    (from the file's metadata), so a row keeps its identity (and its side of
    a ``RowSplit``) in every pass.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    block_bytes = _CSV_BLOCK_BYTES if csv_block_bytes is None else csv_block_bytes
    try:
        if _file_format(path) == "parquet":
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=_PARQUET_STREAM_BYTES)
            sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
            offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
            groups = np.arange(pf.num_row_groups)
            if rng is not None:
                groups = rng.permutation(groups)
            for group in groups:
                first = int(offsets[group])
                size = pf.metadata.row_group(int(group)).total_byte_size
                if size <= min(whole_bytes, _WHOLE_ROW_GROUP_BYTES):
                    data = pf.read_row_group(int(group), columns=columns)
                    for start in range(0, data.num_rows, batch_rows):
                        part = data.slice(start, batch_rows).combine_chunks().to_batches()[0]
                        yield first + start, _null_tokens(part, na_values)
                    continue
                for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[int(group)],
                                             columns=columns):
                    yield first, _null_tokens(batch, na_values)
                    first += batch.num_rows
            return
        # An empty field is a missing value, for text columns too (pyarrow's default
        # reads it as the category ""), so it is reported or imputed like any other.
        first = 0
        if first_types is not None:
            if os.path.getsize(path) > whole_bytes:
                raise _Unverified(path)
            options = _csv_options(path, block_bytes=block_bytes, na_values=na_values,
                                   column_types={**first_types, **(csv_column_types or {})})
            try:
                data = pacsv.read_csv(path, **options)
            except (pa.ArrowException, OSError):
                raise _Unverified(path) from None
            records = contextlib.nullcontext(data.select(columns).to_batches())
            del data
        else:
            options = _csv_options(path, block_bytes=block_bytes, na_values=na_values,
                                   include_columns=columns,
                                   column_types=csv_column_types or {})
            if os.path.getsize(path) <= whole_bytes:
                records = contextlib.nullcontext(pacsv.read_csv(path, **options).to_batches())
            else:
                records = pacsv.open_csv(path, **options)
        with records as reader:
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    part = batch.slice(start, batch_rows)
                    yield first, part
                    first += part.num_rows
    except (pa.ArrowException, OSError) as exc:
        if _file_format(path) == "csv":
            raise _csv_error(path, exc, block_bytes) from None
        raise _read_error(path, exc) from None


# ----------------------------------------------------------------- row splits
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
# Rows are keyed by (file index, row in the file); 2**40 rows per file is
# far beyond any file a reader can stream.
_ROW_BITS = 40


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Steele, Lea & Flood's SplitMix64 finaliser, elementwise on uint64 (wrapping)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def row_uniforms(seed: int, file_index: int, first_row: int, n_rows: int) -> np.ndarray:
    """u in [0, 1) for rows first_row .. first_row + n_rows - 1 of file `file_index`.

    A hash of (seed, file index, row index), not a draw from a generator: a
    row gets the same u in every pass and every reading order, and nothing
    is stored per row, so a split of files larger than memory costs no
    memory. Rows are independent and uniform for practical purposes
    (SplitMix64 passes BigCrush).

    Returns
    -------
    ndarray of shape (n_rows,), float64
    """
    key = _splitmix64(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    rows = np.arange(first_row, first_row + n_rows, dtype=np.uint64)
    rows |= np.uint64(int(file_index) << _ROW_BITS)
    bits = _splitmix64(rows ^ key) >> np.uint64(11)       # the top 53 bits
    return bits.astype(np.float64) * (1.0 / (1 << 53))


class RowSplit(NamedTuple):
    """A deterministic subset of the rows of some files: u(seed, row) in [low, high).

    ``inside=False`` takes the complement. ``validation_fraction=f`` is
    ``RowSplit(seed, 0, f)`` for the held-out rows and the same with
    ``inside=False`` for the training rows; fold k of K is ``[k/K, (k+1)/K)``.
    Several splits on one table all apply (a validation split inside a
    cross-validation fold uses another seed).
    """

    seed: int
    low: float
    high: float
    inside: bool = True

    def mask(self, file_index: int, first_row: int, n_rows: int) -> np.ndarray:
        u = row_uniforms(self.seed, file_index, first_row, n_rows)
        taken = (u >= self.low) & (u < self.high)
        return taken if self.inside else ~taken


def rows_mask(row_filters: Sequence[RowSplit], file_index: int, first_row: int,
              n_rows: int) -> np.ndarray | None:
    """The rows kept by every split (None when there is no split: every row)."""
    mask = None
    for split in row_filters:
        taken = split.mask(file_index, first_row, n_rows)
        mask = taken if mask is None else mask & taken
    return mask


def _iter_with_files(files, columns, *, rng=None, batch_rows=65536, csv_column_types=None,
                     csv_block_bytes=None, na_values=(), row_filters=()):
    """(path, record batch) over `files`, non-empty batches only, keeping the rows of
    `row_filters` (each record batch filtered, so memory stays one batch)."""
    import pyarrow as pa

    files = list(files)
    order = rng.permutation(len(files)) if rng is not None else range(len(files))
    for i in order:
        path = files[int(i)]
        for first, batch in _file_batches(path, columns, rng=rng, batch_rows=batch_rows,
                                          csv_column_types=csv_column_types,
                                          csv_block_bytes=csv_block_bytes,
                                          na_values=na_values):
            mask = rows_mask(row_filters, int(i), first, batch.num_rows)
            if mask is not None:
                batch = batch.filter(pa.array(mask))
            if batch.num_rows:
                yield path, batch


def iter_record_batches(files, columns: Sequence[str], *, rng: np.random.Generator | None = None,
                        batch_rows: int = 65536, csv_column_types: dict | None = None,
                        csv_block_bytes: int | None = None, na_values: Sequence[str] = (),
                        row_filters: Sequence[RowSplit] = ()) -> Iterator:
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
    csv_block_bytes : int, optional
        Bytes per CSV parse block (default 4 MiB); every row must fit in one.
    na_values : sequence of str, optional
        Text tokens read as missing values (CSV: before type inference;
        Parquet: in string columns).
    row_filters : sequence of RowSplit, optional
        Keep only the rows that every split selects.

    Yields
    ------
    pyarrow.RecordBatch
    """
    for _, batch in _iter_with_files(_as_files(files), list(columns), rng=rng,
                                     batch_rows=batch_rows, csv_column_types=csv_column_types,
                                     csv_block_bytes=csv_block_bytes, na_values=na_values,
                                     row_filters=row_filters):
        yield batch


def _target_values(batch, target: str) -> np.ndarray:
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
        # A ColumnValuesError: a reader that knows the rows names the first one.
        raise MissingValuesError(
            target, f"target column {target!r} has {n_missing} missing label(s) (null or NaN",
            "; every row trained on or scored needs a label")
    return values


def scan_target(files, target: str, *, batch_rows: int = 65536,
                csv_block_bytes: int | None = None, na_values: Sequence[str] = (),
                stop_after: int | None = None) -> np.ndarray:
    """Sorted distinct values of the target column, in one streaming pass.

    Parameters
    ----------
    files : list of Path, or a path accepted by ``list_data_files``
    target : str
    batch_rows : int, default=65536
    csv_block_bytes : int, optional
        Bytes per CSV parse block (default 4 MiB); every row must fit in one.
    na_values : sequence of str, optional
        Extra tokens read as missing values.
    stop_after : int, optional
        Stop reading once more than this many distinct values are found and
        return those (more than `stop_after`): a regression target with a
        million distinct values is refused after a few batches, not after a
        pass that keeps them all.

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
    files = _as_files(files)
    schema = scan_schema(files, csv_block_bytes=csv_block_bytes, na_values=na_values,
                         target=target, read={target})
    _check_column(files, schema, target, "target")
    records = _iter_with_files(files, [target], batch_rows=batch_rows,
                               csv_block_bytes=csv_block_bytes, na_values=na_values)
    classes = distinct_labels(records, target, stop_after=stop_after, whole_files=True)
    if classes is None:
        raise XentlearnInputError(f"no rows in {', '.join(str(f) for f in files)}")
    return classes


def row_in_file(path, row: int) -> str:
    """Row `row` (from 1) of a data file as messages name it: "row 20 of 'd.csv', counting
    rows after the header, blank lines not counted" (the CSV reader skips blank lines,
    so row 20 may be line 22); a Parquet file has no header: "row 20 of 'd.parquet'"."""
    counted = ("" if _file_format(Path(path)) == "parquet"
               else ", counting rows after the header, blank lines not counted")
    return f"row {row} of {str(path)!r}{counted}"


def first_row_holding(error: ColumnValuesError, files: Sequence[PathArg], *,
                      row_filters: Sequence = (), batch_rows: int = 65536,
                      csv_block_bytes: int | None = None, na_values: Sequence[str] = (),
                      tokens: Sequence[str] = (), column_types: Sequence | None = None,
                      names: Sequence | None = None) -> str | None:
    """Where the first value that `error` is about (``error.rows``: a missing value of
    its column, say) is among the rows of `files`, in file order, as ``row_in_file``
    says; None if none is found or the files cannot be read again.

    Called on that error only: it reads the one column again, as the failed pass
    read it (`row_filters` keep the same rows, `na_values` and the preprocessor's
    missing-value `tokens` apply, `column_types` gives the column's type in each
    CSV file, None where inferred), up to the first record batch that holds such
    a value, and takes ``np.flatnonzero`` of it: nothing is added to a pass
    without the error. `names` are the files as the message names them (a Dask
    worker reads absolute paths; default: `files`).
    """
    import pyarrow as pa

    column = error.column
    try:
        for index, path in enumerate(files):
            kind = None if column_types is None else column_types[index]
            for first, batch in _file_batches(Path(path), [column], rng=None,
                                              batch_rows=batch_rows,
                                              csv_column_types={column: kind} if kind else None,
                                              csv_block_bytes=csv_block_bytes,
                                              na_values=na_values):
                bad = error.rows(_null_tokens(batch, tokens).column(0))
                mask = rows_mask(row_filters, index, first, batch.num_rows)
                hits = np.flatnonzero(bad if mask is None else bad & mask)
                if hits.size:
                    return row_in_file(path if names is None else names[index],
                                       first + int(hits[0]) + 1)
    except (XentlearnInputError, pa.ArrowException, OSError, TypeError, ValueError):
        pass
    return None


def check_label_type(arrow_type, target: str, path) -> None:
    """Refuse a target column of a type that cannot hold class labels: nested (lists,
    structs, maps), bytes or decimals, which neither compare as labels nor go into a
    model file."""
    import pyarrow as pa

    if (pa.types.is_nested(arrow_type) or pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type)
            or pa.types.is_fixed_size_binary(arrow_type) or pa.types.is_decimal(arrow_type)):
        raise XentlearnInputError(
            f"target column {target!r} has type {arrow_type} in {str(path)!r}; a class label "
            "must be a number, a boolean, a string or a date")


def _label_kind(arrow_type) -> str | None:
    """"numbers", "booleans", "text" or "dates" (None: a null-typed, all-missing batch)."""
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return None
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numbers"
    if pa.types.is_boolean(arrow_type):
        return "booleans"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return "dates"


def distinct_labels(records, target: str, *, stop_after: int | None = None,
                    whole_files: bool = False) -> np.ndarray | None:
    """Sorted distinct values of column `target` over (path, record batch) pairs; None
    if there is no row. ``scan_target``'s reading loop, also run on batches kept in
    memory (``TableFiles.scan_classes``).

    `whole_files`: the records are every row of each file, in file order (no row
    split), so a missing label's row number in its file is known and is named.

    Raises
    ------
    XentlearnInputError
        A missing label (null or NaN): the count and the first file (and row).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    classes = None
    n_missing, first_bad, first_row = 0, None, None
    current, offset = None, 0            # the file being read, and its rows before `batch`
    first_kind = None                    # (kind of label, type, file) of the first labels
    for path, batch in records:
        if path != current:
            current, offset = path, 0
        offset += batch.num_rows
        column = batch.column(target)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        check_label_type(column.type, target, path)
        kind = _label_kind(column.type)
        if kind is not None:
            if first_kind is None:
                first_kind = (kind, column.type, path)
            elif kind != first_kind[0]:
                raise _labels_of_two_kinds(target, column.type, path, first_kind[1],
                                           first_kind[2])
        missing = column.null_count
        if pa.types.is_floating(column.type):
            missing += pc.sum(pc.is_nan(column)).as_py() or 0
        if missing:
            if first_bad is None:
                first_bad = path
                missing_at = pc.index(pc.is_null(column, nan_is_null=True), True).as_py()
                first_row = offset - batch.num_rows + missing_at + 1
            n_missing += missing
            continue
        uniques = pc.unique(column).to_numpy(zero_copy_only=False)
        # The running union stays as small as the set of classes: the merge
        # costs O(n_classes) per batch, never O(rows).
        classes = uniques if classes is None else np.concatenate([classes, uniques])
        classes = np.unique(classes)
        if stop_after is not None and len(classes) > stop_after and not n_missing:
            return classes
    if n_missing:
        where = (f"in {row_in_file(first_bad, first_row)}"
                 if whole_files else f"in {str(first_bad)!r}")
        raise XentlearnInputError(
            f"target column {target!r} has {n_missing} missing value(s) (first {where}); "
            f"every training row needs a label")
    return classes
