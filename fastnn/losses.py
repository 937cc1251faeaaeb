"""Losses.  Computed in C together with their gradient (softmax + cross-entropy fused).

Reductions follow PyTorch's ``reduction="mean"``: MSE, MAE, Huber and binary cross-entropy average over every
element of the batch's output; cross-entropy averages over the rows.  Gradients are those of the mean, so
they are divided by the mini-batch size."""

__all__ = ["Loss", "MSELoss", "L1Loss", "HuberLoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "get"]


class Loss:
    name = None        # the C kernel's name
    classification = False
    delta = 1.0

    def __repr__(self):
        return f"{type(self).__name__}()"

    def config(self):
        return {"name": self.name, "delta": self.delta}


class MSELoss(Loss):
    """Mean squared error: mean of (pred - target)^2 over all elements."""
    name = "mse"


class L1Loss(Loss):
    """Mean absolute error: mean of |pred - target| over all elements (gradient 0 at 0)."""
    name = "mae"


class HuberLoss(Loss):
    """Huber / smooth-L1: 0.5 r^2 where |r| < delta, else delta (|r| - 0.5 delta); mean over elements.
    Default delta=1.0 (PyTorch's)."""
    name = "huber"

    def __init__(self, delta=1.0):
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta!r}")
        self.delta = delta

    def __repr__(self):
        return f"HuberLoss(delta={self.delta})"


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits (the network's last layer is linear; sigmoid is applied inside, stably).
    Targets in [0, 1], shape (N, D) or (N,) for D = 1."""
    name = "bce_logits"
    classification = True


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits: targets are integer class labels (N,), one-hot or soft probability
    rows (N, C).  Mean over rows."""
    name = "cross_entropy"
    classification = True


_ALIASES = {
    "mse": MSELoss, "mean_squared_error": MSELoss, "l2": MSELoss,
    "mae": L1Loss, "l1": L1Loss, "mean_absolute_error": L1Loss,
    "huber": HuberLoss, "smooth_l1": HuberLoss,
    "bce_logits": BCEWithLogitsLoss, "binary_cross_entropy": BCEWithLogitsLoss, "bce": BCEWithLogitsLoss,
    "cross_entropy": CrossEntropyLoss, "ce": CrossEntropyLoss, "categorical_crossentropy": CrossEntropyLoss,
    "sparse_categorical_crossentropy": CrossEntropyLoss,
}


def get(loss):
    """A Loss from an instance or a name (see ``_ALIASES``)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in _ALIASES:
        return _ALIASES[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; expected a Loss or one of {sorted(_ALIASES)}")
