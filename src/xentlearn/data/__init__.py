"""Data sources: re-iterable batches for the training loop.

``ArraySource`` wraps in-memory arrays; ``FileSource`` streams CSV and Parquet
files (or folders of them) in bounded memory through ``TabularPreprocessor``.
``RowSplit`` selects a deterministic subset of the rows of files (validation
splits and cross-validation folds) by a hash of each row's position.

Every name is imported on first use (PEP 562): the command line reads a model
file's preprocessing without importing scipy or pyarrow.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ArraySource": "_arrays",
    "Batch": "_base", "DataSource": "_base",
    "FileSource": "_files",
    "arrow_table": "_frames", "frame_columns": "_frames", "frame_library": "_frames",
    "RowSplit": "_readers", "iter_record_batches": "_readers", "list_data_files": "_readers",
    "row_uniforms": "_readers", "scan_schema": "_readers", "scan_target": "_readers",
    "ColumnMoments": "_stats", "column_moments": "_stats", "column_moments_and": "_stats",
    "TableFiles": "_table",
    "DATE_FORMATS": "_dates", "DATE_PARTS": "_dates", "MISSING_CATEGORY": "_tabular",
    "ColumnWarning": "_tabular", "TabularPreprocessor": "_tabular",
    "ColumnValuesError": "_column_values", "UnknownLabelsError": "_column_values",
    "UnseenCategoryWarning": "_tabular", "LabelOrderWarning": "_files",
}

__all__ = ["ArraySource", "TableFiles", "Batch", "DataSource", "FileSource", "TabularPreprocessor",
           "MISSING_CATEGORY", "iter_record_batches", "list_data_files", "scan_schema",
           "scan_target", "column_moments", "column_moments_and", "ColumnMoments", "arrow_table", "frame_columns",
           "frame_library", "RowSplit", "row_uniforms", "ColumnWarning", "UnseenCategoryWarning",
           "DATE_FORMATS", "DATE_PARTS", "ColumnValuesError", "UnknownLabelsError",
           "LabelOrderWarning"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"xentlearn.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'xentlearn.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
