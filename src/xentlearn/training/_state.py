"""The training state: everything a fit needs to continue, as one value.

The loop is a function ``TrainState -> TrainState``; a checkpoint is this value
written to disk (``training._checkpoint``), and resuming is reading it back.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from xentlearn._types import OptState, Params
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers import state_from_arrays, state_to_arrays
from xentlearn.training._callbacks import EpochRecord
from xentlearn.training._stopping import STOP_REASONS, StopReason


class TrainState(NamedTuple):
    """A fit between two steps.

    Attributes
    ----------
    params : dict of str to ndarray
    opt_state : the optimizer's state (NamedTuples of arrays and numbers)
    rng_state : dict
        ``Generator.bit_generator.state`` at the start of the current epoch:
        a resumed epoch draws its shuffle again from here and skips the
        `batch` mini-batches already taken, so it sees the same batches.
    epoch : int
        Epochs completed.
    batch : int
        Mini-batches taken in the current (unfinished) epoch; 0 at an epoch end.
    loss_sum, weight_sum : float
        The current epoch's running sums for its training loss (mini-batches).
    stoppers : tuple
        Each stopping rule's state, in the order of the rules.
    history : tuple of EpochRecord
    stop_reason : str or None
        Why training stopped at the last epoch end ("converged", "early_stopping",
        "callback"), None while it goes on. Saved with a checkpoint: an estimator
        killed after its last checkpoint resumes as stopped, not into an epoch the
        uninterrupted fit never took. ``fit_loop`` given such a state trains on to
        its `max_epochs`, as with any state it continues.
    """

    params: Params
    opt_state: OptState
    rng_state: dict
    epoch: int
    batch: int
    loss_sum: float
    weight_sum: float
    stoppers: tuple
    history: tuple
    stop_reason: StopReason | None = None


def initial_state(params: Params, opt_state: OptState, rng: np.random.Generator,
                  stoppers: tuple, *, epoch: int = 0, history: tuple = ()) -> TrainState:
    """The state before the first step (``epoch`` > 0 continues a partial_fit count)."""
    return TrainState(params, opt_state, rng_state(rng), epoch, 0, 0.0, 0.0,
                      tuple(rule.init(params) for rule in stoppers), tuple(history))


def rng_state(rng: np.random.Generator) -> dict:
    """A copy of the generator's state (plain dicts, ints and arrays)."""
    return rng.bit_generator.state


# The bit generators a state may name (it comes from files: nothing else is called).
BIT_GENERATORS = {name: getattr(np.random, name)
                  for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}
# The longest array in a bit generator's state (MT19937's key: 624 words).
_MAX_STATE_WORDS = 1024


def generator_from_state(state: dict) -> np.random.Generator:
    """A new Generator in exactly `state` (any of numpy's bit generators).

    Raises
    ------
    ValueError
        `state` names no bit generator of ``BIT_GENERATORS``, or numpy refuses it.
    """
    name = state["bit_generator"]
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        raise ValueError(f"bit_generator must be one of {sorted(BIT_GENERATORS)}, "
                         f"got {str(name)[:40]!r}")
    bit_generator = BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise ValueError(f"a {name} state numpy cannot take ({exc})") from None
    return np.random.Generator(bit_generator)


def state_to_parts(state: TrainState, prefix: str = "state", *, with_params: bool = True,
                   with_history: bool = True) -> tuple[dict, dict]:
    """(arrays, JSON-able meta) describing `state`, for a file without pickle.

    Arrays: params, optimizer state and the stopping rules' states, named
    ``<prefix>.0.<key>``, ``<prefix>.1.<path>``, ``<prefix>.2.<path>``
    (``optimizers.state_to_arrays`` paths with "." for "/"). Meta: the
    counters, the random generator's state and the history. Python floats go
    through JSON's shortest round-trip repr, so every number comes back bit for
    bit. A model file, which stores the parameters and the history already,
    leaves them out (`with_params`, `with_history` False).
    """
    params = state.params if with_params else {}
    # Array names in a model file are one path component: "/" becomes ".".
    arrays = {path.replace("/", "."): value for path, value in
              state_to_arrays((params, state.opt_state, state.stoppers), prefix).items()}
    meta = {"epoch": state.epoch, "batch": state.batch, "loss_sum": state.loss_sum,
            "weight_sum": state.weight_sum, "rng_state": rng_state_to_json(state.rng_state)}
    if with_history:
        meta["history"] = [list(record) for record in state.history]
    if state.stop_reason is not None:
        meta["stop_reason"] = state.stop_reason
    return arrays, meta


