"""The optimizer interface: pure ``(init, update)`` pairs, as in optax.

``update(grads, state, params=None, *, value=None, value_fn=None)`` returns
``(updates, new_state)`` and never mutates `grads`, `state` or `params`.
States are nests of NamedTuples, tuples and dicts whose leaves are ndarrays or
Python ints/floats, so :func:`state_to_arrays` can write them without pickle.

The three-line training step::

    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = apply_updates(params, updates)

Updating in place. A training loop that owns its gradients and optimizer
state (it made them, and keeps no other reference) may let the transforms
write into them instead of allocating new arrays every step, as
``torch.optim`` does. A transform offers this by giving its ``update``
function a true ``in_place`` attribute (:func:`updates_in_place`); it then
accepts the keyword ``in_place=True``, with which it may write its results
into the arrays of `grads` and `state` and return them. The numbers are the
same bits either way; `params` are never written; the updates returned never
share memory with the state returned (the next transform of a chain may
write into them). Without the keyword every update stays pure. ``chain``
offers it when all of its transforms do. Own the state first
(:func:`copy_state`)::

    update = functools.partial(optimizer.update, in_place=True)
    opt_state = copy_state(opt_state)
    for grads in ...:                       # fresh arrays each step
        updates, opt_state = update(grads, opt_state, params)
        params = apply_updates(params, updates)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from xentlearn import _tree
from xentlearn._types import OptState, Params, Updates
from xentlearn.exceptions import XentlearnInputError

__all__ = ["GradientTransformation", "EmptyState", "identity", "chain", "apply_updates",
           "state_to_arrays", "state_from_arrays", "current_learning_rate",
           "updates_in_place", "copy_state"]


class GradientTransformation(NamedTuple):
    """An optimizer or one of its building blocks.

    Attributes
    ----------
    init : callable, params -> state
    update : callable, (grads, state, params=None, *, value=None, value_fn=None)
        -> (updates, new_state)
    """

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class EmptyState(NamedTuple):
    """The state of a stateless transform."""


def updates_in_place(transform: GradientTransformation) -> bool:
    """True if ``transform.update`` accepts ``in_place=True`` (see the module notes)."""
    return bool(getattr(transform.update, "in_place", False))


def offers_in_place(update: Callable) -> Callable:
    """Mark a transform's `update` as accepting ``in_place=True``."""
    update.in_place = True
    return update


def copy_state(state: OptState) -> OptState:
    """A copy of an optimizer state whose arrays are new (flat buffers stay flat), for a
    loop that will update it in place: the caller's state is never written."""
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, dict):
        return _tree.copy(state) if _tree.flat_of(state) is not None else {
            key: copy_state(value) for key, value in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(copy_state(child) for child in state))
    if isinstance(state, (tuple, list)):
        return type(state)(copy_state(child) for child in state)
    return state


def identity() -> GradientTransformation:
    """Return the updates unchanged (a no-op in a chain)."""

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(grads, state, params=None, *, value=None, value_fn=None, in_place=False):
        return grads, state

    return GradientTransformation(init, offers_in_place(update))


# A step scale says how much a transform multiplies a unit of gradient, once it has
# settled: a Python float, or a dict of per-coordinate arrays (a diagonal
# preconditioner). A transform declares one by giving its ``update`` function a
# ``step_scale`` attribute: state -> scale (see ``with_step_scale``). ``chain``
# multiplies them and hands the product to the transforms whose ``update`` has a
# true ``needs_step_scale`` attribute (``proximal_l1``, and chains holding one) as
# the keyword ``step_scale``, so that the proximal step is taken in the same metric
# as the gradient step it follows. Scales are computed only when something needs them.
StepScale = float | dict[str, np.ndarray]


def with_step_scale(update: Callable, step_scale: Callable[[Any], StepScale]) -> Callable:
    """Attach `step_scale` (new state -> scale) to a transform's `update` function."""
    update.step_scale = step_scale
    return update


