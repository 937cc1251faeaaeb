"""Saving and loading models and training checkpoints: one ``.npz`` file, no pickle anywhere.

A file is a zip archive written by ``np.savez`` holding

- ``__fastnn__``: the UTF-8 JSON header (uint8 array): ``format`` ("fastnn"), ``format_version``, ``kind``
  ("model" or "checkpoint"), the architecture (model class, seed, input width, and each layer's class name and
  ``config()``), the loss (name, delta), the compile settings (optimizer class, kind, hyper-parameters per
  group, clipping), ``epochs_trained`` and ``preprocessing`` (the model's input transformer as
  ``get_state()``'s config, fitted or not, or null); checkpoints add the optimizer's state (scalars in JSON,
  arrays as members), the learning-rate schedule's and callbacks' state, the history, and the random-generator
  state;
- ``params/<layer>.<name>``: float32 weights as ``model.state_dict()`` names them;
- ``preprocessing/<name>``: the fitted preprocessing's arrays (float64; a Pipeline's as ``<step>/<name>``);
- ``optim/...``, ``schedule/...``, ``callbacks/...``: the arrays of those states (checkpoints).

The engine's generator is counter-based: (model seed, epoch, optimizer step) is the whole random state (epoch
shuffles, dropout masks), so a checkpoint holding the seed (architecture), ``epochs_trained`` and the
optimizer's ``step_count`` resumes bit for bit.

Loading (``np.load(..., allow_pickle=False)``) cannot run code; it checks the header, refuses files of a newer
format version, rebuilds the layers and the preprocessing from whitelists of fastnn classes, checks every
array's presence, dtype and shape against the architecture (and the preprocessing's state) before copying,
refuses unknown arrays, and turns every failure (random bytes, truncation, a bad CRC, pickled object arrays,
tampering) into a ``ValueError`` naming the file and the problem.

Format versions: 1 has no preprocessing; 2 adds the ``preprocessing`` entry.  A model without preprocessing
is still written as version 1, so older fastnn versions read it; one with preprocessing is version 2, which
they refuse with "upgrade fastnn" rather than load without the transform its weights expect.

Writes are atomic (``atomic_write``): a temporary file in the target's folder, flushed and fsynced, then
renamed over the target, and the folder fsynced; a crash leaves the old file or the new one, never a mix
(a stale ``.<name>.*.tmp`` file may remain after a crash mid-write).
"""
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from ._io_state import (PREPROCESSING, _decode, _encode, _prep_spec, _read_preprocessing,
                        _rebuild_optimizer, _restore_optimizer, _set_preprocessing)

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "atomic_write", "FORMAT_VERSION"]

FORMAT_VERSION = 2
HEADER = "__fastnn__"


# ----------------------------------------------------------------------------------------------------------
# atomic writes
# ----------------------------------------------------------------------------------------------------------

def atomic_write(path, write):
    """Write ``path`` through ``write(fileobj)`` atomically: temp file in the same folder, flush, fsync,
    rename over ``path``, fsync the folder (best effort where the OS has no directory fsync)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _write_npz(path, header, arrays):
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    members = {HEADER: blob}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise TypeError(f"cannot save {k!r}: object arrays would need pickle")
        members[k] = np.ascontiguousarray(a)
    atomic_write(path, lambda f: np.savez(f, **members))


# ----------------------------------------------------------------------------------------------------------
# describing a model
# ----------------------------------------------------------------------------------------------------------

def _layer_classes():
    from . import activations, conv, layers

    out = {}
    for mod in (layers, activations, conv):
        for name in getattr(mod, "__all__", []):
            c = getattr(mod, name, None)
            if isinstance(c, type) and issubclass(c, layers.Layer) and c not in (layers.Layer, layers.Residual):
                out[c.__name__] = c
    return out


def architecture(model):
    """The JSON-able description of ``model``'s layers (as expanded by Sequential)."""
    return {"class": type(model).__name__, "seed": int(model.seed), "in_dim": int(model.in_dim),
            "input_shape": [int(d) for d in model.input_shape],
            "layers": [{"class": type(layer).__name__, "config": _encode(layer.config(), "config", {}),
                        "src": int(src), "src2": int(src2)}
                       for layer, (src, src2) in zip(model.layers, model._graph)]}


