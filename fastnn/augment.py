"""Image augmentation applied on the fly, in C, to each mini-batch (NCHW float32 rows).

Declare a pipeline once and hand it to training (``model.fit(..., augment=Compose([...], image_shape=...))``)
or apply it yourself with ``Compose.apply``::

    import fastnn as fnn
    from fastnn.augment import Compose, RandomTranslate, RandomHorizontalFlip, Cutout
    aug = Compose([RandomTranslate(2), RandomHorizontalFlip(), Cutout(8)], image_shape=(1, 28, 28))
    X_aug = aug.apply(X, seed=0, step=0)        # X (N, 784) or (N, 1, 28, 28); returns an augmented copy

Randomness is counter-based: sample i of a batch under (seed, step) always gets the same transform, whatever
the thread count.  Each transform is applied to each sample independently with its probability ``p``.
Names and defaults follow torchvision where an equivalent exists; differences are stated per class.
Pixels are not clamped unless you add ``Clip(lo, hi)`` (e.g. after ColorJitter or GaussianNoise).
"""
import math
import numbers

import numpy as np

from ._config import get_num_threads
from ._ext import _core

__all__ = ["Transform", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "RandomTranslate",
           "RandomRotation", "ColorJitter", "GaussianNoise", "Cutout", "RandomErasing", "Clip", "Compose"]