def multiply_step_scales(a: StepScale, b: StepScale) -> StepScale:
    """Product of two step scales (floats, or per-leaf dicts of arrays)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: a[k] * b[k] for k in a}
    if isinstance(a, dict):
        return {k: v * float(b) for k, v in a.items()}
    if isinstance(b, dict):
        return {k: v * float(a) for k, v in b.items()}
    return float(a) * float(b)


_IN_PLACE, _PURE = {"in_place": True}, {}


# A scalar scale fused into the transform before it. A transform that multiplies the
# updates by a scalar depending on its own state only (``scale_by_schedule``'s
# -lr(t)) gives its ``update`` a ``scalar_factor`` attribute: state -> (factor, the
# new state its update returns). A transform whose last operation multiplies its
# output by a scalar gives its ``update`` a true ``output_scale`` attribute: it then
# accepts the keyword ``output_scale`` and folds that factor into the same
# multiplication. ``chain`` runs such a neighbouring pair as one update: one pass
# over the updates fewer, and one rounding instead of two (torch's Adam applies
# lr / (1 - b1^t) as one factor too).
def with_scalar_factor(update: Callable, scalar_factor: Callable[[Any], tuple[float, Any]]
                       ) -> Callable:
    """Attach `scalar_factor` (state -> (factor, new state)) to a transform's `update`."""
    update.scalar_factor = scalar_factor
    return update


