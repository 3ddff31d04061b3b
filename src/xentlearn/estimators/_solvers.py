"""The solver registry: what each ``solver=`` name means, said once.

A ``SolverSpec`` gives a solver's default learning rate, whether it needs the
full batch, how its optimizer is built from the hyperparameters, and which
stopping rules end its training. The estimators and the command line read
``SOLVERS``; adding an optimizer means adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from xentlearn import optimizers, training
from xentlearn._types import Schedule
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers import GradientTransformation
from xentlearn.penalties import Penalty


class SolverSettings(NamedTuple):
    """The hyperparameters a solver is built from, resolved once per fit."""

    learning_rate: Schedule
    penalty: Penalty
    penalty_mask: dict[str, bool]
    momentum: float
    nesterov: bool
    beta_1: float
    beta_2: float
    epsilon: float
    max_grad_norm: float | None
    adaptive: bool                 # learning_rate="adaptive": divide by 5 on plateaus
    steps_per_epoch: int
    n_iter_no_change: int
    tol: float
    plateau: bool                  # the training-loss plateau ends training (not in
                                   # partial_fit, nor when early stopping decides)
    preconditioner: optimizers.Preconditioner | None = None
    # Softmax output weights whose rows the loss cannot see a constant added to (OWL-QN
    # moves each row to its penalty's minimiser along that direction).
    shift_invariant: str | None = None


def solver_settings(estimator, *, learning_rate: Schedule, penalty: Penalty,
                    penalty_mask: dict[str, bool], steps_per_epoch: int, plateau: bool,
                    preconditioner: optimizers.Preconditioner | None = None) -> SolverSettings:
    """SolverSettings from an estimator's hyperparameters and what the fit worked out."""
    return SolverSettings(
        learning_rate=learning_rate, penalty=penalty, penalty_mask=penalty_mask,
        momentum=float(estimator.momentum), nesterov=bool(estimator.nesterov),
        beta_1=float(estimator.beta_1), beta_2=float(estimator.beta_2),
        epsilon=float(estimator.epsilon), max_grad_norm=estimator.max_grad_norm,
        adaptive=estimator.learning_rate == "adaptive" and not SOLVERS[estimator.solver].full_batch,
        steps_per_epoch=steps_per_epoch, n_iter_no_change=int(estimator.n_iter_no_change),
        tol=float(estimator.tol), plateau=plateau, preconditioner=preconditioner)


