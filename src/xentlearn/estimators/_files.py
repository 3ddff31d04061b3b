"""Fitting on and predicting for CSV/Parquet files (``TableFiles``): the file branch
of the estimator facade. Streaming itself lives in ``xentlearn.data``."""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from xentlearn._checks import shown
from xentlearn.data import FileSource, TableFiles, TabularPreprocessor
from xentlearn.data._column_values import ColumnValuesError, UnknownLabelsError
from xentlearn.estimators import _dask_inputs
from xentlearn.estimators._labels import (EncodedTargets, class_counts,
                                          class_weight_from_counts)
from xentlearn.estimators._preprocessing import warn_unseen
from xentlearn.exceptions import XentlearnInputError

# What a fit on files records about its table, besides the fitted parameters.
TABLE_ATTRIBUTES = ("_preprocessor", "preprocessing_", "feature_columns_", "target_column_")


def training_tables(table: TableFiles, y, sample_weight, validation_data
                    ) -> tuple[TableFiles, TableFiles | None]:
    """(training rows, validation rows or None) of a fit on `table`, the arguments checked:
    y and weights come from the files, and ``validation_fraction`` splits the table."""
    if y is not None or sample_weight is not None:
        raise XentlearnInputError(
            "with TableFiles, y and sample_weight come from the files: pass "
            "TableFiles(..., target=<column>, sample_weight=<column>) and y=None")
    if table.target is None:
        raise XentlearnInputError("TableFiles needs target=<column> to fit")
    if table.sample_weight is not None and table.sample_weight == table.target:
        raise XentlearnInputError(
            f"the sample weight column {table.sample_weight!r} is also the target column")
    if table.validation_fraction is not None:
        if validation_data is not None:
            raise XentlearnInputError(
                "give validation_data or TableFiles(..., validation_fraction=f), not both")
        table, validation_data = table.split_validation()
    if validation_data is not None and not isinstance(validation_data, TableFiles):
        raise XentlearnInputError("validation_data must be TableFiles when X is")
    return table, validation_data


def prepare_files(estimator, table, y, sample_weight, validation_data, *, dtype, continuing,
                  classes):
    """(source, validation, encoded targets, class weights) for TableFiles; records the
    preprocessing, feature and target columns on `estimator` (the facade restores them
    if the fit fails).

    A table with ``validation_fraction`` is split here into training and
    validation rows of the same files (``TableFiles.split_validation``): the
    preprocessing and class weights are learned from the training rows only.
    """
    table, validation_data = training_tables(table, y, sample_weight, validation_data)
    check_held_out_rows(estimator, validation_data, continuing)
    features = table.features
    if continuing:
        labels, preprocessor = estimator.classes_, estimator._preprocessor
        features = continued_features(estimator, table)
    else:
        labels = np.asarray(classes) if classes is not None else None
        preprocessor = TabularPreprocessor(table.features, standardize=table.standardize,
                                           impute=table.impute,
                                           max_categories=table.max_categories,
                                           na_values=table.na_values, dates=table.dates)

    def source_for(t, memory_budget, features=features):
        return FileSource(t.path, target=t.target, features=features,
                          preprocessor=preprocessor, dtype=dtype, encode_target=None,
                          sample_weight_column=t.sample_weight, read_batch_rows=t.batch_rows,
                          shuffle_buffer_rows=t.shuffle_buffer_rows,
                          csv_block_bytes=t.csv_block_bytes, drop=table.drop,
                          na_values=_tokens(preprocessor.na_values, t.na_values),
                          row_filters=t.row_filters, memory_budget=memory_budget)

    # The training rows are kept in memory if they fit the table's budget; the
    # validation rows then get what is left of it. Such rows are read once: the
    # classes come from the preprocessor's fitting pass, not from another read.
    budget = table.memory_budget_bytes
    source = source_for(table, budget)
    if labels is None:
        # Kept records are every row of each file, in order, unless rows are filtered.
        labels = table.scan_classes(source.kept_records(), whole_files=not table.row_filters)
        if len(labels) < 2:
            raise XentlearnInputError(
                f"target column {table.target!r} has only one class ({shown(labels[0])}); "
                "a classifier needs at least 2")
    kind, encode = label_encoding(labels, table.target, dtype)
    source.encode_target = encode
    validation = None
    if validation_data is not None:
        left = budget - (source.decoded_bytes if source.in_memory else 0)
        # The training rows' columns: the validation files must hold them (and may hold more).
        validation = source_for(validation_data, min(left, validation_data.memory_budget_bytes),
                                list(source.features))
        validation.encode_target = encode
    if continuing:
        class_weight = estimator._class_weight
    else:
        class_weight = file_class_weight(estimator.class_weight, source, labels, kind, dtype)
    record_table_fit(estimator, preprocessor, list(source.features), table.target,
                     source.n_features)
    return source, validation, EncodedTargets(kind, labels, None), class_weight