def offers_output_scale(update: Callable) -> Callable:
    """Mark a transform's `update` as accepting ``output_scale=factor``."""
    update.output_scale = True
    return update


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply `transforms` in sequence; the state is the tuple of their states.

    Each transform receives the updates of the previous one, the same
    `params`, `value` and `value_fn`. A transform whose ``update`` takes a
    ``step_scale`` keyword (``proximal_l1``) also receives the product of the
    step scales declared by the transforms before it in the chain (momentum's
    ``1 / (1 - mu)``, Adam's, RMSprop's and Adagrad's diagonal preconditioners,
    the plateau scale), so a proximal step is taken with the same effective
    per-coordinate learning rate as the gradient step it follows. The chain
    updates in place (``in_place=True``) when every transform in it can. A
    transform whose output is scaled by a scalar (``output_scale``) and the
    scalar scale that follows it (``scalar_factor``: ``scale_by_schedule``) run
    as one update, the factor multiplied in once (see ``with_scalar_factor``).

    Examples
    --------
    >>> import numpy as np
    >>> from xentlearn.optimizers import chain, trace, scale_by_schedule, apply_updates
    >>> opt = chain(trace(0.9), scale_by_schedule(0.1))      # torch.optim.SGD(momentum=0.9)
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> state = opt.init(params)
    >>> updates, state = opt.update({"w": np.array([0.5, 0.5])}, state, params)
    >>> apply_updates(params, updates)["w"]
    array([ 0.95, -2.05])
    """
    wants_scale = tuple(bool(getattr(t.update, "needs_step_scale", False)) for t in transforms)
    scale_fns = tuple(getattr(t.update, "step_scale", None) for t in transforms)
    # Only scales declared before the last transform that needs one are ever used.
    last_wanting = max((i for i, w in enumerate(wants_scale) if w), default=-1)

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    update_fns = tuple(t.update for t in transforms)
    # The scales that a transform after them needs, by index (usually none).
    scale_after = {i: fn for i, fn in enumerate(scale_fns) if fn is not None and i < last_wanting}
    # (index, update, the next transform's scalar_factor when it is fused into this one).
    plan, fused = [], set()
    for i, transform_update in enumerate(update_fns):
        if i in fused:
            continue
        following = getattr(update_fns[i + 1], "scalar_factor", None) \
            if i + 1 < len(update_fns) else None
        if (following is None or not getattr(transform_update, "output_scale", False)
                or wants_scale[i + 1] or i + 1 in scale_after):
            following = None
        else:
            fused.add(i + 1)
        plan.append((i, transform_update, following))

    def update(grads, state, params=None, *, value=None, value_fn=None, step_scale=1.0,
               in_place=False):
        if len(state) != len(transforms):
            raise XentlearnInputError(
                f"state has {len(state)} entries but the chain has {len(transforms)} "
                f"transforms; was it created by this optimizer's init?")
        new_states = list(state)
        # Passed only when true: the transforms of a chain that does not offer it may not
        # take the keyword.
        extra = _IN_PLACE if in_place else _PURE
        for i, transform_update, following in plan:
            keywords = {**extra, "step_scale": step_scale} if wants_scale[i] else extra
            if following is not None:
                factor, new_states[i + 1] = following(state[i + 1])
                keywords = {**keywords, "output_scale": factor}
            grads, new_states[i] = transform_update(grads, state[i], params, value=value,
                                                    value_fn=value_fn, **keywords)
            if i in scale_after:
                step_scale = multiply_step_scales(step_scale, scale_after[i](new_states[i]))
        return grads, tuple(new_states)

    def chain_step_scale(state) -> StepScale:
        scale: StepScale = 1.0
        for scale_fn, inner in zip(scale_fns, state):
            if scale_fn is not None:
                scale = multiply_step_scales(scale, scale_fn(inner))
        return scale

    if any(fn is not None for fn in scale_fns):
        with_step_scale(update, chain_step_scale)
    update.needs_step_scale = last_wanting >= 0
    if all(updates_in_place(t) for t in transforms):
        offers_in_place(update)
    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates, *, out: Params | None = None) -> Params:
    """``params + updates`` leaf-wise, as a new dict, each leaf in its param's dtype.

    Parameters
    ----------
    params, updates : dict of str to ndarray
        Same keys and shapes.
    out : FlatParams, optional
        A buffer to write the sum into and return instead of a new one (its old
        values are lost): used when it is laid out as flat `updates`, in their
        dtype, and is not `params` itself; otherwise ignored. A loop alternates
        two buffers this way.

    Returns
    -------
    dict of str to ndarray
        New arrays (or `out`); `params` is not modified.
    """
    if updates.keys() != params.keys():
        raise XentlearnInputError(
            f"updates have keys {sorted(updates)} but params have keys {sorted(params)}")
    flat_updates = _tree.flat_of(updates)
    if flat_updates is not None:
        # One addition over the whole vector; plain-dict params (the first step after
        # a restore) are laid out like the updates once, and the result is flat.
        flat_params = _tree.vector_like(params, updates)
        if flat_params is not None:
            if (_tree.laid_out_as(out, updates.layout, flat_updates.dtype)
                    and out.flat is not flat_params):
                np.add(flat_params, flat_updates, out=out.flat)
                return out
            return _tree.FlatParams(flat_params + flat_updates, updates.layout)
    # astype(copy=False) is free when the dtypes already agree; when they do not, the
    # sum is formed in the wider dtype and rounded once, as optax does.
    return {key: (p + updates[key]).astype(p.dtype, copy=False) for key, p in params.items()}


def current_learning_rate(state: OptState) -> float:
    """The effective learning rate of the step just taken, read from an optimizer state.

    It is the product of the values reported by the states in the nest that
    define ``learning_rate_factor()``: the scheduled learning rate
    (``scale_by_schedule``), the plateau scale (``reduce_on_plateau``), and
    L-BFGS's accepted step length. Before the first step it is the value the
    first step will use. Returns NaN when the state reports none (e.g.
    ``identity()``).
    """
    factors = []

    def walk(node):
        if hasattr(node, "learning_rate_factor") and callable(node.learning_rate_factor):
            factors.append(float(node.learning_rate_factor()))
        if isinstance(node, tuple):
            for child in node:
                walk(child)

    walk(state)
    return math.prod(factors) if factors else math.nan


# ----------------------------------------------------------------------------------------
# Flattening a state to a dict of arrays (model files store no pickles).

_SEPARATOR = "/"


def _leaves(state: Any, prefix: str):
    """Yield (key, leaf) pairs in a fixed order; keys are paths of field names/indices."""
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        for name, child in zip(state._fields, state):
            yield from _leaves(child, f"{prefix}{_SEPARATOR}{name}" if prefix else name)
    elif isinstance(state, (tuple, list)):
        for index, child in enumerate(state):
            yield from _leaves(child, f"{prefix}{_SEPARATOR}{index}" if prefix else str(index))
    elif isinstance(state, dict):
        for name, child in state.items():
            yield from _leaves(child, f"{prefix}{_SEPARATOR}{name}" if prefix else str(name))
    else:
        yield prefix, state


def state_to_arrays(state: OptState, prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten an optimizer state to ``{path: ndarray}``.

    Paths join NamedTuple field names, tuple indices and dict keys with "/"
    (e.g. ``"0/trace/W0"``). Python ints become int64 0-d arrays and Python
    floats float64 0-d arrays; :func:`state_from_arrays` turns them back, given
    a template state from the same optimizer's ``init``.

    Parameters
    ----------
    state : optimizer state
    prefix : str, default ""
        Prepended to every path (e.g. ``"opt_state"``).

    Returns
    -------
    dict of str to ndarray
        Copies, so later changes to the state's arrays do not leak in.
    """
    arrays = {}
    for key, leaf in _leaves(state, prefix):
        if isinstance(leaf, np.ndarray):
            arrays[key] = leaf.copy()
        elif isinstance(leaf, (bool, np.bool_)):
            arrays[key] = np.asarray(leaf, dtype=np.bool_)
        elif isinstance(leaf, numbers.Integral):
            arrays[key] = np.asarray(leaf, dtype=np.int64)
        elif isinstance(leaf, numbers.Real):
            arrays[key] = np.asarray(leaf, dtype=np.float64)
        else:
            raise XentlearnInputError(
                f"optimizer state leaf {key!r} is a {type(leaf).__name__}; "
                f"only ndarrays and Python ints/floats can be stored")
    return arrays


