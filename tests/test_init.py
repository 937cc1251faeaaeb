import math

import numpy as np
import pytest

from fastnn import init

BIG = (512, 1024)  # 524,288 samples: sample std within ~0.3% of the target (we allow 2%)


def _rng(seed=0):
    return np.random.default_rng(seed)


# -------------------------------------------------------------------------------------------------- gains

@pytest.mark.parametrize("name,param,expected", [
    ("linear", None, 1.0), ("identity", None, 1.0), ("conv", None, 1.0), ("conv1d", None, 1.0),
    ("conv2d", None, 1.0), ("conv3d", None, 1.0), ("conv_transpose2d", None, 1.0),
    ("sigmoid", None, 1.0), ("tanh", None, 5.0 / 3.0), ("relu", None, math.sqrt(2.0)),
    ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01 ** 2))), ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
    ("leaky_relu", 0, math.sqrt(2.0)), ("leaky_relu", math.sqrt(5), math.sqrt(1.0 / 3.0)),
    ("selu", None, 0.75), ("ReLU", None, math.sqrt(2.0)),
])
def test_calculate_gain_table(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("bad", ["gelu", "softmax2", "", None, 3])
def test_calculate_gain_unknown(bad):
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain(bad)


def test_calculate_gain_bad_param():
    with pytest.raises(ValueError, match="param"):
        init.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(ValueError, match="param"):
        init.calculate_gain("leaky_relu", True)


# -------------------------------------------------------------------------------------------------- fans

@pytest.mark.parametrize("shape,fans", [
    ((10, 20), (20, 10)), ((8, 3, 5, 5), (75, 200)), ((4, 2, 3), (6, 12)), ([7, 7], (7, 7)),
])
def test_fans_as_pytorch(shape, fans):
    assert init.calculate_fan_in_and_fan_out(shape) == fans


@pytest.mark.parametrize("shape", [(5,), (), 7])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(shape)


# -------------------------------------------------------------------------------------------------- constants

def test_zeros_ones_constant():
    for arr, val in [(init.zeros((3, 4)), 0.0), (init.ones((3, 4), _rng()), 1.0),
                     (init.constant((3, 4), value=0.25), 0.25), (init.constant(5, None, value=-2), -2.0)]:
        assert arr.dtype == np.float32 and arr.flags.c_contiguous
        assert np.all(arr == np.float32(val))
    assert init.constant(5, value=1).shape == (5,)
    with pytest.raises(TypeError):
        init.constant((2, 2))  # value is required
    with pytest.raises(ValueError, match="value"):
        init.constant((2, 2), value=float("nan"))


# -------------------------------------------------------------------------------------------------- distributions

def _check_uniform(w, bound):
    assert w.dtype == np.float32 and w.shape == BIG and w.flags.c_contiguous
    assert np.abs(w).max() <= np.float32(bound)
    assert np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3.0), rel=0.02)
    assert abs(w.mean()) < 0.01 * bound


def _check_normal(w, std, mean=0.0):
    assert w.dtype == np.float32 and w.shape == BIG and w.flags.c_contiguous
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean() - mean) < 0.01 * std + 1e-12
    # a normal, not a truncated one: about 0.27% of samples lie beyond 3 std
    frac = np.mean(np.abs(w - mean) > 3 * std)
    assert 0.002 < frac < 0.0035


def test_normal_defaults_and_args():
    _check_normal(init.normal(BIG, _rng()), 0.01)
    _check_normal(init.normal(BIG, _rng(), mean=2.0, std=0.5), 0.5, mean=2.0)


def test_uniform_defaults_and_args():
    _check_uniform(init.uniform(BIG, _rng()), 0.05)
    w = init.uniform(BIG, _rng(), a=1.0, b=3.0)
    assert w.min() >= 1.0 and w.max() <= 3.0 and w.mean() == pytest.approx(2.0, abs=0.01)