def label_encoding(labels: np.ndarray, target: str, dtype) -> tuple[str, functools.partial]:
    """(task, encode): a table's labels encoded against the fit's `labels` (its classes)."""
    kind = "binary" if len(labels) == 2 else "multiclass"
    return kind, functools.partial(encode_labels, classes=labels, kind=kind, dtype=dtype,
                                   column=target)


def check_held_out_rows(estimator, validation_data, continuing: bool) -> None:
    """early_stopping on files needs validation rows (a first fit's, not a continued one)."""
    if validation_data is None and estimator.early_stopping and not continuing:
        raise XentlearnInputError(
            "early_stopping on files needs held-out rows: "
            "fit(TableFiles(train, validation_fraction=0.1)) or "
            "fit(TableFiles(train), validation_data=TableFiles(valid))")


def record_table_fit(estimator, preprocessor, features: list[str], target: str,
                     n_features: int) -> None:
    """What a fit on files keeps for predict and for the model file."""
    estimator._preprocessor = preprocessor
    estimator.preprocessing_ = preprocessor.to_dict()
    estimator.feature_columns_ = features
    estimator.target_column_ = target
    estimator.n_features_in_ = n_features


def continued_features(estimator, table: TableFiles) -> list[str]:
    """The feature columns of a fit that continues on `table` (partial_fit, warm start):
    the model's, whatever other columns the new files hold (as predict reads them);
    a table that names other features is refused."""
    features = list(estimator.feature_columns_)
    if table.features is not None and list(table.features) != features:
        raise XentlearnInputError(
            f"this model was trained on the feature columns {', '.join(map(repr, features))}; "
            f"the table names {', '.join(map(repr, table.features))}: continue with the same "
            f"features (or leave TableFiles(features=...) unset)")
    return features


def file_class_weight(class_weight, source, labels, kind, dtype):
    """class_weight for file data; "balanced" counts the labels in one streaming pass."""
    counts = None
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = sum(class_counts(batch.targets, kind, len(labels), batch.sample_weight)
                     for batch in source.batches(None))
    return class_weight_from_counts(class_weight, labels, kind, counts,
                                    weighted=source.sample_weight_column is not None,
                                    dtype=dtype, labels_in=f"target column {source.target!r}")


def iter_file_logits(estimator, table, *, with_target: bool):
    """(logits, raw target or None) per record batch of `table`, in file order, through
    the stored preprocessing.

    With a ``dask.distributed`` client current, as for ``fit``, the workers read
    the files, in tasks of at most ``_dask_inputs.PREDICTION_PIECE_BYTES`` of
    predictions each (``_dask_inputs.file_logits_on_workers``), and only the
    logits and the targets come back; otherwise this process streams the files.
    """
    if not hasattr(estimator, "_preprocessor"):
        raise XentlearnInputError(
            "this model was trained on arrays, not files: pass arrays to predict")
    # The missing-value tokens the model was trained with apply to every table.
    table = dataclasses.replace(
        table, na_values=_tokens(estimator._preprocessor.na_values, table.na_values))
    unseen: dict = {}
    if _dask_inputs.cluster_current():
        # Absolute paths: a worker's working directory is not this process's. Messages
        # name each file as given.
        names = [str(f) for f in table.files()]
        table = dataclasses.replace(table, path=[os.path.abspath(f) for f in table.files()])
        per_piece = _dask_inputs.file_logits_on_workers(estimator, table,
                                                        with_target=with_target, names=names)
        for batches, piece_unseen in per_piece:
            yield from batches
            _dask_inputs.merge_unseen(unseen, piece_unseen)
            del batches         # before the next piece arrives: one piece held at a time
    else:
        yield from _batch_logits(estimator, table, with_target, unseen)
    # Once per column, after the last batch: a category never seen in training
    # is encoded as all zeros, which a user should know about but not per batch.
    warn_unseen(unseen)


def _batch_logits(estimator, table, with_target: bool, unseen: dict,
                  file_index: int | None = None, name: str | None = None):
    params = estimator._attributes_to_params()
    dtype = estimator._resolved_dtype()
    preprocessor = estimator._preprocessor
    for batch, y in table.iter_batches(estimator.feature_columns_, with_target=with_target,
                                       file_index=file_index):
        try:
            X = preprocessor.transform(batch, dtype, unseen=unseen)
        except ColumnValuesError as exc:
            # Such as a missing value: its file and row (on a Dask worker, read there).
            raise table.located(exc, file_index, name) from None
        yield estimator._model.predict_logits(params, X), y


def _tokens(*groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for group in groups for v in group))


def encode_labels(raw: np.ndarray, *, classes: np.ndarray, kind: str, dtype, column: str):
    """Raw labels from a file -> class indices (binary: 0/1 floats), refusing unknown labels."""
    index = np.searchsorted(classes, raw)
    index = np.minimum(index, len(classes) - 1)
    unknown = np.flatnonzero(classes[index] != raw)
    if unknown.size:
        # A ColumnValuesError: the reader names the file and row of the first one.
        raise UnknownLabelsError(
            column, f"target column {column!r} holds the label {raw[unknown[0]]!r}, which is "
            f"not among the classes {list(classes)}", "", classes)
    return index.astype(dtype) if kind == "binary" else index
