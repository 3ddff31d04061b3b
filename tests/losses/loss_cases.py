"""Loss test cases shared by the gradient, torch and terms tests, and torch references.

Each case is (logits, targets, options) in float64 with small shapes; the torch
references restate DESIGN.md §1 with autograd, independently of our kernels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

N, K, M = 5, 4, 3

# name -> (target kind, options); every option of the contract appears at least
# once alone and once combined with the others.
SOFTMAX_CASES = {
    "hard": ("hard", {}),
    "hard_sw": ("hard", {"sample_weight": True}),
    "hard_cw": ("hard", {"class_weight": True}),
    "hard_eps": ("hard", {"label_smoothing": 0.2}),
    "hard_cw_eps_sw": ("hard", {"class_weight": True, "label_smoothing": 0.3, "sample_weight": True}),
    "hard_focal2": ("hard", {"focal_gamma": 2.0}),
    "hard_focal_half_all": ("hard", {"focal_gamma": 0.5, "label_smoothing": 0.1,
                                     "class_weight": True, "sample_weight": True}),
    "soft": ("soft", {}),
    "soft_cw_eps_sw": ("soft", {"class_weight": True, "label_smoothing": 0.15, "sample_weight": True}),
    "soft_focal_cw": ("soft", {"focal_gamma": 1.5, "class_weight": True}),
}

SIGMOID_CASES = {
    "plain": ({}, "hard"),
    "sw": ({"sample_weight": True}, "hard"),
    "pw": ({"pos_weight": True}, "hard"),
    "eps": ({"label_smoothing": 0.2}, "hard"),
    "soft_targets": ({}, "soft"),
    "focal2": ({"focal_gamma": 2.0}, "hard"),
    "focal_half_alpha": ({"focal_gamma": 0.5, "focal_alpha": 0.25}, "hard"),
    "alpha_only": ({"focal_alpha": 0.75}, "hard"),
    "all_soft": ({"sample_weight": True, "pos_weight": True, "label_smoothing": 0.1,
                  "focal_gamma": 1.5, "focal_alpha": 0.4}, "soft"),
}


def softmax_case(name: str, seed: int = 0, dtype=np.float64):
    kind, spec = SOFTMAX_CASES[name]
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal((N, K))).astype(dtype)
    if kind == "hard":
        targets = rng.integers(0, K, N).astype(np.intp)
    else:
        targets = rng.random((N, K)) + 0.05
        targets = (targets / targets.sum(axis=1, keepdims=True)).astype(dtype)
    options = dict(spec)
    if options.get("sample_weight"):
        options["sample_weight"] = (rng.random(N) * 2.0).astype(dtype)
    if options.get("class_weight"):
        options["class_weight"] = (rng.random(K) + 0.3).astype(dtype)
    return logits, targets, options


def sigmoid_case(name: str, shape=(N, M), seed: int = 0, dtype=np.float64):
    spec, kind = SIGMOID_CASES[name]
    rng = np.random.default_rng(seed)
    logits = (2.0 * rng.standard_normal(shape)).astype(dtype)
    targets = (rng.random(shape) if kind == "soft"
               else (rng.random(shape) < 0.5).astype(float)).astype(dtype)
    options = dict(spec)
    if options.get("sample_weight"):
        options["sample_weight"] = (rng.random(shape[0]) * 2.0).astype(dtype)
    if options.get("pos_weight"):
        n_labels = shape[1] if len(shape) == 2 else 1
        options["pos_weight"] = (rng.random(n_labels) + 0.5).astype(dtype)
    return logits, targets, options


def _reduce(per_sample, normaliser, reduction):
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.sum() / normaliser


def torch_softmax_reference(logits, targets, *, sample_weight=None, class_weight=None,
                            label_smoothing=0.0, focal_gamma=0.0, reduction="mean"):
    """DESIGN §1 softmax formula in torch (float64 autograd): (value, grad) as numpy."""
    z = torch.tensor(np.asarray(logits, dtype=np.float64), requires_grad=True)
    n, k = z.shape
    if np.asarray(targets).ndim == 1:
        t0 = F.one_hot(torch.as_tensor(np.asarray(targets, dtype=np.int64)), k).double()
    else:
        t0 = torch.tensor(np.asarray(targets, dtype=np.float64))
    cw = (torch.ones(k, dtype=torch.float64) if class_weight is None
          else torch.tensor(np.asarray(class_weight, dtype=np.float64)))
    sw = (torch.ones(n, dtype=torch.float64) if sample_weight is None
          else torch.tensor(np.asarray(sample_weight, dtype=np.float64)))
    eps = label_smoothing
    t = (1 - eps) * t0 + eps / k
    log_p = F.log_softmax(z, dim=1)
    p = log_p.exp()
    per_sample = -(cw * t * (1 - p) ** focal_gamma * log_p).sum(dim=1) * sw
    value = _reduce(per_sample, (sw * (t0 @ cw)).sum(), reduction)
    value.sum().backward()
    return value.detach().numpy(), z.grad.numpy()


def torch_sigmoid_reference(logits, targets, *, sample_weight=None, pos_weight=None,
                            label_smoothing=0.0, focal_gamma=0.0, focal_alpha=None,
                            reduction="mean"):
    """BCEWithLogits + torchvision's sigmoid_focal_loss formula in torch: (value, grad)."""
    z = torch.tensor(np.asarray(logits, dtype=np.float64), requires_grad=True)
    t = torch.tensor(np.asarray(targets, dtype=np.float64))
    t = t * (1 - label_smoothing) + label_smoothing / 2
    pw = None if pos_weight is None else torch.tensor(np.asarray(pos_weight, dtype=np.float64))
    n = z.shape[0]
    n_labels = z.shape[1] if z.ndim == 2 else 1
    sw = (torch.ones(n, dtype=torch.float64) if sample_weight is None
          else torch.tensor(np.asarray(sample_weight, dtype=np.float64)))
    sw_b = sw[:, None] if z.ndim == 2 else sw
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="none", pos_weight=pw)
    # torchvision.ops.sigmoid_focal_loss, line by line
    p = torch.sigmoid(z)
    p_t = p * t + (1 - p) * (1 - t)
    loss = loss * ((1 - p_t) ** focal_gamma)
    if focal_alpha is not None:
        loss = (focal_alpha * t + (1 - focal_alpha) * (1 - t)) * loss
    loss = loss * sw_b
    value = _reduce(loss, n_labels * sw.sum(), reduction)
    value.sum().backward()
    return value.detach().numpy(), z.grad.numpy()