def test_xavier():
    fan_in, fan_out = BIG[1], BIG[0]
    std = math.sqrt(2.0 / (fan_in + fan_out))
    _check_uniform(init.xavier_uniform(BIG, _rng()), math.sqrt(3.0) * std)
    _check_uniform(init.xavier_uniform(BIG, _rng(), gain=5 / 3), math.sqrt(3.0) * std * 5 / 3)
    _check_normal(init.xavier_normal(BIG, _rng()), std)
    _check_normal(init.xavier_normal(BIG, _rng(), gain=2.0), 2 * std)
    assert init.glorot_uniform is init.xavier_uniform and init.glorot_normal is init.xavier_normal


def test_kaiming():
    fan_in, fan_out = BIG[1], BIG[0]
    # PyTorch defaults: a=0, fan_in, leaky_relu -> gain sqrt(2)
    _check_normal(init.kaiming_normal(BIG, _rng()), math.sqrt(2.0 / fan_in))
    _check_uniform(init.kaiming_uniform(BIG, _rng()), math.sqrt(6.0 / fan_in))
    _check_normal(init.kaiming_normal(BIG, _rng(), mode="fan_out", nonlinearity="relu"), math.sqrt(2.0 / fan_out))
    gain = math.sqrt(2.0 / (1 + 0.2 ** 2))
    _check_uniform(init.kaiming_uniform(BIG, _rng(), a=0.2), math.sqrt(3.0) * gain / math.sqrt(fan_in))
    _check_normal(init.kaiming_normal(BIG, _rng(), nonlinearity="tanh"), (5 / 3) / math.sqrt(fan_in))
    assert init.he_normal is init.kaiming_normal and init.he_uniform is init.kaiming_uniform


def test_lecun():
    fan_in = BIG[1]
    _check_normal(init.lecun_normal(BIG, _rng()), 1.0 / math.sqrt(fan_in))
    _check_uniform(init.lecun_uniform(BIG, _rng()), math.sqrt(3.0 / fan_in))


def test_conv_shape_uses_receptive_field():
    shape = (64, 32, 3, 3)  # fan_in 288, fan_out 576
    w = init.kaiming_normal(shape, _rng(), nonlinearity="relu")
    assert w.shape == shape and w.dtype == np.float32
    assert w.std() == pytest.approx(math.sqrt(2.0 / 288), rel=0.03)
    w = init.xavier_uniform(shape, _rng())
    assert np.abs(w).max() <= math.sqrt(6.0 / (288 + 576)) + 1e-7


def test_pytorch_linear_default():
    shape = (300, 400)
    w = init.pytorch_linear_default(shape, _rng())
    b = init.pytorch_bias_default(shape, _rng(1))
    bound = 1.0 / math.sqrt(400)
    assert w.shape == shape and b.shape == (300,) and w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= np.float32(bound) and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= np.float32(bound)
    # identical to kaiming_uniform(a=sqrt(5)) drawn from the same stream
    np.testing.assert_array_equal(w, init.kaiming_uniform(shape, _rng(), a=math.sqrt(5)))
    # conv: fan_in = in * kh * kw
    bc = init.pytorch_bias_default((16, 3, 5, 5), _rng())
    assert bc.shape == (16,) and np.abs(bc).max() <= 1 / math.sqrt(75)


# -------------------------------------------------------------------------------------------------- orthogonal

@pytest.mark.parametrize("shape", [(64, 64), (30, 100), (100, 30), (16, 8, 3, 3), (4, 3, 3, 3), (1, 10), (10, 1)])
def test_orthogonal(shape):
    gain = 1.7
    w = init.orthogonal(shape, _rng(), gain=gain)
    assert w.shape == shape and w.dtype == np.float32 and w.flags.c_contiguous
    m = w.reshape(shape[0], -1).astype(np.float64) / gain
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=2e-6)


def test_orthogonal_is_haar_sign_corrected():
    # Without the sign correction, QR of a Gaussian matrix gives a biased first row/column; with it, the mean
    # of every entry over many draws is 0.
    rng = _rng(3)
    acc = np.zeros((4, 4))
    for _ in range(2000):
        acc += init.orthogonal((4, 4), rng)
    assert np.abs(acc / 2000).max() < 0.05


