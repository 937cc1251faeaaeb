"""The optimizer family: each update rule against a float64 numpy reference of its formula (fast C kernel and
its naive twin), against torch.optim, defaults, validation, parameter groups in training, frozen parameters,
state_dict resume and thread-count independence."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn._ext import _core

STEPS = 50

# (class name, kwargs): every option the kernels branch on.
CONFIGS = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}),
    ("SGD", {"momentum": 0.8, "nesterov": True, "weight_decay": 5e-3}),
    ("Adagrad", {}), ("Adagrad", {"lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.1}),
    ("Adadelta", {}), ("Adadelta", {"rho": 0.5, "weight_decay": 0.1, "lr": 0.5}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.9}), ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9}),
    ("Adam", {}), ("Adam", {"weight_decay": 0.1}), ("Adam", {"amsgrad": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1, "betas": (0.8, 0.99), "lr": 1e-2}),
    ("AdamW", {}), ("AdamW", {"amsgrad": True, "weight_decay": 0.1, "lr": 1e-2}),
    ("NAdam", {}), ("NAdam", {"weight_decay": 0.1, "momentum_decay": 1e-2, "betas": (0.8, 0.99)}),
    ("Adamax", {}), ("Adamax", {"weight_decay": 0.1, "betas": (0.5, 0.9)}),
]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for c, kw in CONFIGS]


def _f32(x):
    """The kernels receive float32 hyper-parameters; the reference uses the same values, in float64."""
    return float(np.float32(x))


def reference(kind, o, p, grads):
    """float64 numpy reference: PyTorch's single-tensor formulas, written out independently of the C code."""
    p = p.astype(np.float64)
    lr, wd, eps = _f32(o["lr"]), _f32(o.get("weight_decay", 0)), _f32(o.get("eps", 0))
    b1, b2 = (_f32(b) for b in o.get("betas", (0.9, 0.999)))
    z = np.zeros_like(p)
    s = {"buf": z.copy(), "m": z.copy(), "v": z.copy(), "vmax": z.copy(), "ga": z.copy(), "u": z.copy(),
         "sum": np.full_like(p, _f32(o.get("initial_accumulator_value", 0))), "prod": 1.0}
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if kind == "sgd":
            mom, damp = _f32(o["momentum"]), _f32(o["dampening"])
            g = g + wd * p
            if mom:
                s["buf"] = g.copy() if t == 1 else mom * s["buf"] + (1 - damp) * g
                g = g + mom * s["buf"] if o["nesterov"] else s["buf"]
            p = p - lr * g
        elif kind == "adagrad":
            g = g + wd * p
            clr = lr / (1 + (t - 1) * _f32(o["lr_decay"]))
            s["sum"] = s["sum"] + g * g
            p = p - clr * g / (np.sqrt(s["sum"]) + eps)
        elif kind == "adadelta":
            rho = _f32(o["rho"])
            g = g + wd * p
            s["v"] = rho * s["v"] + (1 - rho) * g * g
            delta = np.sqrt(s["u"] + eps) / np.sqrt(s["v"] + eps) * g
            s["u"] = rho * s["u"] + (1 - rho) * delta * delta
            p = p - lr * delta
        elif kind == "rmsprop":
            alpha, mom = _f32(o["alpha"]), _f32(o["momentum"])
            g = g + wd * p
            s["v"] = alpha * s["v"] + (1 - alpha) * g * g
            if o["centered"]:
                s["ga"] = alpha * s["ga"] + (1 - alpha) * g
                avg = np.sqrt(s["v"] - s["ga"] ** 2) + eps
            else:
                avg = np.sqrt(s["v"]) + eps
            if mom:
                s["buf"] = mom * s["buf"] + g / avg
                p = p - lr * s["buf"]
            else:
                p = p - lr * g / avg
        elif kind in ("adam", "adamw"):
            if kind == "adamw":
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            v = s["v"]
            if o["amsgrad"]:
                s["vmax"] = np.maximum(s["vmax"], s["v"])
                v = s["vmax"]
            p = p - lr / (1 - b1 ** t) * s["m"] / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)
        elif kind == "nadam":
            md = _f32(o["momentum_decay"])
            mu = b1 * (1 - 0.5 * 0.96 ** (t * md))
            mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
            s["prod"] *= mu
            g = g + wd * p
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            d = np.sqrt(s["v"] / (1 - b2 ** t)) + eps
            p = p - lr * (1 - mu) / (1 - s["prod"]) * g / d - lr * mu_next / (1 - s["prod"] * mu_next) * s["m"] / d
        elif kind == "adamax":
            g = g + wd * p
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["u"] = np.maximum(b2 * s["u"], np.abs(g) + eps)
            p = p - lr / (1 - b1 ** t) * s["m"] / s["u"]
        else:
            raise AssertionError(kind)
    return p


