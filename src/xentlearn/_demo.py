"""`make demo`: full-batch gradient descent on digits, showing the loss fall.

Replaced by the command line (`xentlearn train`) once it lands.
"""

from __future__ import annotations

import warnings

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from xentlearn import LogisticRegression, MLPClassifier


def main() -> None:
    # The demo caps the epochs on purpose; the warning that says so would be noise here.
    warnings.filterwarnings("ignore", message=".*reached max_iter")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test images, "
          f"{X.shape[1]} features, 10 classes\n")

    print("Linear softmax model, full-batch gradient descent (Nesterov momentum):")

    def report(record, params):
        if record.epoch == 1 or record.epoch % 25 == 0:
            print(f"  step {record.epoch:4d}   loss {record.train_loss:.4f}")

    clf = LogisticRegression(solver="sgd", batch_size="full", learning_rate_init=0.1,
                             max_iter=200, n_iter_no_change=200, alpha=1e-3, callbacks=[report])
    clf.fit(X_train, y_train)
    print(f"  test accuracy {clf.score(X_test, y_test):.3f}\n")

    lbfgs = LogisticRegression(alpha=1e-3, max_iter=500).fit(X_train, y_train)
    print(f"Same objective with L-BFGS: loss {lbfgs.loss_curve_[-1]:.4f} after "
          f"{lbfgs.n_iter_} iterations, test accuracy {lbfgs.score(X_test, y_test):.3f}")

    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0).fit(X_train, y_train)
    print(f"MLP (64 hidden, adam, mini-batch 256): loss {mlp.loss_curve_[0]:.3f} -> "
          f"{mlp.loss_curve_[-1]:.3f} in {mlp.n_iter_} epochs, "
          f"test accuracy {mlp.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
