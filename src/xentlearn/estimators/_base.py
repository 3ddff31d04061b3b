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
from sklearn.utils.validation import check_is_fitted, validate_data

from xentlearn import _checks, losses
from xentlearn._types import Params
from xentlearn.data import ArraySource, TableFiles
from xentlearn.estimators import _build, _files
from xentlearn.estimators._labels import compute_class_weight, encode_targets
from xentlearn.estimators._preprocessing import TablePreprocessor, table_features
from xentlearn.exceptions import DivergenceError, XentlearnInputError
from xentlearn.objective import Objective, make_loss
from xentlearn.penalties import Penalty
from xentlearn.training import fit_loop

SOLVERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "lbfgs")
LEARNING_RATES = ("constant", "invscaling", "step", "exponential", "cosine", "adaptive")
# What a fit on files records about its table, besides the fitted parameters.
_TABLE_ATTRIBUTES = ("_preprocessor", "preprocessing_", "feature_columns_", "target_column_")


class BaseXentClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit / predict machinery; subclasses say which model to build."""

    _parameter_constraints: dict = {
        "solver": [StrOptions(set(SOLVERS))],
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
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
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

    def _batch_size(self, n_samples: int) -> int | None:
        if self.batch_size == "full" or (self.batch_size == "auto" and self.solver == "lbfgs"):
            return None
        if self.batch_size == "auto":
            return min(256, n_samples)
        if self.solver == "lbfgs":
            raise XentlearnInputError(
                f"solver='lbfgs' needs the full batch; got batch_size={self.batch_size!r}. "
                "Use batch_size='full' (or 'auto'), or a first-order solver such as 'adam'.")
        return min(int(self.batch_size), n_samples)

    def _prepare_arrays(self, X, y, sample_weight, *, dtype, partial, continuing, classes, rng):
        if partial and not continuing and classes is None and np.ndim(y) == 1:
            raise XentlearnInputError(
                "classes must be given on the first call to partial_fit: every label that "
                "will ever appear, e.g. partial_fit(X, y, classes=np.unique(y_all))")
        if continuing and hasattr(self, "_preprocessor"):
            X = table_features(self, X, dtype)   # a model trained on files, continued
        _check_numeric_frame(X)
        y = _nullable_labels_as_numpy(y)
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), dtype=dtype,
                             multi_output=True, reset=not continuing, y_numeric=False)
        n_samples = X.shape[0]
        encoded = encode_targets(y, classes=self.classes_ if continuing else classes, dtype=dtype)
        if continuing and encoded.kind != self._task:
            raise XentlearnInputError(
                f"y is {encoded.kind} but earlier partial_fit calls were {self._task}")
        if sample_weight is not None:
            sample_weight = _checks.check_sample_weight("sample_weight", sample_weight,
                                                        n_samples, dtype)
            if not sample_weight.any():
                raise XentlearnInputError("sample_weight is zero for every row; nothing to fit")
        if continuing:
            class_weight = self._class_weight
        else:
            class_weight = compute_class_weight(self.class_weight, encoded.classes,
                                                encoded.targets, encoded.kind,
                                                sample_weight=sample_weight, dtype=dtype)
        source = ArraySource(X, encoded.targets, sample_weight)
        validation = None
        if self.early_stopping and not partial:
            source, validation = _split_validation(source, self.validation_fraction, rng,
                                                   encoded)
        return source, validation, encoded, class_weight

    def _fit(self, X, y, sample_weight, *, partial: bool, classes, validation_data=None):
        self._validate_params()
        _check_callbacks(self.callbacks)
        dtype = self._resolved_dtype()
        if self.solver == "lbfgs" and self.penalty in ("l1", "elasticnet") and self.alpha > 0:
            raise XentlearnInputError(
                f"solver='lbfgs' cannot minimise the non-smooth penalty {self.penalty!r}; "
                "use solver='sgd' or 'adam' (proximal steps give exact zeros), or penalty='l2'.")
        continuing = partial and hasattr(self, "classes_")
        if continuing and classes is not None and not np.array_equal(
                np.sort(np.asarray(classes)), self.classes_):
            raise XentlearnInputError(
                f"classes={list(classes)!r} differs from the classes of the first partial_fit "
                f"call, {list(self.classes_)!r}")
        rng = _as_generator(self.random_state) if not continuing else self._rng
        if isinstance(X, TableFiles):
            prepared = _files.prepare_files(self, X, y, sample_weight, validation_data,
                                            dtype=dtype, continuing=continuing, classes=classes)
        else:
            if not continuing:   # a fresh fit on arrays forgets an earlier table preprocessing
                for name in _TABLE_ATTRIBUTES:
                    self.__dict__.pop(name, None)
            prepared = self._prepare_arrays(X, y, sample_weight, dtype=dtype, partial=partial,
                                            continuing=continuing, classes=classes, rng=rng)
        source, validation, encoded, class_weight = prepared
        n_outputs = 1 if encoded.kind == "binary" else len(encoded.classes)
        model = self._make_model(source.n_features, n_outputs)
        n_features = source.n_features
        batch_size = self._batch_size(source.n_samples)
        _check_model_fits_in_memory(model, dtype, batch_size or source.n_samples)
        steps_per_epoch = source.n_batches(batch_size)

        if continuing:
            params = self._attributes_to_params()
            opt_state = self._opt_state
        elif self.warm_start and hasattr(self, "classes_") and self._warm_start_compatible(
                encoded, n_features):
            params = self._attributes_to_params()
            _check_shapes(params, model.init(rng, dtype))
            opt_state = None
        else:
            params = model.init(rng, dtype)
            opt_state = None

        penalty = Penalty.from_name(self.penalty, self.alpha, self.l1_ratio)
        mask = model.penalty_mask()
        gradient_penalty = penalty
        if self.solver == "adamw":   # decoupled decay replaces the L2 gradient term
            gradient_penalty = Penalty(alpha=penalty.l1_strength, l1_ratio=1.0)
        task = encoded.kind
        objective = Objective(
            model=model,
            loss=make_loss(task, class_weight=class_weight,
                           label_smoothing=float(self.label_smoothing),
                           focal_gamma=float(self.focal_gamma)),
            penalty=gradient_penalty, task=task, eval_loss=make_loss(task))
        lr_init = (_build.DEFAULT_LEARNING_RATE[self.solver] if self.learning_rate_init is None
                   else float(self.learning_rate_init))
        max_epochs = 1 if partial else int(self.max_iter)
        learning_rate = _build.make_learning_rate(
            self.learning_rate, lr_init, steps_per_epoch=steps_per_epoch,
            max_epochs=int(self.max_iter), power_t=float(self.power_t),
            warmup_epochs=int(self.warmup_epochs), decay_rate=float(self.decay_rate),
            decay_epochs=int(self.decay_epochs))
        adaptive = self.learning_rate == "adaptive" and self.solver != "lbfgs"
        # One pass over the data (arrays or files) for lbfgs's preconditioner; partial_fit
        # keeps the optimizer state of its first call, so it keeps plain L-BFGS too.
        preconditioner = (_build.input_preconditioner(
            source, params, penalty.l2_strength,
            getattr(source, "feature_names", getattr(self, "feature_names_in_", None)))
            if self.solver == "lbfgs" and not partial else None)
        optimizer = _build.make_optimizer(
            self.solver, learning_rate, penalty=penalty, penalty_mask=mask,
            momentum=float(self.momentum), nesterov=bool(self.nesterov),
            beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon),
            max_grad_norm=self.max_grad_norm, adaptive=adaptive,
            steps_per_epoch=steps_per_epoch, n_iter_no_change=int(self.n_iter_no_change),
            tol=float(self.tol), preconditioner=preconditioner)
        try:
            result = fit_loop(
                objective, optimizer, source, params, opt_state=opt_state,
                max_epochs=max_epochs, batch_size=batch_size, rng=rng, shuffle=self.shuffle,
                validation=validation,
                tol=float(self.tol),
                stop_on_plateau=not (partial or adaptive or self.solver == "lbfgs"),
                n_iter_no_change=int(self.n_iter_no_change),
                grad_tol=float(self.tol) if self.solver == "lbfgs" else None,
                early_stopping=bool(self.early_stopping) and validation is not None,
                validation_metric=self.validation_metric,
                restore_best_weights=self.restore_best_weights,
                min_learning_rate=1e-6 if adaptive else 0.0,
                callbacks=tuple(self.callbacks or ()), verbose=bool(self.verbose),
                first_epoch=(self.n_iter_ + 1) if continuing else 1)
        except DivergenceError as error:
            self._set_fitted(encoded, class_weight, model, error.params, None, error.history,
                             rng, continuing)
            raise
        self._set_fitted(encoded, class_weight, model, result.params, result.opt_state,
                         result.history, rng, continuing)
        if result.stop_reason == "max_iter" and not partial:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} before the "
                f"{'gradient' if self.solver == 'lbfgs' else 'loss'} met tol={self.tol}; "
                "increase max_iter" + ("." if self.solver == "lbfgs" else
                                       ", or scale the features (e.g. StandardScaler)."),
                ConvergenceWarning, stacklevel=4)
        return self

    def _warm_start_compatible(self, encoded, n_features) -> bool:
        return (self._task == encoded.kind and len(self.classes_) == len(encoded.classes)
                and np.array_equal(self.classes_, encoded.classes)
                and self.n_features_in_ == n_features)

    def _set_fitted(self, encoded, class_weight, model, params, opt_state, history, rng,
                    continuing):
        records = [record._asdict() for record in history]
        if continuing:
            records = self.history_ + records
        self.classes_ = encoded.classes
        self._task = encoded.kind
        self._class_weight = class_weight
        self._model = model
        self._opt_state = opt_state
        self._rng = rng
        self._params_to_attributes(params)
        self._set_history(records)

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
        and predicts bit-identically.
        """
        from xentlearn.estimators._persistence import save

        save(self, path)

    # ---------------------------------------------------------------- predict
    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        if isinstance(X, TableFiles):
            parts = [logits for logits, _ in _files.iter_file_logits(self, X, with_target=False)]
            return np.concatenate(parts) if parts else np.empty((0, self._model.n_outputs))
        if hasattr(self, "_preprocessor"):
            X = table_features(self, X, self._resolved_dtype())
        else:
            X = validate_data(self, X, accept_sparse=("csr", "csc"),
                              dtype=self._resolved_dtype(), reset=False)
        return self._model.predict_logits(self._attributes_to_params(), X)

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
                   self._proba_from_logits(logits) if proba else None, y)

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy on (X, y), or on TableFiles with a target column."""
        if isinstance(X, TableFiles):
            correct = total = 0
            for labels, _, truth in self.iter_predictions(X):
                correct += int(np.count_nonzero(labels == truth))
                total += len(truth)
            return correct / total
        return super().score(X, y, sample_weight=sample_weight)

    def decision_function(self, X):
        """Raw logits: shape (n_samples,) for binary, (n_samples, n_outputs) otherwise."""
        logits = self._logits(X)
        return logits[:, 0] if self._task == "binary" else logits

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the fitted dtype.

        Binary: [1 - s(z), s(z)]; multiclass and soft: softmax(z); multilabel:
        the independent sigmoids s(z_j), one column per label.
        """
        return self._proba_from_logits(self._logits(X))

    def _proba_from_logits(self, logits):
        if self._task == "binary":
            p = losses.sigmoid(logits[:, 0])
            return np.column_stack([1 - p, p])
        if self._task == "multilabel":
            return losses.sigmoid(logits)
        return losses.softmax(logits, axis=1)

    def predict_log_proba(self, X):
        """log of predict_proba, computed stably from the logits."""
        logits = self._logits(X)
        if self._task == "binary":
            z = logits[:, 0]
            return np.column_stack([losses.log_sigmoid(-z), losses.log_sigmoid(z)])
        if self._task == "multilabel":
            return losses.log_sigmoid(logits)
        return losses.log_softmax(logits, axis=1)

    def predict(self, X):
        """Labels: classes_[argmax] (binary: logit > 0); multilabel: 0/1 indicators."""
        return self._labels_from_logits(self._logits(X))

    def _labels_from_logits(self, logits):
        if self._task == "binary":
            return self.classes_[(logits[:, 0] > 0).astype(np.intp)]
        if self._task == "multilabel":
            return (logits > 0).astype(np.int64)
        return self.classes_[logits.argmax(axis=1)]

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


