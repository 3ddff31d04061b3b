"""Cross-entropy losses from logits: value and exact gradient (DESIGN.md §1).

Public contract
---------------
softmax_cross_entropy(logits, targets, *, sample_weight, class_weight, label_smoothing,
                      focal_gamma, reduction) -> (value, grad)
sigmoid_cross_entropy(logits, targets, *, sample_weight, pos_weight, label_smoothing,
                      focal_gamma, focal_alpha, reduction) -> (value, grad)

Engine interface
----------------
softmax_terms / sigmoid_terms take the same options (minus `reduction`, plus
`out=` for a reused gradient buffer), skip validation, and return
``LossTerms(loss_sum, weight_sum, grad)``: the "sum" value, the "mean"
normaliser, and the gradient of loss_sum. The objective adds these over
batches and divides once, so one batch and many chunks give the same result.
softmax_weight_sum / sigmoid_weight_sum give the normaliser alone, without logits.

Stable kernels
--------------
logsumexp, log_softmax, softmax, log_sigmoid, sigmoid: dtype-preserving, for
predict_proba and friends.
"""

from xentlearn.losses._sigmoid import sigmoid_cross_entropy, sigmoid_terms, sigmoid_weight_sum
from xentlearn.losses._softmax import softmax_cross_entropy, softmax_terms, softmax_weight_sum
from xentlearn.losses._stable import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from xentlearn.losses._terms import LossTerms

__all__ = [
    "LossTerms",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "sigmoid_cross_entropy",
    "sigmoid_terms",
    "sigmoid_weight_sum",
    "softmax",
    "softmax_cross_entropy",
    "softmax_terms",
    "softmax_weight_sum",
]
