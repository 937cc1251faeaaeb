"""Tabular data from files: ``load_csv`` (CSV, plain or gzip) and ``load_numpy`` (``.npy``/``.npz``); part of
:mod:`fastnn.datasets`."""
import csv
import gzip
import io
import os
import zlib

import numpy as np

from ._idx import _GZIP_MAGIC

#: Cell values that count as missing in :func:`load_csv` (compared after stripping spaces, case-insensitive).
CSV_MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
_CSV_BLOCK = 4096


def _float_dtype(dtype, who):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError("%s: dtype must be 'float32' or 'float64', got %r" % (who, dtype))
    return dt


def _open_text(path):
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    if gz:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _columns(target, names, width, path, who):
    """Target column indices (sorted as given) and whether a list was given."""
    if target is None:
        return [], False
    many = isinstance(target, (list, tuple))
    specs = list(target) if many else [target]
    if many and not specs:
        raise ValueError("%s: target=[] names no column" % who)
    out = []
    for t in specs:
        if isinstance(t, str):
            if names is None:
                raise ValueError("%s: %s: target=%r is a column name but the file has no header row (give a column "
                                 "index, or header=True)" % (who, path, t))
            hits = [i for i, n in enumerate(names) if n == t.strip()]
            if not hits:
                raise ValueError("%s: %s: no column named %r; columns: %s" % (who, path, t, names))
            if len(hits) > 1:
                raise ValueError("%s: %s: %d columns are named %r; give the target as an index" % (
                    who, path, len(hits), t))
            out.append(hits[0])
        elif isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)):
            i = int(t)
            if not -width <= i < width:
                raise ValueError("%s: %s: target column index %d is out of range for %d columns" % (
                    who, path, i, width))
            out.append(i % width)
        else:
            raise ValueError("%s: target must be None, a column name, a column index or a list of them, got %r"
                             % (who, t))
    if len(set(out)) != len(out):
        raise ValueError("%s: target names a column twice: %r" % (who, target))
    return out, many


def _col_label(j, names):
    return "column %r (index %d)" % (names[j], j) if names is not None else "column index %d" % j


def _missing_mask(cells):
    return np.isin(np.char.lower(np.char.strip(cells)), CSV_MISSING)


