"""Losses: the float64 reference vs finite differences, the C kernels (fast and naive) vs the reference,
extreme logits, thread-count determinism, argument errors, and PyTorch when installed."""
import numpy as np
import pytest

import reference as ref
from fastnn._ext import _core

SHAPES = [(1, 1), (1, 7), (3, 17), (64, 100), (257, 33)]
# (loss kind, how the target is given)
CASES = [("mse", "dense"), ("mae", "dense"), ("huber", "dense"), ("bce_logits", "prob"),
         ("cross_entropy", "labels"), ("cross_entropy", "onehot"), ("cross_entropy", "soft")]
IDS = ["%s-%s" % c for c in CASES]


def make_case(kind, form, shape, rng, scale=2.0):
    n, d = shape
    pred = (rng.standard_normal(shape) * scale).astype(np.float32)
    if form == "dense":
        return pred, (rng.standard_normal(shape) * scale).astype(np.float32)
    if form == "prob":
        return pred, rng.uniform(0, 1, shape).astype(np.float32)
    labels = rng.integers(0, d, size=n).astype(np.int32)
    if form == "labels":
        return pred, labels
    if form == "onehot":
        t = np.zeros(shape, np.float32)
        t[np.arange(n), labels] = 1.0
        return pred, t
    t = rng.uniform(0, 1, shape)
    return pred, (t / t.sum(axis=1, keepdims=True)).astype(np.float32)


def run_c(kind, pred, tgt, naive=False, n_threads=1, delta=1.0, grad_scale=1.0, want_grad=True):
    kw = {"labels": tgt} if tgt.ndim == 1 else {"target": tgt}
    return _core.loss_forward_backward(kind, pred, delta=delta, grad_scale=grad_scale, n_threads=n_threads,
                                       naive=naive, want_grad=want_grad, **kw)


# ---------------------------------------------------------------- the reference vs finite differences

@pytest.mark.parametrize("kind,form", CASES, ids=IDS)
def test_reference_matches_finite_differences(kind, form, rng):
    pred, tgt = make_case(kind, form, (3, 5), rng)
    pred = pred.astype(np.float64)
    if kind in ("mae", "huber"):  # keep |pred - target| away from the kinks at 0 and delta
        r = pred - tgt
        r = np.sign(r) * (0.1 + np.abs(r))
        r[np.abs(np.abs(r) - 0.7) < 0.1] += 0.3
        pred = tgt + r
    delta = 0.7
    value, grad = ref.loss(kind, pred, tgt, delta)
    h = 1e-6
    fd = np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        pp, pm = pred.copy(), pred.copy()
        pp[idx] += h
        pm[idx] -= h
        fd[idx] = (ref.loss(kind, pp, tgt, delta)[0] - ref.loss(kind, pm, tgt, delta)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_reference_known_values():
    z = np.array([[0.0, np.log(3.0)]])
    v, g = ref.loss("cross_entropy", z, np.array([1]))
    np.testing.assert_allclose(v, -np.log(0.75))
    np.testing.assert_allclose(g, [[0.25, -0.25]])
    v, _ = ref.loss("bce_logits", np.zeros((2, 2)), np.full((2, 2), 0.3))
    np.testing.assert_allclose(v, np.log(2.0))
    v, _ = ref.loss("huber", np.array([[0.0, 3.0]]), np.zeros((1, 2)), delta=1.0)
    np.testing.assert_allclose(v, (0.0 + 2.5) / 2)


# ---------------------------------------------------------------- C kernels vs the reference

def grad_mag(kind, pred, tgt):
    """Per element, the size of the terms whose difference is the gradient (its conditioning)."""
    p = pred.astype(np.float64)
    n, d = p.shape
    if kind == "cross_entropy":
        t = np.eye(d)[tgt] if tgt.ndim == 1 else tgt.astype(np.float64)
        sm = ref.act_forward("softmax", p)
        return (sm * np.abs(t).sum(axis=1, keepdims=True) + np.abs(t)) / n
    t = tgt.astype(np.float64)
    if kind == "bce_logits":
        return (ref.act_forward("sigmoid", p) + np.abs(t)) / p.size
    return 2.0 * (np.abs(p) + np.abs(t)) / p.size

@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
@pytest.mark.parametrize("kind,form", CASES, ids=IDS)
def test_kernel_matches_reference(kind, form, shape, naive, rng):
    pred, tgt = make_case(kind, form, shape, rng)
    delta = 0.75  # exact in float32, as the kernels receive it
    value, grad = run_c(kind, pred, tgt, naive=naive, delta=delta, grad_scale=0.5)
    want_v, want_g = ref.loss(kind, pred, tgt, delta)
    # value: elementwise losses in float (fast) or double (naive), summed in double
    np.testing.assert_allclose(value, want_v, rtol=2e-6 if not naive else 1e-9)
    # gradient: a few float roundings (plus the polynomial exp for BCE/CE), relative to the size of the
    # terms that are subtracted (p - t, sigmoid(z) - t, softmax - t can cancel)
    err = np.abs(grad - 0.5 * want_g)
    assert np.all(err <= 4e-6 * 0.5 * grad_mag(kind, pred, tgt) + 1e-30), err.max()
    v2, g2 = run_c(kind, pred, tgt, naive=naive, delta=delta, want_grad=False)
    assert g2 is None and v2 == value


# ---------------------------------------------------------------- extremes

@pytest.mark.parametrize("naive", [False, True], ids=["fast", "naive"])
def test_huge_logits_finite(naive, rng):
    z = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 50.0],
                  [88.0, -88.0, 100.0, -100.0]], np.float32)
    labels = np.array([1, 2, 3, 0], np.int32)
    for kind, tgt in (("cross_entropy", labels), ("cross_entropy", np.full(z.shape, 0.25, np.float32)),
                      ("bce_logits", rng.uniform(0, 1, z.shape).astype(np.float32)),
                      ("mse", np.zeros_like(z)), ("mae", np.zeros_like(z)), ("huber", np.zeros_like(z))):
        value, grad = run_c(kind, z, tgt, naive=naive)
        want_v, want_g = ref.loss(kind, z, tgt)
        assert np.isfinite(value) and np.isfinite(grad).all(), kind
        np.testing.assert_allclose(value, want_v, rtol=1e-6, err_msg=kind)
        np.testing.assert_allclose(grad, want_g, rtol=1e-5, atol=1e-12, err_msg=kind)


