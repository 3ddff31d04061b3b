"""Type aliases and protocols shared by every layer (a leaf module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

import numpy as np

if TYPE_CHECKING:   # scipy's import is slow, and this module is on every start-up path
    import scipy.sparse as sp

Array = np.ndarray
# CSR is what the kernels use; CSC is accepted at the boundary and used as is
# (CSC.T @ dense and dense.T @ CSC are both O(nnz)).
Matrix: TypeAlias = "np.ndarray | sp.csr_matrix | sp.csr_array | sp.csc_matrix | sp.csc_array"
Params = dict[str, np.ndarray]     # ordered: {"W0": (d, h), "b0": (h,), "W1": (h, k), "b1": (k,)}
Grads = Params                     # same keys, shapes and dtypes as the params
Updates = Params
OptState = Any                     # nests of NamedTuples / tuples of arrays and Python numbers
Schedule = Callable[[int], float]  # step count -> value, always a Python float
ScalarOrSchedule = float | Schedule


class Batch(NamedTuple):
    """One batch of training data.

    X : (n_batch, n_features) float32 or float64, dense or sparse
    targets : (n_batch,) int class indices | (n_batch, k) probabilities | (n_batch, m) 0/1
    sample_weight : (n_batch,) same dtype as X, or None for unit weights
    """

    X: Matrix
    targets: np.ndarray
    sample_weight: np.ndarray | None


class Model(Protocol):
    """A differentiable map from features to logits with explicit parameters."""

    n_features: int
    n_outputs: int
    convex: bool        # cross-entropy (and the penalty) is convex in the params

    def init(self, rng: np.random.Generator, dtype: np.dtype) -> Params: ...

    def forward(self, params: Params, X: Matrix, *, keep_cache: bool = True
                ) -> tuple[np.ndarray, Any]: ...

    def predict_logits(self, params: Params, X: Matrix) -> np.ndarray: ...

    # ``out=`` (a gradient buffer a loop hands back, see ``MLP.backward``) is optional:
    # a model whose backward does not take it gets new gradients every step.
    def backward(self, params: Params, cache: Any, dlogits: np.ndarray) -> Grads: ...

    def penalty_mask(self) -> dict[str, bool]: ...

    # The model owns its parameter layout; nothing outside models/ knows the keys.
    def parameter_shapes(self) -> dict[str, tuple[int, ...]]: ...

    def to_layers(self, params: Params) -> list[tuple[np.ndarray, np.ndarray | None]]: ...

    def from_layers(self, layers) -> Params: ...

    def first_layer_keys(self) -> tuple[str, str | None]: ...


class DataSource(Protocol):
    """Re-iterable data: each call to ``batches`` is one pass (one epoch)."""

    n_samples: int
    n_features: int
    dtype: np.dtype

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None,
                skip: int = 0) -> Iterator[Batch]: ...

    def every(self, step: int) -> "DataSource | None":
        """Rows 0, step, 2 step, ... of all the rows, in order, as a source that costs no
        pass to make (views in memory, slices where a cluster's parts are), or None
        where it would take reading everything again (streamed files)."""
