"""Data sources: re-iterable batches for the training loop.

``ArraySource`` wraps in-memory arrays; ``FileSource`` streams CSV and Parquet
files (or folders of them) in bounded memory through ``TabularPreprocessor``.
``RowSplit`` selects a deterministic subset of the rows of files (validation
splits and cross-validation folds) by a hash of each row's position.
"""

from xentlearn.data._arrays import ArraySource
from xentlearn.data._base import Batch, DataSource
from xentlearn.data._files import FileSource
from xentlearn.data._frames import arrow_table, frame_columns, frame_library
from xentlearn.data._readers import (
    RowSplit, iter_record_batches, list_data_files, row_uniforms, scan_schema, scan_target)
from xentlearn.data._stats import ColumnMoments, column_moments
from xentlearn.data._table import TableFiles
from xentlearn.data._tabular import (
    DATE_FORMATS, DATE_PARTS, MISSING_CATEGORY, ColumnWarning, TabularPreprocessor,
    UnseenCategoryWarning)

__all__ = ["ArraySource", "TableFiles", "Batch", "DataSource", "FileSource", "TabularPreprocessor",
           "MISSING_CATEGORY", "iter_record_batches", "list_data_files", "scan_schema",
           "scan_target", "column_moments", "ColumnMoments", "arrow_table", "frame_columns",
           "frame_library", "RowSplit", "row_uniforms", "ColumnWarning", "UnseenCategoryWarning",
           "DATE_FORMATS", "DATE_PARTS"]
