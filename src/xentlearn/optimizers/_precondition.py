r"""Standardising inputs inside the optimizer: a preconditioner for full-batch solvers.

The first layer computes :math:`Z = X W + b`. Standardising the columns of X,
:math:`\tilde X = (X - 1\mu^\top) S^{-1}` with :math:`S = \mathrm{diag}(\sigma)`,
is the change of variables

.. math::
    W = S^{-1} V, \qquad b = c - \mu^\top S^{-1} V

(so :math:`X W + b = \tilde X V + c`), i.e. :math:`\theta = A \varphi` with
:math:`A = \begin{pmatrix} S^{-1} & 0 \\ -\mu^\top S^{-1} & 1 \end{pmatrix}`
for each output column. A quasi-Newton method run on :math:`\varphi` with the
identity as its initial inverse Hessian takes exactly the steps that it takes
on :math:`\theta` with :math:`H_0 = A A^\top`. So the solver works in the
user's units (the objective, its penalty and its optimum are unchanged, and
the coefficients it returns need no conversion) while it moves as if the
features had been standardised. Applied to q = (q_W, q_b):

.. math::
    r_W = S^{-2} (q_W - \mu\, q_b^\top), \qquad r_b = q_b - \mu^\top r_W

Without an intercept there is nothing to centre with: :math:`r_W = S^{-2} q_W`,
with :math:`\sigma` the root mean square of each column. Parameters other
than the first layer's are left alone (:math:`H_0` is the identity there).

:math:`A = K D^{1/2}` factors into a positive diagonal scaling
:math:`D^{1/2} = \mathrm{diag}(S^{-1}, 1)` and a shear
:math:`K = \begin{pmatrix} I & 0 \\ -\mu^\top & 1 \end{pmatrix}` that only
moves the intercept (:math:`b = c - \mu^\top W`, with c the intercept of
centred inputs). The returned callable carries the shear as its ``centring``
attribute (a :class:`Centring`), for ``owlqn``: the L1 penalty is blind to the
shear and to the scaling (they leave the signs and zeros of W as they are),
but the orthant projections are not (see ``owlqn``'s Notes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from xentlearn._types import Params
from xentlearn.exceptions import XentlearnInputError

__all__ = ["standardizing_preconditioner", "Centring"]

Preconditioner = Callable[[np.ndarray], np.ndarray]


class Centring(NamedTuple):
    r"""The shear :math:`b = c - \mu^\top W` of a standardising preconditioner.

    Slices are into flat vectors laid out as ``_tree.ravel(params)``.
    """

    weights: str            # key of W, (n_features, n_outputs)
    intercept: str          # key of b, (n_outputs,)
    weights_slice: slice    # W's entries in the flat vector (row-major)
    intercept_slice: slice  # b's entries in the flat vector
    mean: np.ndarray        # (n_features,) mu, in the params' dtype


def standardizing_preconditioner(like: Params, mean: np.ndarray, scale: np.ndarray, *,
                                 weights: str = "W0", intercept: str | None = "b0"
                                 ) -> Preconditioner:
    """:math:`q \\mapsto A A^\\top q` on flat vectors laid out as ``_tree.ravel(like)``.

    Parameters
    ----------
    like : dict of str to ndarray
        The parameters (their keys, order, shapes and dtype fix the layout).
    mean : ndarray of shape (n_features,)
        :math:`\\mu`, the column means (ignored without an intercept).
    scale : ndarray of shape (n_features,)
        :math:`\\sigma > 0`, the column standard deviations (root mean squares
        without an intercept).
    weights, intercept : str
        Keys of the first layer's (n_features, n_outputs) weights and its
        (n_outputs,) bias; ``intercept=None`` (or a key not in `like`) scales only.

    Returns
    -------
    callable (n_params,) -> (n_params,)
        Symmetric positive definite; returns a new array of the input's dtype.
        With an intercept, its ``centring`` attribute is the :class:`Centring`
        of the change of variables (``None`` without one).

    Examples
    --------
    >>> import numpy as np
    >>> params = {"W0": np.zeros((2, 1)), "b0": np.zeros(1)}
    >>> h0 = standardizing_preconditioner(params, np.array([1.0, 0.0]), np.array([2.0, 1.0]))
    >>> h0(np.array([4.0, 1.0, 1.0]))        # r_W = ((4 - 1) / 4, (1 - 0) / 1), r_b = 1 - 0.75
    array([0.75, 1.  , 0.25])
    """
    if weights not in like:
        raise XentlearnInputError(f"weights={weights!r} is not a parameter; have {list(like)}")
    W = like[weights]
    d, k = W.shape
    mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if mean.shape != (d,) or scale.shape != (d,):
        raise XentlearnInputError(
            f"mean and scale must have shape ({d},), got {mean.shape} and {scale.shape}")
    if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(mean).all()):
        raise XentlearnInputError("scale must be finite and positive, and mean finite")
    # 1 / scale^2 in float64, capped where the params' dtype could not hold a step
    # scaled by it (float32: a column of root mean square 1e-20): such a column is
    # left unscaled rather than turning the direction into inf.
    inv_var = 1.0 / (scale * scale)
    inv_var[inv_var > math.sqrt(np.finfo(W.dtype).max)] = 1.0
    inv_var = inv_var.astype(W.dtype)[:, None]
    mean = mean.astype(W.dtype)
    offsets, start = {}, 0
    for key, value in like.items():
        offsets[key] = slice(start, start + value.size)
        start += value.size
    w_slice = offsets[weights]
    b_slice = offsets.get(intercept) if intercept is not None else None

    def apply(q: np.ndarray) -> np.ndarray:
        r = q.copy()
        r_W = r[w_slice].reshape(d, k)
        if b_slice is None:
            r_W *= inv_var
            return r
        q_b = q[b_slice]
        r_W -= mean[:, None] * q_b
        r_W *= inv_var
        r[b_slice] = q_b - mean @ r_W
        return r

    apply.centring = (None if b_slice is None else
                      Centring(weights, intercept, w_slice, b_slice, mean))
    return apply
