"""LogisticRegression: a linear model trained on cross-entropy."""

from __future__ import annotations

import numpy as np

from xentlearn._types import Params
from xentlearn.estimators._base import BaseXentClassifier
from xentlearn.models import Linear


class LogisticRegression(BaseXentClassifier):
    """Logistic regression (binary, multinomial, multilabel) by gradient descent.

    Minimises

        F(W, b) = sum_i sw_i l_i / sum_i w_i + alpha * R(W)

    where l_i is the cross-entropy of the logits z_i = x_i W + b: one sigmoid
    logit for two classes, a softmax over k logits for k > 2 classes or
    soft labels, and independent sigmoids for a multilabel indicator y;
    w_i = sw_i * class_weight[y_i]; R = 0.5 ||W||^2 (l2), ||W||_1 (l1), or
    l1_ratio ||W||_1 + (1 - l1_ratio) 0.5 ||W||^2 (elasticnet). The intercept is
    not penalised. With ``alpha = 1 / (sum_i w_i * C)`` (``1 / (n_samples * C)``
    without sample or class weights) the optimum is that of scikit-learn's
    ``LogisticRegression(C=C)``, whose penalty is not divided by the weights.

    Parameters
    ----------
    solver : {"lbfgs", "sgd", "adam", "adamw", "adagrad", "rmsprop"}, default="lbfgs"
        lbfgs is full batch (stops when max |gradient| <= tol) and needs no
        feature scaling: ``fit`` centres and scales the inputs (one pass over
        the data, arrays or files) inside the optimizer
        (``optimizers.standardizing_preconditioner``; the optimum and coef_
        stay in the user's units). On many rows (a tenth of them at
        least 10,000 of positive weight, 20 per parameter and 50 of every
        class) a fresh ``fit`` with a penalty first solves on every tenth row,
        to max |gradient| <= max(tol, 1e-4), and goes on over all rows from
        there with the curvature it gathered (``training.subsample_start``):
        the same optimum in fewer passes; n_iter_, history_ and callbacks
        count the iterations over all rows only (dask data: the tenth is
        sliced on the workers). Not with warm_start, a resumed checkpoint,
        streamed files, penalty=None or focal_gamma > 0. ``partial_fit``
        runs plain L-BFGS (its
        optimizer state is carried between calls). The others take
        steps on mini-batches of `batch_size`. adamw applies the L2 part of the
        penalty as decoupled weight decay (torch's AdamW with weight_decay =
        alpha * (1 - l1_ratio)), not through the gradient: it then minimises no
        fixed objective, and its loss_curve_ leaves that term out.
    batch_size : "auto", "full" or int, default="auto"
        "full" is batch gradient descent, 1 is SGD, k mini-batches. "auto":
        "full" for lbfgs, else min(256, n_samples).
    learning_rate : {"constant", "invscaling", "step", "exponential", "cosine", "adaptive"}, \
            default="constant"
        Schedule of the step size over epochs (see ``xentlearn.schedules``):
        invscaling lr / (epoch + 1) ** power_t; step lr * decay_rate **
        floor(epoch / decay_epochs); exponential lr * decay_rate ** (epoch /
        decay_epochs); cosine to 0 over max_iter epochs; adaptive divides by 5
        after n_iter_no_change epochs without an improvement of tol, and stops
        below 1e-6 (scikit-learn's rule).
    learning_rate_init : float or None, default=None
        None picks the solver's usual value: sgd 0.01, adam 0.001, adamw 0.001,
        adagrad 0.01, rmsprop 0.001.
    power_t, warmup_epochs, decay_rate, decay_epochs : schedule settings
        (0.5, 0, 0.1, 10): warmup_epochs of linear warm-up precede any schedule.
    momentum : float, default=0.9
        sgd momentum; 0 is plain gradient steps.
    nesterov : bool, default=True
    beta_1, beta_2, epsilon : float, default=(0.9, 0.999, 1e-8)
        Adam's moment decays and its denominator's epsilon (also used by rmsprop).
    max_grad_norm : float or None, default=None
        Clip each step's gradient to this global norm.
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
    alpha : float or "auto", default="auto"
        Penalty strength. "auto" is 1 / (sum of the training rows' loss
        weights), i.e. 1 / n_samples without weights: scikit-learn's default
        C=1, so ``LogisticRegression()`` and scikit-learn's reach the same optimum.
        partial_fit resolves it on its first call's rows and keeps it: data
        streamed in chunks of m rows is penalised as a fit on m rows would be,
        more than fit on all n; pass ``alpha=1/n`` for fit's objective.
    l1_ratio : float, default=0.15
        L1 share for elasticnet. With lbfgs, l1 and elasticnet run OWL-QN
        (orthant-wise L-BFGS): the exact optimum with exact zeros; the other
        solvers apply L1 by a proximal (soft-threshold) step.
    fit_intercept : bool, default=True
    class_weight : dict, "balanced" or None, default=None
        Weights per class; "balanced" is n_samples / (n_classes * count_c).
    label_smoothing : float in [0, 1), default=0.0
    focal_gamma : float >= 0, default=0.0
        Focal loss exponent: each term scaled by (1 - p_t) ** gamma.
    max_iter : int, default=1000
        Epochs (iterations for lbfgs).
    tol : float, default=1e-6
        lbfgs: max |gradient| at which to stop; 1e-6 leaves the objective within
        about 1e-8 of its optimum on standardised data (scikit-learn's 1e-4 can
        stop 1e-4 short of it). Others: stop once more than
        n_iter_no_change epochs fail to improve the loss (or, with
        early_stopping, the validation metric) by tol.
    n_iter_no_change : int, default=10
    early_stopping : bool, default=False
        Hold out validation_fraction of the data and stop when the validation
        metric stops improving; restore_best_weights returns the best epoch's.
    validation_fraction : float, default=0.1
    validation_metric : {"log_loss", "accuracy"}, default="log_loss"
    restore_best_weights : bool, default=True
    shuffle : bool, default=True
    random_state : int, Generator, RandomState or None, default=None
    verbose : bool or int, default=False
        A progress bar on stderr.
    dtype : np.float64 or np.float32, default=np.float64
        The precision of the whole computation and of the fitted parameters.
    callbacks : list of callables or None, default=None
        Each called as ``cb(record, params)`` after every epoch (record is an
        ``xentlearn.training.EpochRecord``); returning True stops training.
    warm_start : bool, default=False
        fit starts from the current coef_ and intercept_ (which a user may
        assign) with a fresh optimizer state.
    calibration : {None, "temperature"}, default=None
        "temperature": after training, one scalar T > 0 is fitted on the
        validation data (the validation_fraction split of arrays, or
        validation_data for TableFiles) by minimising its log-loss;
        predict_proba is then softmax(z / T) (sigmoid for binary), T is
        ``temperature_``, and predict / decision_function are unchanged.
    checkpoint : str or PathLike, default=None
        Write the training state (parameters, optimizer state, random generator,
        epoch and batch position, stopping rules, history) to this file,
        atomically, at the end of every epoch. If the file exists when ``fit``
        starts, training resumes from it and ends exactly as an uninterrupted
        run would (bit for bit); a checkpoint of other hyperparameters or data
        raises ``xentlearn.exceptions.CheckpointError``. Removed after a
        successful fit. ``partial_fit`` does not use it.
    checkpoint_interval : float, default=None
        Also write the checkpoint every this many seconds inside an epoch
        (mini-batch solvers), so a long epoch is not lost. Needs
        ``checkpoint``: an interval without it raises
        ``xentlearn.exceptions.XentlearnInputError`` in ``fit`` and ``partial_fit``.
    sync_every : int or None, default=None
        Mini-batch fits on dask input: optimizer steps each worker takes between
        two averages of the parameters and optimizer states (each worker steps
        through its own partitions). None: the dask config key
        ``xentlearn.sync-every`` if set, else once per epoch, at its end (the
        fewest round trips). Not used by other fits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) for binary, (n_outputs, n_features) otherwise
    intercept_ : ndarray of shape (1,) or (n_outputs,)
    n_iter_ : int
    loss_curve_ : list of float
        Training objective per epoch.
    validation_scores_ : list of float or None
        Validation metric per epoch (log-loss or accuracy) when early_stopping.
    history_ : list of dict
        Per epoch: epoch, train_loss, val_loss, val_accuracy, learning_rate, seconds.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has column names
    temperature_ : float
        With calibration="temperature": the fitted T (absent otherwise).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from xentlearn import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(alpha=1e-3, max_iter=500).fit(X, y)
    >>> clf.coef_.shape
    (3, 4)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints = dict(BaseXentClassifier._parameter_constraints)

    def __init__(self, *, solver="lbfgs", batch_size="auto", learning_rate="constant",
                 learning_rate_init=None, power_t=0.5, warmup_epochs=0, decay_rate=0.1,
                 decay_epochs=10, momentum=0.9, nesterov=True, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, max_grad_norm=None, penalty="l2", alpha="auto", l1_ratio=0.15,
                 fit_intercept=True, class_weight=None, label_smoothing=0.0, focal_gamma=0.0,
                 max_iter=1000, tol=1e-6, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, validation_metric="log_loss",
                 restore_best_weights=True, shuffle=True, random_state=None, verbose=False,
                 dtype=np.float64, callbacks=None, warm_start=False, checkpoint=None,
                 checkpoint_interval=None, calibration=None, sync_every=None):
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.warmup_epochs = warmup_epochs
        self.decay_rate = decay_rate
        self.decay_epochs = decay_epochs
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_grad_norm = max_grad_norm
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.focal_gamma = focal_gamma
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_metric = validation_metric
        self.restore_best_weights = restore_best_weights
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.calibration = calibration
        self.sync_every = sync_every

    def _make_model(self, n_features, n_outputs):
        return Linear(n_features=n_features, n_outputs=n_outputs,
                      fit_intercept=bool(self.fit_intercept))

    def _params_to_attributes(self, params: Params) -> None:
        # scikit-learn's layout: coef_ (n_outputs, n_features); the engine's W0 is its transpose.
        self.coef_ = np.ascontiguousarray(params["W0"].T)
        self.intercept_ = (params["b0"].copy() if "b0" in params
                           else np.zeros(self.coef_.shape[0], dtype=self.coef_.dtype))

    def _parameter_attributes(self) -> tuple[str, ...]:
        return ("coef_", "intercept_") if self.fit_intercept else ("coef_",)

    def _attributes_to_params(self) -> Params:
        dtype = self._resolved_dtype()
        params = {"W0": np.asarray(self.coef_, dtype=dtype).T}
        if self.fit_intercept:
            params["b0"] = np.asarray(self.intercept_, dtype=dtype).reshape(-1)
        return params