@dataclass(frozen=True)
class SolverSpec:
    """One solver.

    Attributes
    ----------
    name : str
    default_learning_rate : float
        ``learning_rate_init=None`` means this (the values torch and
        scikit-learn users reach for first).
    full_batch : bool
        Trains on the full-batch gradient only (batch_size "auto" is "full",
        an integer is refused); its training objective is then exact, so it
        stops on the gradient, not on a plateau of the loss.
    preconditioned : bool
        Takes the standardising preconditioner (one extra pass over the data).
    decoupled_weight_decay : bool
        Applies the L2 part of the penalty as weight decay (AdamW), so the
        gradient must not include it.
    build : callable, SolverSettings -> GradientTransformation
        The update rule proper (the shared parts: clipping, plateau reduction,
        proximal L1, are added by ``make_optimizer``).
    """

    name: str
    default_learning_rate: float
    build: Callable[[SolverSettings], GradientTransformation]
    full_batch: bool = False
    preconditioned: bool = False
    decoupled_weight_decay: bool = False

    def batch_size(self, batch_size, n_samples: int) -> int | None:
        """The loop's batch size (None: full batch) from the estimator's `batch_size`."""
        if batch_size == "full" or (batch_size == "auto" and self.full_batch):
            return None
        if self.full_batch:
            raise XentlearnInputError(
                f"solver={self.name!r} needs the full batch; got batch_size={batch_size!r}. "
                f"Use batch_size='full' (or 'auto'), or a first-order solver such as 'adam'.")
        if batch_size == "auto":
            return min(256, n_samples)
        return min(int(batch_size), n_samples)

    def gradient_penalty(self, penalty: Penalty) -> Penalty:
        """The penalty whose smooth part enters the gradient."""
        if self.decoupled_weight_decay:
            return Penalty(alpha=penalty.l1_strength, l1_ratio=1.0)
        return penalty

    def make_optimizer(self, settings: SolverSettings) -> GradientTransformation:
        """One chain: [clip] -> solver -> [plateau] -> [proximal L1] (first-order solvers);
        full-batch solvers handle the L1 part themselves (OWL-QN)."""
        if self.full_batch:
            return self.build(settings)
        parts = []
        if settings.max_grad_norm is not None:
            parts.append(optimizers.clip_by_global_norm(settings.max_grad_norm))
        parts.append(self.build(settings))
        if settings.adaptive:
            # scikit-learn divides by 5 once *more than* n_iter_no_change epochs fail to
            # improve; reduce_on_plateau reduces after `patience` windows, as optax.
            parts.append(optimizers.reduce_on_plateau(
                factor=0.2, patience=settings.n_iter_no_change + 1, tol=settings.tol,
                accumulation_size=settings.steps_per_epoch))
        if settings.penalty.l1_strength:
            parts.append(optimizers.proximal_l1(settings.penalty.l1_strength,
                                                settings.learning_rate,
                                                mask=settings.penalty_mask))
        return parts[0] if len(parts) == 1 else optimizers.chain(*parts)

    def stoppers(self, settings: SolverSettings) -> tuple[training.Stopper, ...]:
        """The rules that end training when no validation data decides."""
        if self.full_batch:
            measure = _pseudo_gradient_measure(settings) if settings.penalty.l1_strength else None
            return (training.gradient_tolerance(settings.tol, measure),
                    training.line_search_exhausted())
        if settings.adaptive:
            return (training.minimum_learning_rate(1e-6),)
        if not settings.plateau:
            return ()
        return (training.plateau(settings.tol, settings.n_iter_no_change),)


def _pseudo_gradient_measure(settings: SolverSettings):
    """OWL-QN's optimality measure: max |pseudo-gradient of f + l1 |w||."""
    l1, mask = settings.penalty.l1_strength, settings.penalty_mask

    def measure(params, grads) -> float:
        return training.max_abs(optimizers.pseudo_gradient(params, grads, l1, mask))

    return measure


def _lbfgs(s: SolverSettings) -> GradientTransformation:
    if s.penalty.l1_strength:
        # Orthant-wise L-BFGS: the exact optimum of the L1 / elastic-net objective.
        return optimizers.owlqn(s.penalty.l1_strength, mask=s.penalty_mask,
                                preconditioner=s.preconditioner,
                                shift_invariant=s.shift_invariant,
                                l2_strength=s.penalty.l2_strength)
    return optimizers.lbfgs(preconditioner=s.preconditioner)


SOLVERS: dict[str, SolverSpec] = {spec.name: spec for spec in (
    SolverSpec("sgd", 0.01, lambda s: optimizers.sgd(
        s.learning_rate, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0)),
    SolverSpec("adam", 0.001, lambda s: optimizers.adam(
        s.learning_rate, b1=s.beta_1, b2=s.beta_2, eps=s.epsilon)),
    SolverSpec("adamw", 0.001, lambda s: optimizers.adamw(
        s.learning_rate, b1=s.beta_1, b2=s.beta_2, eps=s.epsilon,
        weight_decay=s.penalty.l2_strength, mask=s.penalty_mask), decoupled_weight_decay=True),
    SolverSpec("adagrad", 0.01, lambda s: optimizers.adagrad(s.learning_rate)),
    SolverSpec("rmsprop", 0.001, lambda s: optimizers.rmsprop(s.learning_rate, eps=s.epsilon)),
    SolverSpec("lbfgs", 1.0, _lbfgs, full_batch=True, preconditioned=True),
)}