def _compile_info(model):
    if getattr(model, "loss", None) is None:
        return None
    info = {"loss": {"class": type(model.loss).__name__, "name": model.loss.name, "delta": model.loss.delta},
            "clip_norm": float(model.clip_norm), "clip_value": float(model.clip_value)}
    opt = model.optimizer
    if opt is not None:
        info["optimizer"] = {"class": type(opt).__name__, "kind": opt.kind,
                             "defaults": _encode(dict(opt.defaults), "defaults", {}),
                             "groups": [_encode({k: v for k, v in g.items() if k != "params"}, "group", {})
                                        for g in opt.param_groups],
                             "ranges": np.asarray(opt._ranges).tolist()}
    return info


def _header(model, kind, arrays):
    """The JSON header; adds the preprocessing's arrays to ``arrays``."""
    from . import __version__

    pre = getattr(model, "preprocessing", None)
    prep = None
    if pre is not None:
        prep, pa = pre.get_state()
        arrays.update({PREPROCESSING + k: v for k, v in pa.items()})
    # version 2 only adds the preprocessing: without one, write 1 so that older fastnn still reads the file
    return {"format": "fastnn", "format_version": FORMAT_VERSION if pre is not None else 1, "kind": kind,
            "fastnn_version": __version__, "architecture": architecture(model), "compile": _compile_info(model),
            "preprocessing": prep, "epochs_trained": int(getattr(model, "epochs_trained", 0)),
            "rng_offset": int(getattr(model, "rng_offset", 0))}


def save(model, path):
    """Save ``model``'s architecture, weights, loss and optimizer hyper-parameters and input preprocessing to
    one ``.npz`` file at ``path`` (atomically; the name is used as given).  ``fastnn.load(path)`` rebuilds
    it."""
    arrays = {"params/" + k: v for k, v in model.state_dict().items()}
    _write_npz(path, _header(model, "model", arrays), arrays)


def save_checkpoint(path, model, history=None, schedule=None, callbacks=None, extra=None):
    """Save everything a resumed ``fit`` needs to continue bit for bit: the model file's content (with the
    input preprocessing) plus the optimizer's state, ``epochs_trained`` and the optimizer step (the random
    state), the learning-rate schedule's ``state_dict()``, each callback's ``state_dict()``, the ``History``
    and ``extra`` (JSON values and numpy arrays).  Atomic."""
    arrays = {"params/" + k: v for k, v in model.state_dict().items()}
    header = _header(model, "checkpoint", arrays)
    opt = model.optimizer
    ck = {}
    if opt is not None and opt.state is not None:
        ck["optimizer"] = _encode(opt.state_dict(), "optim", arrays)
    sd = getattr(schedule, "state_dict", None) if schedule is not None else None
    ck["schedule"] = _encode(sd(), "schedule", arrays) if sd is not None else None
    if callbacks is not None and hasattr(callbacks, "states"):
        ck["callbacks"] = _encode(callbacks.states(), "callbacks", arrays)
    else:
        ck["callbacks"] = []
    if history is not None:
        ck["history"] = {"epoch": [int(e) for e in history.epoch],
                         "history": {k: [_json_float(v) for v in vals] for k, vals in history.history.items()}}
    else:
        ck["history"] = None
    ck["rng"] = {"seed": int(model.seed), "epoch": int(model.epochs_trained),
                 "step": int(opt.step_count) if opt is not None else 0}
    ck["extra"] = _encode(extra, "extra", arrays) if extra is not None else None
    header["checkpoint"] = ck
    _write_npz(path, header, arrays)


def _json_float(v):
    if isinstance(v, (np.generic,)):
        v = v.item()
    return v


# ----------------------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------------------

