"""Operations on parameter dicts (``Params``): the only pytree xentlearn needs.

A leaf module so that models, optimizers and the loop share one vocabulary.
Every function returns new dicts and never mutates its inputs, except
``leafwise_in_place``, which exists to write into trees its caller owns.

Flat parameter buffers. A ``FlatParams`` is a ``Params`` dict whose leaves are
views of one contiguous vector ``flat``, cut in key order (the layout
``((key, shape), ...)``). It is an ordinary dict to every reader, while the
leaf-wise operations below and the optimizers' updates (``leafwise``) run once
on the whole vector instead of once per leaf: on a small MLP (16 x 64 x 26,
four leaves) an Adam step is about ten vectorised operations instead of forty,
and the loop's finiteness checks are one dot product instead of four.
Element-wise arithmetic gives the same bits on a vector as on its pieces, so a
flat and a per-leaf run of the same training are bit-identical, and a plain
dict (a restored checkpoint, user-assigned ``coefs_``) is converted on its
first flat operation without changing any number.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from xentlearn._types import Params

Layout = tuple[tuple[str, tuple[int, ...]], ...]      # ((key, shape), ...), in key order


class FlatParams(dict):
    """A ``Params`` dict whose leaves are views of one contiguous vector.

    Parameters
    ----------
    flat : ndarray of shape (n,), C-contiguous
        The buffer; ``n`` is the sum of the leaves' sizes.
    layout : tuple of (str, tuple of int)
        ``((key, shape), ...)``: leaf ``key`` is ``flat[start:start + size]``
        reshaped to ``shape``, leaves back to back in this order.

    Notes
    -----
    Writing into a leaf writes into ``flat`` (they share memory), so in-place
    arithmetic on leaves (``grads[key] *= c``, ``grads[key] += penalty``) keeps
    the link. Putting a different array under a key, deleting or adding keys
    would break it: such a mutation turns the object into a plain dict
    (``flat`` and ``layout`` become None), which every function here handles
    leaf by leaf. Pickling (checkpoints of a TrainState, Dask) rebuilds the
    views from ``flat``, so the link survives a round trip.

    Examples
    --------
    >>> import numpy as np
    >>> tree = FlatParams(np.arange(5.0), (("W", (2, 2)), ("b", (1,))))
    >>> tree["W"]
    array([[0., 1.],
           [2., 3.]])
    >>> tree["b"] += 10.0          # in place: the buffer sees it
    >>> tree.flat
    array([ 0.,  1.,  2.,  3., 14.])
    """

    __slots__ = ("flat", "layout")

    def __init__(self, flat: np.ndarray, layout: Layout):
        # Built several times per optimizer step, so the cuts are planned once per
        # layout and the views go straight into the dict storage.
        cuts, size = _cuts_of(layout)
        if flat.shape != (size,):
            raise ValueError(f"a layout of {size} numbers does not fit a vector of "
                             f"shape {flat.shape}")
        for key, rows, shape in cuts:
            _dict_setitem(self, key, flat[rows] if shape is None else flat[rows].reshape(shape))
        self.flat: np.ndarray | None = flat
        self.layout: Layout | None = layout

    def _unlink(self) -> None:
        self.flat = self.layout = None

    def __setitem__(self, key, value) -> None:
        # ``tree[key] += x`` stores back the very view it read: the link holds.
        if self.flat is not None and dict.get(self, key) is not value:
            self._unlink()
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self._unlink()
        super().__delitem__(key)

    def pop(self, *args):
        self._unlink()
        return super().pop(*args)

    def popitem(self):
        self._unlink()
        return super().popitem()

    def clear(self) -> None:
        self._unlink()
        super().clear()

    def update(self, *args, **kwargs) -> None:
        self._unlink()
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        if key not in self:
            self._unlink()
        return super().setdefault(key, default)

    def __ior__(self, other):
        self._unlink()
        return super().__ior__(other)

    def __reduce__(self):
        if self.flat is None:
            return (dict, (dict(self),))
        return (FlatParams, (self.flat, self.layout))


_dict_setitem = dict.__setitem__


@functools.lru_cache(maxsize=256)
def _cuts(layout: Layout) -> tuple[tuple, int]:
    """((key, slice of the vector, shape or None for 1-D leaves), ...) and the total size."""
    cuts, start = [], 0
    for key, shape in layout:
        stop = start + math.prod(shape)
        cuts.append((key, slice(start, stop), None if len(shape) == 1 else shape))
        start = stop
    return tuple(cuts), start


# (layout, its cuts) of the last layout seen: one training run reuses one layout object.
# Replaced as one tuple, so a thread never reads one layout with another's cuts.
_last_cuts: tuple = ((), ((), 0))


def _cuts_of(layout: Layout) -> tuple[tuple, int]:
    """``_cuts(layout)``, by identity for the layout seen last (hashing a nested tuple
    on every step costs more than planning it did)."""
    global _last_cuts
    last = _last_cuts
    if last[0] is layout:
        return last[1]
    cuts = _cuts(layout)
    _last_cuts = (layout, cuts)
    return cuts


def flat_of(tree: Params) -> np.ndarray | None:
    """The buffer of a linked ``FlatParams``, else None."""
    return tree.flat if isinstance(tree, FlatParams) else None


def layout_of(tree: Params) -> Layout:
    """``((key, shape), ...)`` of a dict of arrays, in key order."""
    if isinstance(tree, FlatParams) and tree.layout is not None:
        return tree.layout
    return tuple((key, value.shape) for key, value in tree.items())


def vector_like(tree: Params, like: FlatParams) -> np.ndarray | None:
    """`tree`'s leaves as one vector laid out as `like` (no copy when `tree` already is).

    None when `tree` does not match `like` (other keys, shapes or dtype): the
    caller then works leaf by leaf, exactly as before. The vector is shared
    with `tree` when `tree` is flat with the same layout: read it, never write.
    """
    flat = flat_of(tree)
    if flat is not None and (tree.layout is like.layout or tree.layout == like.layout):
        return flat if flat.dtype == like.flat.dtype else None
    if len(tree) != len(like.layout):
        return None
    parts = []
    for key, shape in like.layout:
        value = tree.get(key)
        if (not isinstance(value, np.ndarray) or value.shape != shape
                or value.dtype != like.flat.dtype):
            return None
        parts.append(value.ravel())
    return np.concatenate(parts) if parts else np.empty(0, like.flat.dtype)


def as_flat(tree: Params) -> FlatParams | None:
    """`tree` itself if flat, else a ``FlatParams`` copy of it; None if its leaves do
    not share one dtype (or it has none)."""
    if flat_of(tree) is not None:
        return tree
    dtypes = {value.dtype for value in tree.values() if isinstance(value, np.ndarray)}
    if len(dtypes) != 1 or not all(isinstance(v, np.ndarray) for v in tree.values()):
        return None
    return FlatParams(np.concatenate([value.ravel() for value in tree.values()]),
                      layout_of(tree))


def laid_out_as(tree: Params | None, layout: Layout, dtype) -> bool:
    """True if `tree` is a linked ``FlatParams`` with `layout` in `dtype` (a buffer that a
    result laid out so can be written into)."""
    return (flat_of(tree) is not None and tree.flat.dtype == dtype
            and (tree.layout is layout or tree.layout == layout))


def empty(layout: Layout, dtype) -> FlatParams:
    """An uninitialised ``FlatParams`` laid out as `layout` (a gradient to write into).

    Examples
    --------
    >>> tree = empty((("W", (2, 3)), ("b", (3,))), np.float32)
    >>> tree.flat.shape, tree["W"].shape, tree["b"].dtype
    ((9,), (2, 3), dtype('float32'))
    """
    return FlatParams(np.empty(_cuts_of(layout)[1], dtype), layout)


def leafwise(fn: Callable[..., tuple], tree: Params, *others: Params) -> tuple[Params, ...]:
    """``fn`` over matching leaves of `tree` and `others`; once over whole vectors when
    `tree` is flat.

    Parameters
    ----------
    fn : callable, (leaf, *other_leaves) -> tuple of ndarray
        Element-wise maths (the same bits on a vector as on its pieces). It
        must not write into its arguments.
    tree : dict of str to ndarray
        Gives the keys; if it is a ``FlatParams`` and every tree in `others`
        can be laid out like it (``vector_like``), `fn` runs once on the flat
        vectors and each output is a ``FlatParams`` with `tree`'s layout.
    *others : dicts with the same keys and shapes

    Returns
    -------
    tuple of dict
        One tree per output of `fn`, in `tree`'s key order.
    """
    flat = flat_of(tree)
    if flat is not None:
        vectors = [vector_like(other, tree) for other in others]
        if not any(vector is None for vector in vectors):
            layout = tree.layout
            return tuple([FlatParams(out, layout) for out in fn(flat, *vectors)])
    per_leaf = {key: fn(value, *(other[key] for other in others)) for key, value in tree.items()}
    n_outputs = len(next(iter(per_leaf.values()))) if per_leaf else 0
    return tuple({key: outs[i] for key, outs in per_leaf.items()} for i in range(n_outputs))


def leafwise_in_place(fn: Callable[..., None], tree: Params, *others: Params
                      ) -> tuple[Params, ...]:
    """``fn`` over matching leaves of `tree` and `others`, writing into them; once over
    whole vectors when `tree` is flat.

    The in-place counterpart of ``leafwise``, for trees the caller owns (an
    optimizer's state and gradients in a training loop).

    Parameters
    ----------
    fn : callable, (leaf, *other_leaves) -> None
        Element-wise maths that writes its results into its arguments.
    tree : dict of str to ndarray
        Gives the keys and, if it is a ``FlatParams``, the layout.
    *others : dicts with the same keys and shapes

    Returns
    -------
    tuple of dict
        The trees written: `tree` and `others` themselves, except that an other
        which is not laid out like a flat `tree` is replaced by a flat copy
        (a plain-dict state restored from a file, on its first step), and that
        copy is written instead.
    """
    flat = flat_of(tree)
    if flat is not None:
        vectors = [vector_like(other, tree) for other in others]
        if not any(vector is None for vector in vectors):
            fn(flat, *vectors)
            return (tree, *(other if flat_of(other) is vector else FlatParams(vector, tree.layout)
                            for other, vector in zip(others, vectors)))
    for key, value in tree.items():
        fn(value, *(other[key] for other in others))
    return (tree, *others)


def tree_map(fn: Callable[..., np.ndarray], tree: Params, *rest: Params) -> Params:
    """Apply `fn` leaf-wise over dicts with the same keys, keeping key order."""
    return {key: fn(value, *(other[key] for other in rest)) for key, value in tree.items()}


def zeros_like(tree: Params) -> Params:
    """Zeros with each leaf's shape and dtype (flat if `tree` is)."""
    flat = flat_of(tree)
    if flat is not None:
        return FlatParams(np.zeros_like(flat), tree.layout)
    return {key: np.zeros_like(value) for key, value in tree.items()}


def add(a: Params, b: Params) -> Params:
    """Leaf-wise a + b (flat if `a` is and `b` can be laid out like it)."""
    if flat_of(a) is not None:
        return leafwise(lambda x, y: (x + y,), a, b)[0]
    return {key: a[key] + b[key] for key in a}


def scale(factor: float, tree: Params) -> Params:
    """Leaf-wise factor * tree, dtype preserved (`factor` must be a Python float)."""
    flat = flat_of(tree)
    if flat is not None:
        return FlatParams(flat * factor, tree.layout)
    return {key: value * factor for key, value in tree.items()}


def vdot(a: Params, b: Params) -> float:
    """Sum over leaves of <a, b>, as a Python float."""
    return float(sum(np.vdot(a[key], b[key]) for key in a))


def global_norm(tree: Params) -> float:
    """sqrt(sum of squares of every leaf), as a Python float."""
    leaves = (tree.flat,) if flat_of(tree) is not None else tree.values()
    return math.sqrt(sum(float(np.vdot(value, value)) for value in leaves))


def all_finite(tree: Params) -> bool:
    """True if every leaf is free of NaN and inf.

    NaN and inf propagate through a sum of squares, so a finite ``vdot(v, v)``
    (one BLAS call, no boolean temporary) clears a leaf; only a non-finite one,
    which finite entries also give when their squares overflow (above ~1e154 in
    float64, ~1.8e19 in float32), is confirmed entry-wise. A flat tree is one
    vector: one call.
    """
    flat = flat_of(tree)
    if flat is not None:
        return _finite(flat)
    return all(_finite(value) for value in tree.values())


def _finite(a: np.ndarray) -> bool:
    return math.isfinite(np.vdot(a, a)) or bool(np.isfinite(a).all())


def ravel(tree: Params) -> np.ndarray:
    """Concatenate the leaves into one flat vector (dtype of the first leaf); a new array."""
    flat = flat_of(tree)
    if flat is not None:
        return flat.copy()
    return np.concatenate([value.ravel() for value in tree.values()])


def unravel(flat: np.ndarray, like: Params) -> Params:
    """Inverse of `ravel`: split `flat` into leaves shaped (and typed) like `like`."""
    out, start = {}, 0
    for key, value in like.items():
        stop = start + value.size
        out[key] = flat[start:stop].reshape(value.shape).astype(value.dtype, copy=False)
        start = stop
    return out


def copy(tree: Params) -> Params:
    """Deep copy of the leaves (flat if `tree` is)."""
    flat = flat_of(tree)
    if flat is not None:
        return FlatParams(flat.copy(), tree.layout)
    return {key: value.copy() for key, value in tree.items()}
