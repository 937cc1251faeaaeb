"""Start with Adam, finish with SGD: train an MLP on scikit-learn's digits and print the accuracies.

    python -m fastnn.examples.switch_optimizer [--adam-epochs 15] [--sgd-epochs 15] [--threads N]

Adam makes fast early progress; plain SGD with momentum and a decaying rate often generalises a little
better at the end (Keskar & Socher, 2017, "Improving Generalization Performance by Switching from Adam to
SGD").  Switching is ``model.compile(loss, optimizer=new)`` again: the weights (and ``epochs_trained``) are
kept, the new optimizer starts with fresh state (its step count restarts at 0).  The SGD phase uses a cosine
schedule over its epochs.  Needs scikit-learn (the digits are bundled with it; nothing is downloaded).
"""
import argparse

import numpy as np

import fastnn as fnn
from fastnn import schedules


def build(seed=0):
    return fnn.Sequential([fnn.Linear(64, 128, activation="relu"), fnn.Linear(128, 64, activation="relu"),
                           fnn.Linear(64, 10)], seed=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adam-epochs", type=int, default=15)
    ap.add_argument("--sgd-epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--adam-lr", type=float, default=1e-3)
    ap.add_argument("--sgd-lr", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        fnn.set_num_threads(args.threads)

    (X_train, y_train), (X_test, y_test) = fnn.datasets.digits(seed=args.seed)
    model = build(args.seed)

    def report(phase):
        tr = model.evaluate(X_train, y_train)["accuracy"]
        te = model.evaluate(X_test, y_test)["accuracy"]
        print(f"{phase:<28s} epochs={model.epochs_trained:3d}  train acc {tr:.4f}  test acc {te:.4f}")
        return te

    model.compile(loss="cross_entropy", optimizer=fnn.optim.Adam(lr=args.adam_lr))
    model.fit(X_train, y_train, epochs=args.adam_epochs, batch_size=args.batch_size, verbose=0)
    report("after Adam")

    weights = model.params.copy()
    model.compile(loss="cross_entropy",
                  optimizer=fnn.optim.SGD(lr=args.sgd_lr, momentum=0.9, nesterov=True, weight_decay=1e-4))
    assert np.array_equal(weights, model.params), "compile must keep the weights"

    # The SGD phase with a cosine-decayed rate: run epoch by epoch, feeding the schedule's multiplier into
    # the optimizer's lr (until fit takes a schedule= argument).
    sched = schedules.CosineAnnealing(args.sgd_epochs, eta_min_factor=0.05)
    n_batches = -(-len(X_train) // args.batch_size)
    for e in range(args.sgd_epochs):
        model.optimizer.lr = args.sgd_lr * float(sched.scales(e, n_batches)[0])
        model.fit(X_train, y_train, epochs=1, batch_size=args.batch_size, verbose=0)
        sched.advance(n_batches)
    return report("after SGD (cosine lr)")


if __name__ == "__main__":
    main()
