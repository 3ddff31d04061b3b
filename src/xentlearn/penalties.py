"""Penalties on the weights: R(W) of the objective ``mean loss + alpha * R(W)``.

    l2:          R = 0.5 * ||W||^2
    l1:          R = ||W||_1
    elasticnet:  R = l1_ratio * ||W||_1 + (1 - l1_ratio) * 0.5 * ||W||^2

Only the smooth (L2) part enters the gradient. The L1 part is applied by a
proximal step in the optimizer (``optimizers.proximal_l1``), which produces
exact zeros where a subgradient step would only oscillate around them.
Intercepts (entries whose mask is False) are never penalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xentlearn import _tree
from xentlearn._types import Grads, Params

PENALTIES = (None, "l2", "l1", "elasticnet")


@dataclass(frozen=True)
class Penalty:
    """alpha * (l1_ratio * ||W||_1 + (1 - l1_ratio) * 0.5 * ||W||^2) over masked leaves.

    Parameters
    ----------
    alpha : float
        Overall strength, >= 0.
    l1_ratio : float
        Share of the L1 term, in [0, 1]: 0 is pure L2, 1 pure L1.
    """

    alpha: float = 0.0
    l1_ratio: float = 0.0

    @classmethod
    def from_name(cls, penalty: str | None, alpha: float, l1_ratio: float = 0.15) -> "Penalty":
        """The scikit-learn vocabulary: penalty in None, "l2", "l1", "elasticnet"."""
        ratio = {None: 0.0, "l2": 0.0, "l1": 1.0, "elasticnet": float(l1_ratio)}[penalty]
        return cls(alpha=0.0 if penalty is None else float(alpha), l1_ratio=ratio)

    @property
    def l2_strength(self) -> float:
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1_strength(self) -> float:
        return self.alpha * self.l1_ratio

    def value(self, params: Params, mask: dict[str, bool]) -> float:
        """alpha * R(W), L1 part included, as a Python float."""
        if self.alpha == 0.0:
            return 0.0
        l2, l1 = self.l2_strength, self.l1_strength
        total = 0.0
        for key, value in params.items():
            if mask.get(key, False):
                if l2:
                    total += 0.5 * l2 * float(np.vdot(value, value))
                if l1:
                    total += l1 * float(np.abs(value).sum())
        return total

    def add_grad_and_value(self, grads: Grads, params: Params, mask: dict[str, bool]) -> float:
        """Add the smooth part's gradient into `grads` (in place) and return alpha * R(W).

        grads[W] += l2 * W for penalised leaves, l2 = alpha * (1 - l1_ratio); the
        value is ``value(params, mask)``, L1 part included, with the same bits
        whatever the trees' layout (a resumed fit's first step has plain dicts
        where the uninterrupted fit has flat ones). In place because the caller
        owns `grads` (fresh sums from one pass): no allocation of the parameters'
        size per leaf.

        When `grads` and `params` are flat with one layout (an MLP's, every
        mini-batch step), the gradient's L2 part is one operation on the whole
        vector: grads += s * w, with s the strength per entry (l2 on penalised
        leaves, 0 on intercepts). The numbers are those of the per-leaf sum, but
        for the sign of a zero: an intercept's -0.0 becomes +0.0.
        """
        if self.alpha == 0.0:
            return 0.0
        l2 = self.l2_strength
        flat_grads = _tree.flat_of(grads)
        if l2 and flat_grads is not None and _tree.laid_out_as(params, grads.layout,
                                                              flat_grads.dtype):
            flat_grads += _masked_strength(grads.layout, mask, l2, flat_grads.dtype) * params.flat
        else:
            self._add_smooth_grad(grads, params, mask)
        return self.value(params, mask)

    def _add_smooth_grad(self, grads: Grads, params: Params, mask: dict[str, bool]) -> None:
        """grads[W] += alpha * (1 - l1_ratio) * W for penalised leaves, leaf by leaf."""
        strength = self.l2_strength
        if strength == 0.0:
            return
        for key, value in params.items():
            if mask.get(key, False):
                leaf = grads[key]       # in place through the leaf: `grads` keeps its arrays
                leaf += strength * value


# (layout, mask, strength, dtype, vector) of the last strength vector made: one training
# run asks for one, on every step. Replaced as one tuple (threads read it whole).
_last_strength: tuple = ((), None, None, None, None)


def _masked_strength(layout: _tree.Layout, mask: dict[str, bool], strength: float, dtype
                     ) -> np.ndarray:
    """A read-only vector laid out as `layout`: `strength` on the leaves `mask` marks
    True, 0 elsewhere."""
    global _last_strength
    last = _last_strength
    if last[0] is layout and last[1] is mask and last[2] == strength and last[3] == dtype:
        return last[4]
    vector = _tree.empty(layout, dtype)
    for key, leaf in vector.items():
        leaf[...] = strength if mask.get(key, False) else 0.0
    vector = vector.flat
    vector.flags.writeable = False
    _last_strength = (layout, mask, strength, dtype, vector)
    return vector
