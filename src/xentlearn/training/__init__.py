"""The training loop, its state, its stopping rules and where it runs."""

from xentlearn.training._backends import Backend, SerialBackend, ThreadBackend
from xentlearn.training._callbacks import Callback, EpochRecord, ProgressBar
from xentlearn.training._loop import FitResult, fit_loop
from xentlearn.training._parallel import parallel_map, quiet_floating_point
from xentlearn.training._state import (TrainState, generator_from_state, initial_state, rng_state,
                                       rng_state_from_json, rng_state_to_json, state_from_parts,
                                       state_to_parts)
from xentlearn.training._stopping import (EpochEnd, Stopper, early_stopping, gradient_tolerance,
                                          line_search_exhausted, max_abs, minimum_learning_rate,
                                          plateau)
from xentlearn.training._subsample import subsample_start

__all__ = ["Backend", "SerialBackend", "ThreadBackend", "Callback", "EpochRecord", "FitResult",
           "ProgressBar", "fit_loop", "parallel_map", "quiet_floating_point", "TrainState", "initial_state", "rng_state",
           "generator_from_state", "EpochEnd", "Stopper", "early_stopping", "gradient_tolerance",
           "line_search_exhausted", "max_abs", "minimum_learning_rate", "plateau",
           "rng_state_to_json", "rng_state_from_json", "state_to_parts", "state_from_parts",
           "subsample_start"]