def _grads(rng, n, steps):
    """Fixed random gradients whose scale changes from step to step (so amsgrad's max and Adamax's u matter)."""
    scale = np.exp(rng.uniform(-1.5, 1.5, size=(steps, 1)))
    return [g for g in (rng.standard_normal((steps, n)) * scale).astype(np.float32)]


def _make(name, kw):
    return getattr(fnn.optim, name)(**kw)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_fast_and_naive_match_the_float64_reference(name, kw, rng):
    n = 1003
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = _grads(rng, n, STEPS)
    opt = _make(name, kw)
    fast = p0.copy()
    for g in grads:
        opt.step(fast, g)
    assert opt.step_count == STEPS
    spec = opt.group_specs()[0]
    naive = p0.copy()
    slots = _core.optim_slots(spec)
    state = np.zeros((slots, n), dtype=np.float32)
    _core.optim_init_state(spec, state)
    scalars = np.zeros(4)
    for t, g in enumerate(grads, start=1):
        _core.optim_update(spec, naive, g, state if slots else None, scalars, t, spec["lr"], naive=True)
    want = reference(opt.kind, spec, p0, grads)
    np.testing.assert_allclose(fast, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(naive, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fast, p0)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_matches_torch_optim(name, kw, rng):
    torch = pytest.importorskip("torch")
    n = 257
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = _grads(rng, n, 100)
    tp = torch.nn.Parameter(torch.tensor(p0))
    opt = _make(name, kw)
    topt = getattr(torch.optim, name)([tp], foreach=False, **dict(kw, lr=opt.lr))  # SGD: default lr differs
    q = p0.copy()
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        opt.step(q, g)
    np.testing.assert_allclose(q, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam", "Adamax"])
def test_defaults_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    ours = getattr(fnn.optim, name)().defaults
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))]).defaults
    for k, v in ours.items():
        if name == "SGD" and k == "lr":
            continue  # PyTorch's SGD default is 1e-3 since 2.x; ours keeps the classic 0.01 (documented)
        assert k in theirs, k
        assert v == (tuple(theirs[k]) if k == "betas" else theirs[k]), (k, v, theirs[k])


def test_names_and_aliases():
    for name, cls in [("sgd", fnn.optim.SGD), ("adagrad", fnn.optim.Adagrad), ("adadelta", fnn.optim.Adadelta),
                      ("rmsprop", fnn.optim.RMSprop), ("adam", fnn.optim.Adam), ("adamw", fnn.optim.AdamW),
                      ("nadam", fnn.optim.NAdam), ("adamax", fnn.optim.Adamax), ("Adam", fnn.optim.Adam)]:
        assert type(fnn.optim.get(name)) is cls
    assert fnn.optim.Nadam is fnn.optim.NAdam
    with pytest.raises(ValueError, match="unknown optimizer"):
        fnn.optim.get("lbfgs")


