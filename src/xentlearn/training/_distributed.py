"""Training on a Dask cluster: the optimizer here, the sums on the workers.

``DaskBackend`` plugs into the one training loop (``fit_loop(...,
backend=DaskBackend())``) for data held by a ``xentlearn.data``
``DaskSource`` (packed partitions persisted on the workers).

Full batch (L-BFGS, OWL-QN, full-batch first-order)
---------------------------------------------------
The optimizer runs in this process, as Spark ML's driver-side L-BFGS does. One
evaluation of

    F(params) = sum_i sw_i l_i / sum_i w_i + penalty(params)

is one task per worker (``DaskSource.map_shards``): the task computes, for
each of its parts p, the sums (L_p, W_p, G_p) = (sum_i sw_i l_i, sum_i w_i,
sum_i grad(sw_i l_i)) over the part's cache-sized row blocks, and sends them
back; here they are added in part order and divided once
(``Objective.finish``). Consequences:

- Per evaluation only the parameters go out (an argument of the task, a few
  KB for a linear model) and (1 + 1 + n_params) numbers per part come back.
  The parameters are not scattered: scattered data cannot be recomputed, so
  one worker lost would lose them for good; an argument is sent again with the
  task if it has to run elsewhere.
- The result does not depend on which worker computed what, nor on timing:
  the per-part sums are added in the same order whatever the placement. A
  worker killed during an evaluation costs a retry, not the fit: the
  scheduler recomputes its parts on a surviving worker (from the persisted
  graph), runs the shard's task again, and the sum is bit for bit the same.
- The same objective as the in-memory fit, summed over other blocks: the same
  optimum, to rounding.

Mini-batch (sgd, adam, ...): local SGD
--------------------------------------
See ``DaskBackend.local_epoch``: each worker steps through its own rows;
parameters and optimizer states are averaged every ``sync_every`` steps.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence

import numpy as np

from xentlearn._types import Batch
from xentlearn.data._arrays import ArraySource
from xentlearn.objective import Objective, accuracy_sum, add_terms
from xentlearn.training._parallel import N_WORKERS, parallel_map, quiet_floating_point


def _worker_threads() -> int:
    """Threads of the dask worker running this task (N_WORKERS outside a worker)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return N_WORKERS


def _mapper(threads: int):
    """An ordered map over row blocks: threads (BLAS on one each) or the builtin map."""
    if threads > 1:
        return parallel_map(threads)
    return contextlib.nullcontext(map)


def shard_terms(parts: Sequence[Batch], objective: Objective, params) -> list:
    """Runs on a worker: (loss sum, weight sum, gradient sum) of each of its parts.

    Row blocks of all the parts go through one ordered map (the worker's
    threads), and are added part by part, in block order.
    """
    blocks = [(index, block) for index, part in enumerate(parts)
              for block in ArraySource(*part).batches(None)]
    terms: list = [None] * len(parts)
    with quiet_floating_point(), _mapper(min(_worker_threads(), len(blocks))) as map_fn:
        results = map_fn(functools.partial(_block_terms, objective, params), blocks)
        for (index, _), result in zip(blocks, results):
            terms[index] = result if terms[index] is None else add_terms(terms[index], result)
    return terms


def _block_terms(objective, params, indexed_block):
    with quiet_floating_point():
        return objective.batch_terms(params, indexed_block[1])


def shard_evaluation(parts: Sequence[Batch], objective: Objective, params) -> list:
    """Runs on a worker: (eval loss sum, its weight sum, weighted correct, weight) per part."""
    loss_fn = objective.eval_loss or objective.loss
    out = []
    with quiet_floating_point():
        for part in parts:
            sums = np.zeros(4)
            for batch in ArraySource(*part).batches(None):
                logits = objective.model.predict_logits(params, batch.X)
                terms = loss_fn(logits, batch.targets, batch.sample_weight)
                sums += (terms.loss_sum, terms.weight_sum,
                         accuracy_sum(objective.task, logits, batch.targets, batch.sample_weight),
                         batch.X.shape[0] if batch.sample_weight is None
                         else float(batch.sample_weight.sum()))
            out.append(sums)
    return out


class DaskBackend:
    """The training loop's backend for a ``DaskSource``: sums computed where the data is.

    Parameters
    ----------
    sync_every : int or None
        Mini-batch solvers: optimizer steps each worker takes between two
        averages of the parameters and optimizer states. None (default): once
        per epoch, at its end (the fewest round trips; see ``local_epoch``).

    Notes
    -----
    Use as a context manager, like every backend. The data's lifetime is the
    source's (its futures), not the backend's: the estimator scores validation
    data and calibrates after the loop returns.
    """

    def __init__(self, sync_every: int | None = None):
        self.sync_every = sync_every

    def __enter__(self) -> "DaskBackend":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def full_batch(self, objective: Objective, params, source):
        """F(params) and its gradient: one task per worker, per-part sums added in part order."""
        terms = source.in_part_order(source.map_shards(shard_terms, objective, params))
        total = functools.reduce(add_terms, terms)
        return objective.finish(total, params)

    def evaluate(self, objective: Objective, params, source) -> tuple[float, float]:
        """(mean eval loss, weighted accuracy) on a DaskSource, on its workers."""
        sums = np.zeros(4)
        for part_sums in source.in_part_order(source.map_shards(shard_evaluation, objective,
                                                                params)):
            sums += part_sums
        return sums[0] / sums[1], sums[2] / sums[3]

    def minibatches(self, source, batch_size, rng, skip=0):
        """Mini-batches here (dask's local scheduler only: the parts are in this process)."""
        return source.batches(batch_size, rng=rng, skip=skip)
