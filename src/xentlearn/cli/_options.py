"""The flags of ``train`` and ``cv`` that map onto estimator parameters, and ``UsageError``.

Every estimator option defaults to None ("not given"), so the estimator's own
defaults stay the single source of truth; the CLI passes on only what the user
set, on the command line or in ``--config``. ``ESTIMATOR_OPTIONS`` is read by
the parser (one flag each), the config file (one key each) and the commands
(one estimator parameter each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from xentlearn.cli._values import (batch_size, choice, class_weight, dtype, finite_float,
                                   float_or_auto, layer_sizes, non_negative_int, penalty,
                                   positive_int)
from xentlearn.estimators import LEARNING_RATES, SOLVERS

# xentlearn.models.ACTIVATIONS's names (tests/cli/test_cli_errors.py checks it): importing
# the registry imports SciPy, which `xentlearn info` and --version do without.
ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


class UsageError(Exception):
    """Bad command line or config file; ``main`` prints it as one line and exits 2."""


@dataclass(frozen=True)
class EstimatorOption:
    """One ``train`` flag that maps onto an estimator parameter."""

    param: str
    convert: Callable[[str], Any] | None    # None: a --flag/--no-flag boolean
    help: str
    models: tuple[str, ...] = ("linear", "mlp")
    metavar: str | None = None
    commands: tuple[str, ...] = ("train", "cv")    # cv trains K throwaway models

    @property
    def flag(self) -> str:
        return "--" + self.param.replace("_", "-")


ESTIMATOR_OPTIONS = (
    EstimatorOption("solver", choice(*SOLVERS), "optimizer (linear default lbfgs, mlp adam)",
                    metavar="{" + ",".join(SOLVERS) + "}"),
    EstimatorOption("batch_size", batch_size, "'full', 'auto' (256; full for lbfgs) or rows per step",
                    metavar="N|auto|full"),
    EstimatorOption("learning_rate", choice(*LEARNING_RATES), "step-size schedule over epochs",
                    metavar="{" + ",".join(LEARNING_RATES) + "}"),
    EstimatorOption("learning_rate_init", finite_float, "initial step size (default: the solver's)",
                    metavar="LR"),
    EstimatorOption("power_t", finite_float, "invscaling exponent", metavar="P"),
    EstimatorOption("warmup_epochs", non_negative_int, "epochs of linear warm-up", metavar="N"),
    EstimatorOption("decay_rate", finite_float, "step/exponential decay factor", metavar="R"),
    EstimatorOption("decay_epochs", positive_int, "epochs per step/exponential decay",
                    metavar="N"),
    EstimatorOption("momentum", finite_float, "sgd momentum (0: plain gradient steps)", metavar="M"),
    EstimatorOption("nesterov", None, "Nesterov momentum for sgd"),
    EstimatorOption("beta_1", finite_float, "Adam first-moment decay", metavar="B"),
    EstimatorOption("beta_2", finite_float, "Adam second-moment decay", metavar="B"),
    EstimatorOption("epsilon", finite_float, "Adam/RMSprop denominator epsilon", metavar="EPS"),
    EstimatorOption("max_grad_norm", finite_float, "clip each gradient to this global norm",
                    metavar="NORM"),
    EstimatorOption("penalty", penalty, "regulariser: l2, l1, elasticnet or none",
                    metavar="{l2,l1,elasticnet,none}"),
    EstimatorOption("alpha", float_or_auto, "regularisation strength; auto (the linear "
                    "default) is 1 / (sum of row weights), scikit-learn's C=1", metavar="A|auto"),
    EstimatorOption("l1_ratio", finite_float, "L1 share of elasticnet", metavar="R"),
    EstimatorOption("fit_intercept", None, "learn an intercept (linear only)", models=("linear",)),
    EstimatorOption("class_weight", class_weight, "'balanced' or LABEL=WEIGHT pairs: a=2,b=1",
                    metavar="balanced|A=W,..."),
    EstimatorOption("label_smoothing", finite_float, "label smoothing in [0, 1)", metavar="EPS"),
    EstimatorOption("focal_gamma", finite_float, "focal-loss exponent (0: cross-entropy)",
                    metavar="G"),
    EstimatorOption("max_iter", positive_int, "epochs (iterations for lbfgs)", metavar="N"),
    EstimatorOption("tol", finite_float, "improvement (lbfgs: gradient) tolerance to stop",
                    metavar="TOL"),
    EstimatorOption("n_iter_no_change", positive_int, "epochs without improvement before stopping",
                    metavar="N"),
    EstimatorOption("early_stopping", None, "stop when the validation metric stops improving "
                    "(needs --validation or --validation-fraction)"),
    EstimatorOption("validation_metric", choice("log_loss", "accuracy"),
                    "metric for early stopping", metavar="{log_loss,accuracy}"),
    EstimatorOption("restore_best_weights", None, "keep the best validation epoch's weights"),
    EstimatorOption("shuffle", None, "shuffle rows every epoch"),
    EstimatorOption("random_state", non_negative_int, "seed for initialisation and shuffling",
                    metavar="SEED"),
    EstimatorOption("dtype", dtype, "precision of the computation", metavar="{float32,float64}"),
    EstimatorOption("checkpoint", str, "save the training state to PATH after every epoch; "
                    "if PATH exists, resume from it (bit-identical), delete it when done",
                    metavar="PATH", commands=("train",)),
    EstimatorOption("checkpoint_interval", finite_float, "also save the checkpoint every S seconds "
                    "inside an epoch (needs --checkpoint PATH)", metavar="S",
                    commands=("train",)),
    EstimatorOption("sync_every", positive_int, "with --scheduler and a mini-batch solver: "
                    "steps each worker takes between two averages (default: once per epoch)",
                    metavar="N", commands=("train",)),
    EstimatorOption("hidden_layer_sizes", layer_sizes, "hidden layer widths, e.g. 64,32 (mlp only)",
                    models=("mlp",), metavar="N,N,..."),
    EstimatorOption("activation", choice(*ACTIVATIONS), "hidden activation (mlp only)",
                    models=("mlp",), metavar="{" + ",".join(ACTIVATIONS) + "}"),
)
