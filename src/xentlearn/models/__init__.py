"""Models: differentiable maps from features to logits with explicit params.

Each model is a frozen dataclass holding configuration only; parameters are an
ordered dict of arrays ("W0", "b0", "W1", ...) passed in and returned:

    params = model.init(rng, dtype)
    logits, cache = model.forward(params, X)          # keep_cache=False for inference
    grads = model.backward(params, cache, dlogits)    # same keys, shapes, dtypes as params
    model.penalty_mask()                              # {"W0": True, "b0": False, ...}
    model.predict_logits(params, X)                   # logits only
"""

from xentlearn.models._activations import ACTIVATIONS, Activation
from xentlearn.models._linear import Linear
from xentlearn.models._mlp import MLP

__all__ = ["ACTIVATIONS", "Activation", "Linear", "MLP"]