def _split_validation(source: ArraySource, fraction: float, rng: np.random.Generator, encoded):
    """Hold out `fraction` of the rows (stratified for single-label y) for early stopping."""
    n = source.n_samples
    n_val = int(np.ceil(fraction * n))
    if n_val < 1 or n - n_val < 1:
        raise XentlearnInputError(
            f"validation_fraction={fraction} leaves no rows for training or validation "
            f"with {n} samples")
    if encoded.kind in ("binary", "multiclass"):
        from sklearn.model_selection import train_test_split

        labels = encoded.targets.astype(np.intp)
        counts = np.bincount(labels)
        stratify = labels if counts[counts > 0].min() >= 2 and n_val >= len(counts) else None
        train_rows, val_rows = train_test_split(
            np.arange(n), test_size=n_val, random_state=int(rng.integers(2**31 - 1)),
            stratify=stratify)
    else:
        order = rng.permutation(n)
        train_rows, val_rows = order[n_val:], order[:n_val]
    train_rows.sort()
    val_rows.sort()
    return source.take(train_rows), source.take(val_rows)


def _check_shapes(params, expected) -> None:
    """Warm-start parameters (possibly assigned by the user) must fit the model."""
    names = {"W0": "coef_ (transposed) / coefs_[0]", "b0": "intercept_ / intercepts_[0]"}
    for key, value in expected.items():
        got = params.get(key)
        if got is None or got.shape != value.shape:
            raise XentlearnInputError(
                f"warm_start: {names.get(key, key)} has shape "
                f"{None if got is None else got.shape}, expected {value.shape}")


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


