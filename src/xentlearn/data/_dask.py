"""Dask collections as training data: partitions packed once, kept where they live.

A ``DaskSource`` is the training data of one fit on a Dask cluster (or, without
a ``dask.distributed`` client, on dask's local scheduler, in this process).

Placement
---------
Each row partition of X is packed with the same rows of y and of the sample
weights into one ``Batch`` (X in the engine's block format: a C-ordered float
array or a CSR matrix), by one task, so that the three sit on the same
worker. Persisting X, y and w separately would not co-locate them (the
scheduler places each collection on its own), and every evaluation would then
move y and w between workers; XGBoost's dask module packs for the same reason.
The packed parts are computed once (``client.compute``), and stay in the
workers' memory for the fit: they are futures, not scattered data, so a part
lost with its worker is recomputed from its graph on another one. Packing
also copies a misaligned array (one that arrived from another worker, see
``memory_aligned``), which BLAS would not take.

Shards and tasks
----------------
The parts are cut into one run of consecutive parts per worker (a *shard*,
of about equal rows when dask knows the chunk sizes), and every task of a
shard's graph (reading or generating the partition too) is asked to run on
its worker (a loose restriction: another worker may take over if that one is
gone). Shards are thus the same in every fit on as many workers, whatever the
timing, which makes data-parallel mini-batch training reproducible; data
generated on the workers is made where it stays. Every pass over the data is
then one task per shard (``map_shards``): the task receives its shard's parts
as arguments, which the scheduler resolves where they already are, so it runs
on that worker and only the arguments (parameters: a few KB) and the results
(sums) travel. One task per worker rather than one per partition: a task
costs the scheduler about a millisecond, and an L-BFGS fit evaluates the
objective hundreds of times. The shard tasks carry no restriction: the
scheduler runs a task where its inputs are, and after a worker dies, wherever
its parts were recomputed; results come back in part order, so sums over them
do not depend on where anything ran.

Without a distributed client (dask's synchronous or threaded scheduler), the
parts are computed into this process and the shard tasks are plain calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from xentlearn import _checks
from xentlearn._types import Batch
from xentlearn.data._arrays import ArraySource, strided_rows
from xentlearn.data._stats import ColumnMoments, column_moments
from xentlearn.exceptions import XentlearnInputError


def is_dask_collection(obj) -> bool:
    """True for dask arrays, DataFrames and Series, without importing dask."""
    module = type(obj).__module__.split(".")[0]
    return module in ("dask", "dask_expr") and hasattr(obj, "__dask_graph__")


def current_client():
    """The ``dask.distributed.Client`` that dask computes on now, or None.

    Follows dask's own choice (``dask.base.get_scheduler``): the default client,
    unless ``dask.config.set(scheduler=...)`` names another scheduler.
    """
    from dask.base import get_scheduler

    scheduler = get_scheduler()
    client = getattr(scheduler, "__self__", None)
    if client is not None and type(client).__module__.split(".")[0] == "distributed":
        return client
    return None


def _is_dask_array(obj) -> bool:
    return is_dask_collection(obj) and hasattr(obj, "chunks") and hasattr(obj, "map_blocks")


def check_row_chunks(X, name: str = "X") -> None:
    """Refuse a dask array chunked along its columns (or not 2-D), saying how to fix it."""
    if X.ndim != 2:
        raise XentlearnInputError(f"{name} must be 2-D (n_samples, n_features); got shape "
                                  f"{X.shape}")
    if len(X.chunks[1]) > 1:
        raise XentlearnInputError(
            f"{name} is chunked along its columns (chunks {X.chunks[1]} over {X.shape[1]} "
            f"columns): each partition must hold whole rows. Rechunk by rows only, e.g. "
            f"{name}.rechunk({{1: -1}})")


def _row_counts(obj) -> tuple | None:
    """Rows per partition when dask knows them (arrays with known chunks), else None."""
    if _is_dask_array(obj):
        rows = obj.chunks[0]
        return None if any(np.isnan(r) for r in rows) else tuple(int(r) for r in rows)
    return None


def _partitions(collections: Sequence, names: Sequence[str]) -> list[list]:
    """The row partitions of each dask collection, as lists of ``Delayed``.

    X and y taken from one dask DataFrame share its reading tasks. Optimised one
    by one (``to_delayed``'s default), each fused its own copy of the read (every
    partition read twice) and pruned the columns for itself; DataFrames and
    Series are optimised together, as one expression, so the read is one task
    that reads the columns of all of them. Dask arrays, or a mix of kinds (whose
    joint graph lists partitions out of order), are taken one by one.
    """
    for name, obj in zip(names, collections):
        if not (_is_dask_array(obj) or hasattr(obj, "npartitions")):
            raise XentlearnInputError(
                f"{name} is a {type(obj).__name__}, which has no row partitions")
    if len(collections) > 1 and not any(map(_is_dask_array, collections)):
        joint = _optimized_together(collections)
        if joint is not None:
            return joint
    return [list(obj.to_delayed().ravel()) if _is_dask_array(obj) else list(obj.to_delayed())
            for obj in collections]


def _optimized_together(frames: Sequence) -> list[list] | None:
    """The partitions of dask DataFrames/Series from one optimised graph, or None if
    that graph does not list each one's partitions in order."""
    from dask.base import collections_to_expr
    from dask.delayed import Delayed
    from dask.optimization import cull

    expr = collections_to_expr(list(frames)).optimize()
    keys = expr.__dask_keys__()
    in_order = len(keys) == len(frames) and all(
        isinstance(part, tuple) and part[1:] == (i,)
        for parts in keys for i, part in enumerate(parts))
    if not in_order:
        return None
    # Each partition with only the tasks it needs: with the whole joint graph behind
    # every Delayed, each worker's compute call submitted every partition's tasks, and
    # a fit after a failed one hung the scheduler (a dependency in memory nowhere).
    graph = dict(expr.__dask_graph__())
    return [[Delayed(key, cull(graph, [key])[0]) for key in parts] for parts in keys]