# ---------------------------------------------------------------- threads

@pytest.mark.skipif(not _core.openmp_enabled(), reason="serial build")
@pytest.mark.parametrize("kind,form", CASES, ids=IDS)
def test_one_and_two_threads_bitwise_identical(kind, form, rng):
    pred, tgt = make_case(kind, form, (4096, 512), rng)
    v1, g1 = run_c(kind, pred, tgt, n_threads=1)
    v2, g2 = run_c(kind, pred, tgt, n_threads=2)
    assert v1 == v2 and np.array_equal(g1, g2)


# ---------------------------------------------------------------- errors

def test_bad_arguments_raise():
    p = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="unknown loss 'nll'.*cross_entropy"):
        _core.loss_forward_backward("nll", p, target=p)
    with pytest.raises(ValueError, match=r"out of range \[0, 4\)"):
        _core.loss_forward_backward("cross_entropy", p, labels=np.array([0, 4, 1], np.int32))
    with pytest.raises(ValueError, match=r"out of range"):
        _core.loss_forward_backward("cross_entropy", p, labels=np.array([0, -1, 1], np.int32))
    with pytest.raises(ValueError, match="labels must have length N=3"):
        _core.loss_forward_backward("cross_entropy", p, labels=np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match="labels must have dtype int32"):
        _core.loss_forward_backward("cross_entropy", p, labels=np.array([0, 1, 2], np.int64))
    with pytest.raises(ValueError, match=r"target must have the shape of pred \(3, 4\)"):
        _core.loss_forward_backward("mse", p, target=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="needs target"):
        _core.loss_forward_backward("mse", p)
    with pytest.raises(ValueError, match="only for cross_entropy"):
        _core.loss_forward_backward("mse", p, labels=np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="not both"):
        _core.loss_forward_backward("cross_entropy", p, target=p, labels=np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="pred must have dtype float32"):
        _core.loss_forward_backward("mse", p.astype(np.float64), target=p)
    with pytest.raises(ValueError, match="non-empty"):
        _core.loss_forward_backward("mse", np.zeros((0, 4), np.float32), target=np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="delta"):
        _core.loss_forward_backward("huber", p, target=p, delta=0.0)
    assert _core.LOSS_KINDS == {"mse": 0, "mae": 1, "huber": 2, "bce_logits": 3, "cross_entropy": 4}


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("kind,form", CASES, ids=IDS)
def test_matches_torch(kind, form, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pred, tgt = make_case(kind, form, (33, 10), rng)
    pred[0, :4] = [1e4, -1e4, 50.0, -50.0]
    value, grad = run_c(kind, pred, tgt, delta=0.9)
    pt = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(tgt.astype(np.int64) if tgt.ndim == 1 else tgt)
    fn = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": lambda a, b: F.huber_loss(a, b, delta=0.9),
          "bce_logits": F.binary_cross_entropy_with_logits, "cross_entropy": F.cross_entropy}[kind]
    lt = fn(pt, tt)
    lt.backward()
    np.testing.assert_allclose(value, lt.item(), rtol=1e-4)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-4, atol=1e-7)
