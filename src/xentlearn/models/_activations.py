"""Hidden-layer activations and their derivatives, expressed from the output.

Each activation f is applied in place to a pre-activation buffer Z that the
caller allocated (``Z -> A = f(Z)``), and each derivative multiplies a
backpropagated error in place by f'(Z), written as a function of the *output*
A, so backward needs only the cached activations and never Z:

============  ====================  =====================
name          A = f(Z)              f'(Z) from A
============  ====================  =====================
"relu"        max(Z, 0)             1[A > 0]
"tanh"        tanh(Z)               1 - A**2
"logistic"    1 / (1 + exp(-Z))     A * (1 - A)
"identity"    Z                     1
============  ====================  =====================

The relu derivative at Z = 0 is taken as 0 (A = 0 there), as scikit-learn and
torch do.

All functions preserve the dtype of their arguments (float32 stays float32):
the only constants are Python ints, which NumPy 2 never upcasts with (NEP 50).
This mirrors scikit-learn's ``neural_network/_base.py`` (``ACTIVATIONS`` and
``DERIVATIVES``), and ``Activation.init_gain`` its MLP initialisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit


def inplace_identity(Z: np.ndarray) -> np.ndarray:
    """A = Z (nothing to do); returns `Z`."""
    return Z


def inplace_relu(Z: np.ndarray) -> np.ndarray:
    """A = max(Z, 0), overwriting `Z`; returns it."""
    return np.maximum(Z, 0, out=Z)


def inplace_tanh(Z: np.ndarray) -> np.ndarray:
    """A = tanh(Z), overwriting `Z`; returns it."""
    return np.tanh(Z, out=Z)


def inplace_logistic(Z: np.ndarray) -> np.ndarray:
    """A = 1 / (1 + exp(-Z)), overwriting `Z`; returns it.

    scipy's ``expit`` is exact at both tails (no overflow warning for Z << 0,
    unlike ``1 / (1 + np.exp(-Z))``) and keeps float32 as float32.
    """
    return expit(Z, out=Z)


def inplace_identity_derivative(A: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1 (nothing to do)."""


def inplace_relu_derivative(A: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1[A > 0], in place.

    relu's output is >= 0, so A > 0 is exactly Z > 0. Multiplying by the mask
    (one bool temporary) is several times faster than zeroing through it
    (``delta[A <= 0] = 0``, a scattered write), and keeps delta's dtype; seen as
    uint8 the mask casts to 0.0 / 1.0 faster than as bool.
    """
    np.multiply(delta, (A > 0).view(np.uint8), out=delta)


def inplace_tanh_derivative(A: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1 - A**2, in place (d tanh(z)/dz = 1 - tanh(z)**2)."""
    d = np.multiply(A, A)           # one temporary, reused for 1 - A**2
    np.subtract(1, d, out=d)
    delta *= d


def inplace_logistic_derivative(A: np.ndarray, delta: np.ndarray) -> None:
    """delta *= A * (1 - A), in place (d s(z)/dz = s(z) (1 - s(z)))."""
    d = np.subtract(1, A)           # one temporary, reused for A * (1 - A)
    d *= A
    delta *= d


@dataclass(frozen=True)
class Activation:
    """A hidden-layer activation: the forward map, its derivative and the init's gain."""

    forward: Callable[[np.ndarray], np.ndarray]           # Z -> A = f(Z), in place
    derivative: Callable[[np.ndarray, np.ndarray], None]  # delta *= f'(Z), from A
    # Glorot-uniform bound sqrt(init_gain / (fan_in + fan_out)), scikit-learn's: 2 for the
    # logistic (its slope at 0 is 1/4), 6 otherwise.
    init_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(inplace_relu, inplace_relu_derivative, 6.0),
    "tanh": Activation(inplace_tanh, inplace_tanh_derivative, 6.0),
    "logistic": Activation(inplace_logistic, inplace_logistic_derivative, 2.0),
    "identity": Activation(inplace_identity, inplace_identity_derivative, 6.0),
}