# -------------------------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("name", ["normal", "uniform", "xavier_normal", "xavier_uniform", "kaiming_normal",
                                  "kaiming_uniform", "lecun_normal", "lecun_uniform", "orthogonal",
                                  "pytorch_default"])
def test_determinism(name):
    f = init.get(name)
    a = f((20, 30), np.random.default_rng(7))
    b = f((20, 30), np.random.default_rng(7))
    c = f((20, 30), np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(f((20, 30), 7), a)  # an int seed works like default_rng(seed)


# -------------------------------------------------------------------------------------------------- registry

def test_registry_names_and_aliases():
    names = init.available()
    for n in ["zeros", "ones", "constant", "normal", "uniform", "xavier_normal", "xavier_uniform",
              "glorot_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform", "he_normal", "he_uniform",
              "lecun_normal", "lecun_uniform", "orthogonal", "pytorch_default"]:
        assert n in names
    assert init.get("he_normal") is init.kaiming_normal
    assert init.get("Glorot_Uniform") is init.xavier_uniform
    assert init.get("kaiming_uniform_") is init.kaiming_uniform  # PyTorch's trailing underscore


def test_get_with_options_and_pairs():
    f = init.get(("constant", {"value": 0.1}))
    np.testing.assert_array_equal(f((2, 3), None), np.full((2, 3), 0.1, np.float32))
    f = init.get("kaiming_normal", mode="fan_out", nonlinearity="relu")
    np.testing.assert_array_equal(f((5, 6), _rng()),
                                  init.kaiming_normal((5, 6), _rng(), mode="fan_out", nonlinearity="relu"))
    f = init.get(lambda shape, rng, scale=1.0: np.full(shape, scale, np.float32), scale=3.0)
    assert f((2,), None)[0] == 3.0
    w = init.initialize("he_uniform", (4, 5), 0)
    np.testing.assert_array_equal(w, init.kaiming_uniform((4, 5), 0))


def test_initialize_in_place_into_a_view():
    flat = np.zeros(4 * 5 + 4, dtype=np.float32)
    weight = flat[:20].reshape(4, 5)
    out = init.initialize_(weight, "xavier_uniform", _rng())
    assert out is weight
    np.testing.assert_array_equal(flat[:20].reshape(4, 5), init.xavier_uniform((4, 5), _rng()))
    assert np.all(flat[20:] == 0)
    with pytest.raises(ValueError, match="float32"):
        init.initialize_(np.zeros((2, 2)), "zeros", _rng())
    ro = np.zeros((2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.initialize_(ro, "zeros", _rng())


def test_register_custom():
    def my_init(shape, rng, value=3.0):
        return np.full(shape, value, np.float32)

    init.register("test_my_init", my_init)
    try:
        assert init.get("test_my_init")((2,), None)[0] == 3.0
        with pytest.raises(ValueError, match="already exists"):
            init.register("test_my_init", lambda s, r: None)
    finally:
        init._REGISTRY.pop("test_my_init")


# -------------------------------------------------------------------------------------------------- activation defaults

@pytest.mark.parametrize("act,expected", [
    ("relu", ("kaiming_normal", {"nonlinearity": "relu"})),
    ("elu", ("kaiming_normal", {"nonlinearity": "relu"})),
    ("leaky_relu", ("kaiming_normal", {"a": 0.01, "nonlinearity": "leaky_relu"})),
    ("prelu", ("kaiming_normal", {"a": 0.25, "nonlinearity": "leaky_relu"})),
    ("rrelu", ("kaiming_normal", {"a": 11 / 48, "nonlinearity": "leaky_relu"})),
    ("tanh", ("xavier_uniform", {"gain": 5 / 3})),
    ("sigmoid", ("xavier_uniform", {"gain": 1.0})),
    ("softsign", ("xavier_uniform", {"gain": 1.0})),
    ("identity", ("xavier_uniform", {"gain": 1.0})),
    ("softmax", ("xavier_uniform", {"gain": 1.0})),
    ("selu", ("lecun_normal", {})),
    (None, ("xavier_uniform", {"gain": 1.0})),
    ("Linear", ("xavier_uniform", {"gain": 1.0})),
])
def test_default_for_activation(act, expected):
    name, opts = init.default_for_activation(act)
    assert name == expected[0]
    assert opts.keys() == expected[1].keys()
    for k, v in expected[1].items():
        assert opts[k] == pytest.approx(v) if isinstance(v, float) else opts[k] == v
    w = init.get((name, opts))((8, 9), _rng())  # every default resolves and runs
    assert w.shape == (8, 9) and w.dtype == np.float32


def test_default_for_activation_param_and_errors():
    assert init.default_for_activation("leaky_relu", 0.2)[1]["a"] == 0.2
    with pytest.raises(ValueError, match="takes no param"):
        init.default_for_activation("relu", 0.2)
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        init.default_for_activation("swishy")


# -------------------------------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call,match", [
    (lambda: init.get("he_norm"), "unknown initialiser 'he_norm'"),
    (lambda: init.get(42), "spec must be"),
    (lambda: init.get(("constant", 1.0)), r"\(name, \{options\}\)"),
    (lambda: init.get("kaiming_normal", nonlinear="relu"), "bad options"),
    (lambda: init.xavier_uniform((5,), _rng()), "at least 2 dimensions"),
    (lambda: init.kaiming_normal(10, _rng()), "at least 2 dimensions"),
    (lambda: init.orthogonal((4,), _rng()), "at least 2 dimensions"),
    (lambda: init.lecun_normal((4, 0), _rng()), "fan_in is 0"),
    (lambda: init.kaiming_normal((0, 4), _rng(), mode="fan_out"), "fan_out is 0"),
    (lambda: init.orthogonal((0, 4), _rng()), "no elements"),
    (lambda: init.normal((3, -1), _rng()), "negative"),
    (lambda: init.normal((3, 2.5), _rng()), "shape must be"),
    (lambda: init.normal("3x3", _rng()), "shape must be"),
    (lambda: init.normal((3, 3), _rng(), std=-1.0), "std must be >= 0"),
    (lambda: init.uniform((3, 3), _rng(), a=1.0, b=0.0), "a <= b"),
    (lambda: init.kaiming_uniform((3, 3), _rng(), mode="fan_avg"), "mode must be"),
    (lambda: init.kaiming_uniform((3, 3), _rng(), nonlinearity="swish"), "unsupported nonlinearity"),
    (lambda: init.xavier_normal((3, 3), np.random.RandomState(0)), "numpy.random.Generator"),
    (lambda: init.xavier_normal((3, 3), None), "numpy.random.Generator"),
    (lambda: init.xavier_normal((3, 3), _rng(), gain="big"), "gain must be a real number"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -------------------------------------------------------------------------------------------------- vs PyTorch

def test_distribution_parameters_match_torch():
    torch = pytest.importorskip("torch")
    t = torch.empty(BIG)
    torch.manual_seed(0)
    for ours, theirs, is_uniform in [
        (init.kaiming_uniform(BIG, _rng()), torch.nn.init.kaiming_uniform_(t.clone()), True),
        (init.kaiming_normal(BIG, _rng(), mode="fan_out"), torch.nn.init.kaiming_normal_(t.clone(), mode="fan_out"),
         False),
        (init.xavier_uniform(BIG, _rng(), gain=2.0), torch.nn.init.xavier_uniform_(t.clone(), gain=2.0), True),
        (init.xavier_normal(BIG, _rng()), torch.nn.init.xavier_normal_(t.clone()), False),
        (init.pytorch_linear_default(BIG, _rng()), torch.nn.init.kaiming_uniform_(t.clone(), a=math.sqrt(5)), True),
    ]:
        theirs = theirs.numpy()
        assert ours.std() == pytest.approx(theirs.std(), rel=0.02)
        if is_uniform:  # the bound itself; for normals the max is too noisy to compare
            assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.001)
    for name in ["linear", "sigmoid", "tanh", "relu", "selu", "conv2d"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.3) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.3))
