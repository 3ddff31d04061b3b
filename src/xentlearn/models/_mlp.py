"""The multi-layer perceptron, with hand-written backpropagation.

Forward, for layers l = 0..L (L = number of hidden layers), A_0 = X:

    Z_{l+1} = A_l W_l + b_l                     (n, fan_out_l)
    A_{l+1} = f(Z_{l+1})   for hidden layers;   logits = Z_{L+1} (no activation)

Backward, from delta_{L+1} = dL/dlogits:

    dW_l     = A_l^T delta_{l+1}                (fan_in_l, fan_out_l)
    db_l     = 1^T delta_{l+1}                  (fan_out_l,)
    delta_l  = (delta_{l+1} W_l^T) * f'(Z_l),   f' written from A_l (see _activations)

The recursion stops at delta_1: dL/dX is never formed. The loops run over
layers only; every step is a matrix product over the whole batch.

The gradients are written straight into one flat buffer (``_tree.FlatParams``,
the dict's leaves are views of one vector, in the params' key order), so the
optimizer and the loop's checks that follow work on one vector, not per leaf.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from xentlearn import _tree
from xentlearn._types import Grads, Matrix, Params
from xentlearn.exceptions import XentlearnInputError
from xentlearn.models._activations import ACTIVATIONS
from xentlearn.models._products import transpose

Activation = Literal["relu", "tanh", "logistic", "identity"]


@dataclass(frozen=True)
class MLP:
    """Fully connected network from features to logits.

    Parameters
    ----------
    n_features : int
        d, the number of input columns.
    hidden_layer_sizes : tuple of int
        Width of each hidden layer, input side first; ``()`` is a linear model
        with Glorot init.
    n_outputs : int
        k, the number of logits.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Applied after every hidden layer; never after the output layer, whose
        pre-activations are the logits.
    fit_intercept : bool, default=True
        Whether the *output* layer has a bias. Hidden layers always have one.

    Notes
    -----
    Params are ``{"W0": (d, h1), "b0": (h1,), "W1": (h1, h2), "b1": (h2,), ...,
    "W{L}": (hL, k), "b{L}": (k,)}`` in layer order (W_l is (fan_in, fan_out),
    as scikit-learn's ``coefs_``), without "b{L}" when ``fit_intercept=False``.
    The cache of ``forward`` holds the input X and every hidden activation
    A_1..A_L (n x sum(hidden_layer_sizes) numbers), which backward needs.

    Examples
    --------
    >>> import numpy as np
    >>> model = MLP(n_features=4, hidden_layer_sizes=(8,), n_outputs=3, activation="tanh")
    >>> params = model.init(np.random.default_rng(0), np.float32)
    >>> [(key, value.shape) for key, value in params.items()]
    [('W0', (4, 8)), ('b0', (8,)), ('W1', (8, 3)), ('b1', (3,))]
    >>> logits, cache = model.forward(params, np.ones((5, 4), np.float32))
    >>> grads = model.backward(params, cache, np.ones_like(logits))
    >>> {key: value.dtype.name for key, value in grads.items()} == dict.fromkeys(params, "float32")
    True
    """

    n_features: int
    hidden_layer_sizes: tuple[int, ...]
    n_outputs: int
    activation: Activation = "relu"
    fit_intercept: bool = True

    def __post_init__(self) -> None:
        # Configuration is checked once here, never in forward/backward.
        sizes = tuple(int(h) for h in self.hidden_layer_sizes)
        object.__setattr__(self, "hidden_layer_sizes", sizes)
        if self.activation not in ACTIVATIONS:
            raise XentlearnInputError(
                f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; "
                f"got {self.activation!r}")
        for name, value in (("n_features", self.n_features), ("n_outputs", self.n_outputs)):
            if value < 1:
                raise XentlearnInputError(f"{name} must be >= 1, got {value}")
        if any(h < 1 for h in sizes):
            raise XentlearnInputError(
                f"hidden_layer_sizes must be positive integers, got {sizes}")

    @property
    def convex(self) -> bool:
        """Whether the objective is convex in the params: only without hidden layers
        (a product of layers is not, whatever the activation)."""
        return not self.hidden_layer_sizes

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(n_features, *hidden_layer_sizes, n_outputs)."""
        return (self.n_features, *self.hidden_layer_sizes, self.n_outputs)

    @property
    def n_layers(self) -> int:
        """Number of weight matrices, L + 1."""
        return len(self.hidden_layer_sizes) + 1

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The parameter layout, in ``init``'s key order, computed without allocating:
        W_l of shape (fan_in, fan_out), then b_l of shape (fan_out,), layer by layer."""
        shapes = {}
        sizes = self.layer_sizes
        for layer in range(self.n_layers):
            shapes[f"W{layer}"] = (sizes[layer], sizes[layer + 1])
            if layer < self.n_layers - 1 or self.fit_intercept:
                shapes[f"b{layer}"] = (sizes[layer + 1],)
        return shapes

    @functools.cached_property
    def _layer_keys(self) -> tuple[tuple[str, str], ...]:
        """(("W0", "b0"), ("W1", "b1"), ...), input side first: forward and backward look
        the leaves up on every step without formatting their names."""
        return tuple((f"W{layer}", f"b{layer}") for layer in range(self.n_layers))

    def to_layers(self, params: Params) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """[(W_l, b_l)] per layer, input side first (b of the output layer None without
        an output intercept)."""
        return [(params[f"W{layer}"], params.get(f"b{layer}")) for layer in range(self.n_layers)]

    def from_layers(self, layers) -> Params:
        """Inverse of ``to_layers`` (the arrays are used as given)."""
        params = {}
        for layer, (W, b) in enumerate(layers):
            params[f"W{layer}"] = W
            if layer < self.n_layers - 1 or self.fit_intercept:
                params[f"b{layer}"] = b
        return params

    def first_layer_keys(self) -> tuple[str, str | None]:
        """Keys of the weights that multiply the inputs, and of their intercept."""
        return "W0", "b0"

    def output_layer_keys(self) -> tuple[str, str | None]:
        """Keys of the weights that make the logits (the last layer's), and of their
        intercept (or None); see ``Linear.output_layer_keys``."""
        last = self.n_layers - 1
        return f"W{last}", (f"b{last}" if self.fit_intercept else None)

    def init(self, rng: np.random.Generator, dtype=np.float64) -> Params:
        """Glorot-uniform parameters, exactly as scikit-learn's ``MLPClassifier``.

        For layer l with fan_in, fan_out:

            bound = sqrt(factor / (fan_in + fan_out)),  factor = 2 for "logistic", else 6
            W_l ~ U(-bound, bound)^(fan_in x fan_out),  b_l ~ U(-bound, bound)^fan_out

        Draw order: for each layer, input side first, ``rng.uniform`` for W_l
        then for b_l (the output bias is not drawn when fit_intercept=False).
        This is the order of ``MLPClassifier._init_coef``, so a
        ``numpy.random.Generator`` in place of its ``RandomState`` gives the
        same numbers. Draws are float64, then cast to `dtype`.

        Parameters
        ----------
        rng : numpy.random.Generator
        dtype : float32 or float64

        Returns
        -------
        params : dict, ordered by layer, every leaf of `dtype`
        """
        dtype = np.dtype(dtype)
        factor = ACTIVATIONS[self.activation].init_gain
        sizes = self.layer_sizes
        last = self.n_layers - 1
        params: Params = {}
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = math.sqrt(factor / (fan_in + fan_out))
            params[f"W{layer}"] = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
            if layer < last or self.fit_intercept:
                params[f"b{layer}"] = rng.uniform(-bound, bound, fan_out).astype(dtype)
        return params

    def forward(self, params: Params, X: Matrix, *, keep_cache: bool = True
                ) -> tuple[np.ndarray, list | None]:
        """Logits for a batch.

        Parameters
        ----------
        params : dict
            As returned by ``init``; all leaves of one dtype.
        X : ndarray or scipy.sparse CSR/CSC of shape (n_samples, n_features)
            Same dtype as `params` (the caller guarantees it). Sparse X enters
            only the first product, ``X @ W0``, which is dense.
        keep_cache : bool, default=True
            False for inference: hidden activations are dropped as soon as
            the next layer is computed, and the cache is None.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_outputs), dtype of `params`
        cache : list [X, A_1, ..., A_L] (references, not copies), or None
        """
        assert X.dtype == params["W0"].dtype, (X.dtype, params["W0"].dtype)  # internal invariant
        activate = ACTIVATIONS[self.activation].forward
        *hidden, output = self._layer_keys
        A = X
        cache = [X] if keep_cache else None
        for keys in hidden:
            A = activate(_affine(params, keys, A))   # in place on the fresh Z
            if keep_cache:
                cache.append(A)
        return _affine(params, output, A), cache     # logits: no output activation

    def predict_logits(self, params: Params, X: Matrix) -> np.ndarray:
        """``forward(params, X, keep_cache=False)[0]``: logits only, for inference."""
        return self.forward(params, X, keep_cache=False)[0]

    def backward(self, params: Params, cache: list, dlogits: np.ndarray, *,
                 out: Grads | None = None) -> Grads:
        """Gradients of a scalar L given dlogits = dL/dlogits, by backpropagation.

        Parameters
        ----------
        params : dict
            The params `forward` was called with.
        cache : list
            The second output of ``forward(params, X)``: [X, A_1, ..., A_L].
        dlogits : ndarray of shape (n_samples, n_outputs), dtype of `params`
            Not modified.
        out : FlatParams, optional
            A buffer to write the gradients into and return (its old values are
            lost; a training loop hands back the last step's spent updates), used
            when it is laid out as `params` in `dlogits`' dtype; otherwise ignored.

        Returns
        -------
        grads : FlatParams
            Same keys (in the same order), shapes and dtypes as `params`; the
            leaves are views of one vector, ``grads.flat``: a new one, or `out`'s.
        """
        derivative = ACTIVATIONS[self.activation].derivative
        dtype = dlogits.dtype
        layout = _tree.layout_of(params)
        grads = out if _tree.laid_out_as(out, layout, dtype) else _tree.empty(layout, dtype)
        delta = dlogits                               # (n, fan_out) of the current layer
        for layer in range(self.n_layers - 1, -1, -1):
            W_key, b_key = self._layer_keys[layer]
            A_prev = cache[layer]                     # (n, fan_in): X for layer 0
            # (fan_in, fan_out); sparse X (layer 0) is never densified.
            _weight_gradient_into(A_prev, delta, grads[W_key])
            if b_key in params:
                # 1^T delta as a BLAS product: a column sum walks short rows slowly.
                np.matmul(_ones(delta.shape[0], dtype), delta, out=grads[b_key])
            if layer > 0:
                # (n, fan_out) @ (fan_out, fan_in): a new array, so the in-place
                # derivative never touches dlogits or the cached activations.
                delta = delta @ params[W_key].T
                derivative(A_prev, delta)
        return grads

    def penalty_mask(self) -> dict[str, bool]:
        """True for the weight matrices W_l, False for the biases b_l."""
        mask = {}
        last = self.n_layers - 1
        for layer in range(self.n_layers):
            mask[f"W{layer}"] = True
            if layer < last or self.fit_intercept:
                mask[f"b{layer}"] = False
        return mask


def _weight_gradient_into(A: Matrix, delta: np.ndarray, out: np.ndarray) -> None:
    """out = A^T delta, (fan_in, fan_out), written into `out` (a view of the flat buffer).

    Dense A: ``matmul(A.T, delta, out=out)``, one BLAS call writing in place, with
    no copy into the buffer afterwards. At mini-batch shapes it costs what
    ``models._products.weight_gradient``'s (delta^T A)^T plus its transposed copy
    costs (bench/mlp_small.py).
    Sparse A (layer 0 only) goes through the copy-free CSC transpose, O(nnz * k).
    """
    if sp.issparse(A):
        out[...] = transpose(A) @ delta
    else:
        np.matmul(A.T, delta, out=out)


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones (the bias gradient's 1^T), made once per size."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _affine(params: Params, keys: tuple[str, str], A: Matrix) -> np.ndarray:
    """Z = A @ W + b for the layer whose keys are `keys` = (W's, b's), without b when
    `params` has none, as a new array (A may be sparse; Z is dense)."""
    W_key, b_key = keys
    Z = A @ params[W_key]             # (n, fan_in) @ (fan_in, fan_out) -> (n, fan_out)
    b = params.get(b_key)
    if b is not None:
        Z += b                        # in place: Z was allocated just above
    return Z
