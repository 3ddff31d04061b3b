"""xentlearn: classifiers trained by minimizing cross-entropy with gradient descent."""

from xentlearn import losses

__version__ = "0.1.0"

__all__ = ["losses", "__version__"]