@pytest.mark.parametrize("name,kw,match", [
    ("Adam", {"lr": -1e-3}, "lr"), ("Adam", {"lr": float("nan")}, "lr"), ("Adam", {"eps": -1e-8}, "eps"),
    ("Adam", {"betas": (1.0, 0.999)}, r"betas\[0\]"), ("AdamW", {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    ("NAdam", {"betas": (0.9,)}, "pair"), ("Adamax", {"betas": 0.9}, "pair"),
    ("Adam", {"weight_decay": -1}, "weight_decay"), ("NAdam", {"momentum_decay": -1}, "momentum_decay"),
    ("Adagrad", {"lr_decay": -0.1}, "lr_decay"), ("Adagrad", {"initial_accumulator_value": -1}, "initial"),
    ("Adadelta", {"rho": 1.5}, "rho"), ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("RMSprop", {"momentum": -0.5}, "momentum"), ("SGD", {"nesterov": True}, "Nesterov"),
    ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "Nesterov"),
])
def test_invalid_hyper_parameters_raise(name, kw, match):
    with pytest.raises(ValueError, match=match):
        getattr(fnn.optim, name)(**kw)


def test_invalid_group_option_raises():
    model = fnn.Sequential([fnn.Linear(4, 3)])
    with pytest.raises(ValueError, match="betas"):
        model.compile(optimizer=fnn.optim.Adam([{"params": [model.layers[0].weight], "betas": (0.9, 2.0)}]))
    with pytest.raises(ValueError, match="unknown options"):
        model.compile(optimizer=fnn.optim.Adam([{"params": [model.layers[0].weight], "momentum": 0.9}]))


def test_slot_counts():
    def slots(name, **kw):
        return _core.optim_slots(_make(name, kw).spec())

    assert (slots("SGD"), slots("SGD", momentum=0.9)) == (0, 1)
    assert (slots("Adagrad"), slots("Adadelta")) == (1, 2)
    assert (slots("RMSprop"), slots("RMSprop", momentum=0.9), slots("RMSprop", centered=True),
            slots("RMSprop", momentum=0.9, centered=True)) == (1, 2, 2, 3)
    assert (slots("Adam"), slots("Adam", amsgrad=True), slots("AdamW", amsgrad=True)) == (2, 3, 3)
    assert (slots("NAdam"), slots("Adamax")) == (2, 2)
    opt = fnn.optim.Adagrad(initial_accumulator_value=0.25)
    opt.bind(np.zeros(10, dtype=np.float32))
    assert np.all(opt.state == 0.25)


def test_nadam_product_advances_once_per_group_step(rng):
    """Two ranges of one group: the mu product advances once per step, so the result equals one range."""
    n = 600
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = _grads(rng, n, 20)
    spec = fnn.optim.NAdam().spec()
    whole, split = p0.copy(), p0.copy()
    sw, ss = np.zeros((2, n), np.float32), np.zeros((2, n), np.float32)
    cw, cs = np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        _core.optim_update(spec, whole, g, sw, cw, t, spec["lr"])
        _core.optim_update(spec, split, g, ss, cs, t, spec["lr"], 0, 250, True)
        _core.optim_update(spec, split, g, ss, cs, t, spec["lr"], 250, 350, False)
    assert np.array_equal(whole, split) and cw[0] == cs[0]
    b1, md = float(np.float32(0.9)), float(np.float32(4e-3))
    want = np.prod([b1 * (1 - 0.5 * 0.96 ** (t * md)) for t in range(1, 21)])
    assert cw[0] == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("name,kw", [("Adam", {"amsgrad": True}), ("RMSprop", {"centered": True, "momentum": 0.9}),
                                     ("NAdam", {}), ("SGD", {"momentum": 0.9, "nesterov": True}),
                                     ("Adadelta", {}), ("Adamax", {})])
def test_one_and_two_threads_bitwise_identical(name, kw, rng, threads):
    n = 1_000_003
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = _grads(rng, n, 3)
    out = []
    for nt in (1, 2):
        threads(nt)
        q = p0.copy()
        opt = _make(name, kw)
        for g in grads:
            opt.step(q, g)
        out.append((q, opt.state.copy()))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])


# -- in training ---------------------------------------------------------------------------------------------
def _data(rng, n=64, d=10, k=3):
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return X, y


def test_param_groups_in_fit_match_torch(rng):
    """Two groups (weights with decay, biases without, different lr) through model.fit, against torch."""
    torch = pytest.importorskip("torch")
    X, y = _data(rng)
    model = fnn.Sequential([fnn.Linear(10, 16), fnn.Tanh(), fnn.Linear(16, 3)], seed=3)
    groups = fnn.optim.param_groups(model, no_decay=("bias",))
    groups[1]["lr"] = 0.05
    opt = fnn.optim.AdamW(groups, lr=0.01, weight_decay=0.5)
    model.compile(loss="cross_entropy", optimizer=opt)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.5, 0.0]
    net = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    tw = [p for n_, p in net.named_parameters() if n_.endswith("weight")]
    tb = [p for n_, p in net.named_parameters() if n_.endswith("bias")]
    topt = torch.optim.AdamW([{"params": tw}, {"params": tb, "weight_decay": 0.0, "lr": 0.05}], lr=0.01,
                             weight_decay=0.5, foreach=False)
    for _ in range(20):
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.tensor(X)), torch.tensor(y)).backward()
        topt.step()
    model.fit(X, y, epochs=20, batch_size=len(X), shuffle=False, verbose=0)
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


def test_biases_get_no_decay(rng):
    """With zero gradients (lr for the data irrelevant), SGD's decay shrinks the weights only."""
    model = fnn.Sequential([fnn.Linear(5, 4)], seed=1)
    model.layers[0].bias[...] = 1.0
    opt = fnn.optim.SGD(fnn.optim.param_groups(model, no_decay=("bias",)), lr=0.1, weight_decay=0.5)
    params = model.params
    w0 = model.layers[0].weight.copy()
    opt.bind(params)
    opt.step(params, np.zeros_like(params))
    np.testing.assert_allclose(model.layers[0].weight, w0 * (1 - 0.1 * 0.5), rtol=1e-6)
    assert np.all(model.layers[0].bias == 1.0)


