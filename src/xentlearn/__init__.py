"""xentlearn: classifiers trained by minimizing cross-entropy with gradient descent.

Public API: the estimators ``LogisticRegression`` and ``MLPClassifier``,
``load`` for model files, and the parts they are made of: ``losses``,
``optimizers``, ``schedules``, ``models``, ``data`` and ``training``.
"""

__version__ = "0.1.0"

from xentlearn import data, losses, models, optimizers, schedules, training  # noqa: E402
from xentlearn.estimators import LogisticRegression, MLPClassifier, load  # noqa: E402

__all__ = ["LogisticRegression", "MLPClassifier", "load", "losses", "optimizers", "schedules",
           "models", "data", "training", "__version__"]