def _row_pieces(X, y, sample_weight) -> tuple[list, list, list]:
    """X, y and the weights as one piece each per partition of X: a ``Delayed`` of the
    same rows, an in-memory slice, or None."""
    others = {"y": _chunked_as(X, y, "y"),
              "sample_weight": _chunked_as(X, sample_weight, "sample_weight")}
    lazy = [name for name, other in others.items() if is_dask_collection(other)]
    X_parts, *lazy_parts = _partitions([X, *(others[name] for name in lazy)], ["X", *lazy])
    pieces = dict(zip(lazy, lazy_parts))
    for name, parts in pieces.items():
        if len(parts) != len(X_parts):
            raise XentlearnInputError(
                f"{name} has {len(parts)} partitions but X has {len(X_parts)}: partition them "
                f"alike (e.g. take both from one dask DataFrame, or rechunk {name} as X)")
    return (X_parts, *(pieces[name] if name in pieces
                       else _in_memory_pieces(X, len(X_parts), other, name)
                       for name, other in others.items()))


def _chunked_as(X, other, name: str):
    """A dask array `other` (y or sample_weight) in X's row chunks and one column chunk;
    anything else as it is."""
    if not _is_dask_array(other):
        return other
    rows, other_rows = _row_counts(X), _row_counts(other)
    if rows is not None and other_rows is not None and rows != other_rows:
        if sum(rows) != sum(other_rows):
            raise XentlearnInputError(f"{name} has {sum(other_rows)} rows but X has {sum(rows)}")
        other = other.rechunk({0: rows})       # same rows, chunked as X
    if other.ndim == 2 and len(other.chunks[1]) > 1:
        other = other.rechunk({1: -1})          # a few columns at most
    return other


