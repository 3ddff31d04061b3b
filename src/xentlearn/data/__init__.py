"""Data sources: re-iterable batches for the training loop."""

from xentlearn.data._arrays import ArraySource
from xentlearn.data._base import Batch, DataSource

__all__ = ["ArraySource", "Batch", "DataSource"]
