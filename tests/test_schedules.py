"""Learning-rate schedules: formulas at chosen steps, torch.optim.lr_scheduler where the semantics coincide,
the scales/advance protocol (per batch, per epoch, partial epochs), warm-up composition, plateau logic and
Nielsen's rule, persistence."""
import math

import numpy as np
import pytest

from fastnn import schedules as S


def torch_factors(make, n):
    """The lr of a torch scheduler (base lr 1.0) at steps 0..n-1."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sch = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return np.array(out)


@pytest.mark.parametrize("ours,theirs,n", [
    (S.StepLR(3, gamma=0.5), lambda L, o: L.StepLR(o, 3, gamma=0.5), 20),
    (S.MultiStepLR([2, 5, 5, 9], gamma=0.3), lambda L, o: L.MultiStepLR(o, [2, 5, 5, 9], gamma=0.3), 15),
    (S.ExponentialLR(0.9), lambda L, o: L.ExponentialLR(o, 0.9), 30),
    (S.PolynomialDecay(10, power=2.0), lambda L, o: L.PolynomialLR(o, total_iters=10, power=2.0), 15),
    (S.CosineAnnealing(12, eta_min_factor=0.1), lambda L, o: L.CosineAnnealingLR(o, 12, eta_min=0.1), 13),
    (S.CosineAnnealingWarmRestarts(4), lambda L, o: L.CosineAnnealingWarmRestarts(o, 4), 20),
    (S.CosineAnnealingWarmRestarts(3, T_mult=2, eta_min_factor=0.05),
     lambda L, o: L.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=0.05), 50),
    (S.OneCycle(40), lambda L, o: L.OneCycleLR(o, 1.0, total_steps=40, cycle_momentum=False), 40),
    (S.OneCycle(37, max_factor=1.0, pct_start=0.25, anneal="linear", three_phase=True),
     lambda L, o: L.OneCycleLR(o, 1.0, total_steps=37, pct_start=0.25, anneal_strategy="linear",
                               three_phase=True, cycle_momentum=False), 37),
    (S.LinearWarmup(4, after=S.StepLR(3, gamma=0.5), start_factor=0.25),
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.25, total_iters=4), L.StepLR(o, 3, gamma=0.5)],
                                 milestones=[4]), 20),
])
def test_matches_torch_schedulers(ours, theirs, n):
    want = torch_factors(theirs, n)
    got = ours.factor(np.arange(n))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_closed_forms_at_chosen_steps():
    t = np.array([0, 1, 7, 10, 25])
    np.testing.assert_allclose(S.ExponentialDecay(0.5, 10).factor(t), 0.5 ** (t / 10))
    np.testing.assert_allclose(S.ExponentialDecay(0.5, 10, staircase=True).factor(t), [1, 1, 1, 0.5, 0.25])
    np.testing.assert_allclose(S.InverseTimeDecay(2.0, 5).factor(t), 1 / (1 + 2.0 * t / 5))
    np.testing.assert_allclose(S.InverseTimeDecay(2.0, 5, staircase=True).factor(t), 1 / (1 + 2.0 * (t // 5)))
    np.testing.assert_allclose(S.PolynomialDecay(10, end_factor=0.1, power=0.5).factor(t),
                               0.9 * (1 - np.minimum(t, 10) / 10) ** 0.5 + 0.1)
    np.testing.assert_allclose(S.PiecewiseConstant([5, 10], [1.0, 0.5, 0.1]).factor(np.array([0, 5, 6, 10, 11])),
                               [1.0, 1.0, 0.5, 0.5, 0.1])
    np.testing.assert_allclose(S.CosineAnnealing(10).factor(np.array([0, 5, 10, 30])), [1, 0.5, 0, 0], atol=1e-15)
    np.testing.assert_allclose(S.Constant(0.3).factor(t), 0.3)
    oc = S.OneCycle(100, max_factor=2.0)
    assert oc(0) == pytest.approx(2.0 / 25) and oc(29) == pytest.approx(2.0)
    assert oc(99) == pytest.approx(2.0 / 25 / 1e4) and oc(150) == oc(99)
    assert S.StepDecay is S.StepLR


def test_linear_warmup_composition():
    cos = S.CosineAnnealing(10, per_batch=True)
    w = S.LinearWarmup(5, after=cos)
    assert w.per_batch
    f = w.factor(np.arange(20))
    np.testing.assert_allclose(f[:5], np.arange(5) / 5)
    np.testing.assert_allclose(f[5:], cos.factor(np.arange(15)))
    np.testing.assert_allclose(S.LinearWarmup(4, start_factor=0.2).factor(np.arange(6)), [0.2, 0.4, 0.6, 0.8, 1, 1])
    np.testing.assert_allclose(S.LinearWarmup(0, after=S.ExponentialLR(0.5)).factor(np.arange(3)), [1, 0.5, 0.25])
    with pytest.raises(ValueError, match="same units"):
        S.LinearWarmup(3, after=S.StepLR(2), per_batch=True)
    # warm-up around a plateau schedule forwards the epoch-end logic
    pl = S.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    w = S.LinearWarmup(2, after=pl, per_batch=True)
    w.on_epoch_end(0, {"loss": 1.0})
    w.on_epoch_end(1, {"loss": 2.0})
    np.testing.assert_allclose(w.factor(np.array([0, 1, 2, 50])), [0, 0.5, 0.5, 0.5])


def test_per_batch_protocol_handles_partial_and_changing_epochs():
    s = S.ExponentialLR(0.9, per_batch=True)
    a = s.scales(0, 4)
    assert a.dtype == np.float32 and a.shape == (4,)
    np.testing.assert_allclose(a, 0.9 ** np.arange(4), rtol=1e-6)
    np.testing.assert_array_equal(s.scales(0, 4), a)  # pure: the clock moves only with advance
    s.advance(4)
    s.advance(3)  # a last partial epoch of 3 batches
    np.testing.assert_allclose(s.scales(2, 5), 0.9 ** np.arange(7, 12), rtol=1e-6)  # then another batch size
    np.testing.assert_allclose(s.scales(2, 2, start_step=100), 0.9 ** np.array([100, 101]), rtol=1e-6)
    assert s.current_scale == pytest.approx(0.9 ** 101, rel=1e-6)
    assert s.scales(3, 0).shape == (0,)


def test_per_epoch_is_constant_within_an_epoch():
    s = S.StepLR(2, gamma=0.1)
    for epoch, want in [(0, 1.0), (1, 1.0), (2, 0.1), (5, 0.01)]:
        v = s.scales(epoch, 7)
        assert np.all(v == np.float32(want))
    assert s.current_scale == pytest.approx(0.01)
    assert S.StepLR(2).current_scale == 1.0 and not S.StepLR(2).finished


def _run_plateau(sch, losses, key="val_loss"):
    scales = []
    for e, v in enumerate(losses):
        scales.append(float(sch.scales(e, 1)[0]))
        sch.advance(1)
        sch.on_epoch_end(e, {key: v})
    return scales


def test_plateau_patience_threshold_cooldown_min_against_torch():
    torch = pytest.importorskip("torch")
    losses = [1.0, 0.9, 0.9, 0.8999, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
              float("nan"), 0.7, 0.7, 0.7, 0.7, 0.7]
    for kw in [dict(patience=2), dict(patience=1, cooldown=2), dict(patience=0, threshold=0.1),
               dict(patience=1, threshold=0.05, threshold_mode="abs", factor=0.5, min_lr_factor=0.2),
               dict(patience=1, mode="max", cooldown=1)]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        tkw = {("min_lr" if k == "min_lr_factor" else k): v for k, v in kw.items()}
        tsch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **tkw)
        want = []
        for v in losses:
            want.append(opt.param_groups[0]["lr"])
            tsch.step(v)
        got = _run_plateau(S.ReduceLROnPlateau(**kw), losses)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=str(kw))


def test_plateau_scripted_sequence():
    s = S.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr_factor=0.3)
    losses = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    # epochs 1, 2, 3 bad -> reduce after epoch 3 (count 3 > 2); cooldown 1 swallows epoch 4's count;
    # 0.5 at epoch 4 improves anyway; bad epochs 5, 6, 7 -> reduce after 7 to max(0.25, 0.3) = 0.3.
    got = _run_plateau(s, losses)
    np.testing.assert_array_equal(np.float32(got), np.float32([1, 1, 1, 1, .5, .5, .5, .5, .3, .3, .3]))
    assert not s.finished and s.current_scale == 0.3
    with pytest.raises(ValueError, match="val_loss"):
        s.on_epoch_end(11, {"loss": 1.0})


def test_nielsen_finishes_at_one_128th():
    s = S.nielsen(patience=1, monitor="val_accuracy", mode="max")
    n = 0
    while not s.finished:
        s.on_epoch_end(n, {"val_accuracy": 0.5})
        n += 1
        assert n < 100
    # first epoch sets best; then every 2 bad epochs halve the rate: 7 halvings to 1/128
    assert s.current_scale == 1 / 128 and n == 1 + 7 * 2
    assert float(s.scales(n, 3)[0]) == np.float32(1 / 128)


def test_state_dict_round_trip_resumes_identically():
    def make():
        return S.LinearWarmup(3, after=S.ReduceLROnPlateau(monitor="loss", patience=1, cooldown=1),
                              per_batch=True)

    a, b = make(), make()
    losses = [3, 2, 2, 2, 2, 1, 1, 1]
    seq_a = []
    for e, v in enumerate(losses):
        seq_a.append(a.scales(e, 2))
        a.advance(2)
        a.on_epoch_end(e, {"loss": v})
    seq_b = []
    for e, v in enumerate(losses[:4]):
        seq_b.append(b.scales(e, 2))
        b.advance(2)
        b.on_epoch_end(e, {"loss": v})
    c = make()
    c.load_state_dict(b.state_dict())
    for e, v in enumerate(losses[4:], start=4):
        seq_b.append(c.scales(e, 2))
        c.advance(2)
        c.on_epoch_end(e, {"loss": v})
    assert all(np.array_equal(x, y) for x, y in zip(seq_a, seq_b))
    assert a.state_dict() == c.state_dict()
    with pytest.raises(ValueError, match="StepLR"):
        S.StepLR(2).load_state_dict(a.state_dict())


@pytest.mark.parametrize("make,match", [
    (lambda: S.StepLR(0), "step_size"), (lambda: S.StepLR(2, gamma=-0.1), "gamma"),
    (lambda: S.PiecewiseConstant([5, 3], [1, 1, 1]), "increasing"), (lambda: S.PiecewiseConstant([5], [1]), "len"),
    (lambda: S.OneCycle(10, anneal="exp"), "anneal"), (lambda: S.ReduceLROnPlateau(factor=1.0), "factor"),
    (lambda: S.ReduceLROnPlateau(mode="up"), "mode"), (lambda: S.LinearWarmup(3, start_factor=2), "start_factor"),
    (lambda: S.CosineAnnealing(5, eta_min_factor=float("nan")), "eta_min_factor"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_negative_factors_are_rejected():
    class Bad(S.Schedule):
        def factor(self, t):
            return -np.ones(np.shape(t))

    with pytest.raises(ValueError, match="negative"):
        Bad().scales(0, 3)
    assert math.isclose(S.Constant(2.0)(5), 2.0)


def test_fit_with_a_per_batch_schedule_equals_a_manual_loop():
    """fit(lr_schedule=...) applies factor(step) to every batch in C, exactly as a Python loop would."""
    import fastnn as fnn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6)).astype(np.float32)
    y = rng.standard_normal((100, 2)).astype(np.float32)

    def make():
        m = fnn.Sequential([fnn.Linear(6, 8, activation="tanh"), fnn.Linear(8, 2)], seed=1)
        return m.compile(loss="mse", optimizer=fnn.optim.SGD(lr=0.2, momentum=0.5))

    sched = fnn.schedules.LinearWarmup(5, after=fnn.schedules.CosineAnnealing(20, per_batch=True),
                                       per_batch=True)
    a = make()
    h = a.fit(X, y, epochs=3, batch_size=32, shuffle=False, verbose=0, lr_schedule=sched)
    assert sched.steps_done == 12
    ref = fnn.schedules.LinearWarmup(5, after=fnn.schedules.CosineAnnealing(20, per_batch=True), per_batch=True)
    b = make()
    step = 0
    for _ in range(3):
        for lo in range(0, 100, 32):
            b._plan.loss_grad(X[lo:lo + 32], y[lo:lo + 32], None, True, 0, 1)
            b.optimizer.step(b.params, b.grads, lr_scale=np.float32(ref(step)))
            step += 1
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
    assert h.history["lr"][-1] == pytest.approx(0.2 * ref(11), rel=1e-6)