def load_csv(path, target=None, *, delimiter=",", header="infer", dtype="float32", skip_missing=False,
             return_names=False):
    """Read a CSV file of numbers into ``(X, y)``: features ``X`` ``(N, D)`` and the ``target`` column(s).

    - ``path``: a UTF-8 text file (a byte-order mark is ignored), plain or gzip (detected by its magic bytes).
      Quoting follows the ``csv`` module's defaults; blank lines are skipped.
    - ``target``: ``None`` (default: every column is a feature, ``y`` is ``None``), a column name (needs a
      header), a column index (negative counts from the end), or a list of them (``y`` is then ``(N, T)``).
    - ``delimiter``: one character, default ``","``.
    - ``header``: ``"infer"`` (default: the first row is a header when none of its cells is a number), ``True``
      or ``False``.
    - ``dtype``: ``"float32"`` (default) or ``"float64"`` for ``X`` (and for non-integer numeric targets).
    - ``skip_missing``: ``False`` (default) raises on a missing cell; ``True`` drops every row with a missing
      cell. Missing means empty or one of ``CSV_MISSING`` (``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``?``;
      case-insensitive).
    - ``return_names``: also return the feature columns' names (``None`` without a header).

    ``y`` is int64 when every target cell is an integer literal, ``dtype`` when they are all numbers, and a
    numpy ``str`` array (for :class:`fastnn.preprocessing.LabelEncoder`) when any target cell is not a number.
    Feature cells must be numbers: a non-numeric or missing feature cell raises ``ValueError`` naming the file,
    the line, the column (name and index) and the cell. Also ``ValueError``: an empty file or a header without
    data, a row with a different number of fields (naming its line), an unknown target column, non-UTF-8 or
    malformed CSV. Reads in blocks of rows, so memory stays near the size of the result. numpy and the
    ``csv`` module only.
    """
    who = "load_csv"
    path = os.fspath(path)
    dt = _float_dtype(dtype, who)
    if header not in ("infer", True, False):
        raise ValueError("%s: header must be 'infer', True or False, got %r" % (who, header))
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError("%s: delimiter must be one character, got %r" % (who, delimiter))

    x_parts, t_parts = [], []
    state = {"names": None, "width": None, "tcols": None, "fcols": None, "many": False, "rows": 0,
             "skipped": 0}

    def setup(first):
        has_header = header if header != "infer" else (not any(_is_number(c) for c in first)
                                                      and any(c.strip() for c in first))
        state["names"] = [c.strip() for c in first] if has_header else None
        state["width"] = len(first)
        tcols, many = _columns(target, state["names"], state["width"], path, who)
        state["tcols"], state["many"] = tcols, many
        state["fcols"] = [j for j in range(state["width"]) if j not in set(tcols)]
        return has_header

    def flush(block, lines):
        width, names = state["width"], state["names"]
        lens = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
        bad = np.flatnonzero(lens != width)
        if bad.size:
            i = int(bad[0])
            raise ValueError("%s: %s: line %d has %d fields, expected %d (as the %s)" % (
                who, path, lines[i], lens[i], width, "header" if names is not None else "first row"))
        cells = np.array(block, dtype=str).reshape(len(block), width)
        fc, tc = cells[:, state["fcols"]], cells[:, state["tcols"]]
        miss = None
        try:
            xb = fc.astype(np.float64)
            if np.isnan(xb).any():
                raise ValueError
        except (ValueError, OverflowError):
            xb = None
            miss = _missing_mask(fc)
        tmiss = _missing_mask(tc) if tc.shape[1] else np.zeros(tc.shape, dtype=bool)
        keep = None
        if skip_missing:
            drop = tmiss.any(axis=1) if miss is None else (miss.any(axis=1) | tmiss.any(axis=1))
            if drop.any():
                keep = ~drop
                state["skipped"] += int(drop.sum())
        elif (miss is not None and miss.any()) or tmiss.any():
            m = miss if (miss is not None and miss.any()) else None
            if m is not None:
                r, c = np.argwhere(m)[0]
                j = state["fcols"][c]
            else:
                r, c = np.argwhere(tmiss)[0]
                j = state["tcols"][c]
            raise ValueError("%s: %s: line %d, %s: missing value %r (pass skip_missing=True to drop rows with "
                             "missing values)" % (who, path, lines[r], _col_label(j, names), str(cells[r, j])))
        if keep is not None:
            fc, tc = fc[keep], tc[keep]
            lines = [ln for ln, k in zip(lines, keep) if k]
        if xb is None:
            try:
                xb = fc.astype(np.float64)
            except (ValueError, OverflowError):
                for r in range(fc.shape[0]):  # error path only: find the first bad cell
                    for c in range(fc.shape[1]):
                        if not _is_number(fc[r, c]):
                            raise ValueError("%s: %s: line %d, %s: cannot parse %r as a number" % (
                                who, path, lines[r], _col_label(state["fcols"][c], names), str(fc[r, c]))) from None
                raise
        elif keep is not None:
            xb = xb[keep]
        x_parts.append(xb.astype(dt))
        t_parts.append(tc)
        state["rows"] += xb.shape[0]

    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter=delimiter)
            block, lines, started = [], [], False
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if not started:
                    started = True
                    if setup(row):
                        continue
                block.append(row)
                lines.append(reader.line_num)
                if len(block) >= _CSV_BLOCK:
                    flush(block, lines)
                    block, lines = [], []
            if block:
                flush(block, lines)
    except csv.Error as exc:
        raise ValueError("%s: %s: malformed CSV near line %d: %s" % (who, path, reader.line_num, exc)) from None
    except UnicodeDecodeError as exc:
        raise ValueError("%s: %s: not UTF-8 text (%s)" % (who, path, exc)) from None
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError("%s: %s: cannot read the file (%s)" % (who, path, exc)) from None

    if state["width"] is None:
        raise ValueError("%s: %s: the file is empty (no rows)" % (who, path))
    if state["rows"] == 0:
        if state["skipped"]:
            raise ValueError("%s: %s: every one of the %d data rows has a missing value" % (
                who, path, state["skipped"]))
        raise ValueError("%s: %s: no data rows (only a header)" % (who, path))
    X = np.ascontiguousarray(np.concatenate(x_parts, axis=0))
    y = None
    if state["tcols"]:
        tc = np.char.strip(np.concatenate(t_parts, axis=0))
        try:
            y = tc.astype(np.int64)
        except (ValueError, OverflowError):
            try:
                y = tc.astype(np.float64).astype(dt)
            except (ValueError, OverflowError):
                y = tc.astype(str)
        y = np.ascontiguousarray(y if state["many"] else y[:, 0])
    if return_names:
        names = state["names"]
        return X, y, (None if names is None else [names[j] for j in state["fcols"]])
    return X, y


