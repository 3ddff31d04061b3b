"""scikit-learn estimators on the xentlearn engine, and their model files.

``SOLVERS`` is the solver registry (``solver=`` names and what they mean);
``LEARNING_RATES`` the learning-rate schedules; both are what the command line offers.
"""

from xentlearn.estimators._base import LEARNING_RATES
from xentlearn.estimators._logistic import LogisticRegression
from xentlearn.estimators._mlp import MLPClassifier
from xentlearn.estimators._persistence import load
from xentlearn.estimators._solvers import SOLVERS

__all__ = ["LogisticRegression", "MLPClassifier", "load", "SOLVERS", "LEARNING_RATES"]
