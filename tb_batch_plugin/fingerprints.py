"""Sample fingerprints on the host, with numpy alone: finding a recorded sample's row in your data
should not import TensorFlow (seconds and a screen of logs) just to hash numpy rows.

A sample's fingerprint is ``tf.fingerprint`` (farmhash64, ``farmhashna::Hash64``) of the bytes of
its input row as the model received it; the graph computes it for every recorded sample
(``record/samples.py``). ``row_fingerprints`` here is the same function in numpy, equal bit for
bit, vectorised over the rows of an array (they all have the same length). For a model with
several inputs (a list or dict), each input's row is fingerprinted and the fingerprints of all
inputs (in ``tf.nest.flatten`` order: dicts by sorted key) are fingerprinted together. Keras
hands the model float arrays as ``floatx`` (float32) and keeps other dtypes; ``fingerprint``
converts arrays the same way, and takes the elements of a ``tf.data.Dataset`` as they are.

    fps = tbb.fingerprint(x_train)          # one per row
    rows = tbb.find(x_train, recorded_fps)  # row index of each recorded sample (-1: not in x)
"""

import json
import os
import sys
from collections.abc import Mapping

import numpy as np

_MASK = (1 << 64) - 1
K0, K1, K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F
_BLOCK = 8192  # rows hashed together in the 64-byte loop: the state vectors stay in cache


def fingerprint(x):
    """The fingerprints (uint64, one per row) of inputs as Keras would hand them to the model:
    a numpy array (or array-like, a JAX array, a torch tensor), a list or dict of them, or a
    batched ``tf.data.Dataset`` yielding ``x`` or ``(x, y[, sample_weight])`` (rows in the order
    of one pass over it)."""
    if _is_dataset(x):
        parts = [row_fingerprints(_checked([np.asarray(t) for t in _flatten(_inputs_of(e))], e, "O"))
                 for e in x]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    return row_fingerprints(_checked([_as_keras_hands_it(a) for a in _flatten(x)], x))


def find(x, fingerprints):
    """The row of ``x`` (as ``fingerprint(x)`` numbers them) of each of ``fingerprints``: a uint64 or
    int64 array, Python ints of any 64-bit value, 16-digit hexadecimal strings as the tab shows
    them, or a list mixing them; -1 where none matches. With duplicate rows in ``x``, the first."""
    wanted = np.array(_fingerprint_values(fingerprints), dtype=np.uint64)
    fps = fingerprint(x)
    if not len(fps):
        return np.full(len(wanted), -1, np.int64)
    order = np.argsort(fps, kind="stable")  # equal fingerprints: the first row first
    ordered = fps[order]
    at = np.minimum(np.searchsorted(ordered, wanted), len(fps) - 1)
    return np.where(ordered[at] == wanted, order[at], -1).astype(np.int64)


def hex_fingerprint(fp):
    """The 16-digit hexadecimal form of a fingerprint (as the tab shows it)."""
    return "%016x" % (int(fp) % (1 << 64))


def row_fingerprints(arrays):
    """``tf.fingerprint`` of each row (first dimension) of an input structure, as uint64: of the
    one array's rows, or of the 8-byte fingerprints of all arrays' rows side by side."""
    parts = [_array_rows(np.asarray(a)) for a in _flatten(arrays)]
    if len({len(p) for p in parts}) > 1:
        raise ValueError("fingerprint: the inputs have different numbers of rows: %s"
                         % [len(p) for p in parts])
    if len(parts) == 1:
        return parts[0]
    return hash_rows(_le_bytes(np.stack(parts, axis=1)))


def hash_rows(b):
    """farmhash64 (``farmhashna::Hash64``) of each row of a (rows, length) uint8 matrix."""
    b = np.ascontiguousarray(b, dtype=np.uint8)
    n, length = b.shape
    if n == 0:
        return np.zeros(0, np.uint64)
    if length <= 16:
        return _hash_0_to_16(b, length)
    mul = (K2 + 2 * length) & _MASK
    if length <= 32:
        return _hash_17_to_32(_fetch(b, 0) * K1, _fetch(b, 8), _fetch(b, length - 8) * mul,
                              _fetch(b, length - 16) * K2, mul)
    if length <= 64:
        return _hash_33_to_64(b, length, mul)
    return np.concatenate([_hash_long(b[i:i + _BLOCK], length) for i in range(0, n, _BLOCK)])


def _rot(v, r):
    return (v >> r) | (v << (64 - r))


def _shift_mix(v):
    return v ^ (v >> 47)


