"""``xentlearn predict``: predictions for DATA streamed into a CSV or Parquet file.

Besides the command: the ``--id`` column handed out in the prediction
batches' sizes, and the writer that replaces the output file only once every
row is written.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from xentlearn.cli._estimator import check_threshold, load_file_model
from xentlearn.cli._options import UsageError
from xentlearn.cli._outputs import StagedOutputs, check_not_input, check_writable_file, naming
from xentlearn.cli._tables import one_or_many, reading_options
from xentlearn.data import TableFiles
from xentlearn.exceptions import XentlearnInputError

PREDICTION_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


def predict(args, out: TextIO) -> None:
    """Stream predictions for DATA into a CSV or Parquet file (or CSV on stdout).

    Columns: the ``--id`` column (as it is in DATA) if given, ``prediction``,
    and with ``--proba`` one ``proba_<class>`` per class.
    """
    import pyarrow as pa

    to_stdout = args.out in (None, "-")
    out_path = None if to_stdout else Path(args.out)
    if out_path is not None:
        file_format = _prediction_format(out_path)
        check_writable_file(out_path, "--out")
        check_not_input("predict", {"--out": out_path},
                        {"MODEL": [args.model], "DATA": args.data})
    else:
        file_format = "csv"
    estimator = load_file_model(args.model)
    check_threshold(estimator, args.threshold, "predict")
    table = TableFiles(one_or_many(args.data), **reading_options(args))
    classes = estimator.classes_
    float_type = pa.from_numpy_dtype(np.dtype(estimator.get_params()["dtype"]))
    fields = [pa.field("prediction", pa.array(classes).type)]
    if args.proba:
        # Spelled as the prediction column writes each class (true, 3 for 3.0).
        spelled = pa.array(classes).cast(pa.string()).to_pylist()
        fields += [pa.field(f"proba_{name}", float_type) for name in spelled]
    ids = None
    if args.id is not None:
        columns = table.schema()
        if args.id not in columns.names:
            raise XentlearnInputError(
                f"--id column {args.id!r} is not in {str(table.files()[0])!r}; it has "
                f"{', '.join(map(repr, columns.names))}")
        if args.id in [f.name for f in fields]:
            raise UsageError(f"predict: --id {args.id!r} clashes with an output column name")
        # Copied as written, to join the predictions back: 007 stays 007 (CSV is read as
        # text; a Parquet column keeps its type, that of the first file).
        chunks = table.iter_column(args.id, as_written=True)
        first = next(chunks, None)
        id_type = pa.string() if first is None else first.type
        fields.insert(0, pa.field(args.id, id_type))
        ids = _RowAligned(itertools.chain([] if first is None else [first], chunks), id_type,
                          args.id)
    schema = pa.schema(fields)
    label_type = schema.field("prediction").type

    n_rows = 0
    with _PredictionWriter(out_path, file_format, schema) as writer:
        for labels, proba, _ in estimator.iter_predictions(
                table, proba=args.proba or args.threshold is not None):
            if args.threshold is not None:
                labels = classes[(proba[:, 1] >= args.threshold).astype(np.intp)]
            columns = [] if ids is None else [ids.take(len(labels))]
            columns.append(pa.array(labels, type=label_type))
            if args.proba:
                columns += [pa.array(proba[:, j], type=float_type) for j in range(len(classes))]
            writer.write(pa.record_batch(columns, schema=schema))
            n_rows += len(labels)
    if out_path is not None:
        print(f"wrote {n_rows} predictions to {out_path}", file=out)


class _RowAligned:
    """The values of one column, handed out n rows at a time whatever its batch sizes.

    The id column is read in its own stream (``TableFiles.iter_column``); its
    record batches need not match the prediction batches, so rows are queued
    and cut to the sizes asked for.
    """

    def __init__(self, chunks, arrow_type, name: str) -> None:
        self.chunks, self.type, self.name = iter(chunks), arrow_type, name
        self.pending: list = []
        self.n_pending = 0

    def take(self, n: int):
        import pyarrow as pa

        while self.n_pending < n:
            chunk = next(self.chunks, None)
            if chunk is None:   # cannot happen with the same files: a bug if it does
                raise RuntimeError(f"column {self.name!r} ended before the predictions")
            try:
                chunk = chunk.cast(self.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise XentlearnInputError(
                    f"--id column {self.name!r} holds {chunk.type} values that are not "
                    f"{self.type} as in the first file; expected one type in every file"
                ) from None
            self.pending.append(chunk)
            self.n_pending += len(chunk)
        joined = pa.concat_arrays(self.pending) if len(self.pending) > 1 else self.pending[0]
        head, rest = joined.slice(0, n), joined.slice(n)
        self.pending, self.n_pending = ([rest] if len(rest) else []), len(rest)
        return head


def _prediction_format(path: Path) -> str:
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".gz" and not suffixes.endswith(".csv.gz"):
        raise UsageError(f"predict: --out {str(path)!r}: only .csv.gz is supported compressed")
    fmt = PREDICTION_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"predict: --out {str(path)!r}: expected a .csv, .csv.gz, .parquet "
                         "or .pq file")
    return fmt


class _PredictionWriter:
    """CSV/Parquet writer that replaces `path` only once every row is written.

    Writing to a temporary file in the same folder and renaming it at the end
    means an error half-way (a bad row in the 10th file, a full disk) never
    leaves a truncated predictions file that looks complete, nor a
    temporary. The sink opens on the first batch, so an error in the first
    batch (a missing column) writes nothing, not even a CSV header on stdout.
    """

    def __init__(self, path: Path | None, file_format: str, schema) -> None:
        self.path, self.format, self.schema = path, file_format, schema
        self.writer = self.sink = None
        self.outputs = StagedOutputs()

    def __enter__(self):
        return self

    def _open(self) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        if self.path is None:
            self.sink = sys.stdout.buffer
        else:
            tmp = self.outputs.temporary(self.path)
            self.sink = (pa.CompressedOutputStream(str(tmp), "gzip")
                         if self.path.suffix.lower() == ".gz" else pa.OSFile(str(tmp), "wb"))
        if self.format == "parquet":
            self.writer = pq.ParquetWriter(self.sink, self.schema)
        else:
            self.writer = pa_csv.CSVWriter(self.sink, self.schema)

    def write(self, batch) -> None:
        with self._naming():
            if self.writer is None:
                self._open()
            self.writer.write(batch) if self.format == "csv" else self.writer.write_batch(batch)

    def _naming(self):
        # Write errors on stdout (a closed pipe) keep their own type for main.
        return contextlib.nullcontext() if self.path is None else naming(self.path)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            # Already failing: close quietly, remove the temporary, and let
            # the first error be the one reported.
            for closable in (self.writer, None if self.path is None else self.sink):
                with contextlib.suppress(Exception):
                    if closable is not None:
                        closable.close()
            if self.path is None and self.writer is not None:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
            self.outputs.discard()
            return
        try:
            with self._naming():
                if self.writer is None:
                    self._open()        # no rows: still write the header / the schema
                self.writer.close()
                if self.path is None:
                    sys.stdout.flush()
                else:
                    self.sink.close()
        except BaseException:
            if self.path is not None:
                with contextlib.suppress(Exception):
                    self.sink.close()
            self.outputs.discard()
            raise
        self.outputs.commit()
