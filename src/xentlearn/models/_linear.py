"""The linear model: logits = X W + b.

Forward and backward are two matrix products each. The training engine calls
them once per row block (~8k rows) on full-batch passes, so they do no
validation and make no copies: the only allocations are the logits and the
gradients themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from xentlearn._types import Grads, Matrix, Params
from xentlearn.exceptions import XentlearnInputError
from xentlearn.models._products import bias_gradient, weight_gradient


@dataclass(frozen=True)
class Linear:
    """Affine map from features to logits, ``logits = X @ W0 + b0``.

    Parameters
    ----------
    n_features : int
        d, the number of input columns.
    n_outputs : int
        k, the number of logits: 1 for binary (one sigmoid logit), the number
        of classes for softmax, the number of labels for multilabel.
    fit_intercept : bool, default=True
        Whether the model has the bias "b0". Without it the params are
        ``{"W0"}`` only.

    Notes
    -----
    Params are ``{"W0": (d, k), "b0": (k,)}``, in the dtype chosen at
    ``init``. For a batch X of shape (n, d) with dlogits G = dL/dlogits of
    shape (n, k), the gradients are

        dL/dW0 = X^T G      (d, k)
        dL/db0 = 1^T G      (k,)   (column sums)

    For sparse X, ``X @ W0`` and ``X.T @ G`` are sparse-times-dense products,
    O(nnz * k), with dense results; X is never densified. dL/dX is not formed.

    Examples
    --------
    >>> import numpy as np
    >>> model = Linear(n_features=3, n_outputs=2)
    >>> params = model.init(np.random.default_rng(0), np.float32)
    >>> logits, cache = model.forward(params, np.ones((4, 3), np.float32))
    >>> logits.shape, logits.dtype
    ((4, 2), dtype('float32'))
    >>> grads = model.backward(params, cache, np.ones((4, 2), np.float32))
    >>> grads["W0"].tolist(), grads["b0"].tolist()
    ([[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]], [4.0, 4.0])
    """

    n_features: int
    n_outputs: int
    fit_intercept: bool = True

    # Cross-entropy (without the focal factor) plus the penalty is convex in (W0, b0).
    convex: ClassVar[bool] = True

    def __post_init__(self) -> None:
        # Configuration is checked once here, never in forward/backward.
        for name, value in (("n_features", self.n_features), ("n_outputs", self.n_outputs)):
            if value < 1:
                raise XentlearnInputError(f"{name} must be >= 1, got {value}")

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The parameter layout, in ``init``'s key order, computed without allocating."""
        shapes = {"W0": (self.n_features, self.n_outputs)}
        if self.fit_intercept:
            shapes["b0"] = (self.n_outputs,)
        return shapes

    def to_layers(self, params: Params) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """[(W, b)]: the weight matrix (n_features, n_outputs) and intercept (None without)."""
        return [(params["W0"], params.get("b0"))]

    def from_layers(self, layers) -> Params:
        """Inverse of ``to_layers`` (the arrays are used as given)."""
        (W, b), = layers
        params = {"W0": W}
        if self.fit_intercept:
            params["b0"] = b
        return params

    def first_layer_keys(self) -> tuple[str, str | None]:
        """Keys of the weights that multiply the inputs, and of their intercept (or None)."""
        return "W0", ("b0" if self.fit_intercept else None)

    def output_layer_keys(self) -> tuple[str, str | None]:
        """Keys of the weights that make the logits, and of their intercept (or None).

        A softmax loss cannot see a constant added to a row of these weights (every
        logit of a sample moves by the same amount): ``optimizers.owlqn``'s
        ``shift_invariant``.
        """
        return self.first_layer_keys()

    def init(self, rng: np.random.Generator, dtype=np.float64) -> Params:
        """Zero parameters (the cross-entropy of a linear model is convex, so
        there is no symmetry to break; zeros also make the start independent of
        `rng`, which is accepted for the common Model interface only).

        Returns
        -------
        params : dict
            ``{"W0": zeros (n_features, n_outputs), "b0": zeros (n_outputs,)}``
            of `dtype`; no "b0" when ``fit_intercept=False``.
        """
        dtype = np.dtype(dtype)
        params = {"W0": np.zeros((self.n_features, self.n_outputs), dtype=dtype)}
        if self.fit_intercept:
            params["b0"] = np.zeros(self.n_outputs, dtype=dtype)
        return params

    def forward(self, params: Params, X: Matrix, *, keep_cache: bool = True
                ) -> tuple[np.ndarray, Matrix | None]:
        """Logits for a batch.

        Parameters
        ----------
        params : dict
            As returned by ``init``; all leaves of one dtype.
        X : ndarray or scipy.sparse CSR/CSC of shape (n_samples, n_features)
            Same dtype as `params` (the caller guarantees it).
        keep_cache : bool, default=True
            False for inference: the cache is then None.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_outputs), dtype of `params`
            C-ordered for inference; with the cache, dense X and more than one
            output, F-ordered (the transpose of a C-contiguous (n_outputs, n_samples)).
        cache : X itself (a reference, not a copy), or None
        """
        W = params["W0"]
        assert X.dtype == W.dtype, (X.dtype, W.dtype)   # internal invariant
        b = params.get("b0")
        if not W.any():
            # X @ 0 is 0 for finite X (the estimators check): the logits are the intercept,
            # without a pass over X. A full-batch fit starts here (zero initialisation).
            logits = np.zeros((X.shape[0], W.shape[1]), dtype=W.dtype)
            if b is not None:
                logits += b
            return logits, (X if keep_cache else None)
        if keep_cache and W.shape[1] > 1 and not sp.issparse(X):
            # Training: the logits class by class, (W^T X^T)^T, F-ordered (n, k). OpenBLAS
            # packs the big operand for a narrow product, and is faster this way round
            # (bench/engine.py, full-batch gradient).
            # The losses' hard-label softmax works class by class on it (contiguous rows of
            # n), and the backward product wants delta^T, which is then C-contiguous.
            logits_t = W.T @ X.T        # (k, n), C-contiguous
            if b is not None:
                logits_t += b[:, None]
            return logits_t.T, X
        logits = X @ W                  # (n, d) @ (d, k) -> (n, k); sparse @ dense is dense
        if b is not None:
            logits += b                 # in place on the array just allocated
        return logits, (X if keep_cache else None)

    def predict_logits(self, params: Params, X: Matrix) -> np.ndarray:
        """``forward(params, X, keep_cache=False)[0]``: logits only, for inference."""
        return self.forward(params, X, keep_cache=False)[0]

    def backward(self, params: Params, cache: Matrix, dlogits: np.ndarray) -> Grads:
        """Gradients of a scalar L given dlogits = dL/dlogits.

        Parameters
        ----------
        params : dict
            The params `forward` was called with.
        cache : ndarray or sparse matrix of shape (n_samples, n_features)
            The second output of ``forward(params, X)``, i.e. X.
        dlogits : ndarray of shape (n_samples, n_outputs), dtype of `params`
            Not modified.

        Returns
        -------
        grads : dict
            Same keys (in the same order), shapes and dtypes as `params`:
            ``dW0 = X^T dlogits`` and ``db0 = dlogits.sum(axis=0)``.
        """
        X = cache
        # (d, k), O(nnz * k) for sparse X; never a copy of X (see weight_gradient).
        grads = {"W0": weight_gradient(X, dlogits)}
        if "b0" in params:
            grads["b0"] = bias_gradient(dlogits)
        return grads

    def penalty_mask(self) -> dict[str, bool]:
        """True for the weights, which are penalised; False for the intercept."""
        mask = {"W0": True}
        if self.fit_intercept:
            mask["b0"] = False
        return mask
