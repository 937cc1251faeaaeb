"""Training reaches published accuracies on real data (the acceptance tests of the dense engine)."""
import os

import pytest

import fastnn as fnn

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _have_fmnist():
    try:
        fnn.datasets.fashion_mnist()
        return True
    except FileNotFoundError:
        return False


def test_digits_mlp_reaches_96_percent():
    pytest.importorskip("sklearn")
    (X_train, y_train), (X_test, y_test) = fnn.datasets.digits(test_size=0.25, seed=0)
    model = fnn.Sequential([fnn.Linear(64, 64, activation="relu"), fnn.Linear(64, 10)], seed=0)
    model.compile(loss="cross_entropy", optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True))
    model.fit(X_train, y_train, epochs=40, batch_size=32, verbose=0)
    acc = model.evaluate(X_test, y_test)["accuracy"]
    assert acc >= 0.96, f"digits test accuracy {acc:.4f} < 0.96"


needs_fmnist = pytest.mark.skipif(
    not os.environ.get("CI") and not os.path.isdir(FMNIST_DIR) and not os.environ.get("FASTNN_DATA"),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


@pytest.mark.slow
@needs_fmnist
def test_fashion_mnist_plain_mlp_reaches_88_5_percent():
    """Issue #3: 784-256-128-10 ReLU, SGD with Nesterov momentum and a cosine rate, no regularisation.  (With a
    constant rate the last epoch's accuracy swings by +-0.3% with the rounding of the SIMD path: 88.45% on
    AVX2, 88.67% portable, so the bar would test luck; the cosine schedule lands at 89.9-90.2% on each.)"""
    from fastnn.examples.fashion_mnist import main

    result = main(["--epochs", "12", "--dropout", "0", "--schedule", "cosine", "--verbose", "0"])
    assert result["accuracy"] >= 0.885, f"Fashion-MNIST test accuracy {result['accuracy']:.4f} < 0.885"


@pytest.mark.slow
@needs_fmnist
def test_fashion_mnist_playbook_mlp_reaches_89_5_percent():
    """Issue #4: the same network with dropout 0.2 and SGD+Nesterov under a cosine schedule."""
    from fastnn.examples.fashion_mnist import main

    result = main(["--epochs", "15", "--dropout", "0.2", "--schedule", "cosine", "--verbose", "0"])
    assert result["accuracy"] >= 0.895, f"Fashion-MNIST test accuracy {result['accuracy']:.4f} < 0.895"
