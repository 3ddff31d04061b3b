"""The training loop and what it calls per epoch."""

from xentlearn.training._callbacks import Callback, EpochRecord, ProgressBar
from xentlearn.training._loop import FitResult, fit_loop
from xentlearn.training._parallel import parallel_map

__all__ = ["Callback", "EpochRecord", "FitResult", "ProgressBar", "fit_loop", "parallel_map"]