def state_from_arrays(arrays: dict[str, np.ndarray], template: OptState,
                      prefix: str = "") -> OptState:
    """Rebuild a state shaped like `template` from :func:`state_to_arrays` output.

    Parameters
    ----------
    arrays : dict of str to ndarray
    template : optimizer state
        Usually ``optimizer.init(params)``: gives the structure, the leaf
        types, shapes and dtypes.
    prefix : str, default ""
        As given to :func:`state_to_arrays`.

    Raises
    ------
    XentlearnInputError
        A path is missing, an array's shape differs from the template's, or an
        integer (a count) is negative or not an integer.
    """

    def build(node, path):
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(*(build(child, _join(path, name))
                                for name, child in zip(node._fields, node)))
        if isinstance(node, (tuple, list)):
            return type(node)(build(child, _join(path, str(i))) for i, child in enumerate(node))
        if isinstance(node, dict):
            return {name: build(child, _join(path, str(name))) for name, child in node.items()}
        if path not in arrays:
            raise XentlearnInputError(f"optimizer state entry {path!r} is missing")
        stored = np.asarray(arrays[path])
        if isinstance(node, np.ndarray):
            if stored.shape != node.shape:
                raise XentlearnInputError(
                    f"optimizer state entry {path!r} has shape {stored.shape}, "
                    f"expected {node.shape}")
            return stored.astype(node.dtype, copy=True)
        if stored.shape != ():
            raise XentlearnInputError(
                f"optimizer state entry {path!r} must be a scalar, got shape {stored.shape}")
        if isinstance(node, (bool, np.bool_)):
            return bool(stored)
        if isinstance(node, numbers.Integral):
            # Every integer of a state counts something (steps, pairs, epochs).
            if stored.dtype.kind not in "iu" or int(stored) < 0:
                raise XentlearnInputError(
                    f"optimizer state entry {path!r} must be a non-negative integer, got "
                    f"{stored.item()!r}")
            return int(stored)
        return float(stored)

    return build(template, prefix)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}{_SEPARATOR}{name}" if prefix else name
