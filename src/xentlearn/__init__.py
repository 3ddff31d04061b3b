"""xentlearn: classifiers trained by minimizing cross-entropy with gradient descent.

Public API: the estimators ``LogisticRegression`` and ``MLPClassifier``,
``load`` for model files and ``describe`` for what one holds (without loading it), and the parts they are made of: ``losses``,
``optimizers``, ``schedules``, ``models``, ``data``, ``training`` and
``preprocessing``.

Every name is imported on first use (PEP 562), so ``import xentlearn`` and the
command line start without importing scikit-learn or pyarrow.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_ESTIMATOR_NAMES = ("LogisticRegression", "MLPClassifier", "load", "describe")
_SUBPACKAGES = ("losses", "optimizers", "schedules", "models", "data", "training",
                "preprocessing", "estimators", "io", "exceptions")

__all__ = [*_ESTIMATOR_NAMES, "losses", "optimizers", "schedules", "models", "data", "training",
           "preprocessing", "__version__"]


def __getattr__(name: str):
    if name in _ESTIMATOR_NAMES:
        return getattr(importlib.import_module("xentlearn.estimators"), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xentlearn.{name}")
    raise AttributeError(f"module 'xentlearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
