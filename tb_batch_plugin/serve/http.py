"""Response bodies and errors of the routes: JSON by orjson straight from numpy arrays (no NaN in
JSON: non-finite numbers as strings), the binary `distribution` payload, gzip for remote clients,
a cache of encoded bodies, and the JSON error responses. Why each is so: docs/backend.md
(Serving); the formats: docs/http_api.md.
"""

import collections
import gzip
import logging
import math
import re
import struct
import threading

import numpy as np
import orjson
from werkzeug import wrappers

from tensorboard import errors
from tensorboard.backend import http_util

from tb_batch_plugin.read import UnknownKey

logger = logging.getLogger(__name__)

CACHE_BYTES = 16 << 20  # encoded responses kept for repeated requests
_GZIP_RE = re.compile(r"(?:^|,|\s)(?:(?:x-)?gzip|\*)(?!;q=0)(?:\s|,|$)")  # as TensorBoard's http_util
_LOOPBACK = ("127.", "::1", "::ffff:127.")


# ---------------------------------------------------------------------------------------------
# Errors: TensorBoard's types, rendered as the JSON docs/http_api.md specifies (TensorBoard
# itself would answer text/plain "Invalid argument: ...", without the parameter's name).


class InvalidParameter(errors.InvalidArgumentError):
    """A missing, malformed or out-of-range parameter: 400 {"error": message, "parameter"}."""

    def __init__(self, parameter, message):
        super().__init__(message)
        self.parameter, self.message = parameter, message


