"""State in fastnn files beyond the layers' weights: the generic state <-> (JSON, arrays) codec, and the
(de)serialisation of a model's input preprocessing and optimizer; used by :mod:`fastnn.io`."""
import numpy as np

PREPROCESSING = "preprocessing/"   # prefix of the preprocessing's arrays


# ----------------------------------------------------------------------------------------------------------
# generic state <-> (JSON, arrays)
# ----------------------------------------------------------------------------------------------------------

def _encode(obj, prefix, arrays):
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"{prefix}: object arrays cannot be saved without pickle")
        arrays[prefix] = obj.copy()
        return {"__array__": prefix}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            return {"__items__": [[_encode(k, f"{prefix}/k{i}", arrays), _encode(v, f"{prefix}/{i}", arrays)]
                                  for i, (k, v) in enumerate(obj.items())]}
        if "__array__" in obj or "__items__" in obj or "__tuple__" in obj:
            raise TypeError(f"{prefix}: a dict key clashes with the file format's markers")
        return {k: _encode(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{prefix}: cannot store a {type(obj).__name__} in a fastnn file (use JSON values and "
                    "numpy arrays)")


def _decode(obj, reader):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            if reader is None or not isinstance(obj["__array__"], str):
                raise ValueError("an array reference where none is allowed")
            return reader.array(obj["__array__"])
        if set(obj) == {"__items__"}:
            return {_decode(k, reader): _decode(v, reader) for k, v in obj["__items__"]}
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, reader) for v in obj["__tuple__"])
        return {k: _decode(v, reader) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, reader) for v in obj]
    return obj

# ----------------------------------------------------------------------------------------------------------
# the input preprocessing
# ----------------------------------------------------------------------------------------------------------

def _read_preprocessing(r):
    """The preprocessing stored in the file (a fastnn.preprocessing transformer) or None, validated."""
    from . import preprocessing as _prep

    config = r.header.get("preprocessing")
    names = sorted(f for f in r.files if f.startswith(PREPROCESSING))
    if config is None:
        return None    # arrays under preprocessing/ without a config stay unused: check_all_used refuses them
    if not isinstance(config, dict):
        raise ValueError(f"{r.path}: malformed preprocessing entry {config!r}")
    arrays = {k[len(PREPROCESSING):]: r.array(k) for k in names}
    try:
        return _prep._check_input_transformer(_prep.from_state(config, arrays))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{r.path}: corrupt or unsupported preprocessing entry: {exc}") from None


def _set_preprocessing(r, model, pre):
    try:
        model.preprocessing = pre
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{r.path}: the saved preprocessing does not fit the saved network: {exc}") from None



def _prep_spec(config):
    """A preprocessing config without its fitted state: classes and constructor parameters."""
    if not isinstance(config, dict):
        return config
    if config.get("class") == "Pipeline" and isinstance(config.get("steps"), list):
        return {"class": "Pipeline", "steps": [_prep_spec(c) for c in config["steps"]]}
    return {"class": config.get("class"), "params": config.get("params")}


# ----------------------------------------------------------------------------------------------------------
# the optimizer
# ----------------------------------------------------------------------------------------------------------

def _rebuild_optimizer(info, model, path):
    from . import optim as _optim

    oi = info.get("optimizer")
    if oi is None:
        return None
    cls = getattr(_optim, "_BY_NAME", {}).get(oi.get("kind"))
    if cls is None:
        cand = getattr(_optim, str(oi.get("class")), None)
        if isinstance(cand, type) and issubclass(cand, _optim.Optimizer):
            cls = cand
    if cls is None:
        raise ValueError(f"{path}: unknown optimizer {oi.get('class')!r} (kind {oi.get('kind')!r})")
    try:
        ranges = np.asarray(oi["ranges"], dtype=np.int64).reshape(-1, 3)
        groups = [dict(_decode(g, None)) for g in oi["groups"]]
        n = model.params.shape[0]
        if ((ranges[:, 0] < 0) | (ranges[:, 1] < 0) | (ranges[:, 0] + ranges[:, 1] > n)).any() or \
                ((ranges[:, 2] < 0) | (ranges[:, 2] >= len(groups))).any():
            raise ValueError("parameter ranges outside the model")
        for gi, g in enumerate(groups):
            g["params"] = [model.params[o:o + ln] for o, ln, gg in ranges if gg == gi]
        return cls(groups, **_decode(oi["defaults"], None))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: cannot rebuild the optimizer {oi.get('class')}: {exc}") from None


def _restore_optimizer(r, model, ck):
    opt = model.optimizer
    od = ck.get("optimizer")
    if od is None or opt is None:
        return
    d = _decode(od, r)
    if not isinstance(d, dict):
        raise ValueError(f"{r.path}: malformed optimizer state")
    try:
        sc = np.asarray(d.get("scalars"))
        if opt.scalars is not None and sc.shape != opt.scalars.shape:
            raise ValueError(f"optimizer scalars have shape {sc.shape}, expected {opt.scalars.shape}")
        opt.load_state_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{r.path}: the optimizer state does not fit this model's optimizer: {exc}") from None