def _hash16(u, v, mul):
    a = _shift_mix((u ^ v) * mul)
    return _shift_mix((v ^ a) * mul) * mul


def _mix_17_to_32(a, b, c, d):
    """The first argument of HashLen17to32's HashLen16 (also HashLen33to64's ``y``)."""
    return _rot(a + b, 43) + _rot(c, 30) + d


def _fetch(b, offset, dtype="<u8"):
    """The little-endian word at ``offset`` of every row, as uint64."""
    n, length = b.shape
    return np.ndarray((n,), dtype, buffer=b, offset=offset, strides=(length,)).astype(np.uint64)


def _hash_0_to_16(b, length):
    n = b.shape[0]
    mul = (K2 + 2 * length) & _MASK
    if length >= 8:
        a = _fetch(b, 0) + K2
        last = _fetch(b, length - 8)
        return _hash16(_rot(last, 37) * mul + a, (_rot(a, 25) + last) * mul, mul)
    if length >= 4:
        return _hash16(length + (_fetch(b, 0, "<u4") << 3), _fetch(b, length - 4, "<u4"), mul)
    if length > 0:
        first, middle, last = (b[:, i].astype(np.uint64) for i in (0, length >> 1, length - 1))
        y, z = first + (middle << 8), length + (last << 2)
        return _shift_mix((y * K2) ^ (z * K0)) * K2
    return np.full(n, K2, np.uint64)


def _hash_17_to_32(a, b, c, d, mul):
    """HashLen17to32 of its four words (``a``, ``c`` and ``d`` multiplied already)."""
    return _hash16(_mix_17_to_32(a, b, c, d), a + _rot(b + K2, 18) + c, mul)


def _hash_33_to_64(b, length, mul):
    a, bb = _fetch(b, 0) * K2, _fetch(b, 8)
    c, d = _fetch(b, length - 8) * mul, _fetch(b, length - 16) * K2
    y, z = _mix_17_to_32(a, bb, c, d), _hash_17_to_32(a, bb, c, d, mul)
    e, f = _fetch(b, 16) * mul, _fetch(b, 24)
    g, h = (y + _fetch(b, length - 32)) * mul, (z + _fetch(b, length - 24)) * mul
    return _hash16(_mix_17_to_32(e, f, g, h), e + _rot(f + a, 18) + g, mul)


def _weak32(s, offset, a, b):
    """WeakHashLen32WithSeeds of the four words ``s[offset:offset + 4]`` and seeds a, b."""
    a = a + s[offset]
    b = _rot(b + a + s[offset + 3], 21)
    c = a
    a = a + s[offset + 1] + s[offset + 2]
    return a + s[offset + 3], b + _rot(a, 44) + c


def _words(b, offset):
    """(8, rows) the eight little-endian words at ``offset`` of every row."""
    n, length = b.shape
    return np.ndarray((n, 8), "<u8", buffer=b, offset=offset, strides=(length, 8)).T.astype(np.uint64)


