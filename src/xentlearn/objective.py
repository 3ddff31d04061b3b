"""The objective: where model, loss and penalty meet.

    F(params) = sum_i sw_i l_i(f(X_i; params)) / sum_i w_i + alpha * R(W)

with l the cross-entropy of ``xentlearn.losses`` and w_i its normaliser
(DESIGN §1-2). Every pass over data reduces with *sums* (loss_sum,
weight_sum, grads_sum) and divides once in ``finish``, so one batch, many row
blocks of one array, many chunks of a file or many Dask partitions give the
same numbers (up to floating-point summation order).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from xentlearn import _tree, losses
from xentlearn._types import Batch, Grads, Model, Params
from xentlearn.exceptions import XentlearnInputError
from xentlearn.penalties import Penalty

# Rows whose loss weights (sample weight times class weight) are all 0: no loss to minimise.
NO_LOSS_WEIGHT = ("every training row has loss weight 0 (sample_weight times class_weight); "
                  "nothing to fit")

Task = Literal["binary", "multiclass", "multilabel", "soft"]
# (logits (n, n_outputs), targets, sample_weight) -> LossTerms with grad shaped like logits
LossFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], "losses.LossTerms"]


class BatchTerms(NamedTuple):
    """Sums over one batch; add them across batches, then ``Objective.finish``."""

    loss_sum: float        # sum_i sw_i * l_i
    weight_sum: float      # the contract's normaliser sum_i w_i
    grads_sum: Grads       # gradient of loss_sum


def add_terms(a: BatchTerms, b: BatchTerms) -> BatchTerms:
    """Sum of two batches' terms; reuses `a`'s gradient arrays (the reducer owns them)."""
    for key, value in b.grads_sum.items():
        a.grads_sum[key] += value
    return BatchTerms(a.loss_sum + b.loss_sum, a.weight_sum + b.weight_sum, a.grads_sum)


def make_loss(task: Task, *, class_weight: np.ndarray | None = None,
              pos_weight: np.ndarray | None = None, label_smoothing: float = 0.0,
              focal_gamma: float = 0.0, focal_alpha: float | None = None) -> LossFn:
    """The loss for a task, as the objective calls it (``TASKS[task].loss``).

    "binary" uses one sigmoid logit (model output (n, 1), targets (n,) 0/1);
    a class weight cw there multiplies the sample weight by cw[y_i], which gives
    the softmax normaliser sum_i sw_i cw[y_i] as well. "multiclass" and "soft"
    use softmax (integer or probability targets); "multilabel" independent
    sigmoids with targets (n, m).
    """
    return TASKS[task].loss(class_weight=class_weight, pos_weight=pos_weight,
                            label_smoothing=label_smoothing, focal_gamma=focal_gamma,
                            focal_alpha=focal_alpha)


def _sigmoid_loss(*, class_weight, pos_weight, label_smoothing, focal_gamma, focal_alpha,
                  one_logit: bool) -> LossFn:
    terms = functools.partial(losses.sigmoid_terms, pos_weight=pos_weight,
                              label_smoothing=label_smoothing, focal_gamma=focal_gamma,
                              focal_alpha=focal_alpha)
    if one_logit:
        return functools.partial(_binary_loss, terms=terms, class_weight=class_weight)
    return functools.partial(_plain_loss, terms=terms)


def _softmax_loss(*, class_weight, pos_weight, label_smoothing, focal_gamma, focal_alpha
                  ) -> LossFn:
    terms = functools.partial(losses.softmax_terms, class_weight=class_weight,
                              label_smoothing=label_smoothing, focal_gamma=focal_gamma)
    return functools.partial(_plain_loss, terms=terms)


def _plain_loss(logits, targets, sample_weight, *, terms):
    return terms(logits, targets, sample_weight=sample_weight)


def _binary_loss(logits, targets, sample_weight, *, terms, class_weight):
    sample_weight = _binary_sample_weight(targets, sample_weight, class_weight)
    # (n, 1) -> (n,) is a view, and so is the gradient's way back.
    result = terms(logits[:, 0], targets, sample_weight=sample_weight)
    return result._replace(grad=result.grad[:, None])


def _binary_sample_weight(targets, sample_weight, class_weight):
    """sw_i cw[y_i]: one sigmoid logit weighs its classes through the sample weights."""
    if class_weight is None:
        return sample_weight
    cw = class_weight[(targets > 0.5).astype(np.intp)]
    return cw if sample_weight is None else sample_weight * cw


def loss_weight_sum(task: Task, targets: np.ndarray, sample_weight: np.ndarray | None = None,
                    *, class_weight: np.ndarray | None = None, dtype=np.float64) -> float:
    """sum_i w_i over these rows: the normaliser of the mean of ``make_loss(task,
    class_weight=...)`` (its terms' ``weight_sum``, the same bits for logits of
    `dtype`), without evaluating the loss. It does not depend on label smoothing
    or the focal exponent."""
    return TASKS[task].weight_sum(targets, sample_weight, class_weight, dtype)


def _binary_weight_sum(targets, sample_weight, class_weight, dtype):
    return losses.sigmoid_weight_sum(
        targets, sample_weight=_binary_sample_weight(targets, sample_weight, class_weight),
        dtype=dtype)


def _softmax_weight_sum(targets, sample_weight, class_weight, dtype):
    return losses.softmax_weight_sum(targets, sample_weight=sample_weight,
                                     class_weight=class_weight, dtype=dtype)


def _multilabel_weight_sum(targets, sample_weight, class_weight, dtype):
    return losses.sigmoid_weight_sum(targets, sample_weight=sample_weight, dtype=dtype)


@dataclass(frozen=True)
class TaskHead:
    """What a task means for the outputs of a model.

    Attributes
    ----------
    name : "binary", "multiclass", "multilabel" or "soft"
    n_outputs : callable, number of classes (labels) -> number of logits
    loss : callable, loss options -> LossFn (``make_loss``)
    weight_sum : callable, (targets, sample_weight, class_weight, dtype) -> float
        The loss's normaliser alone (``loss_weight_sum``)
    proba : callable, logits (n, n_outputs) -> probabilities (n, n_classes)
    log_proba : callable, logits -> log of ``proba``, computed stably
    decide : callable, logits -> class index per row (n,), or 0/1 indicators (n, m)
    correct : callable, (logits, targets) -> bool per row (multilabel: every label right)
    """

    name: str
    n_outputs: Callable[[int], int]
    loss: Callable[..., LossFn]
    weight_sum: Callable[..., float]
    proba: Callable[[np.ndarray], np.ndarray]
    log_proba: Callable[[np.ndarray], np.ndarray]
    decide: Callable[[np.ndarray], np.ndarray]
    correct: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _binary_proba(logits):
    p = losses.sigmoid(logits[:, 0])
    return np.column_stack([1 - p, p])


def _binary_log_proba(logits):
    z = logits[:, 0]
    return np.column_stack([losses.log_sigmoid(-z), losses.log_sigmoid(z)])


def _softmax_rows(logits):
    return losses.softmax(logits, axis=1)


def _log_softmax_rows(logits):
    return losses.log_softmax(logits, axis=1)


def _argmax_rows(logits):
    return logits.argmax(axis=1)


TASKS: dict[str, TaskHead] = {head.name: head for head in (
    TaskHead("binary", lambda k: 1, functools.partial(_sigmoid_loss, one_logit=True),
             _binary_weight_sum, _binary_proba, _binary_log_proba,
             lambda logits: (logits[:, 0] > 0).astype(np.intp),
             lambda logits, targets: (logits[:, 0] > 0) == (targets > 0.5)),
    TaskHead("multiclass", lambda k: k, _softmax_loss, _softmax_weight_sum, _softmax_rows,
             _log_softmax_rows,
             _argmax_rows, lambda logits, targets: logits.argmax(axis=1) == targets),
    TaskHead("soft", lambda k: k, _softmax_loss, _softmax_weight_sum, _softmax_rows,
             _log_softmax_rows,
             _argmax_rows,
             lambda logits, targets: logits.argmax(axis=1) == targets.argmax(axis=1)),
    TaskHead("multilabel", lambda m: m, functools.partial(_sigmoid_loss, one_logit=False),
             _multilabel_weight_sum, losses.sigmoid, losses.log_sigmoid,
             lambda logits: (logits > 0).astype(np.int64),
             lambda logits, targets: ((logits > 0) == (targets > 0.5)).all(axis=1)),
)}


def accuracy_sum(task: Task, logits: np.ndarray, targets: np.ndarray,
                 sample_weight: np.ndarray | None) -> float:
    """sum_i sw_i * [prediction_i == target_i] (multilabel: every label right)."""
    correct = TASKS[task].correct(logits, targets)
    if sample_weight is None:
        return float(np.count_nonzero(correct))
    return float(sample_weight @ correct.astype(sample_weight.dtype))


@dataclass(frozen=True)
class Objective:
    """F(params) over batches, with the one-pass value and gradient.

    Parameters
    ----------
    model : Model
        Linear or MLP; gives logits and backpropagates dlogits.
    loss : LossFn
        Training loss (``make_loss``), with every option the user asked for.
    penalty : Penalty
        alpha * R(W); only its smooth part enters the gradient.
    task : {"binary", "multiclass", "multilabel", "soft"}
    eval_loss : LossFn or None
        The loss reported on validation data: plain cross-entropy with sample
        weights (no smoothing, focal or class weights), i.e. the log-loss a
        user compares models by. Defaults to `loss`.
    """

    model: Model
    loss: LossFn
    penalty: Penalty
    task: Task
    eval_loss: LossFn | None = None

    @functools.cached_property
    def penalty_mask(self) -> dict[str, bool]:
        """The model's ``penalty_mask()``, asked once (it is needed on every step)."""
        return self.model.penalty_mask()

    @functools.cached_property
    def _backward_takes_out(self) -> bool:
        """Whether the model's backward accepts ``out=`` (the Model protocol leaves it
        optional: a model written without it keeps working)."""
        try:
            parameters = inspect.signature(self.model.backward).parameters.values()
        except (TypeError, ValueError):
            return False
        return any(p.name == "out" or p.kind is p.VAR_KEYWORD for p in parameters)

    def batch_terms(self, params: Params, batch: Batch, *, grads_out: Grads | None = None
                    ) -> BatchTerms:
        """Sums of loss, normaliser and gradient over one batch (no division).

        `grads_out`, when given, is passed to the model's backward as ``out`` (a
        buffer the gradient may be written into: see ``MLP.backward``) if that
        takes it.
        """
        logits, cache = self.model.forward(params, batch.X)
        terms = self.loss(logits, batch.targets, batch.sample_weight)
        if grads_out is None or not self._backward_takes_out:
            grads = self.model.backward(params, cache, terms.grad)
        else:
            grads = self.model.backward(params, cache, terms.grad, out=grads_out)
        return BatchTerms(terms.loss_sum, terms.weight_sum, grads)

    def finish(self, terms: BatchTerms, params: Params) -> tuple[float, Grads]:
        """Divide once and add the penalty: (F, dF/dparams). Takes over terms.grads_sum."""
        grads = terms.grads_sum
        # A mini-batch whose rows all weigh 0 holds no data: it moves by the penalty only.
        inv = 1.0 / terms.weight_sum if terms.weight_sum else 0.0
        flat = _tree.flat_of(grads)
        for value in (grads.values() if flat is None else (flat,)):
            value *= inv            # element-wise: a flat buffer gives its leaves' bits
        value = terms.loss_sum * inv + self.penalty.add_grad_and_value(grads, params,
                                                                       self.penalty_mask)
        return value, grads

    def value_and_grad(self, params: Params, batches: Iterable[Batch], *,
                       map_fn: Callable = map) -> tuple[float, Grads]:
        """F and its gradient over all `batches` (one mini-batch, or every block of the data).

        `map_fn(fn, iterable)` computes the per-batch terms; it must yield results in
        input order (the builtin ``map``, a bounded thread pool, or partitions on Dask
        workers), so the sum, and with it the result, is deterministic.
        """
        terms = map_fn(functools.partial(self.batch_terms, params), batches)
        return self.finish(functools.reduce(add_terms, terms), params)

    def epoch_value(self, loss_sum: float, weight_sum: float, params: Params) -> float:
        """An epoch's train loss: the weighted mean of the loss over its mini-batches (each
        at the parameters it was computed with) plus the penalty at `params`."""
        if not weight_sum > 0:
            raise XentlearnInputError(NO_LOSS_WEIGHT)
        return float(loss_sum / weight_sum + self.penalty.value(params, self.penalty_mask))

    def evaluate(self, params: Params, batches: Iterable[Batch]) -> tuple[float, float]:
        """(mean eval loss, weighted accuracy) over `batches`, without the penalty."""
        loss_fn = self.eval_loss or self.loss
        loss_sum = weight_sum = correct = n_weight = 0.0
        for batch in batches:
            logits = self.model.predict_logits(params, batch.X)
            terms = loss_fn(logits, batch.targets, batch.sample_weight)
            loss_sum += terms.loss_sum
            weight_sum += terms.weight_sum
            correct += accuracy_sum(self.task, logits, batch.targets, batch.sample_weight)
            n_weight += (batch.X.shape[0] if batch.sample_weight is None
                         else float(batch.sample_weight.sum()))
        if not weight_sum > 0:
            raise XentlearnInputError(
                "the validation rows all have sample_weight 0; nothing to validate on")
        return loss_sum / weight_sum, correct / n_weight