def _check_numeric_frame(X) -> None:
    """A DataFrame with text or categorical columns: say which, and what to do instead."""
    module = type(X).__module__.split(".")[0]
    if module == "pandas":
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [str(c) for c, d in X.dtypes.items() if not (is_numeric_dtype(d) or is_bool_dtype(d))]
    elif module == "polars":
        bad = [name for name, d in X.schema.items() if not (d.is_numeric() or str(d) == "Boolean")]
    else:
        return
    if bad:
        raise XentlearnInputError(
            f"X has non-numeric column(s) {bad}: encode them first, e.g. "
            "make_pipeline(xentlearn.preprocessing.TablePreprocessor(), LogisticRegression()) "
            "(one-hot text, standardised numbers), or train from files with "
            "xentlearn.data.TableFiles, which does the same")


def _nullable_labels_as_numpy(y):
    """pandas' nullable Int64 / boolean labels keep their type (scikit-learn makes them float)."""
    dtype = getattr(y, "dtype", None)
    if type(y).__module__.split(".")[0] != "pandas" or getattr(y, "ndim", 0) != 1:
        return y
    kind = getattr(dtype, "kind", None)
    if getattr(dtype, "na_value", None) is not None and kind in ("i", "u", "b") \
            and not y.isna().any():
        return y.to_numpy(dtype=dtype.numpy_dtype)
    return y