def test_frozen_parameters_stay_unchanged_in_fit(rng):
    X, y = _data(rng)
    model = fnn.Sequential([fnn.Linear(10, 8), fnn.ReLU(), fnn.Linear(8, 3)], seed=2)
    frozen = {k: v.copy() for k, v in model.state_dict().items() if k.startswith("0.")}
    opt = fnn.optim.Adam([{"params": [model.layers[2].weight, model.layers[2].bias]}], lr=1e-2, weight_decay=0.1)
    model.compile(loss="cross_entropy", optimizer=opt)
    before = model.state_dict()
    model.fit(X, y, epochs=3, batch_size=16, verbose=0)
    after = model.state_dict()
    for k, v in frozen.items():
        assert np.array_equal(after[k], v), k
    assert not np.array_equal(after["2.weight"], before["2.weight"])


@pytest.mark.parametrize("name,kw", [("NAdam", {"weight_decay": 0.01}), ("RMSprop", {"centered": True,
                                                                                     "momentum": 0.5}),
                                     ("Adagrad", {"lr_decay": 0.01}), ("SGD", {"momentum": 0.9})])
def test_state_dict_resume_is_bitwise(name, kw, rng):
    X, y = _data(rng, n=96)

    def build():
        m = fnn.Sequential([fnn.Linear(10, 12), fnn.ReLU(), fnn.Linear(12, 3)], seed=4)
        m.compile(loss="cross_entropy", optimizer=_make(name, kw))
        return m

    a = build()
    a.fit(X, y, epochs=3, batch_size=16, verbose=0)
    b = build()
    b.fit(X, y, epochs=1, batch_size=16, verbose=0)
    weights, ostate = b.state_dict(), b.optimizer.state_dict()
    c = build()
    c.load_state_dict(weights)
    c.optimizer.load_state_dict(ostate)
    c.epochs_trained = b.epochs_trained  # the shuffle is keyed by the epoch index
    c.fit(X, y, epochs=2, batch_size=16, verbose=0)
    for k, v in a.state_dict().items():
        assert np.array_equal(c.state_dict()[k], v), k
    assert np.array_equal(a.optimizer.state, c.optimizer.state)
    assert np.array_equal(a.optimizer.scalars, c.optimizer.scalars)
    assert a.optimizer.step_count == c.optimizer.step_count == 18


def test_load_state_dict_rejects_other_kind_and_layout():
    p = np.zeros(10, dtype=np.float32)
    a = fnn.optim.Adam().bind(p)
    with pytest.raises(ValueError, match="'adam'"):
        fnn.optim.AdamW().bind(p).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="layout"):
        fnn.optim.Adam().bind(np.zeros(11, dtype=np.float32)).load_state_dict(a.state_dict())


def test_optim_update_validates_arguments():
    spec = fnn.optim.Adam().spec()
    p = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="state has shape"):
        _core.optim_update(spec, p, p.copy(), np.zeros((1, 8), np.float32), np.zeros(4), 1, 1e-3)
    with pytest.raises(ValueError):
        _core.optim_update(spec, p, p.copy(), np.zeros((2, 8), np.float32), np.zeros(4), 0, 1e-3)
    with pytest.raises(ValueError, match="unknown optimizer kind"):
        _core.optim_update({"kind": "lion"}, p, p.copy(), None, np.zeros(4), 1, 1e-3)


def test_switch_optimizer_example_runs():
    pytest.importorskip("sklearn")
    from fastnn.examples import switch_optimizer

    acc = switch_optimizer.main(["--adam-epochs", "3", "--sgd-epochs", "2"])
    assert acc > 0.8


@pytest.mark.parametrize("name,kw", [("Adam", {"lr": 1e-3}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                     ("RMSprop", {"lr": 1e-3, "momentum": 0.5, "centered": True})])
def test_state_flushes_subnormals_and_caller_keeps_them(name, kw, threads):
    """The update runs with flush-to-zero: state that decays below FLT_MIN (zero gradients after a first
    one, or squares of tiny gradients) becomes 0 instead of a subnormal (each one costs ~100 cycles per
    operation); the caller's own floating-point mode is restored afterwards, on every thread count."""
    tiny = np.finfo(np.float32).tiny
    n = 40_000   # above the threading threshold for 2 threads
    for nt in (1, 2):
        threads(nt)
        p = np.ones(n, np.float32)
        g = np.full(n, 1e-3, np.float32)
        g[::2] = 1e-21   # squares of these are subnormal in float32
        opt = _make(name, kw)
        opt.step(p, g)
        zero = np.zeros(n, np.float32)
        for _ in range(1200):   # 0.9 ** 1200 ~ 1e-55: the first moments pass through the subnormal range
            opt.step(p, zero)
        state = opt.state_dict()["state"]
        a = np.abs(np.asarray(state, dtype=np.float32))
        assert not ((a > 0) & (a < tiny)).any(), "subnormal optimizer state"
        assert np.isfinite(p).all()
        # the calling thread still computes subnormals (its MXCSR was restored)
        x = np.array([tiny], np.float32)
        assert (x / np.float32(8))[0] > 0
