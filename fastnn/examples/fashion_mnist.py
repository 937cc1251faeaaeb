"""Train a multilayer perceptron on Fashion-MNIST and report test accuracy.

    python -m fastnn.examples.fashion_mnist [--epochs 12] [--batch-size 64] [--lr 0.05] [--threads N]

The data come from the directory given by --data, $FASTNN_DATA, or Debian's package
(`apt-get install dataset-fashion-mnist`); nothing is downloaded.
"""
import argparse
import time

import numpy as np

import fastnn as fnn


def build(hidden=(256, 128), seed=0):
    layers, width = [], 784
    for h in hidden:
        layers.append(fnn.Linear(width, h, activation="relu"))
        width = h
    layers.append(fnn.Linear(width, 10))
    return fnn.Sequential(layers, seed=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fastnn fashion-mnist", description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--hidden", type=int, nargs="*", default=[256, 128])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="directory holding the four IDX files (plain or .gz)")
    args = ap.parse_args(argv)
    if args.threads:
        fnn.set_num_threads(args.threads)
    fnn.show_config()

    (X_train, y_train), (X_test, y_test) = fnn.datasets.fashion_mnist(args.data)
    # Centre the pixels on the training mean: cheap, and SGD converges faster on zero-mean inputs.
    mean = X_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    X_train = X_train - mean
    X_test = X_test - mean
    print(f"\nFashion-MNIST: {X_train.shape[0]:,} training and {X_test.shape[0]:,} test images\n")

    model = build(args.hidden, args.seed)
    model.compile(loss="cross_entropy",
                  optimizer=fnn.optim.SGD(lr=args.lr, momentum=args.momentum, nesterov=args.momentum > 0))
    model.summary(batch_size=args.batch_size)
    print()
    t0 = time.perf_counter()
    model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(X_test, y_test), verbose=2)
    dt = time.perf_counter() - t0
    result = model.evaluate(X_test, y_test)
    print(f"\nTest accuracy {result['accuracy'] * 100:.2f}%  (test loss {result['loss']:.4f}); "
          f"trained {args.epochs} epochs in {dt:.1f}s on {fnn.get_num_threads()} thread(s), "
          f"{args.epochs * X_train.shape[0] / dt:,.0f} samples/s including validation")
    return result


if __name__ == "__main__":
    main()
