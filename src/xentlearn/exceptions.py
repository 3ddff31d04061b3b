"""Exceptions raised by xentlearn.

Every error a user can cause is a ``ValueError`` subclass, so code written for
scikit-learn (``except ValueError``) keeps working.
"""

from __future__ import annotations

from typing import Any


class XentlearnInputError(ValueError):
    """Bad input: the message names the argument, the row or value, and what was expected."""


class ModelFileError(ValueError):
    """A model file is corrupt, truncated, foreign, or from a newer format version."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: written with other hyperparameters or data
    (the message names what differs), truncated, or not a checkpoint. Nothing is
    overwritten; delete the file to start over."""


class DivergenceError(ArithmeticError, ValueError):
    """Training produced a NaN or inf loss or gradient.

    Attributes
    ----------
    epoch : int
        1-based epoch in which the non-finite value appeared.
    batch : int
        1-based batch within that epoch.
    params : dict of str to ndarray
        The last finite parameters, kept so the caller can inspect or resume.
    history : list
        The epochs completed before the failure (``EpochRecord`` tuples).
    """

    def __init__(self, message: str, *, epoch: int, batch: int, params: Any,
                 history: list | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.params = params
        self.history = [] if history is None else history