def _num(name, v, lo=None, hi=None, lo_open=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def _int(name, v, lo=0):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _pair(name, v, lo=None, lo_open=False, hi=None):
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {v!r}")
    a, b = (_num(name, x, lo, hi, lo_open) for x in v)
    if a > b:
        raise ValueError(f"{name} must have lo <= hi, got {tuple(v)}")
    return a, b


class Transform:
    """Base class: one or more C augmentation ops (``to_c()``) and constructor arguments (``config()``)."""

    def to_c(self):
        """The op dicts for the C kernel (see src_c/fnn_augment.h for the fields)."""
        raise NotImplementedError

    def config(self):
        """Constructor arguments, JSON-friendly."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p`` (default 0.5), as torchvision."""

    def __init__(self, p=0.5):
        self.p = _num("p", p, 0.0, 1.0)

    def to_c(self):
        return [{"kind": "hflip", "p": self.p}]

    def config(self):
        return {"p": self.p}


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p`` (default 0.5), as torchvision."""

    def to_c(self):
        return [{"kind": "vflip", "p": self.p}]


class RandomCrop(Transform):
    """Pad by ``padding`` pixels of value ``fill`` (default 0.0) on every side, then take a random crop of the
    original size (torchvision's ``RandomCrop(size=(H, W), padding=padding, fill=fill)``): a shift by an integer
    offset uniform in [-padding, padding] along each axis.  Always applied (p = 1)."""

    def __init__(self, padding, fill=0.0):
        self.padding = _int("padding", padding)
        self.fill = _num("fill", fill)

    def to_c(self):
        return [{"kind": "crop", "ia": self.padding, "a": self.fill}]

    def config(self):
        return {"padding": self.padding, "fill": self.fill}


class RandomTranslate(Transform):
    """Shift by integers (dx, dy), each uniform in [-max_shift, max_shift] (default 1: Nielsen's one-pixel
    shifts of MNIST, dx = dy = 0 included), vacated pixels set to ``fill`` (default 0.0); applied with
    probability ``p`` (default 1.0)."""

    def __init__(self, max_shift=1, fill=0.0, p=1.0):
        self.max_shift = _int("max_shift", max_shift)
        self.fill = _num("fill", fill)
        self.p = _num("p", p, 0.0, 1.0)

    def to_c(self):
        return [{"kind": "translate", "ia": self.max_shift, "a": self.fill, "p": self.p}]

    def config(self):
        return {"max_shift": self.max_shift, "fill": self.fill, "p": self.p}


class RandomRotation(Transform):
    """Rotate counter-clockwise about the image centre by an angle uniform in [-degrees, degrees], or in
    [lo, hi] when ``degrees`` is a pair (as torchvision); bilinear interpolation, pixels from outside the image
    are ``fill`` (default 0.0); applied with probability ``p`` (default 1.0)."""

    def __init__(self, degrees, fill=0.0, p=1.0):
        if isinstance(degrees, numbers.Real):
            d = _num("degrees", degrees, 0.0)
            self.degrees = (-d, d)
        else:
            self.degrees = _pair("degrees", degrees)
        self.fill = _num("fill", fill)
        self.p = _num("p", p, 0.0, 1.0)

    def to_c(self):
        lo, hi = self.degrees
        return [{"kind": "rotate", "a": (hi - lo) / 2.0, "c": (hi + lo) / 2.0, "b": self.fill, "p": self.p}]

    def config(self):
        return {"degrees": list(self.degrees), "fill": self.fill, "p": self.p}


class ColorJitter(Transform):
    """Brightness and contrast jitter, always applied, brightness first.

    brightness (default 0): ADD a value uniform in [-brightness, brightness] to every pixel (torchvision
    multiplies by a factor in [1 - b, 1 + b]; for images in [0, 1] the additive form is the usual one).
    contrast (default 0, at most 1): x <- m + f (x - m) with f uniform in [1 - contrast, 1 + contrast] and m the
    sample's per-channel mean (torchvision uses the grey-level mean of the whole image).  No clamping: follow
    with ``Clip(0, 1)`` if needed."""

    def __init__(self, brightness=0.0, contrast=0.0):
        self.brightness = _num("brightness", brightness, 0.0)
        self.contrast = _num("contrast", contrast, 0.0, 1.0)

    def to_c(self):
        ops = []
        if self.brightness > 0:
            ops.append({"kind": "brightness", "a": self.brightness})
        if self.contrast > 0:
            ops.append({"kind": "contrast", "a": self.contrast})
        return ops

    def config(self):
        return {"brightness": self.brightness, "contrast": self.contrast}


class GaussianNoise(Transform):
    """Add N(0, std^2) noise to every pixel (Box-Muller in C), with probability ``p`` (default 1.0)."""

    def __init__(self, std, p=1.0):
        self.std = _num("std", std, 0.0)
        self.p = _num("p", p, 0.0, 1.0)

    def to_c(self):
        return [{"kind": "noise", "a": self.std, "p": self.p}]

    def config(self):
        return {"std": self.std, "p": self.p}


class Cutout(Transform):
    """Cutout (DeVries & Taylor 2017): ``n_holes`` (default 1) square patches of side ``size`` set to ``fill``
    (default 0.0) in every channel, centres uniform over the image, patches clipped at the border (rows
    [cy - size//2, cy - size//2 + size)); applied with probability ``p`` (default 1.0)."""

    def __init__(self, size, n_holes=1, p=1.0, fill=0.0):
        self.size = _int("size", size)
        self.n_holes = _int("n_holes", n_holes)
        if self.n_holes > 4096:
            raise ValueError(f"n_holes must be <= 4096, got {self.n_holes}")
        self.p = _num("p", p, 0.0, 1.0)
        self.fill = _num("fill", fill)

    def to_c(self):
        return [{"kind": "cutout", "ia": self.size, "ib": self.n_holes, "p": self.p, "a": self.fill}]

    def config(self):
        return {"size": self.size, "n_holes": self.n_holes, "p": self.p, "fill": self.fill}


class RandomErasing(Transform):
    """Random erasing (Zhong et al. 2017), as torchvision's ``RandomErasing(p, scale, ratio, value=0)``: with
    probability ``p`` (default 0.5) a rectangle of area fraction uniform in ``scale`` (default (0.02, 0.33)) and
    aspect ratio h/w log-uniform in ``ratio`` (default (0.3, 3.3)) is set to 0 in every channel; up to 10 draws
    are tried until the rectangle fits inside the image, else the sample is left unchanged."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
        self.p = _num("p", p, 0.0, 1.0)
        self.scale = _pair("scale", scale, 0.0, lo_open=True, hi=1.0)
        self.ratio = _pair("ratio", ratio, 0.0, lo_open=True)

    def to_c(self):
        return [{"kind": "erase", "p": self.p, "a": self.scale[0], "b": self.scale[1], "c": self.ratio[0],
                 "d": self.ratio[1]}]

    def config(self):
        return {"p": self.p, "scale": list(self.scale), "ratio": list(self.ratio)}


class Clip(Transform):
    """Clamp every pixel to [lo, hi] (e.g. Clip(0, 1) after ColorJitter or GaussianNoise)."""

    def __init__(self, lo, hi):
        self.lo = float(lo)
        self.hi = float(hi)
        if math.isnan(self.lo) or math.isnan(self.hi) or self.lo > self.hi:
            raise ValueError(f"Clip needs lo <= hi, got ({lo!r}, {hi!r})")

    def to_c(self):
        return [{"kind": "clip", "a": self.lo, "b": self.hi}]

    def config(self):
        return {"lo": self.lo, "hi": self.hi}


_CLASSES = {c.__name__: c for c in (RandomHorizontalFlip, RandomVerticalFlip, RandomCrop, RandomTranslate,
                                    RandomRotation, ColorJitter, GaussianNoise, Cutout, RandomErasing, Clip)}


class Compose(Transform):
    """A pipeline of transforms applied in order to NCHW images of shape ``image_shape`` = (C, H, W).

    ``image_shape`` may be omitted when only 4-D arrays are passed to ``apply``; training needs it.
    ``to_c()`` gives the flat list of op dicts the C loop runs; ``config()``/``from_config()`` round-trip
    through JSON (only the classes of this module are accepted when loading)."""

    def __init__(self, transforms, image_shape=None):
        transforms = list(transforms)
        for t in transforms:
            if not isinstance(t, Transform) or isinstance(t, Compose):
                raise TypeError(f"Compose takes fastnn.augment transforms, got {type(t).__name__}")
        self.transforms = transforms
        if image_shape is not None:
            if len(image_shape) != 3 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                                            for v in image_shape):
                raise ValueError(f"image_shape must be (C, H, W) of positive ints, got {image_shape!r}")
            image_shape = tuple(int(v) for v in image_shape)
        self.image_shape = image_shape
        self._ops = _core.augment_check_ops(self.to_c())   # the C kernel's rules, checked once here

    def to_c(self):
        return [op for t in self.transforms for op in t.to_c()]

    def config(self):
        return {"image_shape": list(self.image_shape) if self.image_shape else None,
                "transforms": [{"class": type(t).__name__, "config": t.config()} for t in self.transforms]}

    @classmethod
    def from_config(cls, cfg):
        """The pipeline that ``config()`` described."""
        if not isinstance(cfg, dict) or not isinstance(cfg.get("transforms"), list):
            raise ValueError(f"not a Compose config: {cfg!r}")
        ts = []
        for spec in cfg["transforms"]:
            name = spec.get("class") if isinstance(spec, dict) else None
            if name not in _CLASSES:
                raise ValueError(f"unknown augmentation class {name!r}; known: {', '.join(_CLASSES)}")
            ts.append(_CLASSES[name](**spec.get("config", {})))
        return cls(ts, image_shape=cfg.get("image_shape"))

    def apply(self, X, seed=0, step=0):
        """An augmented float32 copy of X (N, C*H*W) or (N, C, H, W) (same shape as X); sample i draws from
        (seed, step, i), as row i of a mini-batch in training does."""
        X = np.asarray(X)
        if X.ndim == 4:
            shape = tuple(X.shape[1:])
            if self.image_shape is not None and shape != self.image_shape:
                raise ValueError(f"X images have shape {shape}, this Compose expects {self.image_shape}")
        elif X.ndim == 2:
            if self.image_shape is None:
                raise ValueError("X is 2-D (N, C*H*W): give Compose(..., image_shape=(C, H, W))")
            shape = self.image_shape
        else:
            raise ValueError(f"X must be (N, C*H*W) or (N, C, H, W), got shape {X.shape}")
        out = np.array(X, dtype=np.float32, order="C", copy=True)
        flat = out.reshape(out.shape[0], -1)
        _core.augment_batch(flat, self._ops, shape[0], shape[1], shape[2], seed=seed, step=step,
                            n_threads=get_num_threads())
        return out
