"""scikit-learn estimators on the xentlearn engine, and their model files.

``SOLVERS`` is the solver registry (``solver=`` names and what they mean);
``LEARNING_RATES`` the learning-rate schedules; both are what the command line
offers. Names are imported on first use, so reading the registry or
``describe``-ing a model file does not import scikit-learn.
"""

from __future__ import annotations

import importlib

_WHERE = {"LogisticRegression": "_logistic", "MLPClassifier": "_mlp", "load": "_persistence",
          "describe": "_describe", "SOLVERS": "_solvers", "LEARNING_RATES": "_build"}

__all__ = ["LogisticRegression", "MLPClassifier", "load", "describe", "SOLVERS",
           "LEARNING_RATES"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"xentlearn.estimators.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'xentlearn.estimators' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