def _in_memory_pieces(X, n_parts: int, other, name: str) -> list:
    """`other` (in memory, or None) sliced by X's known row chunks."""
    if other is None:
        return [None] * n_parts
    rows = _row_counts(X)
    if rows is None:
        raise XentlearnInputError(
            f"X is a dask collection of unknown partition lengths and {name} is in memory: "
            f"pass {name} as a dask Series or array partitioned like X (e.g. a column of the "
            "same dask DataFrame)")
    n = sum(rows)
    length = len(other) if hasattr(other, "__len__") else np.asarray(other).shape[0]
    if length != n:
        raise XentlearnInputError(f"{name} has {length} rows but X has {n}")
    bounds = np.cumsum((0,) + rows)
    take = other.iloc if hasattr(other, "iloc") else np.asarray(other)
    return [take[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]


def memory_aligned(a):
    """`a`, copied if its data is not aligned to its item size.

    An array received from another worker is rebuilt on the bytes of the
    message that carried it, at whatever offset it had there (seen: 30 bytes
    past a 64-byte boundary for float64). numpy hands only aligned arrays to
    BLAS: on a misaligned X the products ran in numpy's own loops, an
    evaluation 3-8x slower. One copy puts it right for good.
    """
    if isinstance(a, np.ndarray) and not a.flags.aligned:
        return a.copy()
    if sp.issparse(a) and not (a.data.flags.aligned and a.indices.flags.aligned
                               and a.indptr.flags.aligned):
        return a.copy()
    return a


def aligned_part(part: Batch) -> Batch:
    """`part` with every array aligned (``memory_aligned``); the same object when it is."""
    arrays = [part.X, part.targets, part.sample_weight]
    fixed = [a if a is None else memory_aligned(a) for a in arrays]
    if all(f is a for f, a in zip(fixed, arrays)):
        return part
    return Batch(*fixed)


def _as_block(X, dtype: np.dtype, index: int, first_row: int | None):
    """One partition of X in the engine's format: C-ordered, aligned `dtype` array, or CSR
    (a non-finite value named by its row in X where `first_row`, the partition's, is known)."""
    if hasattr(X, "to_numpy") and getattr(X, "ndim", 0) == 2:        # pandas DataFrame
        X = X.to_numpy(dtype=dtype, na_value=np.nan)
    if sp.issparse(X):
        X = memory_aligned(sp.csr_matrix(X, dtype=dtype))
    else:
        X = memory_aligned(np.ascontiguousarray(X, dtype=dtype))
    if X.ndim != 2:
        raise XentlearnInputError(f"partition {index} of X has shape {X.shape}; expected 2-D")
    _checks.check_finite("X", X, part=(f"partition {index}", first_row))
    return X


def pack(X, y, sample_weight, dtype, index: int, first_row: int | None = None) -> Batch:
    """Partition `index` of X, y and sample_weight as one Batch (y still the raw labels);
    `first_row`, its first row in X where the chunk sizes are known, names bad rows.

    Runs on a worker: the three pieces meet there once, and stay together.
    """
    X = _as_block(X, np.dtype(dtype), index, first_row)
    n = X.shape[0]
    if y is not None and len(y) != n:
        raise XentlearnInputError(
            f"partition {index} of y has {len(y)} rows but the same partition of X has {n}: "
            "y must be partitioned like X")
    if sample_weight is not None:
        if hasattr(sample_weight, "to_numpy"):
            sample_weight = sample_weight.to_numpy()
        sample_weight = memory_aligned(_checks.check_sample_weight(
            f"sample_weight (partition {index})", sample_weight, n, dtype))
    return Batch(X, y, sample_weight)


def _rows(part: Batch) -> int:
    return int(part.X.shape[0])


def _apply_each(parts: Sequence[Batch], fn: Callable, args: tuple) -> list:
    return [fn(part, *args) for part in parts]


def _apply_shard(parts: Sequence[Batch], fn: Callable, args: tuple, extra: tuple) -> Any:
    # Parts that had to travel to this worker (after a failure) may arrive misaligned.
    return fn([aligned_part(part) for part in parts], *args, *extra)


class DaskSource:
    """Training rows held as packed partitions on Dask workers (or in this process).

    Satisfies the ``DataSource`` protocol (``n_samples``, ``n_features``,
    ``dtype``, ``batches``, ``n_batches``); the real work goes through
    ``map_shards`` / ``map_parts``, one task per worker (see the module
    docstring). ``batches(None)`` streams the parts to the caller one at a
    time (for a checkpoint's fingerprint, or a small validation set), which a
    fit never does with the training rows.

    Parameters
    ----------
    parts : list
        Futures of packed ``Batch`` es (with a client), or the Batches themselves.
    rows : list of int
        Rows per part (no part is empty).
    n_features : int
    dtype : numpy dtype of X
    client : dask.distributed.Client or None
    shards : list of lists of part indices, optional
        The parts of each worker (default: one shard of every part).
    feature_names : column names of a DataFrame, or None
    """

    def __init__(self, parts: list, rows: Sequence[int], n_features: int, dtype, client,
                 shards: list[list[int]] | None = None, feature_names=None):
        self.parts = list(parts)
        self.rows = [int(r) for r in rows]
        self.n_samples = int(sum(self.rows))
        self.n_features = int(n_features)
        self.dtype = np.dtype(dtype)
        self.client = client
        self.feature_names = feature_names
        self.shards = shards if shards is not None else [list(range(len(self.parts)))]
        self.moments: ColumnMoments | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_collections(cls, X, y, sample_weight, *, dtype) -> "DaskSource":
        """Pack and persist X (dask array chunked by rows, or DataFrame) with y and the
        weights (dask collections partitioned alike, or in-memory arrays when X's
        chunk sizes are known); empty partitions are dropped.

        y is kept as given (labels are encoded later, once the classes are known).
        """
        import dask

        if _is_dask_array(X):
            check_row_chunks(X)
            n_features, names = int(X.shape[1]), None
        elif getattr(X, "ndim", 2) == 2 and hasattr(X, "columns"):
            n_features, names = len(X.columns), list(X.columns)
        else:
            raise XentlearnInputError(
                f"X must be a 2-D dask array or a dask DataFrame, got a {type(X).__name__}")
        X_parts, y_parts, w_parts = _row_pieces(X, y, sample_weight)
        packer = dask.delayed(pack, pure=True)
        rows = _row_counts(X)
        starts = [None] * len(X_parts) if rows is None else np.cumsum((0,) + rows[:-1]).tolist()
        packed = [packer(x, t, w, np.dtype(dtype).str, i, start)
                  for i, (x, t, w, start) in enumerate(zip(X_parts, y_parts, w_parts, starts))]
        return cls.from_delayed(packed, rows, n_features, dtype, names)

    @classmethod
    def from_calls(cls, fn: Callable, calls: Sequence[tuple], weights: Sequence[float] | None,
                   n_features: int, dtype, feature_names=None) -> "DaskSource":
        """Parts made on the workers by ``fn(*call)`` for each call (e.g. one file each),
        in order; see ``from_delayed``."""
        import dask

        maker = dask.delayed(fn, pure=True)
        return cls.from_delayed([maker(*call) for call in calls], weights, n_features, dtype,
                                feature_names)

    @classmethod
    def from_delayed(cls, packed: list, weights: Sequence[float] | None, n_features: int,
                     dtype, feature_names=None) -> "DaskSource":
        """Compute `packed` (Delayed Batches, in row order) once, one run of consecutive
        parts per worker (balanced by `weights`: rows or bytes, when known); empty parts
        are dropped. Without a distributed client they are computed here."""
        import dask

        client = current_client()
        if client is None:
            parts = list(dask.compute(*packed))
            shards = [list(range(len(parts)))]
        else:
            from distributed import wait

            workers = sorted(client.scheduler_info()["workers"])
            if not workers:       # a cluster just started: its workers may still be coming
                try:
                    client.wait_for_workers(1, timeout=30)
                except TimeoutError:
                    raise XentlearnInputError(
                        "the Dask cluster has no workers (waited 30 s for one)") from None
                workers = sorted(client.scheduler_info()["workers"])
            shards = contiguous_shards(weights, len(packed), len(workers))
            parts = [None] * len(packed)
            for worker, shard in zip(workers, shards):
                # Every task of the shard's graph (reading or generating the partition
                # too) prefers its worker: shards are the same in every fit with as many
                # workers, whatever the timing, and generated data is made in place.
                futures = client.compute([packed[i] for i in shard], workers=[worker],
                                         allow_other_workers=True)
                for i, future in zip(shard, futures):
                    parts[i] = future
            wait(parts)
            _raise_first_error(parts)
        source = cls(parts, [0] * len(parts), n_features, dtype, client, shards=shards,
                     feature_names=feature_names)
        return source.without_empty_parts()

    def without_empty_parts(self) -> "DaskSource":
        """This source with its row counts measured and its empty parts dropped."""
        rows = self.map_parts(_rows)
        keep = [i for i, r in enumerate(rows) if r > 0]
        return self._subset(keep, [rows[i] for i in keep])

    def _subset(self, keep: list[int], rows: list[int]) -> "DaskSource":
        renumber = {old: new for new, old in enumerate(keep)}
        shards = [[renumber[i] for i in shard if i in renumber] for shard in self.shards]
        source = DaskSource([self.parts[i] for i in keep], rows, self.n_features, self.dtype,
                            self.client, shards=[s for s in shards if s],
                            feature_names=self.feature_names)
        source.moments = self.moments
        return source

    def replace_parts(self, fn: Callable, *args, drop_empty: bool = False,
                      with_index: bool = False) -> "DaskSource":
        """A source of ``fn(part, *args)`` (``fn(part, index, *args)`` `with_index`) for
        every part, each computed where its part is (and so kept in the same shard);
        the old parts are released with this object."""
        heads = [(i,) if with_index else () for i in range(len(self.parts))]
        if self.client is None:
            parts = [fn(part, *head, *args) for part, head in zip(self.parts, heads)]
        else:
            from distributed import wait

            parts = [self.client.submit(fn, part, *head, *args, pure=False)
                     for part, head in zip(self.parts, heads)]
            wait(parts)
            _raise_first_error(parts)
        source = DaskSource(parts, self.rows, self.n_features, self.dtype, self.client,
                            shards=self.shards, feature_names=self.feature_names)
        source.moments = self.moments
        return source.without_empty_parts() if drop_empty else source

    def placement(self) -> list[list[str]]:
        """The workers holding each part now (for diagnostics and tests)."""
        if self.client is None:
            return [["local"] for _ in self.parts]
        holders = self.client.who_has(self.parts)
        return [sorted(holders.get(part.key, ())) for part in self.parts]

    # ------------------------------------------------------------------ work
    def map_shards(self, fn: Callable, *args, shard_args: Sequence | None = None) -> list:
        """``[fn(parts of shard s, *args[, shard_args[s]]) for s in shards]``, one task each.

        `fn` must be importable on the workers (a module-level function); `args`
        travel with every task (keep them small: parameters, not data).
        """
        extras = [() if shard_args is None else (shard_args[s],) for s in range(len(self.shards))]
        if self.client is None:
            return [_apply_shard([self.parts[i] for i in shard], fn, args, extra)
                    for shard, extra in zip(self.shards, extras)]
        futures = [self.client.submit(_apply_shard, [self.parts[i] for i in shard], fn, args,
                                      extra, pure=False)
                   for shard, extra in zip(self.shards, extras)]
        return self.client.gather(futures)

    def map_parts(self, fn: Callable, *args) -> list:
        """``[fn(part, *args) for part in parts]``, in part order, one task per shard."""
        return self.in_part_order(self.map_shards(_apply_each, fn, args))

    def in_part_order(self, per_shard: Sequence[Sequence]) -> list:
        """Per-shard lists of per-part results, put back in the order of the parts."""
        out: list = [None] * len(self.parts)
        for shard, results in zip(self.shards, per_shard):
            for i, result in zip(shard, results):
                out[i] = result
        return out

    def column_moments(self) -> ColumnMoments:
        """Column means and variances over all rows (weighted), computed on the workers
        once: one pass, per-part moments merged here in part order."""
        if self.moments is None:
            self.moments = merge_moments(self.map_parts(part_moments))
        return self.moments

    # ------------------------------------------------------------------ DataSource
    def __len__(self) -> int:
        return self.n_samples

    def n_batches(self, batch_size: int | None) -> int:
        """1 for full batch; for mini-batches, the steps of one epoch on the largest
        shard (each worker steps through its own rows)."""
        if batch_size is None:
            return 1
        return max(-(-sum(self.rows[i] for i in shard) // batch_size) for shard in self.shards)

    def every(self, step: int) -> "DaskSource":
        """Rows 0, step, 2 step, ... of all the rows, in order (those ``ArraySource.every``
        takes of the same rows in memory), sliced where each part is: one task per
        part, nothing comes here. Dense slices are views where they keep a unit stride,
        C-ordered copies otherwise; a part with no such row is dropped."""
        starts = np.cumsum([0] + self.rows[:-1])
        offsets = [int(-start % step) for start in starts]
        source = self.replace_parts(_every_rows, offsets, step, with_index=True,
                                    drop_empty=True)
        source.moments = None           # its own, if asked for
        return source

    def shard_rows(self) -> list[int]:
        return [sum(self.rows[i] for i in shard) for shard in self.shards]

    def fetch(self, index: int) -> Batch:
        """Part `index`, brought to this process."""
        part = self.parts[index]
        return part if self.client is None else aligned_part(part.result())

    def head(self, n_rows: int) -> Iterator[Batch]:
        """The row blocks of ``batches(None)`` that hold the first `n_rows` rows, the last
        cut at `n_rows` (a checkpoint's fingerprint): cut where the parts are, so that
        only those rows come here, not whole parts."""
        for part in self.parts:
            if n_rows <= 0:
                return
            blocks = (_head_blocks(part, n_rows) if self.client is None
                      else self.client.submit(_head_blocks, part, n_rows).result())
            yield from blocks
            n_rows -= sum(block.X.shape[0] for block in blocks)

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None,
                skip: int = 0) -> Iterator[Batch]:
        """Full batch: every part's row blocks, in part order, fetched one part at a time.

        Mini-batches exist only on the workers (``training.DaskBackend``); without a
        client the parts are here and are shuffled as one array.
        """
        if batch_size is None:
            for index in range(len(self.parts)):
                yield from ArraySource(*self.fetch(index)).batches(None)
            return
        if self.client is not None:
            raise XentlearnInputError(
                "mini-batches of data on a Dask cluster are drawn on the workers: train "
                "through xentlearn.training.DaskBackend")
        yield from concatenate(self.parts).batches(batch_size, rng=rng, skip=skip)


def _head_blocks(part: Batch, n_rows: int) -> list[Batch]:
    """Runs where `part` is: its ``batches(None)`` blocks up to its first `n_rows` rows."""
    blocks = []
    for block in ArraySource(*aligned_part(part)).batches(None):
        take = min(block.X.shape[0], n_rows)
        blocks.append(Batch(block.X[:take], block.targets[:take],
                            None if block.sample_weight is None else block.sample_weight[:take]))
        n_rows -= take
        if n_rows <= 0:
            break
    return blocks


def _every_rows(part: Batch, index: int, offsets: Sequence[int], step: int) -> Batch:
    """Rows offsets[index], + step, ... of part `index` (``DaskSource.every``)."""
    return strided_rows(part, offsets[index], step)


def contiguous_shards(rows: Sequence[int] | None, n_parts: int, n_workers: int
                      ) -> list[list[int]]:
    """Parts 0..n-1 cut into min(n_workers, n) runs of consecutive parts: of about equal
    rows when the row counts are known, else of about equal numbers of parts.

    Examples
    --------
    >>> contiguous_shards([100, 100, 100, 300], 4, 2)
    [[0, 1, 2], [3]]
    >>> contiguous_shards(None, 5, 2)
    [[0, 1], [2, 3, 4]]
    """
    k = max(1, min(n_workers, n_parts))
    weights = np.ones(n_parts) if rows is None or sum(rows) == 0 else np.asarray(rows, float)
    ends = np.cumsum(weights)
    # Part i goes to the shard its middle row falls in.
    middles = (ends - weights / 2) / ends[-1]
    owner = np.minimum((middles * k).astype(int), k - 1)
    shards = [list(np.flatnonzero(owner == s)) for s in range(k)]
    return [[int(i) for i in shard] for shard in shards if shard]


def concatenate(parts: Sequence[Batch]) -> ArraySource:
    """The rows of `parts`, in order, as one ArraySource (no copy for a single part)."""
    if len(parts) == 1:
        return ArraySource(*parts[0])
    X = (sp.vstack([p.X for p in parts], format="csr") if sp.issparse(parts[0].X)
         else np.concatenate([p.X for p in parts]))
    targets = np.concatenate([p.targets for p in parts])
    weights = (None if parts[0].sample_weight is None
               else np.concatenate([p.sample_weight for p in parts]))
    return ArraySource(X, targets, weights)


class ShardRows:
    """The rows of a worker's parts as one indexable set, without concatenating them.

    ``take(rows)`` gathers rows (positions in the parts' concatenation, in any
    order) into a Batch with exactly the values and order that indexing the
    concatenated arrays would give, so a worker holding every part steps
    through the same mini-batches as an in-memory ``ArraySource``.
    """

    def __init__(self, parts: Sequence[Batch]):
        self.parts = list(parts)
        self.bounds = np.cumsum([0] + [p.X.shape[0] for p in self.parts])
        self.n_samples = int(self.bounds[-1])

    def take(self, rows: np.ndarray) -> Batch:
        if len(self.parts) == 1:
            part = self.parts[0]
            sw = None if part.sample_weight is None else part.sample_weight[rows]
            return Batch(part.X[rows], part.targets[rows], sw)
        which = np.searchsorted(self.bounds, rows, side="right") - 1
        pieces, positions = [], []
        for p in np.unique(which):
            mask = which == p
            local = rows[mask] - self.bounds[p]
            part = self.parts[p]
            pieces.append((part.X[local], part.targets[local],
                           None if part.sample_weight is None else part.sample_weight[local]))
            positions.append(np.flatnonzero(mask))
        # Pieces come grouped by part; put the rows back in the order asked for.
        inverse = np.empty(len(rows), dtype=np.intp)
        inverse[np.concatenate(positions)] = np.arange(len(rows))
        X = (sp.vstack([x for x, _, _ in pieces], format="csr") if sp.issparse(pieces[0][0])
             else np.concatenate([x for x, _, _ in pieces]))
        targets = np.concatenate([t for _, t, _ in pieces])[inverse]
        sw = None if pieces[0][2] is None else np.concatenate([w for _, _, w in pieces])[inverse]
        return Batch(X[inverse], targets, sw)


def part_moments(part: Batch) -> ColumnMoments | None:
    """Column moments of one part (None when its weights are all zero)."""
    total = part.X.shape[0] if part.sample_weight is None else float(part.sample_weight.sum())
    if total == 0:
        return None
    return column_moments(ArraySource(*part).batches(None))


def merge_moments(moments: Sequence[ColumnMoments | None]) -> ColumnMoments:
    """Moments of the union of disjoint row sets (Chan, Golub & LeVeque), in order."""
    n_total, mean_total, m2_total = 0.0, None, None
    for m in moments:
        if m is None:
            continue
        n, mean, m2 = m.weight_sum, m.mean, m.var * m.weight_sum
        if mean_total is None:
            n_total, mean_total, m2_total = n, mean.copy(), m2
            continue
        merged = n_total + n
        delta = mean - mean_total
        m2_total = m2_total + m2 + delta * delta * (n_total * n / merged)
        mean_total = mean_total + delta * (n / merged)
        n_total = merged
    if mean_total is None:
        raise XentlearnInputError("no row of positive weight (no rows, or sample_weight zero "
                                  "in every row); nothing to fit")
    return ColumnMoments(n_total, mean_total, m2_total / n_total)


def _raise_first_error(futures) -> None:
    """Raise the exception of the first future that failed (in order), as the task raised it."""
    for future in futures:
        if future.status == "error":
            future.result()


def map_row_blocks(X, fn: Callable, *shared) -> Any:
    """``fn(partition, *shared)`` for each row partition of X, lazily, as a dask array.

    Parameters
    ----------
    X : dask array (chunked by rows) or dask DataFrame
    fn : callable, (partition (ndarray or pandas DataFrame), *shared) -> ndarray
        Rows in, the same number of rows out (1-D or 2-D); importable on the workers.
    *shared : objects every task needs (a fitted estimator): one key of the graph each,
        sent once per worker rather than embedded in every task.

    Returns
    -------
    dask array with X's row chunks (unknown lengths for DataFrames), one task per
    partition. The output's shape and dtype come from `fn` on one row of zeros
    (of dask's fake non-empty partition for DataFrames), computed here.
    """
    import dask
    import dask.array as da

    keys = [dask.delayed(obj, pure=True) for obj in shared]
    if _is_dask_array(X):
        check_row_chunks(X)
        probe = np.asarray(fn(np.zeros((1, X.shape[1]), dtype=X.dtype), *shared))
        out_chunks = (X.chunks[0],) + tuple((s,) for s in probe.shape[1:])
        return X.map_blocks(fn, *keys, dtype=probe.dtype, chunks=out_chunks,
                            drop_axis=1 if probe.ndim == 1 else None, meta=probe[:0])
    probe = np.asarray(fn(X._meta_nonempty.iloc[:1], *shared))
    call = dask.delayed(fn, pure=True)
    blocks = [da.from_delayed(call(part, *keys), shape=(np.nan,) + probe.shape[1:],
                              dtype=probe.dtype, meta=probe[:0])
              for part in X.to_delayed()]
    return da.concatenate(blocks, axis=0)


def map_chains_in_order(fn: Callable, calls: Sequence[tuple], *shared,
                        window: int | None = None) -> Iterator:
    """The results of chains of tasks on the current client's workers, yielded in call
    order and, within a chain, in link order.

    ``fn(*call, *shared)`` returns ``(result, next_call)``: `next_call` (a tuple,
    or None where the chain ends) is the chain's next link, submitted as soon as
    this link's result is here, before it is yielded, and asked to run on the
    worker that ran this one (a loose restriction: the worker may keep what the
    next link continues from, such as an open reader). Each call of `calls`
    starts a chain. At most `window` links (default: two per worker) are running
    or finished but not yet read, the next link of the chain being read taking
    the place of the link just read: later chains start while a long one goes
    on, and this process holds one result at a time. `shared` objects are sent
    to the workers once; a link's exception is raised here when its turn comes.
    Tasks are named after `fn` (the scheduler's task prefix). Without a
    distributed client the links run here, one after the other.
    """
    client = current_client()
    if client is None:
        for call in calls:
            while call is not None:
                result, call = fn(*call, *shared)
                yield result
        return
    import uuid
    from collections import deque

    if window is None:
        window = 2 * max(1, len(client.scheduler_info()["workers"]))
    window = max(1, window)
    shared = [client.scatter([obj], broadcast=True, hash=False)[0] for obj in shared]
    name = getattr(fn, "__name__", "link")

    def submit(call, worker=None):
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        return client.submit(_link, fn, call, *shared, key=f"{name}-{uuid.uuid4().hex}",
                             **where)

    pending: deque = deque()
    calls = iter(calls)
    try:
        while True:
            while len(pending) < window:
                call = next(calls, None)
                if call is None:
                    break
                pending.append(submit(call))
            if not pending:
                return
            result, next_call, worker = pending.popleft().result()
            if next_call is not None:
                pending.appendleft(submit(next_call, worker))
            yield result
            del result
    finally:
        client.cancel(list(pending) + shared)


def _link(fn: Callable, call: tuple, *shared) -> tuple:
    """Runs on a worker: one link of ``map_chains_in_order``, with the worker's address."""
    from distributed import get_worker

    result, next_call = fn(*call, *shared)
    return result, next_call, get_worker().address


def map_partitions_reduce(X, y, sample_weight, fn: Callable, *args) -> list:
    """``[fn(X_p, y_p, w_p, *args) for each partition p]``, computed by dask (on the
    workers with a client), without persisting anything; only the results come back.
    Large `args` are one key of the graph, shared by every task."""
    import dask

    if _is_dask_array(X):
        check_row_chunks(X)
    pieces = zip(*_row_pieces(X, y, sample_weight))
    shared = [dask.delayed(a, pure=True) if not np.isscalar(a) else a for a in args]
    call = dask.delayed(fn, pure=True)
    return list(dask.compute(*[call(x, t, w, *shared) for x, t, w in pieces]))
