"""Temperature scaling (Guo et al., 2017): one scalar T > 0 that makes probabilities
mean what they say, fitted on held-out data after training.

    T* = argmin_T  sum_i sw_i l(z_i / T, t_i) / sum_i w_i

with l the plain cross-entropy of the task (softmax, or sigmoid per output) and
z the model's logits. Dividing every logit by one positive number changes no
argmax and no sign, so predictions are unchanged; only their confidence moves.
"""

from __future__ import annotations

import math

import numpy as np

from xentlearn.objective import make_loss

# T is searched in [1/BOUND, BOUND]: beyond, probabilities are all but uniform or all
# but hard, and the minimiser would be at the edge anyway.
_BOUND = 1e3


def fit_temperature(logits: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None,
                    task: str) -> float:
    """The temperature that minimises the mean log-loss of ``logits / T`` on `targets`.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_outputs), float32 or float64
    targets : ndarray, as the task's loss takes them (class indices, 0/1, probabilities)
    sample_weight : ndarray of shape (n_samples,) or None
    task : "binary", "multiclass", "multilabel" or "soft"

    Returns
    -------
    float
        T in [1e-3, 1e3].

    Notes
    -----
    The loss is convex in b = 1/T (a cross-entropy of logits linear in b), so it
    is unimodal in log T, where Brent's bounded search finds its minimum to
    ~1e-9 in a few dozen evaluations of one pass over the held-out logits.
    """
    from scipy.optimize import minimize_scalar

    loss = make_loss(task)
    logits = np.asarray(logits, dtype=np.float64)

    def mean_loss(log_t: float) -> float:
        terms = loss(logits * math.exp(-log_t), targets, sample_weight)
        return terms.loss_sum / terms.weight_sum

    bound = math.log(_BOUND)
    result = minimize_scalar(mean_loss, bounds=(-bound, bound), method="bounded",
                             options={"xatol": 1e-9})
    # Brent's method never evaluates the bounds themselves; T = 1 (no change) is kept
    # when it is at least as good, so calibration never makes the held-out loss worse.
    return float(math.exp(result.x)) if result.fun < mean_loss(0.0) else 1.0