def state_from_parts(arrays: dict, meta: dict, template: TrainState, prefix: str = "state"
                     ) -> TrainState:
    """Inverse of ``state_to_parts``; `template` (a fresh ``initial_state`` of the same fit)
    gives the structure, shapes and dtypes, and every entry is checked against it. Parts
    written without params or history take the template's.

    Raises
    ------
    XentlearnInputError
        An entry is missing, misshapen or of the wrong type (the message names it).
    """
    arrays = {name.replace(".", "/"): value for name, value in arrays.items()
              if name.startswith(prefix + ".")}
    with_params = any(name.startswith(f"{prefix}/0/") for name in arrays)
    params, opt_state, stoppers = state_from_arrays(
        arrays, (template.params if with_params else {}, template.opt_state, template.stoppers),
        prefix)
    try:
        counters = [meta[name] for name in ("epoch", "batch")]
        sums = [meta[name] for name in ("loss_sum", "weight_sum")]
        if any(type(c) is not int or c < 0 for c in counters):
            raise ValueError(f"epoch and batch must be non-negative integers, got {counters}")
        if any(type(v) not in (int, float) for v in sums):
            raise ValueError(f"loss_sum and weight_sum must be numbers, got {sums}")
        history = (tuple(_record(row) for row in meta["history"]) if "history" in meta
                   else template.history)
        if len(history) != counters[0]:
            raise ValueError(f"history has {len(history)} epochs but epoch is {counters[0]}")
        rng = generator_from_state(rng_state_from_json(meta["rng_state"]))
        stop_reason = meta.get("stop_reason")     # absent in files written before it was kept
        if stop_reason is not None and stop_reason not in STOP_REASONS:
            raise ValueError(f"stop_reason must be one of {STOP_REASONS}, got {stop_reason!r}")
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise XentlearnInputError(f"training state: {exc}") from None
    return TrainState(params if with_params else template.params, opt_state, rng_state(rng),
                      counters[0], counters[1], float(sums[0]), float(sums[1]), stoppers, history,
                      stop_reason)


def _record(row) -> EpochRecord:
    if not isinstance(row, list) or len(row) != len(EpochRecord._fields):
        raise ValueError(f"a history record must be a list of {len(EpochRecord._fields)} values")
    epoch, *values = row
    if type(epoch) is not int or not all(v is None or type(v) in (int, float) for v in values):
        raise ValueError(f"history record {row!r} holds a value of the wrong type")
    train_loss, val_loss, val_accuracy, lr, seconds = values
    return EpochRecord(epoch, float(train_loss), val_loss if val_loss is None else float(val_loss),
                       val_accuracy if val_accuracy is None else float(val_accuracy), float(lr),
                       float(seconds))


def rng_state_to_json(value):
    """numpy's bit-generator state as JSON (arrays as typed lists; PCG64's are plain ints)."""
    if isinstance(value, dict):
        return {k: rng_state_to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    return value


def rng_state_from_json(value):
    """Inverse of ``rng_state_to_json``. The state comes from files: its arrays must be
    lists of at most ``_MAX_STATE_WORDS`` integers of an integer dtype (ValueError)."""
    if isinstance(value, dict):
        if set(value) == {"__ndarray__", "dtype"}:
            return _state_words(value["__ndarray__"], value["dtype"])
        return {k: rng_state_from_json(v) for k, v in value.items()}
    return value


def _state_words(words, dtype) -> np.ndarray:
    dtype = np.dtype(dtype) if isinstance(dtype, str) and len(dtype) <= 8 else None
    if dtype is None or dtype.kind not in "iu" or dtype.shape:
        raise ValueError("a generator state array must have an integer dtype")
    if (not isinstance(words, list) or len(words) > _MAX_STATE_WORDS
            or not all(type(w) is int for w in words)):
        raise ValueError(f"a generator state array must be a list of at most "
                         f"{_MAX_STATE_WORDS} integers")
    return np.asarray(words, dtype=dtype)
