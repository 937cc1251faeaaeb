"""Convolutional layers (NCHW): Conv2d, pooling, batch normalisation.

Inside a model they compile into the same C plan as dense layers (images travel as flat C*H*W rows); the
kernels are ours (im2col + our SGEMM, direct loops for depthwise convolutions, OpenMP over the batch)."""
import numpy as np

from .layers import Layer, _check_dim, _check_float, _init_weight_and_bias, _non_default

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "GlobalAvgPool2d", "BatchNorm1d",
           "BatchNorm2d"]


def _pair(name, v, minimum):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        a, b = (int(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    if a < minimum or b < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v!r}")
    return a, b


def _image_shape(layer, in_shape):
    if len(in_shape) != 3:
        raise ValueError(f"{type(layer).__name__} needs (C, H, W) inputs, got shape {tuple(in_shape)} (give the "
                         "model input_shape=(C, H, W))")
    return tuple(int(d) for d in in_shape)


def _out_len(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


class Conv2d(Layer):
    """2-D convolution over NCHW inputs: weight (out_channels, in_channels/groups, kH, kW), bias (out_channels).

    ``padding``: int, pair, or ``"same"`` (stride 1, odd kernel: output size = input size).  ``groups``:
    grouped convolution (``groups = in_channels = out_channels`` is depthwise).  Initialisation as PyTorch:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, fan_in = in_channels/groups * kH * kW, or
    ``init=`` any name of ``fastnn.init`` (bias then zero).  ``l1``/``l2``/``max_norm`` as for Linear (max-norm
    per output filter)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, init=None, l1=0.0, l2=0.0, max_norm=None):
        super().__init__()
        self.in_channels = _check_dim("in_channels", in_channels)
        self.out_channels = _check_dim("out_channels", out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.dilation = _pair("dilation", dilation, 1)
        self.groups = _check_dim("groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d: groups={self.groups} must divide in_channels={self.in_channels} and "
                             f"out_channels={self.out_channels}")
        if isinstance(padding, str):
            if padding != "same":
                raise ValueError(f"Conv2d: padding must be an int, a pair or 'same', got {padding!r}")
            if self.stride != (1, 1) or any(k % 2 == 0 for k in self.kernel_size):
                raise ValueError("Conv2d: padding='same' needs stride 1 and an odd kernel_size "
                                 f"(got stride {self.stride}, kernel_size {self.kernel_size})")
            self.padding = tuple(d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size))
            self._padding_arg = "same"
        else:
            self.padding = _pair("padding", padding, 0)
            self._padding_arg = list(self.padding)
        self.use_bias = bool(bias)
        self.init = init
        self.l1 = _check_float("l1", l1, 0.0)
        self.l2 = _check_float("l2", l2, 0.0)
        self.max_norm = None if max_norm is None else _check_float("max_norm", max_norm, 0.0, strict=True)
        kh, kw = self.kernel_size
        self._params = {"weight": (self.out_channels, self.in_channels // self.groups, kh, kw)}
        if self.use_bias:
            self._params["bias"] = (self.out_channels,)
        self._act_hint = None

    def build_shape(self, in_shape):
        c, h, w = _image_shape(self, in_shape)
        if c != self.in_channels:
            raise ValueError(f"Conv2d({self.in_channels}, {self.out_channels}) receives {c} channels "
                             f"(input shape {tuple(in_shape)})")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
            raise ValueError(f"Conv2d: kernel {self.kernel_size} (dilation {self.dilation}) is larger than the "
                             f"padded input {(h + 2 * ph, w + 2 * pw)} (input {(h, w)}, padding {self.padding})")
        oh, ow = _out_len(h, kh, sh, ph, dh), _out_len(w, kw, sw, pw, dw)
        self.in_shape, self.out_shape = (c, h, w), (self.out_channels, oh, ow)
        self.in_dim, self.out_dim = c * h * w, self.out_channels * oh * ow
        return self.out_shape

    def reset_parameters(self, rng):
        _init_weight_and_bias(self, self._act_hint, rng)

    def flops(self, batch=1):
        oc, oh, ow = self.out_shape
        kh, kw = self.kernel_size
        return batch * oc * oh * ow * (2 * (self.in_channels // self.groups) * kh * kw + (1 if self.use_bias else 0))

    def plan_spec(self, offsets):
        c, h, w = self.in_shape
        oc, oh, ow = self.out_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        return [{"kind": "conv", "in_dim": self.in_dim, "out_dim": self.out_dim, "w_off": offsets["weight"],
                 "b_off": offsets.get("bias", -1), "l1": self.l1, "l2": self.l2, "max_norm": self.max_norm or 0.0,
                 "conv": {"C": c, "H": h, "W": w, "OC": oc, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PH": ph,
                          "PW": pw, "DH": dh, "DW": dw, "G": self.groups, "OH": oh, "OW": ow}}]

    def __repr__(self):
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        args = [str(self.in_channels), str(self.out_channels), f"kernel_size={k}"]
        for name, default in (("stride", (1, 1)), ("dilation", (1, 1))):
            v = getattr(self, name)
            if v != default:
                args.append(f"{name}={v[0] if v[0] == v[1] else v}")
        if self._padding_arg == "same" or self.padding != (0, 0):
            p = self.padding
            args.append("padding='same'" if self._padding_arg == "same" else f"padding={p[0] if p[0] == p[1] else p}")
        if self.groups != 1:
            args.append(f"groups={self.groups}")
        if not self.use_bias:
            args.append("bias=False")
        return f"Conv2d({', '.join(args)})"

    def config(self):
        c = {"in_channels": self.in_channels, "out_channels": self.out_channels,
             "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": self._padding_arg,
             "dilation": list(self.dilation), "groups": self.groups, "bias": self.use_bias}
        if self.init is not None:
            c["init"] = self.init
        return _non_default(self, c, ("l1", 0.0), ("l2", 0.0), ("max_norm", None))


class _Pool2d(Layer):
    kind = None

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.count_include_pad = bool(count_include_pad)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most half the kernel "
                             f"{self.kernel_size}")

    def build_shape(self, in_shape):
        c, h, w = _image_shape(self, in_shape)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(f"{type(self).__name__}: kernel {self.kernel_size} is larger than the padded input "
                             f"{(h + 2 * ph, w + 2 * pw)}")
        oh, ow = _out_len(h, kh, sh, ph), _out_len(w, kw, sw, pw)
        self.in_shape, self.out_shape = (c, h, w), (c, oh, ow)
        self.in_dim, self.out_dim = c * h * w, c * oh * ow
        return self.out_shape

    def flops(self, batch=1):
        return batch * self.out_dim * self.kernel_size[0] * self.kernel_size[1]

    def plan_spec(self, offsets):
        c, h, w = self.in_shape
        _, oh, ow = self.out_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return [{"kind": "pool", "in_dim": self.in_dim, "out_dim": self.out_dim,
                 "pool": {"kind": self.kind, "count_include_pad": self.count_include_pad, "C": c, "H": h, "W": w,
                          "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PH": ph, "PW": pw, "OH": oh, "OW": ow}}]

    def config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}


class MaxPool2d(_Pool2d):
    """Max pooling (floor mode); ``stride`` defaults to ``kernel_size``; padding never wins the max."""
    kind = "max"


class AvgPool2d(_Pool2d):
    """Average pooling (floor mode); ``count_include_pad`` as PyTorch (default True)."""
    kind = "avg"

    def config(self):
        return dict(super().config(), count_include_pad=self.count_include_pad)


class AdaptiveAvgPool2d(Layer):
    """Global average pooling: (C, H, W) -> (C, 1, 1).  Only ``output_size=1`` (the common use) is supported."""

    def __init__(self, output_size=1):
        super().__init__()
        if output_size not in (1, (1, 1), [1, 1]):
            raise ValueError(f"AdaptiveAvgPool2d supports output_size=1 only, got {output_size!r}")

    def build_shape(self, in_shape):
        c, h, w = _image_shape(self, in_shape)
        self.in_shape, self.out_shape = (c, h, w), (c, 1, 1)
        self.in_dim, self.out_dim = c * h * w, c
        return self.out_shape

    def flops(self, batch=1):
        return batch * self.in_dim

    def plan_spec(self, offsets):
        c, h, w = self.in_shape
        return [{"kind": "pool", "in_dim": self.in_dim, "out_dim": self.out_dim,
                 "pool": {"kind": "global_avg", "C": c, "H": h, "W": w, "KH": h, "KW": w, "SH": h, "SW": w,
                          "PH": 0, "PW": 0, "OH": 1, "OW": 1}}]

    def config(self):
        return {"output_size": 1}


class GlobalAvgPool2d(AdaptiveAvgPool2d):
    """Global average pooling: (C, H, W) -> (C, 1, 1)."""

    def __init__(self):
        super().__init__(1)

    def config(self):
        return {}


class _BatchNorm(Layer):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features = _check_dim("num_features", num_features)
        self.eps = _check_float("eps", eps, 0.0, strict=True)
        self.momentum = _check_float("momentum", momentum, 0.0)
        if self.momentum > 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.affine = bool(affine)
        c = self.num_features
        if self.affine:
            self._params.update({"weight": (c,), "bias": (c,)})
        self._params.update({"running_mean": (c,), "running_var": (c,)})
        self._buffer_names = {"running_mean", "running_var"}

    def reset_parameters(self, rng):
        if self.affine:
            self.weight[...] = 1.0
            self.bias[...] = 0.0
        self.running_mean[...] = 0.0
        self.running_var[...] = 1.0

    def flops(self, batch=1):
        return 4 * batch * (self.in_dim or 0)

    def plan_spec(self, offsets):
        return [{"kind": "batchnorm", "in_dim": self.in_dim, "out_dim": self.out_dim, "bn_c": self.num_features,
                 "bn_s": self.in_dim // self.num_features, "w_off": offsets.get("weight", -1),
                 "b_off": offsets.get("bias", -1), "rm_off": offsets["running_mean"],
                 "rv_off": offsets["running_var"], "momentum": self.momentum, "eps": self.eps}]

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine}


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (F,) features: batch statistics in training (biased variance to normalise, the
    unbiased one for the running average), running averages (momentum 0.1) in evaluation; affine weight 1 and
    bias 0 by default; eps=1e-5.  As PyTorch."""

    def build_shape(self, in_shape):
        if len(in_shape) != 1 or in_shape[0] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}) receives shape {tuple(in_shape)}")
        return super().build_shape(in_shape)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation per channel of (C, H, W) maps (statistics over the batch and positions); as
    BatchNorm1d otherwise."""

    def build_shape(self, in_shape):
        c, _, _ = _image_shape(self, in_shape)
        if c != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) receives {c} channels")
        return super().build_shape(in_shape)