def load_numpy(path, target=None, *, features=None, dtype="float32"):
    """Read ``(X, y)`` from a ``.npy`` or ``.npz`` file (``np.load`` with ``allow_pickle=False``: object
    arrays are refused, so an untrusted file cannot run code).

    - ``.npy``: one array. ``target=None`` (default) returns it as ``X`` (any shape, e.g. images) and
      ``y=None``; a column index (or a list of them) splits a 2-D array into feature columns and target
      column(s).
    - ``.npz``: ``target`` is a member name (``y`` is that array, as stored) or a column index of ``X``;
      ``features`` names the ``X`` member (default: ``"X"``, ``"x"``, ``"data"`` or ``"features"`` if present,
      else the only member besides the target).

    ``X`` is converted to ``dtype`` (``"float32"`` default, or ``"float64"``), C-contiguous. A target column
    taken out of ``X`` keeps the file's dtype. Raises ``ValueError`` naming the file for: not a NumPy file,
    object arrays, non-numeric features, unknown members, bad column indices, and different sample counts
    of ``X`` and ``y``.
    """
    who = "load_numpy"
    path = os.fspath(path)
    dt = _float_dtype(dtype, who)
    if not os.path.exists(path):
        raise FileNotFoundError("%s: %s: no such file" % (who, path))
    try:
        obj = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError("%s: %s: not a readable .npy/.npz file (%s)" % (who, path, exc)) from None

    def member(npz, name):
        try:
            return npz[name]
        except ValueError as exc:  # object arrays need pickle
            raise ValueError("%s: %s: member %r: %s" % (who, path, name, exc)) from None
        except Exception as exc:  # corrupt zip member
            raise ValueError("%s: %s: member %r cannot be read (%s)" % (who, path, name, exc)) from None

    y = None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            files = list(obj.files)
            tname = target if isinstance(target, str) else None
            if tname is not None and tname not in files:
                raise ValueError("%s: %s: no member %r; members: %s" % (who, path, tname, files))
            if features is None:
                for cand in ("X", "x", "data", "features"):
                    if cand in files:
                        features = cand
                        break
                else:
                    rest = [f for f in files if f != tname]
                    if len(rest) != 1:
                        raise ValueError("%s: %s: cannot tell which member holds the features among %s; pass "
                                         "features=<name>" % (who, path, files))
                    features = rest[0]
            elif features not in files:
                raise ValueError("%s: %s: no member %r; members: %s" % (who, path, features, files))
            arr = member(obj, features)
            if tname is not None:
                y = member(obj, tname)
                target = None
    else:
        if isinstance(target, str):
            raise ValueError("%s: %s: a .npy file has no column names; give the target as a column index" % (
                who, path))
        if features is not None:
            raise ValueError("%s: %s: features= names an .npz member; this is a .npy file" % (who, path))
        arr = obj
    if arr.dtype.kind not in "biuf":
        raise ValueError("%s: %s: features must be numeric, got dtype %s" % (who, path, arr.dtype))
    if target is not None:
        if arr.ndim != 2:
            raise ValueError("%s: %s: a target column needs a 2-D array, got shape %r" % (who, path, arr.shape))
        tcols, many = _columns(target, None, arr.shape[1], path, who)
        fcols = [j for j in range(arr.shape[1]) if j not in set(tcols)]
        y = np.ascontiguousarray(arr[:, tcols] if many else arr[:, tcols[0]])
        arr = arr[:, fcols]
    if y is not None:
        if y.ndim == 0 or arr.ndim == 0 or y.shape[0] != arr.shape[0]:
            raise ValueError("%s: %s: X has shape %r but y has shape %r (different sample counts)" % (
                who, path, arr.shape, y.shape))
    X = np.ascontiguousarray(arr, dtype=dt)
    return X, y
