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

Mini-batch (sgd, adam, ...): data-parallel local SGD
----------------------------------------------------
See ``DaskBackend.minibatch_epoch``: each worker steps through its own rows in a
seeded shuffled order; parameters and optimizer states are averaged every
``sync_every`` steps and at the end of every epoch.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
from collections.abc import Sequence

import numpy as np

from xentlearn._types import Batch
from xentlearn.data._arrays import ArraySource
from xentlearn.data._dask import ShardRows
from xentlearn.objective import Objective, accuracy_sum, add_terms
from xentlearn.optimizers import state_from_arrays, state_to_arrays
from xentlearn.training._backends import MinibatchSteps, StepDiverged, divergence
from xentlearn.training._parallel import N_WORKERS, parallel_map, quiet_floating_point
from xentlearn.training._state import TrainState


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


def shard_local_steps(parts: Sequence[Batch], objective: Objective, optimizer, params, opt_state,
                      batch_size: int, start: int, stop: int, rng_state: dict | None) -> dict:
    """Runs on a worker: optimizer steps `start` to `stop` of this epoch on its own rows.

    The epoch's order is drawn again from `rng_state` (the shard's state at the
    epoch start) each round, so the worker keeps no state between tasks and a
    task re-run elsewhere gives the same result; the draw is O(rows), small
    next to a round of steps, which are ``MinibatchSteps``'s, as in memory (the
    given params and state, shared with the caller on dask's local scheduler, are
    never written). Returns the new params and optimizer state, the
    round's loss and weight sums, the rows stepped through, the generator's
    state after the draw, and the first divergence (what, step) if any.
    """
    rows = ShardRows(parts)
    order = None
    rng_after = None
    if rng_state is not None:
        generator = _generator(rng_state)
        order = generator.permutation(rows.n_samples)
        rng_after = generator.bit_generator.state
    available = -(-rows.n_samples // batch_size)
    loss_sum = weight_sum = 0.0
    stepped = 0
    diverged = None
    steps = MinibatchSteps(objective, optimizer, params, opt_state)
    with quiet_floating_point():
        for step in range(start, min(stop, available)):
            first, last = step * batch_size, min((step + 1) * batch_size, rows.n_samples)
            index = np.arange(first, last) if order is None else order[first:last]
            try:
                terms = steps.step(rows.take(index))
            except StepDiverged as exc:
                diverged = (exc.what, step)
                break
            loss_sum += terms.loss_sum
            weight_sum += terms.weight_sum
            stepped += last - first
    return {"params": steps.params, "opt_state": steps.opt_state, "loss_sum": loss_sum,
            "weight_sum": weight_sum, "rows": stepped, "rng_after": rng_after,
            "diverged": diverged}


def _generator(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def shard_rng_states(state: dict, n_shards: int) -> list[dict]:
    """Each shard's generator state for one epoch: shard 0 continues the loop's own
    stream (so one worker draws exactly the in-memory shuffle); shard s > 0 takes
    the stream jumped s times (independent streams, PCG64's ``jumped``)."""
    bit_generator = _generator(state).bit_generator
    states = [state]
    for s in range(1, n_shards):
        if hasattr(bit_generator, "jumped"):
            states.append(bit_generator.jumped(s).state)
        else:   # a bit generator without jumps: a seed derived from the state and s
            seed = np.random.SeedSequence([s, abs(hash(repr(state))) % 2**63])
            states.append(np.random.PCG64(seed).state)
    return states


def average_trees(trees: Sequence, weights: Sequence[float]):
    """Weighted average of parameter dicts or optimizer states of one structure.

    Float arrays and floats are averaged (in float64, cast back to each leaf's
    dtype); integer leaves (step counts) take the maximum, booleans the first
    tree's value. A single tree of positive weight is returned as it is, so
    one worker's result is not perturbed by rounding.
    """
    live = [(t, w) for t, w in zip(trees, weights) if w > 0]
    if len(live) == 1:
        return live[0][0]
    total = float(sum(w for _, w in live))
    if isinstance(live[0][0], dict) and all(isinstance(v, np.ndarray)
                                           for v in live[0][0].values()):
        return {key: _mean([t[key] for t, _ in live], [w / total for _, w in live])
                for key in live[0][0]}
    flats = [state_to_arrays(t) for t, _ in live]
    template = live[0][0]
    averaged = {}
    for key, first in flats[0].items():
        leaves = [f[key] for f in flats]
        if first.dtype == np.bool_:
            averaged[key] = first
        elif first.dtype.kind in "iu":
            averaged[key] = np.max(leaves, axis=0)
        else:
            averaged[key] = _mean(leaves, [w / total for _, w in live])
    return state_from_arrays(averaged, template)


def _mean(leaves, fractions):
    out = np.zeros(np.shape(leaves[0]), dtype=np.float64)
    for leaf, fraction in zip(leaves, fractions):
        out += fraction * np.asarray(leaf, dtype=np.float64)
    return out.astype(np.asarray(leaves[0]).dtype)


class DaskBackend:
    """The training loop's backend for a ``DaskSource``: sums computed where the data is.

    Parameters
    ----------
    sync_every : int or None
        Mini-batch solvers: optimizer steps each worker takes between two
        averages of the parameters and optimizer states. None (default): read
        ``dask.config.get("xentlearn.sync-every")``, and when that is unset
        too, once per epoch, at its end (the fewest round trips; see
        ``minibatch_epoch``).

    Notes
    -----
    Use as a context manager, like every backend. The data's lifetime is the
    source's (its futures), not the backend's: the estimator scores validation
    data and calibrates after the loop returns.
    """

    def __init__(self, sync_every: int | None = None):
        if sync_every is None:
            import dask

            sync_every = dask.config.get("xentlearn.sync-every", None)
        if sync_every is not None and (not isinstance(sync_every, numbers.Integral)
                                       or sync_every < 1):
            from xentlearn.exceptions import XentlearnInputError

            raise XentlearnInputError(f"sync_every must be a positive integer, got {sync_every!r}")
        self.sync_every = None if sync_every is None else int(sync_every)

    def __enter__(self) -> "DaskBackend":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def layout(self, source, minibatch: bool) -> dict:
        """The parts' rows (sums are added part by part); for mini-batches also the
        workers' shards and ``sync_every`` (each shard steps alone between averages)."""
        layout = {"backend": "dask", "part_rows": list(source.rows)}
        if minibatch:
            layout.update(shards=[list(map(int, shard)) for shard in source.shards],
                          sync_every=self.sync_every)
        return layout

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

    def minibatch_epoch(self, objective: Objective, optimizer, source, state: TrainState,
                        rng: np.random.Generator | None, batch_size: int, progress, checkpoint
                        ) -> tuple[TrainState, float]:
        """The rest of the current epoch as data-parallel local SGD: (state, training loss).

        Each worker (shard) steps through its own rows, mini-batch by mini-batch,
        in an order drawn from its own stream (``shard_rng_states``; shard 0
        continues the loop's generator), updating its own copy of the parameters
        and optimizer state. Every `sync_every` steps (default: the epoch's
        steps, i.e. once per epoch) the copies come back and are averaged,
        weighted by the rows each stepped through in the round (a worker whose
        rows are used up counts 0); step counters take the maximum. The epoch has
        ``source.n_batches(batch_size)`` steps: those of the largest shard.

        With one shard this is exactly the in-memory epoch with the same
        generator: the same order, batches and updates, and nothing averaged.
        With k shards each step sees 1/k-th of the data's batches in parallel:
        the same number of epochs covers the data once each, at a k times
        larger effective batch between averages (tune `sync_every` down, or the
        learning rate, if that hurts).

        A checkpoint due after a round saves the averaged state with
        ``batch`` = the steps taken; resuming redraws the epoch's orders and
        skips them, as in memory. The epoch's training loss is the mean of the
        batch losses (each at the parameters it was computed with) plus the
        penalty at the end, as in memory.
        """
        n_shards = len(source.shards)
        total = source.n_batches(batch_size)
        sync = self.sync_every or total
        epoch_state = None if rng is None else rng.bit_generator.state
        shard_states = ([None] * n_shards if epoch_state is None
                        else shard_rng_states(epoch_state, n_shards))
        params, opt_state = state.params, state.opt_state
        loss_sum, weight_sum, done = state.loss_sum, state.weight_sum, state.batch
        rng_after = None
        while done < total:
            stop = min(done + sync, total)
            results = source.map_shards(shard_local_steps, objective, optimizer, params,
                                        opt_state, batch_size, done, stop,
                                        shard_args=shard_states)
            for result in results:
                if result["diverged"] is not None:
                    what, step = result["diverged"]
                    # The diverging worker's last finite parameters, as the in-memory loop keeps.
                    raise divergence(state.epoch + 1, step + 1, what, result["opt_state"],
                                     result["params"])
            weights = [r["rows"] for r in results]
            params = average_trees([r["params"] for r in results], weights)
            opt_state = average_trees([r["opt_state"] for r in results], weights)
            loss_sum += sum(r["loss_sum"] for r in results)
            weight_sum += sum(r["weight_sum"] for r in results)
            rng_after = results[0]["rng_after"]
            for _ in range(stop - done):
                progress.batch_done()
            done = stop
            if checkpoint is not None and checkpoint.due() and done < total:
                checkpoint.save(state._replace(params=params, opt_state=opt_state, batch=done,
                                               loss_sum=loss_sum, weight_sum=weight_sum))
        if rng is not None:
            if rng_after is None:      # resumed after the last round: advance as the draw would
                rng.permutation(source.shard_rows()[0])
            else:
                rng.bit_generator.state = rng_after
        return (state._replace(params=params, opt_state=opt_state),
                objective.epoch_value(loss_sum, weight_sum, params))
