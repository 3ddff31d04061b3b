"""Optimizers as pure ``(init, update)`` pairs, composed with ``chain`` (optax style).

The training step::

    state = optimizer.init(params)
    updates, state = optimizer.update(grads, state, params)   # value=, value_fn= for lbfgs
    params = apply_updates(params, updates)

A loop that owns its gradients and state may pass ``in_place=True`` to an
optimizer that offers it (``updates_in_place``): same numbers, fewer arrays.

Named optimizers match ``torch.optim`` (SGD, Adam, AdamW, Adagrad, RMSprop);
``lbfgs`` is full-batch L-BFGS with a strong Wolfe line search; ``owlqn`` is its
orthant-wise variant for an L1 penalty (exact zeros), stopped on
``max |pseudo_gradient|``.
"""

from xentlearn.optimizers._aliases import adagrad, adam, adamw, rmsprop, sgd
from xentlearn.optimizers._base import (
    EmptyState, GradientTransformation, apply_updates, chain, copy_state, current_learning_rate,
    identity, state_from_arrays, state_to_arrays, updates_in_place)
from xentlearn.optimizers._lbfgs import LbfgsState, lbfgs, with_curvature
from xentlearn.optimizers._owlqn import OwlqnState, owlqn, pseudo_gradient
from xentlearn.optimizers._precondition import (
    Centring, Preconditioner, standardizing_preconditioner)
from xentlearn.optimizers._transforms import (
    ProximalL1State, ReduceOnPlateauState, ScaleByAdagradState, ScaleByAdamState,
    ScaleByRmsState, ScaleByScheduleState, TraceState, add_decayed_weights, clip_by_global_norm,
    proximal_l1, reduce_on_plateau, scale_by_adagrad, scale_by_adam, scale_by_rms,
    scale_by_schedule, trace)

__all__ = [
    "GradientTransformation", "EmptyState", "identity", "chain", "apply_updates",
    "state_to_arrays", "state_from_arrays", "current_learning_rate", "updates_in_place",
    "copy_state", "sgd", "adam", "adamw", "adagrad", "rmsprop", "lbfgs", "owlqn", "pseudo_gradient",
    "standardizing_preconditioner", "Preconditioner", "Centring",
    "trace", "scale_by_adam", "scale_by_rms", "scale_by_adagrad", "add_decayed_weights",
    "scale_by_schedule", "clip_by_global_norm", "proximal_l1", "reduce_on_plateau",
    "TraceState", "ScaleByAdamState", "ScaleByRmsState", "ScaleByAdagradState",
    "ScaleByScheduleState", "ProximalL1State", "ReduceOnPlateauState", "LbfgsState",
    "OwlqnState", "with_curvature",
]