def _hash_long(b, length):
    """Hash64's loop over 64-byte chunks, for rows longer than 64 bytes."""
    n = b.shape[0]
    y0 = (81 * K1 + 113) & _MASK
    x = _fetch(b, 0) + (81 * K2 & _MASK)
    y = np.full(n, y0, np.uint64)
    z = np.full(n, (_shift_mix((y0 * K2 + 113) & _MASK) * K2) & _MASK, np.uint64)
    v1, v2, w1, w2 = (np.zeros(n, np.uint64) for _ in range(4))
    for chunk in range((length - 1) // 64):
        s = _words(b, 64 * chunk)
        x = _rot(x + y + v1 + s[1], 37) * K1
        y = _rot(y + v2 + s[6], 42) * K1
        x ^= w2
        y += v1 + s[5]
        z = _rot(z + w1, 33) * K1
        v1, v2 = _weak32(s, 0, v2 * K1, x + w1)
        w1, w2 = _weak32(s, 4, z + w2, y + s[2])
        x, z = z, x
    mul = K1 + ((z & 0xFF) << 1)
    s = _words(b, length - 64)
    w1 = w1 + ((length - 1) & 63)
    v1 = v1 + w1
    w1 = w1 + v1
    x = _rot(x + y + v1 + s[1], 37) * mul
    y = _rot(y + v2 + s[6], 42) * mul
    x ^= w2 * 9
    y += v1 * 9 + s[5]
    z = _rot(z + w1, 33) * mul
    v1, v2 = _weak32(s, 0, v2 * mul, x + w1)
    w1, w2 = _weak32(s, 4, z + w2, y + s[2])
    x, z = z, x
    return _hash16(_hash16(v1, w1, mul) + _shift_mix(y) * K0 + z, _hash16(v2, w2, mul) + x, mul)


def _array_rows(a):
    """``tf.fingerprint`` of the rows of one array: of their raw little-endian bytes, or for
    strings of each string's bytes (one per row) or of the 8-byte fingerprints of its strings."""
    n = a.shape[0]
    if a.dtype.kind in "SUO":
        flat = a.reshape(n, a.size // n if n else 0)
        fps = _string_fingerprints(flat.ravel().tolist())
        return fps if flat.shape[1] == 1 else hash_rows(_le_bytes(fps.reshape(flat.shape)))
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return hash_rows(a.reshape(n, a.size // n if n else 0).view(np.uint8))


def _string_fingerprints(items):
    """farmhash64 of each string (str as UTF-8), hashing the strings of one length together."""
    items = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in items]
    lengths = np.fromiter(map(len, items), np.int64, len(items))
    out = np.zeros(len(items), np.uint64)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        joined = np.frombuffer(b"".join(items[i] for i in rows), np.uint8)
        out[rows] = hash_rows(joined.reshape(len(rows), int(length)))
    return out


def _le_bytes(fps):
    """(rows, 8k) uint8: the little-endian bytes of (rows, k) fingerprints, as ``tf.fingerprint``
    writes them."""
    fps = np.ascontiguousarray(fps, dtype="<u8")
    return fps.view(np.uint8).reshape(fps.shape[0], -1)


def _flatten(x):
    """The leaves of an input structure in ``tf.nest.flatten`` order (dicts by sorted key)."""
    if isinstance(x, Mapping):
        return [leaf for key in sorted(x) for leaf in _flatten(x[key])]
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flatten(item)]
    return [x]


def _checked(arrays, x, also=""):
    for a in arrays:
        if a.dtype.kind not in "biufcSU" + also or a.ndim == 0:
            raise TypeError("fingerprint: x must be inputs as the model gets them (a numpy array with "
                            "one row per sample, a list or dict of them, or a batched "
                            "tf.data.Dataset); got %s" % (type(x).__name__ if a.ndim else "a scalar"))
    return arrays


def _is_dataset(x):
    """A ``tf.data.Dataset``, told without importing TensorFlow (one exists only if it is)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and type(x).__module__.startswith("tensorflow") and isinstance(x, tf.data.Dataset)


def _inputs_of(element):
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element[0]
    return element


def _as_keras_hands_it(a):
    if type(a).__module__.startswith("torch"):
        a = a.detach().cpu()
        a = (a.float() if str(a.dtype) == "torch.bfloat16" else a).numpy()
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(_floatx(), copy=False)
    return a


def _floatx():
    """Keras' ``floatx``: from Keras once imported (``set_floatx``), else from the keras.json that
    Keras would read at import (float32 without one), so that importing Keras changes nothing."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.floatx()
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(os.path.expanduser(home), "keras.json")) as f:
            return str(json.load(f).get("floatx", "float32"))
    except (OSError, ValueError, AttributeError):
        return "float32"


def _fingerprint_values(fingerprints):
    """The given fingerprints as Python ints in [0, 2**64), one by one: never through a numpy
    array of Python ints, which turns a list mixing values below and above 2**63 into float64."""
    if isinstance(fingerprints, (str, bytes, int, np.integer)):
        fingerprints = [fingerprints]
    if isinstance(fingerprints, np.ndarray):
        if fingerprints.dtype.kind not in "iuUSO":
            raise TypeError("find: fingerprints as %s cannot hold 64-bit values exactly; pass uint64 "
                            "or int64 values, Python ints or hexadecimal strings" % fingerprints.dtype)
        fingerprints = fingerprints.ravel().tolist()
    out = []
    for f in fingerprints:
        if isinstance(f, bytes):
            f = f.decode("ascii", "replace")
        if isinstance(f, str):
            try:
                value = int(f, 16)
            except ValueError:
                raise ValueError("find: %r is not a fingerprint (16 hexadecimal digits)" % (f,)) from None
        elif isinstance(f, (int, np.integer)) and not isinstance(f, (bool, np.bool_)):
            value = int(f)
        else:
            raise TypeError("find: %r is not a fingerprint; pass uint64 or int64 values, Python ints "
                            "or hexadecimal strings" % (f,))
        if not -(1 << 63) <= value < (1 << 64):
            raise ValueError("find: %r is not a 64-bit fingerprint" % (f,))
        out.append(value % (1 << 64))  # an int64 view of one: the same 64 bits
    return out
