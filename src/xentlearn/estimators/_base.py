"""The scikit-learn facade shared by LogisticRegression and MLPClassifier.

``fit`` validates, encodes labels, builds Objective / optimizer / data source
from the hyperparameters, calls the one training loop, and sets the fitted
attributes. Nothing here does maths.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from xentlearn import training
from xentlearn._checks import shown
from xentlearn._types import Params
from xentlearn.estimators import _build, _files, _inputs
from xentlearn.estimators._build import LEARNING_RATES
from xentlearn.estimators._calibration import fit_temperature
from xentlearn.estimators._checkpoint import Checkpoint
from xentlearn.estimators._labels import number_labels, score_targets
from xentlearn.estimators._preprocessing import TablePreprocessor
from xentlearn.estimators._solvers import SOLVERS, SolverSettings, solver_settings
from xentlearn.exceptions import DivergenceError, XentlearnInputError
from xentlearn.objective import NO_LOSS_WEIGHT, TASKS, Objective, make_loss
from xentlearn.penalties import Penalty
from xentlearn.training import EpochRecord, fit_loop, generator_from_state, initial_state

# A fit whose last epoch's loss is this many times its first epoch's diverged.
LOSS_GROWTH = 2.0


class BaseXentClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit / predict machinery; subclasses say which model to build."""

    _parameter_constraints: dict = {
        "solver": [StrOptions(set(SOLVERS))],
        "checkpoint": [None, str, os.PathLike],
        "checkpoint_interval": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "sync_every": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto", "full"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "learning_rate_init": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "decay_rate": [Interval(numbers.Real, 0, 1, closed="right")],
        "decay_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_grad_norm": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "penalty": [None, StrOptions({"l2", "l1", "elasticnet"})],
        "alpha": [StrOptions({"auto"}), Interval(numbers.Real, 0, None, closed="left")],
        "calibration": [None, StrOptions({"temperature"})],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "class_weight": [None, dict, StrOptions({"balanced"})],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="left")],
        "focal_gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "validation_metric": [StrOptions({"log_loss", "accuracy"})],
        "restore_best_weights": ["boolean"],
        "shuffle": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
        "dtype": [type, np.dtype, str],
        "callbacks": [None, list, tuple],
        "warm_start": ["boolean"],
    }

    # ---------------------------------------------------------------- hooks
    def _make_model(self, n_features: int, n_outputs: int):
        raise NotImplementedError

    def _params_to_attributes(self, params: Params) -> None:
        raise NotImplementedError

    def _attributes_to_params(self) -> Params:
        raise NotImplementedError

    def _parameter_attributes(self) -> tuple[str, ...]:
        """The fitted attributes that hold the parameters (coef_, intercept_, ...)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None, *, validation_data=None):
        """Fit the model to X and y by minimising the regularised cross-entropy.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) labels, or (n_samples, m) 0/1
            indicators (multilabel), or (n_samples, k) probabilities (soft labels).
        sample_weight : array-like of shape (n_samples,), default=None
        validation_data : TableFiles, optional
            With X a ``TableFiles``: held-out files scored after every epoch
            (history, early stopping). Arrays are split by validation_fraction.

        X may also be a ``xentlearn.data.TableFiles``: CSV or Parquet files
        streamed in bounded memory, with y=None (the target is a column).

        Returns
        -------
        self
        """
        return self._guarded(self._fit, X, y, sample_weight, partial=False, classes=None,
                             validation_data=validation_data)

    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current parameters and optimizer state.

        `classes` (all labels that will ever appear) is required on the first call
        for 1-D labels; `class_weight="balanced"` is computed from those classes
        on the first call's data.
        """
        return self._guarded(self._fit, X, y, sample_weight, partial=True, classes=classes)

    def _guarded(self, fn, *args, **kwargs):
        # A failed fit leaves the estimator exactly as it was (validate_data resets
        # n_features_in_ early, for one); divergence is the documented exception:
        # the estimator keeps the last finite parameters.
        saved = copy.copy(self.__dict__)
        try:
            return fn(*args, **kwargs)
        except DivergenceError:
            raise
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _resolved_dtype(self):
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise XentlearnInputError(
                f"dtype must be np.float32 or np.float64, got {self.dtype!r}")
        return dtype

    def _fit(self, X, y, sample_weight, *, partial: bool, classes, validation_data=None):
        self._validate_params()
        _check_callbacks(self.callbacks)
        _check_checkpoint_interval(self.checkpoint, self.checkpoint_interval)
        dtype = self._resolved_dtype()
        spec = SOLVERS[self.solver]
        if partial and self.calibration == "temperature":
            raise XentlearnInputError(
                "partial_fit cannot fit calibration='temperature' (fit fits T on held-out "
                "rows after training, and a temperature of earlier parameters would no longer "
                "hold): set calibration=None for partial_fit, or call fit")
        continuing = partial and hasattr(self, "classes_")
        if continuing and classes is not None and not np.array_equal(
                np.sort(np.asarray(classes)), self.classes_):
            raise XentlearnInputError(
                f"classes=[{', '.join(map(shown, classes))}] differs from the classes of the "
                f"first partial_fit call, [{', '.join(map(shown, self.classes_))}]")
        checkpoint = None
        previous = getattr(self, "_state", None) if continuing else None
        if previous is not None:
            rng = generator_from_state(previous.rng_state)
        else:
            rng = _as_generator(self.random_state)
            if self.checkpoint is not None and not partial:
                checkpoint = Checkpoint.open(self, rng)
                if checkpoint.resuming:   # redo the fit's prologue from its first random state
                    rng = checkpoint.start_generator()
        data = _inputs.prepare(self, X, y, sample_weight, validation_data, dtype=dtype,
                               partial=partial, continuing=continuing, classes=classes, rng=rng,
                               moments=spec.preconditioned and not partial)
        task = data.encoded.kind
        model = self._make_model(data.source.n_features,
                                 TASKS[task].n_outputs(len(data.encoded.classes)))
        batch_size = spec.batch_size(self.batch_size, data.source.n_samples)
        _check_model_fits_in_memory(model, dtype, batch_size or data.source.n_samples)
        params, initialised = self._starting_params(model, data.encoded, continuing, rng, dtype)
        penalty = Penalty.from_name(self.penalty, self._alpha_for(data, continuing),
                                    self.l1_ratio)
        objective = Objective(
            model=model, penalty=spec.gradient_penalty(penalty), task=task,
            loss=make_loss(task, class_weight=data.class_weight,
                           label_smoothing=float(self.label_smoothing),
                           focal_gamma=float(self.focal_gamma)),
            eval_loss=make_loss(task))
        early = bool(self.early_stopping) and data.validation is not None and not partial
        resuming = checkpoint is not None and checkpoint.resuming
        # lbfgs from a fresh initialisation on many rows in memory solves on a tenth of
        # them first, where the objective is convex and has a minimiser on any rows (a
        # penalty: without one, separable subsample rows send the weights to infinity);
        # the focal factor makes the loss non-convex (training.subsample_start).
        first_rows = (_inputs.subsample_rows(data, sum(p.size for p in params.values()))
                      if spec.full_batch and model.convex and penalty.alpha > 0
                      and float(self.focal_gamma) == 0.0 and initialised and not resuming
                      and not partial else None)
        # One pass over the data (arrays or files) for lbfgs's preconditioner, which also
        # evaluates the objective where the loop starts (not when resuming elsewhere);
        # partial_fit keeps the optimizer state of its first call, so plain L-BFGS too.
        # A subsample's solve takes the moments of its own rows, and that pass comes after
        # it, where the loop starts.
        preconditioner = start_evaluation = None
        if spec.preconditioned and not partial:
            moments = None if first_rows is None else _inputs.subsample_moments(first_rows)
            if moments is None:
                first_rows = None
                moments, start_evaluation = _inputs.training_moments(
                    data, *(() if resuming else (objective, params)))
            preconditioner = self._input_preconditioner(moments, params, model, penalty, data)
        settings = self._solver_settings(penalty, model, data, batch_size, partial, early,
                                         preconditioner)
        optimizer = spec.make_optimizer(settings)
        stoppers = spec.stoppers(settings)
        if early:
            stoppers += (training.early_stopping(self.validation_metric, float(self.tol),
                                                 int(self.n_iter_no_change),
                                                 bool(self.restore_best_weights)),)
        if previous is not None:
            state = previous._replace(params=params, stoppers=(), stop_reason=None)
        else:
            # After load or a divergence, partial_fit continues the epoch count and history
            # with a fresh optimizer state.
            history = tuple(EpochRecord(**r) for r in self.history_) if continuing else ()
            state = initial_state(params, optimizer.init(params), rng, stoppers,
                                  epoch=len(history), history=history)
            if checkpoint is not None:
                checkpoint.bind_data(data.source, data.encoded.classes, task, data.validation,
                                     params, (data.backend or training.ThreadBackend()).layout(
                                         data.source, minibatch=not spec.full_batch))
                if checkpoint.resuming:
                    # A Dask backend counts its own rounds; here, batches of the source.
                    state = checkpoint.restore(state, None if data.backend is not None else
                                               1 if spec.full_batch else
                                               data.source.n_batches(batch_size))
            if first_rows is not None:
                state = training.subsample_start(
                    objective, optimizer, first_rows, state, max_epochs=int(self.max_iter),
                    stoppers=spec.stoppers(settings._replace(
                        tol=max(settings.tol, _inputs.SUBSAMPLE_TOL))),
                    backend=data.backend)
                # Its rows (copies of sparse or column-major X, slices on dask workers)
                # are not needed for the fit over all rows.
                first_rows = None
                moments, start_evaluation = _inputs.training_moments(data, objective,
                                                                     state.params)
                settings = settings._replace(preconditioner=self._input_preconditioner(
                    moments, params, model, penalty, data))
                optimizer = spec.make_optimizer(settings)
        # A checkpoint written at the epoch a stopping rule fired: that fit had ended, and
        # the loop only finishes it (the rules' results, such as restored best weights).
        stopped = state.stop_reason
        try:
            result = fit_loop(
                objective, optimizer, data.source, state,
                max_epochs=(state.epoch if stopped else state.epoch + 1 if partial
                            else int(self.max_iter)),
                batch_size=batch_size, shuffle=self.shuffle, validation=data.validation,
                stoppers=stoppers, callbacks=tuple(self.callbacks or ()),
                verbose=bool(self.verbose), checkpoint=checkpoint, backend=data.backend,
                start_evaluation=start_evaluation)
        except DivergenceError as error:
            history = state.history + tuple(error.history[len(state.history):])
            self._set_fitted(data, class_weight=data.class_weight, model=model,
                             params=error.params, state=None, history=history)
            raise
        if stopped:
            result = result._replace(stop_reason=stopped)
        self._set_fitted(data, class_weight=data.class_weight, model=model,
                         params=result.params, state=result.state, history=result.state.history)
        self.__dict__.pop("temperature_", None)
        if self.calibration == "temperature" and not partial:
            self.temperature_ = self._fit_temperature(model, result.params, data)
        if checkpoint is not None:
            checkpoint.remove()
        if result.stop_reason == "max_iter" and not partial:
            rules = ((["the gradient met"] if spec.full_batch else [])
                     + ([f"the validation {self.validation_metric} stopped improving by"]
                        if early else [] if spec.full_batch else
                        ["the loss stopped improving by"]))
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} before "
                + " or ".join(f"{rule} tol={self.tol}" for rule in rules)
                + "; increase max_iter" + (
                    "." if spec.full_batch else ", or scale the features (e.g. StandardScaler)."),
                ConvergenceWarning, stacklevel=4)
        curve = self.loss_curve_
        # Steps too large for the features' scales can grow the loss without bound and
        # still stop "converged" (no improvement for n_iter_no_change epochs).
        if not partial and len(curve) > 1 and curve[-1] > LOSS_GROWTH * curve[0]:
            warnings.warn(
                f"{type(self).__name__}'s training loss grew from {curve[0]:.4g} (epoch 1) to "
                f"{curve[-1]:.4g} (epoch {len(curve)}): the steps are too large; lower "
                "learning_rate_init, or scale the features (e.g. StandardScaler).",
                ConvergenceWarning, stacklevel=4)
        return self

    def _input_preconditioner(self, moments, params, model, penalty, data):
        return _build.input_preconditioner(
            moments, params, model.first_layer_keys(), penalty.l2_strength,
            getattr(data.source, "feature_names", getattr(self, "feature_names_in_", None)))

    def _alpha_for(self, data, continuing: bool) -> float:
        """alpha, with "auto" resolved to 1 / (sum of the training rows' loss weights):
        the normaliser of the mean loss, so that alpha * R(W) matches scikit-learn's
        default C=1 (for hard labels the weights are sw_i * class_weight[y_i], as the
        class weights scikit-learn multiplies into its per-sample weights)."""
        auto = self.alpha == "auto"
        if auto and continuing and hasattr(self, "_alpha"):
            return self._alpha          # partial_fit keeps the first call's penalty
        # The sum is taken for "auto", and where a class weight of 0 could make every
        # row's weight 0 (a full-batch fit would end at the penalty's minimum, silently).
        zero_class = data.class_weight is not None and not np.all(data.class_weight > 0)
        if auto or (zero_class and not continuing):
            weight_sum = _inputs.loss_weight_sum(data.source, data.encoded.kind,
                                                 data.class_weight)
            if not weight_sum > 0:
                raise XentlearnInputError(NO_LOSS_WEIGHT)
            if auto:
                self._alpha = 1.0 / weight_sum
                return self._alpha
        return float(self.alpha)

    def _fit_temperature(self, model, params, data) -> float:
        """T minimising the log-loss of logits / T on the validation data (see _calibration)."""
        if data.validation is None:
            raise XentlearnInputError(
                "calibration='temperature' needs validation data: with arrays it holds out "
                "validation_fraction of the rows; with TableFiles pass validation_data")
        logits, targets, weights = _inputs.scored_logits(model, params, data.validation)
        return fit_temperature(logits, targets, weights, data.encoded.kind)

    def _starting_params(self, model, encoded, continuing, rng, dtype) -> tuple[Params, bool]:
        """(The current parameters (partial_fit, warm_start), False) or (a fresh
        initialisation, True)."""
        if continuing:
            return self._attributes_to_params(), False
        # As scikit-learn: parameters a user assigned to an unfitted estimator count too.
        if self.warm_start and self._parameters_assigned():
            if hasattr(self, "classes_"):
                self._check_warm_start_targets(encoded)
            params = self._attributes_to_params()
            _check_shapes(model, params)
            return params, False
        return model.init(rng, dtype), True

    def _parameters_assigned(self) -> bool:
        """True when every attribute of ``_parameter_attributes`` is set (by a fit or by
        the user); raises when only some are."""
        names = self._parameter_attributes()
        assigned = [name for name in names if hasattr(self, name)]
        if assigned and len(assigned) < len(names):
            missing = [name for name in names if name not in assigned]
            raise XentlearnInputError(
                f"warm_start: {', '.join(assigned)} is set but {', '.join(missing)} is not; "
                f"assign {' and '.join(names)} together (or neither, for a fresh start)")
        return bool(assigned)

    def _learning_rate_init(self) -> float:
        """The initial step training uses: learning_rate_init, or the solver's default."""
        if self.learning_rate_init is None:
            return SOLVERS[self.solver].default_learning_rate
        return float(self.learning_rate_init)

    def _solver_settings(self, penalty, model, data, batch_size, partial, early,
                         preconditioner) -> SolverSettings:
        steps_per_epoch = data.source.n_batches(batch_size)
        learning_rate = _build.make_learning_rate(
            self.learning_rate, self._learning_rate_init(), steps_per_epoch=steps_per_epoch,
            max_epochs=int(self.max_iter), power_t=float(self.power_t),
            warmup_epochs=int(self.warmup_epochs), decay_rate=float(self.decay_rate),
            decay_epochs=int(self.decay_epochs))
        settings = solver_settings(self, learning_rate=learning_rate, penalty=penalty,
                                   penalty_mask=model.penalty_mask(),
                                   steps_per_epoch=steps_per_epoch,
                                   plateau=not (partial or early), preconditioner=preconditioner)
        if data.encoded.kind in ("multiclass", "soft"):
            settings = settings._replace(shift_invariant=model.output_layer_keys()[0])
        return settings

    def _check_warm_start_targets(self, encoded) -> None:
        """Refuse warm_start on targets other than the fitted ones (as scikit-learn's MLP):
        the coefficients would start the wrong classes' logits (the number of features is
        checked with the coefficients' shapes)."""
        if self._task == encoded.kind and np.array_equal(self.classes_, encoded.classes):
            return

        def described(kind, classes):
            return f"{kind} targets with classes [{', '.join(map(shown, classes))}]"
        raise XentlearnInputError(
            "warm_start=True starts from the fitted coefficients, which are for "
            f"{described(self._task, self.classes_)}; this y has "
            f"{described(encoded.kind, encoded.classes)}: set warm_start=False to start "
            "afresh")

    def _set_fitted(self, data, *, class_weight, model, params, state, history) -> None:
        self.classes_ = data.encoded.classes
        self._task = data.encoded.kind
        self._class_weight = class_weight
        self._model = model
        # The training state to continue from (partial_fit, model files); after a
        # divergence there is none: the next partial_fit starts a fresh optimizer.
        self._state = state
        self._params_to_attributes(params)
        self._set_history([record._asdict() for record in history])

    def _set_history(self, records: list[dict]) -> None:
        self.history_ = records
        self.n_iter_ = len(records)
        self.loss_curve_ = [r["train_loss"] for r in records]
        key = "val_accuracy" if self.validation_metric == "accuracy" else "val_loss"
        self.validation_scores_ = [r[key] for r in records if r[key] is not None] or None

    def save(self, path) -> None:
        """Write the fitted model to one file: arrays (.npy) and JSON metadata, no pickle.

        The write is atomic (a temporary file renamed over `path`), so a crash
        never destroys an existing model. ``xentlearn.load(path)`` reads it back
        and predicts bit-identically; ``partial_fit`` continues from the saved
        optimizer state. Every hyperparameter is saved except the settings of
        this run: ``callbacks`` (code is never saved), ``checkpoint`` and
        ``checkpoint_interval`` come back as None, so ``fit`` on the loaded
        model never resumes from or writes to this fit's checkpoint path (pass
        a new one with ``set_params``). A ``random_state`` that is a Generator or
        RandomState object comes back as None (an integer is kept), and values
        come back in JSON's types (``hidden_layer_sizes`` a tuple, ``class_weight``
        weights floats). Pickling keeps every parameter as it was.
        """
        from xentlearn.estimators._persistence import save

        save(self, path)

    # ---------------------------------------------------------------- predict
    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        return _inputs.logits(self, X)

    @property
    def preprocessor_(self):
        """The preprocessing of a model trained on files, as a fitted
        ``xentlearn.preprocessing.TablePreprocessor`` (absent for models trained
        on arrays): ``predict`` applies it to DataFrames by column name."""
        if not hasattr(self, "_preprocessor"):
            raise AttributeError(
                "preprocessor_: this model was trained on arrays, not files; it has no "
                "table preprocessing")
        return TablePreprocessor.from_state(self._preprocessor, self._resolved_dtype())

    def iter_predictions(self, table, *, proba: bool = False):
        """Predictions for files, one record batch at a time, in file order (bounded memory).

        Parameters
        ----------
        table : TableFiles
        proba : bool
            Also yield the class probabilities.

        Yields
        ------
        (labels, probabilities or None, true labels or None)
            true labels when ``table.target`` is set.
        """
        check_is_fitted(self, "classes_")
        for logits, y in _files.iter_file_logits(self, table, with_target=table.target is not None):
            yield (self._labels_from_logits(logits),
                   TASKS[self._task].proba(self._calibrated(logits)) if proba else None, y)

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy on (X, y), or on TableFiles with a target column."""
        check_is_fitted(self, "classes_")
        accuracy = _inputs.score_files(self, X)
        if accuracy is None:
            accuracy = _inputs.score_dask(self, X, y, sample_weight)
        if accuracy is not None:
            return accuracy
        y = score_targets(y, self._task, self.classes_)
        if np.ndim(y) == 1:         # labels fitted as numbers (number_labels) score as such
            y = number_labels(np.asarray(y))
        return super().score(X, y, sample_weight=sample_weight)

    @_inputs.per_partition
    def decision_function(self, X):
        """Raw logits: shape (n_samples,) for binary, (n_samples, n_outputs) otherwise."""
        logits = self._logits(X)
        return logits[:, 0] if TASKS[self._task].n_outputs(2) == 1 else logits

    @_inputs.per_partition
    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the fitted dtype.

        Binary: [1 - s(z), s(z)]; multiclass and soft: softmax(z); multilabel:
        the independent sigmoids s(z_j), one column per label.
        """
        logits = self._calibrated(self._logits(X))     # checks fitted first
        return TASKS[self._task].proba(logits)

    @_inputs.per_partition
    def predict_log_proba(self, X):
        """log of predict_proba, computed stably from the logits."""
        logits = self._calibrated(self._logits(X))
        return TASKS[self._task].log_proba(logits)

    def _calibrated(self, logits: np.ndarray) -> np.ndarray:
        """logits / temperature_ when calibrated (argmax and signs unchanged)."""
        temperature = getattr(self, "temperature_", None)
        if temperature is None or temperature == 1.0:
            return logits
        return logits / logits.dtype.type(temperature)

    @_inputs.per_partition
    def predict(self, X):
        """Labels: classes_[argmax] (binary: logit > 0); multilabel: 0/1 indicators."""
        return self._labels_from_logits(self._logits(X))

    def _labels_from_logits(self, logits):
        decided = TASKS[self._task].decide(logits)
        return decided if decided.ndim == 2 else self.classes_[decided]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags


