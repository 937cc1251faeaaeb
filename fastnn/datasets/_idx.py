"""The IDX file format of MNIST and Fashion-MNIST (``read_idx``/``write_idx``), plain or gzip; part of
:mod:`fastnn.datasets`."""
import gzip
import os
import struct
import zlib

import numpy as np

# IDX type code -> big-endian numpy dtype
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in _IDX_TYPES.items()}  # "u1" -> 0x08, ...
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The file's content, gunzipped when it starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    return g.read(), True
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError("read_idx: %s: corrupt or truncated gzip data (%s)" % (path, exc)) from None
        return f.read(), False


def read_idx(path):
    """Read an IDX file (the MNIST format) into a numpy array in native byte order.

    The file may be plain or gzip-compressed; gzip is detected by its magic bytes ``1f 8b``, not by the name.
    Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then ``ndim`` big-endian uint32
    sizes, then the data, big-endian, C order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64.

    Returns an array of shape ``sizes`` and the matching dtype (e.g. uint8 ``(60000, 28, 28)`` for MNIST
    training images), writeable and owning its data.

    Raises ``ValueError`` naming the file for: a bad magic number, an unknown type code, zero dimensions, a
    file shorter than its header, and a data length that differs from what the header says (truncated or
    trailing data; the message gives the expected and actual byte counts). ``FileNotFoundError``/``OSError``
    from opening the file pass through.
    """
    path = os.fspath(path)
    data, compressed = _read_bytes(path)
    what = "%s (gunzipped)" % path if compressed else path
    if len(data) < 4:
        raise ValueError("read_idx: %s: %d bytes is too short for an IDX header (4 bytes of magic number)"
                         % (what, len(data)))
    z0, z1, code, ndim = data[0], data[1], data[2], data[3]
    if z0 != 0 or z1 != 0:
        raise ValueError("read_idx: %s: bad magic number %s; an IDX file starts with 00 00 <type> <ndim>"
                         % (what, data[:4].hex(" ")))
    if code not in _IDX_TYPES:
        raise ValueError("read_idx: %s: unknown IDX type code 0x%02X; expected one of %s" % (
            what, code, ", ".join("0x%02X (%s)" % (c, t.name) for c, t in sorted(_IDX_TYPES.items()))))
    if ndim == 0:
        raise ValueError("read_idx: %s: header declares 0 dimensions" % what)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("read_idx: %s: truncated header: %d dimensions need %d header bytes, file has %d"
                         % (what, ndim, header, len(data)))
    dims = struct.unpack(">%dI" % ndim, data[4:header])
    dtype = _IDX_TYPES[code]
    count = 1
    for d in dims:
        count *= d
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "trailing data after the array"
        raise ValueError("read_idx: %s: %s: header says %s %s needs %d bytes, file has %d bytes"
                         % (what, kind, "x".join(map(str, dims)), dtype.name, expected, len(data)))
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _atomic_write(path, write):
    """Atomic write (temp file, flush, fsync, rename): the one in fastnn.io."""
    from ..io import atomic_write

    atomic_write(path, write)


def write_idx(path, array, compress=None):
    """Write ``array`` to ``path`` as an IDX file, atomically (temp file in the same folder, flush, fsync,
    rename).

    ``array``: any shape with 1 to 255 dimensions, each < 2**32, of dtype uint8, int8, int16, int32, float32
    or float64 (anything else raises ``ValueError``; convert first). ``compress``: ``None`` (default) gzips
    when ``path`` ends with ``.gz``; ``True``/``False`` force it. The gzip header carries no name and
    mtime 0, so the same array always gives the same bytes.
    """
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.str[1:]) if arr.dtype.kind in "uif" else None
    if code is None:
        raise ValueError("write_idx: dtype %s has no IDX type code; use one of uint8, int8, int16, int32, "
                         "float32, float64" % arr.dtype)
    if not 1 <= arr.ndim <= 255:
        raise ValueError("write_idx: IDX needs 1 to 255 dimensions, got shape %r" % (arr.shape,))
    if any(d >= 2 ** 32 for d in arr.shape):
        raise ValueError("write_idx: dimension too large for IDX (max 2**32-1): shape %r" % (arr.shape,))
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">%dI" % arr.ndim, *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes()

    def write(f):
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as g:
                g.write(header)
                g.write(payload)
        else:
            f.write(header)
            f.write(payload)

    _atomic_write(path, write)
