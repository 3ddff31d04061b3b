"""scikit-learn estimators on the xentlearn engine, and their model files."""

from xentlearn.estimators._logistic import LogisticRegression
from xentlearn.estimators._mlp import MLPClassifier
from xentlearn.estimators._persistence import load

__all__ = ["LogisticRegression", "MLPClassifier", "load"]