def _as_generator(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a RandomState or a Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def _check_shapes(model, params) -> None:
    """Warm-start parameters (possibly assigned by the user) must fit the model."""
    for layer, ((W, b), (W_shape, b_shape)) in enumerate(zip(
            model.to_layers(params), model.to_layers(model.parameter_shapes()))):
        for got, expected, what in ((W, W_shape, "weights"), (b, b_shape, "intercepts")):
            if expected is not None and (got is None or got.shape != tuple(expected)):
                raise XentlearnInputError(
                    f"warm_start: the layer {layer} {what} (coef_ transposed / coefs_[{layer}], "
                    f"intercept_ / intercepts_[{layer}]) have shape "
                    f"{None if got is None else got.shape}, expected {tuple(expected)}")


def _check_checkpoint_interval(checkpoint, interval) -> None:
    # Interval validation (a positive finite number of seconds) is _parameter_constraints';
    # this is the combination: an interval says how often to write a file that must exist.
    if interval is not None and checkpoint is None:
        raise XentlearnInputError(
            f"checkpoint_interval={interval!r} is set but checkpoint is None: the interval "
            f"says how often the checkpoint file is also written inside an epoch, and there "
            f"is no file to write. Pass checkpoint=PATH as well, or leave "
            f"checkpoint_interval=None")


def _check_callbacks(callbacks) -> None:
    """Each callback is a callable or has ``on_epoch_end``: checked before any epoch runs."""
    for i, callback in enumerate(callbacks or ()):
        if not (callable(callback) or callable(getattr(callback, "on_epoch_end", None))):
            raise XentlearnInputError(
                f"callbacks[{i}] is {callback!r} ({type(callback).__name__}): expected a "
                "function cb(record, params) or an object with on_epoch_end(record, params)")


# Training holds the parameters, their gradients, an update and up to two optimizer
# moments (Adam): about this many copies of the parameters at once; and per row of
# a step, each layer's output, activation and backpropagated delta.
_PARAMETER_COPIES, _ACTIVATION_COPIES = 5, 3
# Full-batch passes run over row blocks of at most this many rows per worker (2).
_FULL_BATCH_ROWS = 2 * 16384


def _check_model_fits_in_memory(model, dtype, rows_per_step: int) -> None:
    """Refuse a model that cannot train in this machine's memory, before allocating it.

    An estimate from the layout alone (``model.parameter_shapes()``): parameter
    copies plus the activations of one step's rows. It names the sizes, so
    ``hidden_layer_sizes=(10**6,)`` fails at once instead of in MemoryError.
    """
    shapes = model.parameter_shapes()
    n_params = sum(math.prod(shape) for shape in shapes.values())
    widths = sum(shape[1] for key, shape in shapes.items() if len(shape) == 2)
    rows = min(rows_per_step, _FULL_BATCH_ROWS)
    itemsize = np.dtype(dtype).itemsize
    needed = (_PARAMETER_COPIES * n_params + _ACTIVATION_COPIES * rows * widths) * itemsize
    try:
        available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):   # not POSIX: no bound known
        return
    if needed > available:
        layout = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in shapes.items())
        raise XentlearnInputError(
            f"the model is too large for this machine: {n_params:.3g} parameters ({layout}) "
            f"and activations for {rows} rows per step need about {needed / 2**30:.3g} GiB in "
            f"{np.dtype(dtype).name}, and this machine has {available / 2**30:.3g} GiB of "
            f"memory: use smaller hidden_layer_sizes (or a smaller batch_size, fewer features)")
