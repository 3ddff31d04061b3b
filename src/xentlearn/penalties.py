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

    def add_smooth_grad(self, grads: Grads, params: Params, mask: dict[str, bool]) -> None:
        """grads[W] += alpha * (1 - l1_ratio) * W for penalised leaves, in place.

        In place because the caller owns `grads` (fresh sums from one pass); it
        saves one allocation of the parameters' size per step.
        """
        strength = self.l2_strength
        if strength == 0.0:
            return
        for key, value in params.items():
            if mask.get(key, False):
                leaf = grads[key]       # in place through the leaf: `grads` keeps its arrays
                leaf += strength * value