class _Reader:
    """A validated view of a fastnn .npz file."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.used = {HEADER}
        try:
            with open(self.path, "rb") as f:
                magic = f.read(4)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {self.path}") from None
        if magic[:2] != b"PK":
            raise ValueError(f"{self.path}: not a fastnn file (not an .npz/zip archive; it starts with "
                             f"{magic!r})")
        try:
            self.npz = np.load(self.path, allow_pickle=False)
            if not isinstance(self.npz, np.lib.npyio.NpzFile):
                raise ValueError("not an npz archive")
            self.files = set(self.npz.files)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, KeyError) as exc:
            raise ValueError(f"{self.path}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None
        if HEADER not in self.files:
            self.close()
            raise ValueError(f"{self.path}: not a fastnn file (an .npz archive without the {HEADER!r} header; "
                             f"it holds {sorted(self.files)[:5]})")
        blob = self._load(HEADER, np.uint8, None)
        try:
            self.header = json.loads(blob.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.close()
            raise ValueError(f"{self.path}: corrupt header ({exc})") from None
        h = self.header
        if not isinstance(h, dict) or h.get("format") != "fastnn":
            self.close()
            raise ValueError(f"{self.path}: not a fastnn file (header format {h.get('format') if isinstance(h, dict) else h!r})")
        v = h.get("format_version")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            self.close()
            raise ValueError(f"{self.path}: invalid format_version {v!r}")
        if v > FORMAT_VERSION:
            self.close()
            raise ValueError(f"{self.path}: written in fastnn file format version {v}, newer than this fastnn "
                             f"reads (up to {FORMAT_VERSION}); upgrade fastnn to load it")
        if h.get("kind") not in ("model", "checkpoint"):
            self.close()
            raise ValueError(f"{self.path}: unknown file kind {h.get('kind')!r}")

    def close(self):
        npz = getattr(self, "npz", None)
        if npz is not None:
            npz.close()

    def _load(self, name, dtype, shape):
        if name not in self.files:
            raise ValueError(f"{self.path}: missing array {name!r}")
        if shape is not None:
            try:
                size = self.npz.zip.getinfo(name + ".npy").file_size
            except (KeyError, AttributeError):
                size = None
            need = int(np.prod(shape)) * np.dtype(dtype).itemsize
            if size is not None and size < need:
                raise ValueError(f"{self.path}: array {name!r} holds {size} bytes, too few for shape {shape} "
                                 f"{np.dtype(dtype).name}")
        try:
            a = self.npz[name]
        except ValueError as exc:
            if "pickle" in str(exc).lower() or "object" in str(exc).lower():
                raise ValueError(f"{self.path}: array {name!r} holds pickled Python objects; refusing to load "
                                 "it (fastnn files never contain pickles)") from None
            raise ValueError(f"{self.path}: array {name!r} is corrupt ({exc})") from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, KeyError) as exc:
            raise ValueError(f"{self.path}: array {name!r} is corrupt or truncated ({type(exc).__name__}: "
                             f"{exc})") from None
        if a.dtype.hasobject:
            raise ValueError(f"{self.path}: array {name!r} holds Python objects; refusing to load it")
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise ValueError(f"{self.path}: array {name!r} has dtype {a.dtype}, expected {np.dtype(dtype).name}")
        if shape is not None and a.shape != tuple(shape):
            raise ValueError(f"{self.path}: array {name!r} has shape {a.shape}, the architecture needs "
                             f"{tuple(shape)}")
        self.used.add(name)
        return a

    def array(self, name):
        """An array named in the JSON (any non-object dtype; the consumer checks its shape)."""
        return self._load(name, None, None)

    def check_all_used(self):
        extra = sorted(self.files - self.used)
        if extra:
            raise ValueError(f"{self.path}: unexpected arrays {extra[:5]} (a foreign or tampered file)")


def _build_layers(arch, path):
    classes = _layer_classes()
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) or not arch["layers"]:
        raise ValueError(f"{path}: the header has no layer list")
    if arch.get("class") != "Sequential":
        raise ValueError(f"{path}: unknown model class {arch.get('class')!r} (this fastnn builds Sequential)")
    layers = []
    for i, spec in enumerate(arch["layers"]):
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: layer {i}: malformed description {spec!r}")
        cls = classes.get(spec.get("class"))
        if cls is None:
            raise ValueError(f"{path}: layer {i}: unknown layer class {spec.get('class')!r} (known: "
                             f"{sorted(classes)})")
        cfg = spec.get("config", {})
        if not isinstance(cfg, dict):
            raise ValueError(f"{path}: layer {i}: config must be a JSON object, got {cfg!r}")
        try:
            layers.append(cls(**_decode(cfg, None)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: layer {i} ({cls.__name__}) cannot be built from {cfg}: {exc}") from None
    return layers


def _graph_of(arch, path):
    """The (src, src2) wiring and the input shape of a saved architecture, validated."""
    graph = []
    for i, spec in enumerate(arch["layers"]):
        src, src2 = spec.get("src", i - 1), spec.get("src2", -1)
        for v in (src, src2):
            if isinstance(v, bool) or not isinstance(v, int) or not -1 <= v < i:
                raise ValueError(f"{path}: layer {i}: malformed wiring (src {src!r}, src2 {src2!r})")
        graph.append((src, src2))
    shape = arch.get("input_shape", [arch.get("in_dim")])
    if not isinstance(shape, list) or not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                                                        for d in shape):
        raise ValueError(f"{path}: malformed input_shape {shape!r}")
    if int(np.prod(shape)) != arch.get("in_dim"):
        raise ValueError(f"{path}: input_shape {shape} does not match in_dim {arch.get('in_dim')}")
    return graph, tuple(shape)


def _expected_shapes(layers, input_shape, graph, path):
    """Parameter shapes of the saved architecture, computed without allocating the model."""
    shapes, outs = {}, []
    for i, (layer, (src, _)) in enumerate(zip(layers, graph)):
        try:
            outs.append(tuple(layer.build_shape(outs[src] if src >= 0 else input_shape)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: layer {i} ({type(layer).__name__}) does not fit its input: "
                             f"{exc}") from None
        for name, shape in layer.param_shapes().items():
            shapes[f"{i}.{name}"] = tuple(int(d) for d in shape)
    return shapes


def _read_params(reader, shapes):
    state = {}
    for k, shape in shapes.items():
        a = reader._load("params/" + k, np.float32, shape)
        if not np.isfinite(a).all():
            raise ValueError(f"{reader.path}: array 'params/{k}' contains NaN or Inf")
        state[k] = a
    return state


def _check_header_dict(h, key, path, kind=dict):
    v = h.get(key)
    if not isinstance(v, kind):
        raise ValueError(f"{path}: header field {key!r} is missing or malformed")
    return v


def _open_model(path):
    """(reader, model) with weights loaded and compiled when the file says so; reader left open."""
    from . import losses as _losses
    from .model import Sequential

    r = _Reader(path)
    try:
        h = r.header
        arch = _check_header_dict(h, "architecture", r.path)
        in_dim, seed = arch.get("in_dim"), arch.get("seed")
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 1 or \
                isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{r.path}: malformed architecture (in_dim {in_dim!r}, seed {seed!r})")
        layers = _build_layers(arch, r.path)
        graph, input_shape = _graph_of(arch, r.path)
        shapes = _expected_shapes(layers, input_shape, graph, r.path)
        # check the archive holds every array (and enough bytes) before allocating the model's buffers
        for k, shape in shapes.items():
            name = "params/" + k
            if name not in r.files:
                raise ValueError(f"{r.path}: missing array {name!r}")
        state = _read_params(r, shapes)
        fresh = _build_layers(arch, r.path)   # build() above consumed the first set
        try:
            model = Sequential(fresh, seed=seed, input_shape=input_shape, _graph=graph)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{r.path}: the saved architecture does not build: {exc}") from None
        if [type(layer).__name__ for layer in model.layers] != [s["class"] for s in arch["layers"]]:
            raise ValueError(f"{r.path}: the layer list does not rebuild as saved")
        model.load_state_dict(state)
        _set_preprocessing(r, model, _read_preprocessing(r))
        ep = h.get("epochs_trained", 0)
        model.epochs_trained = int(ep) if isinstance(ep, int) and ep >= 0 else 0
        ro = h.get("rng_offset", 0)
        if isinstance(ro, bool) or not isinstance(ro, int) or ro < 0:
            raise ValueError(f"{r.path}: malformed rng_offset {ro!r}")
        model.rng_offset = ro
        info = h.get("compile")
        if info is not None:
            if not isinstance(info, dict) or not isinstance(info.get("loss"), dict):
                raise ValueError(f"{r.path}: malformed compile section")
            li = info["loss"]
            try:
                loss = _losses.get(li["name"])
                if isinstance(loss, _losses.HuberLoss):
                    loss = _losses.HuberLoss(li.get("delta", 1.0))
            except (KeyError, ValueError, TypeError) as exc:
                raise ValueError(f"{r.path}: unknown loss {li!r}: {exc}") from None
            opt = _rebuild_optimizer(info, model, r.path) or "sgd"
            model.compile(loss=loss, optimizer=opt, clip_norm=info.get("clip_norm") or None,
                          clip_value=info.get("clip_value") or None)
        return r, model
    except BaseException:
        r.close()
        raise


def load(path):
    """The model saved at ``path`` (by ``save``, ``model.save`` or as a checkpoint): rebuilt, weights and
    input preprocessing loaded, and compiled with its loss and optimizer when it was compiled (a checkpoint
    also restores the optimizer's state and the epoch counter).  Raises ``ValueError`` for a file that is not
    a valid fastnn file."""
    r, model = _open_model(path)
    try:
        if r.header.get("kind") == "checkpoint":
            _apply_checkpoint(r, model)
        r.check_all_used()
    finally:
        r.close()
    return model


def _arch_key(arch):
    return json.dumps(arch, sort_keys=True)


def load_checkpoint(path, model=None):
    """Read a checkpoint.  Without ``model``: rebuild the model from it (as ``load``); with ``model`` (a
    compiled Sequential of the same architecture, seed and kind of preprocessing: same classes and
    parameters, fitted or not): copy the weights, optimizer state and counters into it, and set
    ``model.preprocessing`` to the checkpoint's (fitted) one, a new object.  Returns ``(model, info)`` with
    ``info`` holding ``history`` (a ``History`` or None), ``schedule`` (the schedule's saved state or None),
    ``callbacks`` (saved callback states), ``epoch``, ``step`` and ``extra``."""
    if model is None:
        r, model = _open_model(path)
    else:
        r = _Reader(path)
        try:
            arch = _check_header_dict(r.header, "architecture", r.path)
            mine = json.loads(json.dumps(architecture(model)))
            if arch.get("seed") != mine["seed"]:
                raise ValueError(f"{r.path}: the checkpoint was written by a model with seed={arch.get('seed')}, "
                                 f"this model has seed={mine['seed']}; build the model with the same seed to "
                                 "resume")
            if _arch_key(arch) != _arch_key(mine):
                raise ValueError(f"{r.path}: the checkpoint's architecture differs from this model's:\n  file: "
                                 f"{arch.get('layers')}\n  model: {mine['layers']}")
            pre = _read_preprocessing(r)
            mine = None if model.preprocessing is None else model.preprocessing.get_state()[0]
            theirs = r.header.get("preprocessing")
            if _arch_key(_prep_spec(theirs)) != _arch_key(_prep_spec(json.loads(json.dumps(mine)))):
                raise ValueError(f"{r.path}: the checkpoint was written with preprocessing "
                                 f"{pre!r}, this model has {model.preprocessing!r}; give the model the same "
                                 "preprocessing (fitted or not) to resume")
            shapes = {k: v.shape for k, v in model.state_dict().items()}
            state = _read_params(r, shapes)     # validated: load_state_dict below cannot fail half-way
            _set_preprocessing(r, model, pre)
            model.load_state_dict(state)
        except BaseException:
            r.close()
            raise
    try:
        info = _apply_checkpoint(r, model)
        r.check_all_used()
        return model, info
    finally:
        r.close()


def _apply_checkpoint(r, model):
    from .trainer import History

    h = r.header
    if h.get("kind") != "checkpoint":
        raise ValueError(f"{r.path}: a model file, not a checkpoint (it has no optimizer state or counters); "
                         "load it with fastnn.load")
    ck = _check_header_dict(h, "checkpoint", r.path)
    _restore_optimizer(r, model, ck)
    ep = h.get("epochs_trained")
    if isinstance(ep, bool) or not isinstance(ep, int) or ep < 0:
        raise ValueError(f"{r.path}: malformed epochs_trained {ep!r}")
    model.epochs_trained = ep
    ro = h.get("rng_offset", 0)
    if isinstance(ro, bool) or not isinstance(ro, int) or ro < 0:
        raise ValueError(f"{r.path}: malformed rng_offset {ro!r}")
    model.rng_offset = ro
    hist = None
    hd = ck.get("history")
    if hd is not None:
        try:
            hist = History()
            hist.epoch = [int(e) for e in hd["epoch"]]
            hist.history = {str(k): [float(x) for x in v] for k, v in hd["history"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{r.path}: malformed history ({exc})") from None
    rng = ck.get("rng") if isinstance(ck.get("rng"), dict) else {}
    return {"history": hist, "schedule": _decode(ck.get("schedule"), r),
            "callbacks": _decode(ck.get("callbacks") or [], r), "epoch": ep, "step": rng.get("step"),
            "extra": _decode(ck.get("extra"), r)}