class NotFound(errors.NotFoundError):
    """An unknown run, tag or file: 404 {"error": message}."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class NotIndexedYet(errors.PublicError):
    """A run the logdir has (or, before its first listing is done, may have) that the index has
    not read yet: 202 {"error": message, "run", "indexing": true} with Retry-After: 1 (ask again
    soon; a 404 would say it does not exist)."""

    http_code = 202

    def __init__(self, run):
        super().__init__("run %r is being indexed" % (run,))
        self.run, self.message = run, "run %r is being indexed" % (run,)


def route(handler):
    """Wraps a handler(self, request) into a WSGI app: InvalidArgumentError -> 400 naming the
    parameter, NotFoundError or an unknown run/tag (read.UnknownKey) -> 404, NotIndexedYet -> 202,
    anything else -> a logged 500 without internals; never a stack trace."""

    @wrappers.Request.application
    def app(self, request):
        try:
            return handler(self, request)
        except NotIndexedYet as e:
            resp = json_response(request, {"error": e.message, "run": e.run, "indexing": True}, code=e.http_code)
            resp.headers["Retry-After"] = "1"
            return resp
        except (errors.InvalidArgumentError, errors.NotFoundError) as e:
            return error(request, e.http_code, getattr(e, "message", str(e)), getattr(e, "parameter", None))
        except UnknownKey as e:
            msg = e.args[0] if e.args and isinstance(e.args[0], str) else "not found"
            return error(request, 404, msg)
        except Exception:  # a bug: log it, answer without internals
            logger.exception("tb_batch: error serving %s", request.path)
            return error(request, 500, "internal error")

    app.__name__ = handler.__name__
    return app


def error(request, code, message, parameter=None):
    obj = {"error": message}
    if parameter is not None:
        obj["parameter"] = parameter
    return json_response(request, obj, code=code)


# ---------------------------------------------------------------------------------------------
# JSON (JSON has no NaN/Infinity: send them as strings)


def nonfinite_name(x):
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def floats(arr):
    """List of floats with non-finite values as "NaN" / "Infinity" / "-Infinity"."""
    a = np.asarray(arr, dtype=np.float64)
    out = a.tolist()
    bad = np.flatnonzero(~np.isfinite(a.ravel())) if a.size else ()
    if len(bad):
        if a.ndim == 1:
            for i in bad:
                out[i] = nonfinite_name(out[i])
        else:
            return [floats(row) for row in a]
    return out


def num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else nonfinite_name(x)


def nums(arr):
    """A float array for orjson: the array itself, as float64 (orjson then writes each value as
    Python's repr of the float64 would, e.g. a float32 value exactly), when every value is
    finite; else the list of `floats`."""
    a = np.asarray(arr)
    if a.dtype != np.float64:
        a = a.astype(np.float64)
    if a.size and not np.isfinite(a).all():
        return floats(a)
    return np.ascontiguousarray(a)


def ints(arr):
    return np.ascontiguousarray(arr, dtype=np.int64)


def dumps(obj):
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def binary(obj, arrays):
    """The `format=binary` encoding of a response: a little-endian uint32 n, n bytes of JSON
    (`obj`, plus "arrays": [{"name", "dtype" ("f8" or "f4"), "shape", "offset"}]), zeros up to
    a multiple of 8 bytes, then each array's raw little-endian C-order values from its offset
    (counted from there, each a multiple of 8): the tab reads them as typed arrays without
    parsing a number. `arrays`: [(name, array)] of float64 or float32."""
    meta, parts, offset = [], [], 0
    for name, a in arrays:
        a = np.ascontiguousarray(a, dtype=np.dtype(a.dtype.str[1:]).newbyteorder("<"))
        raw = a.tobytes()
        meta.append({"name": name, "dtype": a.dtype.str[1:], "shape": list(a.shape), "offset": offset})
        parts += [raw, bytes(-len(raw) % 8)]
        offset += len(raw) + (-len(raw) % 8)
    header = dumps(dict(obj, arrays=meta))
    head = struct.pack("<I", len(header)) + header
    return b"".join([head, bytes(-len(head) % 8)] + parts)


# ---------------------------------------------------------------------------------------------
# Bodies, gzip, the cache


class Body:
    """An encoded response (JSON unless told), and its gzip once a client asked for it."""

    __slots__ = ("raw", "gz", "content_type")

    def __init__(self, raw, content_type="application/json"):
        self.raw, self.gz, self.content_type = raw, None, content_type

    def gzipped(self):
        if self.gz is None:
            self.gz = gzip.compress(self.raw, compresslevel=1, mtime=0)
        return self.gz


def send(request, body, code=200):
    """The response for `body`, gzipped when the client accepts it (as TensorBoard's own
    responses are; level 1, once per cached body) unless the client is on this machine: over
    the loopback, compressing costs both ends CPU and saves nothing. (TensorBoard's
    http_util.Respond would gzip every JSON body again, at level 3: only a body already gzipped
    goes through it.)"""
    remote = not (request.remote_addr or "").startswith(_LOOPBACK)
    if remote and len(body.raw) > 1024 and _GZIP_RE.search(request.headers.get("Accept-Encoding", "")):
        return http_util.Respond(request, body.gzipped(), body.content_type, code=code,
                                 content_encoding="gzip")
    resp = wrappers.Response(body.raw, status=code, content_type=body.content_type)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Expires"] = "0"
    resp.headers["Cache-Control"] = "no-cache, must-revalidate"
    return resp


def json_response(request, obj, code=200):
    return send(request, Body(dumps(obj)), code)


class ResponseCache:
    """Encoded responses by the key they were computed from, least recently used out first,
    bounded in bytes. Keys name the content they derive from (a series' identity and length,
    a snapshot version), so an entry is never stale, only unused."""

    def __init__(self, max_bytes=CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(body):
        return len(body.raw) + (len(body.raw) // 3 if body.gz is None else len(body.gz))

    def get(self, key):
        if key is None:
            return None
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key, body):
        if key is None or self._size(body) > self.max_bytes // 4:
            return body
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            self._items[key] = body
            self._bytes += self._size(body)
            while self._bytes > self.max_bytes and self._items:
                _, b = self._items.popitem(last=False)
                self._bytes -= self._size(b)
        return body

    def clear(self):
        with self._lock:
            self._items.clear()
            self._bytes = 0
