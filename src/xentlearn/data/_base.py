"""What the training loop needs from data (see ``xentlearn._types.DataSource``)."""

from xentlearn._types import Batch, DataSource

__all__ = ["Batch", "DataSource"]
