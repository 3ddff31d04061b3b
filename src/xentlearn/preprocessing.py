"""Preprocessing for tables: ``TablePreprocessor``, the transformer that models
trained on files (and the command line) apply to DataFrames."""

from xentlearn.estimators._preprocessing import TablePreprocessor

__all__ = ["TablePreprocessor"]
