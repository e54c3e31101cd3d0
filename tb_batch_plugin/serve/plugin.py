"""The ``tb_batch`` TensorBoard plugin: HTTP routes over the index (index.py) and the reductions
(reduce/). The API is specified in docs/http_api.md.

Data source: when TensorBoard has a log directory (``context.logdir``), the plugin reads the
event files itself (lossless). With ``--logdir_spec`` (no single logdir) it falls back to
TensorBoard's data provider with the largest downsample and reports "n of N" in responses.

Serving (TensorBoard answers each request in a thread, all sharing one GIL): a background
thread reloads the index and precomputes the heatmap pyramids; a request only reads the latest
published snapshot, so new bytes, a huge or hostile file never hold a request up. Responses are
encoded by orjson straight from numpy arrays, and the encoded bytes (and their gzip) are cached
by what they were computed from (run, series identity and length, range, width, bins).
"""

import collections
import functools
import gzip
import logging
import math
import mimetypes
import os
import re
import struct
import threading
import time
import weakref

import numpy as np
import orjson
from werkzeug import wrappers

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_batch_plugin import metadata as md
from tb_batch_plugin.reduce import aggregates
from tb_batch_plugin.reduce import pyramid as pm
from tb_batch_plugin.reduce import columns as rd
from tb_batch_plugin.reduce import spikes as sp
from tb_batch_plugin.read import (SOURCES, DistributionSeries, LogdirIndex, ScalarSeries, SeriesInfo,
                                  UnknownKey, release_freed_memory)

logger = logging.getLogger(__name__)

MAX_WIDTH = 20000
DEFAULT_BINS = 32
MAX_BINS = 256
DEFAULT_LIMIT = 100
DEFAULT_HARDEST = 50
MAX_HARDEST = 1000
MAX_LIMIT = 100000
RELOAD_MIN_INTERVAL_S = 1.0  # the background reload's period (also the provider source's)
FIRST_SCAN_WAIT_S = 10.0  # a request waits at most this long for the very first reload
TRIM_INTERVAL_S = 10.0  # give freed heap pages back to the OS at most this often
CACHE_BYTES = 16 << 20  # encoded responses kept for repeated requests
SAMPLED_DOWNSAMPLE = 10**9  # "everything the provider keeps"
STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{16}$")
_INT_RE = re.compile(r"^-?[0-9]{1,19}$")
_INT64 = (-(2**63), 2**63 - 1)
_GZIP_RE = re.compile(r"(?:^|,|\s)(?:(?:x-)?gzip|\*)(?!;q=0)(?:\s|,|$)")  # as TensorBoard's http_util

# Served as static/index.js when the frontend has not been built.
_MISSING_FRONTEND_JS = b"""export async function render() {
  const p = document.createElement('p');
  p.style.fontFamily = 'sans-serif';
  p.textContent = 'tb-batch: the frontend was not built (tb_batch_plugin/static is missing). '
    + 'Run `make demo` or `pip install -e .` with npm available.';
  document.body.appendChild(p);
}
"""


class BadRequest(Exception):
    def __init__(self, parameter, message):
        super().__init__(message)
        self.parameter = parameter


class NotFound(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# JSON helpers (JSON has no NaN/Infinity: send them as strings)


def _nonfinite_name(x):
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
                out[i] = _nonfinite_name(out[i])
        else:
            return [floats(row) for row in a]
    return out


def num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else _nonfinite_name(x)


def _nums(arr):
    """A float array for orjson: the array itself, as float64 (orjson then writes each value as
    Python's repr of the float64 would, e.g. a float32 value exactly), when every value is
    finite; else the list of `floats`."""
    a = np.asarray(arr)
    if a.dtype != np.float64:
        a = a.astype(np.float64)
    if a.size and not np.isfinite(a).all():
        return floats(a)
    return np.ascontiguousarray(a)


def _ints(arr):
    return np.ascontiguousarray(arr, dtype=np.int64)


def _dumps(obj):
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


# The arrays of a `distribution` response, in the order the binary format sends them.
_DISTRIBUTION_ARRAYS = ("steps", "step_ends", "min", "max", "mean", "quantiles", "heatmap_counts")


def _binary(obj, arrays):
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
    header = _dumps(dict(obj, arrays=meta))
    head = struct.pack("<I", len(header)) + header
    return b"".join([head, bytes(-len(head) % 8)] + parts)


class _Body:
    """An encoded response (JSON unless told), and its gzip once a client asked for it."""

    __slots__ = ("raw", "gz", "content_type")

    def __init__(self, raw, content_type="application/json"):
        self.raw, self.gz, self.content_type = raw, None, content_type

    def gzipped(self):
        if self.gz is None:
            self.gz = gzip.compress(self.raw, compresslevel=1, mtime=0)
        return self.gz


_LOOPBACK = ("127.", "::1", "::ffff:127.")


def _send(request, body, code=200):
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


def _json(request, obj, code=200):
    return _send(request, _Body(_dumps(obj)), code)


def _error(request, code, message, parameter=None):
    obj = {"error": message}
    if parameter is not None:
        obj["parameter"] = parameter
    return _json(request, obj, code=code)


class _ResponseCache:
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


def _tune_allocator():
    """glibc: allocations of 256 KiB and more get their own mappings, returned to the OS when
    freed (by default the threshold rises, up to 32 MiB, after big blocks are freed, and then
    every request's arrays come from per-thread heaps that keep the memory: in a server of 32
    threads that was 1.5 GB never given back). Smaller ones come from one heap for all
    threads (the GIL serialises their work anyway), which keeps up to 8 MiB free at its top
    instead of glibc's 128 KiB once its threshold is set: a request's small temporaries then
    reuse pages instead of faulting fresh ones in (a fresh page costs ~2 us; trimmed at
    128 KiB, a zoomed distribution spent ~12 ms of its ~40 in page faults). malloc_trim (the
    reload thread) gives back what the heap keeps. No-op elsewhere."""
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
        mallopt(-8, 1)  # M_ARENA_MAX
        mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD
        mallopt(-1, 8 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------------
# Parameter parsing


def _get(request, name, required=True):
    v = request.args.get(name)
    if v is None or v == "":
        if required:
            raise BadRequest(name, "missing parameter %r" % name)
        return None
    if len(v) > 4096:
        raise BadRequest(name, "parameter %r is too long" % name)
    return v


def _int(request, name, required=True, lo=_INT64[0], hi=_INT64[1], default=None):
    v = _get(request, name, required)
    if v is None:
        return default
    if not _INT_RE.match(v.strip()):
        raise BadRequest(name, "parameter %r must be an integer" % name)
    x = int(v.strip())
    if not lo <= x <= hi:
        raise BadRequest(name, "parameter %r must be between %d and %d" % (name, lo, hi))
    return x


_FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _float(request, name, lo, hi, default):
    """An optional finite decimal number in [lo, hi] (nan, inf and hex are 400)."""
    v = _get(request, name, required=False)
    if v is None:
        return default
    if not _FLOAT_RE.match(v.strip()):
        raise BadRequest(name, "parameter %r must be a number" % name)
    x = float(v.strip())
    if not lo <= x <= hi:
        raise BadRequest(name, "parameter %r must be between %g and %g" % (name, lo, hi))
    return x


def _range(request, first, last):
    start = _int(request, "start", required=False)
    end = _int(request, "end", required=False)
    if start is not None and end is not None and start > end:
        raise BadRequest("start", "start must be <= end")
    # A missing bound defaults to the data's first/last step, but never crosses the given one
    # (start=20000 on data ending at 9999 is the empty range [20000, 20000]).
    if start is None:
        start = first if end is None else min(first, end)
    if end is None:
        end = max(last, start)
    return start, end


# ---------------------------------------------------------------------------------------------
# Data sources


class _ProviderSource:
    """Fallback over TensorBoard's data provider (sampled by TensorBoard, not lossless; the
    provider does not list markers, so there are no fits or evaluations)."""

    def __init__(self, provider, ctx, eid):
        self._p, self._ctx, self._eid = provider, ctx, eid
        # (run, name, kind, source) -> (plugin name, tag, provenance, plugin data)
        self._meta = {}
        for plugin in (md.SCALARS_PLUGIN_NAME, md.PLUGIN_NAME):
            listing = provider.list_scalars(ctx, experiment_id=eid, plugin_name=plugin) or {}
            for run, tags in listing.items():
                for tag, ts in tags.items():
                    try:
                        if plugin == md.PLUGIN_NAME:  # version 1
                            pd = md.parse_plugin_data(ts.plugin_content)
                            provenance = md.PROVENANCE_EXACT
                        else:
                            pd = md.parse_scalars_content(ts.plugin_content)
                            provenance = pd.provenance if pd is not None else md.PROVENANCE_LOGGED
                    except ValueError:
                        continue
                    source = "tb_batch" if pd is not None else "scalars"
                    self._meta[(run, tag, "scalar", source)] = (plugin, tag, provenance, pd)
        listing = provider.list_tensors(ctx, experiment_id=eid, plugin_name=md.PLUGIN_NAME) or {}
        for run, tags in listing.items():
            for tag, ts in tags.items():
                try:
                    pd = md.parse_plugin_data(ts.plugin_content)
                except ValueError:
                    continue
                if pd.kind == md.KIND_DISTRIBUTION:
                    self._meta[(run, md.distribution_name(tag), "distribution", "tb_batch")] = (
                        md.PLUGIN_NAME, tag, md.PROVENANCE_LOGGED, pd)
        self._cache = {}
        self._runs = None

    def runs(self):
        if self._runs is None:
            runs = {key[0] for key in self._meta}
            try:
                runs.update(r.run_name for r in self._p.list_runs(self._ctx, experiment_id=self._eid))
            except Exception:
                pass
            self._runs = sorted(runs)
        return self._runs

    def _keys(self, run):
        if run not in self.runs():
            raise UnknownKey(run)
        keys = [k for k in self._meta if k[0] == run]
        return sorted(keys, key=lambda k: (k[1], k[2], SOURCES.index(k[3])))

    def tags(self, run):
        out = {}
        for _, name, kind, _ in self._keys(run):
            out.setdefault(name, kind)
        return out

    def series(self, run):
        out = []
        for key in self._keys(run):
            s = self._read(key)
            if len(s.steps):
                out.append(SeriesInfo(key[1], key[2], key[3], md.PROVENANCE_NAMES[self._meta[key][2]],
                                      len(s.steps), int(s.steps[0]), int(s.steps[-1])))
        return out

    def _key(self, run, name, kind, source):
        for src in (source,) if source is not None else SOURCES:
            if (run, name, kind, src) in self._meta:
                return (run, name, kind, src)
        raise UnknownKey(name)

    def _read(self, key):
        if key in self._cache:
            return self._cache[key]
        run, _, kind, _ = key
        plugin, tag, _, pd = self._meta[key]
        from tensorboard.data import provider as dp

        flt = dp.RunTagFilter(runs=[run], tags=[tag])
        if kind == "scalar":
            data = self._p.read_scalars(self._ctx, experiment_id=self._eid, plugin_name=plugin,
                                        downsample=SAMPLED_DOWNSAMPLE, run_tag_filter=flt)
            pts = sorted((d.step, d.wall_time, d.value) for d in data.get(run, {}).get(tag, []))
            steps = np.array([p[0] for p in pts], dtype=np.int64)
            series = ScalarSeries(steps, np.array([p[2] for p in pts], dtype=np.float64),
                                  np.array([p[1] for p in pts], dtype=np.float64))
        else:
            data = self._p.read_tensors(self._ctx, experiment_id=self._eid, plugin_name=plugin,
                                        downsample=SAMPLED_DOWNSAMPLE, run_tag_filter=flt)
            width = md.distribution_length(len(pd.quantile_probs), pd.num_bins)
            pts = sorted(((d.step, d.wall_time, np.asarray(d.numpy, dtype=np.float64).ravel())
                          for d in data.get(run, {}).get(tag, [])), key=lambda p: p[0])
            pts = [p for p in pts if p[2].size == width]
            steps = np.array([p[0] for p in pts], dtype=np.int64)
            mat = np.array([p[2] for p in pts], dtype=np.float64).reshape(len(pts), width)
            series = DistributionSeries(steps, np.array([p[1] for p in pts], dtype=np.float64), mat,
                                        list(pd.quantile_probs), pd.num_bins)
        if len(series.steps) > 1:  # one point per step, like the index
            keep = np.concatenate([series.steps[1:] != series.steps[:-1], [True]])
            if not keep.all():
                series = _subset(series, np.flatnonzero(keep))
        self._cache[key] = series
        return series

    def scalars(self, run, tag, source=None):
        return self._read(self._key(run, tag, "scalar", source))

    def distributions(self, run, tag):
        return self._read(self._key(run, tag, "distribution", "tb_batch"))

    def sampled(self, run, tag, kind, source=None):
        s = self._read(self._key(run, tag, kind, source))
        n = len(s.steps)
        return {"n": n, "N": int(s.steps[-1] - s.steps[0] + 1) if n else 0}

    @staticmethod
    def fits(run):
        return []

    @staticmethod
    def evaluations(run):
        return []

    @staticmethod
    def skipped(run):
        return {}

    @staticmethod
    def skipped_files(run):
        return []

    @staticmethod
    def samples(run):  # the provider does not list tb-batch's samples (no data class)
        raise UnknownKey("no samples recorded in run %r" % (run,))

    per_class = hardest = samples

    @staticmethod
    def per_class_outputs(run):
        return []

    @staticmethod
    def key(run, tag, kind, source=None):
        return None  # not cached: TensorBoard's provider says nothing about what changed

    corrupt_records = 0
    source = "sampled"
    loading = False
    version = None
    problems = ()


def _subset(series, idx):
    if isinstance(series, ScalarSeries):
        return ScalarSeries(series.steps[idx], series.values[idx], series.wall_times[idx])
    return DistributionSeries(series.steps[idx], series.wall_times[idx], series.data[idx],
                              series.quantile_probs, series.num_bins)


class _IndexSource:
    """One request's view of the index: an IndexSnapshot (every read of the request sees the
    same moment), plus what the routes ask of any source."""

    source = "index"

    def __init__(self, snapshot, loading):
        self._s = snapshot
        self.loading = loading

    def __getattr__(self, name):  # runs, series, scalars, skipped_files, version, ...
        return getattr(self._s, name)

    def fits(self, run):
        return self._s.markers(run, "fit").steps.tolist()

    def key(self, run, tag, kind, source=None):
        """What identifies the content of a series (for cache keys)."""
        return self._s.series_key(run, tag, kind, source)

    @staticmethod
    def sampled(run, tag, kind, source=None):
        return None


def _has_samples(src, run):
    try:
        return len(src.samples(run)) > 0
    except UnknownKey:
        return False


def _role(run, runs):
    """("train" | "validation" | None, the train run of a validation run or None), from the
    directory names BatchStats and keras.callbacks.TensorBoard write: <log_dir>/train and
    <log_dir>/validation."""
    parent, _, leaf = run.rpartition("/")
    if leaf not in ("train", "validation"):
        return None, None
    if leaf == "train":
        return "train", None
    train = parent + "/train" if parent else "train"
    return "validation", train if train in runs else None


# ---------------------------------------------------------------------------------------------
# The plugin


def _route(fn):
    """Wraps a handler: BadRequest -> 400, unknown run/tag -> 404, never a stack trace."""

    @wrappers.Request.application
    def app(self, request):
        try:
            return fn(self, request)
        except BadRequest as e:
            return _error(request, 400, str(e), e.parameter)
        except (UnknownKey, NotFound) as e:
            msg = e.args[0] if e.args and isinstance(e.args[0], str) else "not found"
            return _error(request, 404, msg)
        except Exception:  # a bug: log it, answer without internals
            logger.exception("tb_batch: error serving %s", request.path)
            return _error(request, 500, "internal error")

    app.__name__ = fn.__name__
    return app


def _reload_forever(plugin_ref, index):
    """The background reload: reads new bytes and precomputes heatmap pyramids every
    RELOAD_MIN_INTERVAL_S, off the request path. Ends when the plugin is gone."""
    last_trim = time.monotonic()
    while True:
        plugin = plugin_ref()
        if plugin is None:
            return
        try:
            index.reload()
            plugin._scanned.set()
            plugin._precompute(index.snapshot())
            if time.monotonic() - last_trim > TRIM_INTERVAL_S:
                pm.SCRATCH.drop_idle(TRIM_INTERVAL_S)  # heatmap buffers no request took lately
                release_freed_memory()  # what requests' arrays left in the heaps
                last_trim = time.monotonic()
        except Exception:
            logger.exception("tb_batch: reloading %s failed", index.logdir)
        finally:
            plugin._scanned.set()
            plugin._precomputed.set()
        del plugin
        time.sleep(RELOAD_MIN_INTERVAL_S)


class BatchesPlugin(base_plugin.TBPlugin):
    plugin_name = md.PLUGIN_NAME

    def __init__(self, context):
        self._context = context
        self._provider = getattr(context, "data_provider", None)
        logdir = getattr(context, "logdir", None) or ""
        self._index = LogdirIndex(logdir) if logdir else None
        self._scanned = threading.Event()  # the first reload is done
        self._precomputed = threading.Event()  # ... and the heatmap pyramids of what it read
        self._derived = {}  # (run, tag) -> (pyramid.HistogramPyramid, pyramid.ColumnAggregates)
        self._cache = _ResponseCache()
        self._spike_cache = {}
        self._provider_sources = {}  # experiment id -> (monotonic time made, _ProviderSource)
        self._static = self._static_table()
        if self._index is not None:
            _tune_allocator()
            threading.Thread(target=_reload_forever, args=(weakref.ref(self), self._index),
                             name="tb_batch-reload", daemon=True).start()

    # -- TensorBoard hooks ---------------------------------------------------------------------

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="Batches",
                                            disable_reload=False)

    def is_active(self):
        try:
            src = self._source(None)
            return any(src.tags(r) for r in src.runs())
        except Exception:
            return False

    def get_plugin_apps(self):
        return {
            "/runs": self._serve_runs,
            "/series": self._serve_series,
            "/distribution": self._serve_distribution,
            "/step": self._serve_step,
            "/anomalies": self._serve_anomalies,
            "/export": self._serve_export,
            "/samples": self._serve_samples,
            "/hardest": self._serve_hardest,
            "/per_class": self._serve_per_class,
            "/static/*": self._serve_static,
        }

    # -- sources -------------------------------------------------------------------------------

    def _precompute(self, snap):
        """Extends the heatmap pyramid and the running sums of every distribution series with
        its new steps (called by the reload thread after each reload); drops those of series
        that are gone."""
        derived = {}
        for run in snap.runs():
            for info in snap.series(run):
                if info.kind != "distribution":
                    continue
                uid, generation, _ = snap.series_key(run, info.tag, "distribution")
                p, s = self._derived.get((run, info.tag)) or (pm.HistogramPyramid(), aggregates.ColumnAggregates())
                d = snap.distributions(run, info.tag)
                s.update((uid, generation), d.data, d.quantile_probs)
                p.update((uid, generation), *rd.distribution_columns(d.data, len(d.quantile_probs)))
                derived[(run, info.tag)] = (p, s)
        self._derived = derived

    def _source(self, request):
        if self._index is not None:
            self._scanned.wait(FIRST_SCAN_WAIT_S)
            return _IndexSource(self._index.snapshot(), not self._precomputed.is_set())
        if self._provider is None:
            raise NotFound("no data source")
        # One source per experiment, re-listed at most once per RELOAD_MIN_INTERVAL_S (its
        # cache of points would otherwise be rebuilt on every request).
        environ = request.environ if request is not None else {}
        eid = plugin_util.experiment_id(environ)
        made, src = self._provider_sources.get(eid, (None, None))
        if made is None or time.monotonic() - made >= RELOAD_MIN_INTERVAL_S:
            src = _ProviderSource(self._provider, plugin_util.context(environ), eid)
            self._provider_sources[eid] = (time.monotonic(), src)
        return src


    @staticmethod
    def _run(request, src):
        run = _get(request, "run")
        if run not in src.runs():
            raise NotFound("unknown run %r" % run)
        return run

    @staticmethod
    def _tag(request, src, run, kind):
        """(tag, source, kind) of the series a request names with ``tag`` and, where two writers
        wrote the tag, ``source``; ``kind`` None accepts either kind."""
        tag = _get(request, "tag")
        source = _get(request, "source", required=False)
        if source is not None and source not in SOURCES:
            raise BadRequest("source", "source must be one of %s" % ", ".join(SOURCES))
        matches = [i for i in src.series(run) if i.tag == tag and (source is None or i.source == source)]
        if not matches:
            raise NotFound("unknown tag %r in run %r" % (tag, run))
        if kind is not None:
            of_kind = [i for i in matches if i.kind == kind]
            if not of_kind:
                raise NotFound("tag %r in run %r is a %s, not a %s" % (tag, run, matches[0].kind, kind))
            matches = of_kind
        return tag, matches[0].source, matches[0].kind

    def _ranged(self, request, kind):
        """Common part of series/distribution: the series and the index range [a, b) of the
        requested inclusive step range."""
        src = self._source(request)
        run = self._run(request, src)
        tag, source, _ = self._tag(request, src, run, kind)
        width = _int(request, "width", lo=1, hi=MAX_WIDTH)
        s = src.scalars(run, tag, source) if kind == "scalar" else src.distributions(run, tag)
        if not len(s.steps):
            raise NotFound("no points for tag %r in run %r" % (tag, run))
        start, end = _range(request, int(s.steps[0]), int(s.steps[-1]))
        a = int(np.searchsorted(s.steps, start, side="left"))
        b = int(np.searchsorted(s.steps, end, side="right"))
        return src, run, tag, source, width, s, start, end, a, b

    # -- routes --------------------------------------------------------------------------------

    @_route
    def _serve_runs(self, request):
        src = self._source(request)
        key = ("runs", src.version, src.loading) if src.source == "index" else None
        body = self._cache.get(key)
        if body is None:
            names = src.runs()
            runs = []
            for run in names:
                tags = []
                for i in src.series(run):
                    t = {"tag": i.tag, "kind": i.kind, "source": i.source, "provenance": i.provenance,
                         "count": i.count, "first_step": i.first_step, "last_step": i.last_step}
                    if src.source == "sampled":
                        t["sampled"] = src.sampled(run, i.tag, i.kind, i.source)
                    tags.append(t)
                role, train_run = _role(run, names)
                runs.append({"run": run, "tags": tags, "source": src.source, "role": role,
                             "train_run": train_run, "fits": src.fits(run),
                             "evaluations": src.evaluations(run), "skipped": src.skipped(run),
                             "skipped_files": src.skipped_files(run),
                             "samples": _has_samples(src, run),
                             "per_class": src.per_class_outputs(run)})
            body = self._cache.put(key, _Body(_dumps({
                "runs": runs, "corrupt_records": src.corrupt_records, "loading": src.loading,
                "problems": src.problems})))
        return _send(request, body)

    @_route
    def _serve_series(self, request):
        src, run, tag, source, width, s, start, end, a, b = self._ranged(request, "scalar")
        key = ("series", run, tag, source, src.key(run, tag, "scalar", source), start, end,
               width) if src.source == "index" else None
        body = self._cache.get(key)
        if body is None:
            steps, values, walls = s.steps[a:b], s.values[a:b], s.wall_times[a:b]
            count = int(steps.size)
            if count > 4 * width:
                idx = rd.m4(steps, values, start, end, width)
                steps, values, walls = steps[idx], values[idx], walls[idx]
                method = "m4"
            else:
                method = "raw"
            body = self._cache.put(key, _Body(_dumps({
                "run": run, "tag": tag, "start": start, "end": end, "count": count,
                "reduced": method != "raw", "method": method,
                "steps": _ints(steps), "values": _nums(values), "wall_times": _nums(walls),
                "source": source, "sampled": src.sampled(run, tag, "scalar", source),
            })))
        return _send(request, body)

    @_route
    def _serve_distribution(self, request):
        src, run, tag, source, width, d, start, end, a, b = self._ranged(request, "distribution")
        bins = _int(request, "bins", required=False, lo=1, hi=MAX_BINS, default=DEFAULT_BINS)
        fmt = _get(request, "format", required=False) or "json"
        if fmt not in ("json", "binary"):
            raise BadRequest("format", "format must be 'json' or 'binary'")
        ident = src.key(run, tag, "distribution") if src.source == "index" else None
        key = ("distribution", run, tag, ident, start, end, width, bins, fmt) if ident else None
        body = self._cache.get(key)
        if body is None:
            r = self._distribution(src, run, tag, width, d, start, end, a, b, bins, ident)
            columns = {name: r.pop(name) for name in _DISTRIBUTION_ARRAYS}
            r["heatmap"] = {"edges": _nums(r.pop("heatmap_edges"))}
            if fmt == "binary":  # steps as float64, as JavaScript numbers are
                body = _Body(_binary(r, [(name, columns[name].astype(np.float64) if name in ("steps", "step_ends")
                                          else columns[name]) for name in _DISTRIBUTION_ARRAYS]),
                             "application/octet-stream")
            else:
                r.update({name: _ints(columns[name]) for name in ("steps", "step_ends")})
                r.update({name: _nums(columns[name]) for name in ("min", "max", "mean", "quantiles")})
                r["heatmap"]["counts"] = columns["heatmap_counts"]
                body = _Body(_dumps(r))
            body = self._cache.put(key, body)
        return _send(request, body)

    def _distribution(self, src, run, tag, width, d, start, end, a, b, bins, ident):
        steps = d.steps[a:b]
        data = d.data[a:b]  # column-major from the index: each field of the range is contiguous
        n = int(steps.size)
        qp = d.quantile_probs
        Q = len(qp)
        h0 = md.HEADER_LENGTH
        quant = data[:, h0:h0 + Q]
        hist = data[:, h0 + Q:]
        vmin, vmax, mean = data[:, md.MIN], data[:, md.MAX], data[:, md.MEAN]
        derived = self._derived.get((run, tag)) if ident is not None else None
        agg = derived[1] if derived is not None and derived[1].covers(ident[:2], b) else None
        if n > width:
            if agg is not None:  # columns from precomputed aggregates: O(columns), not O(steps)
                fc = None
                aggregates = functools.partial(self._column_aggregates, agg, a, d.data, Q)
            else:
                fc = data[:, md.COUNT] - data[:, md.NAN_COUNT] - data[:, md.POSINF_COUNT] - data[:, md.NEGINF_COUNT]
                aggregates = None
            r = rd.bands(steps, quant, qp, vmin, vmax, mean, fc, start, end, width, aggregates, origin=a)
            seg = r["segments"]
            out_steps, step_ends = r["steps"], r["step_ends"]
            omin, omax, omean, oq = r["min"], r["max"], r["mean"], r["quantiles"]
            method = "bands"
        else:
            seg = np.arange(n)
            out_steps = step_ends = steps
            omin, omax, omean, oq = vmin, vmax, mean, quant.T
            method = "raw"
        counts = None
        if n and method == "bands" and derived is not None:
            edges = rd.heatmap_edges(omin, omax, bins)  # the columns' extremes: the range's
            all_min, all_max, all_hist = rd.distribution_columns(d.data, Q)
            mass = functools.partial(agg.between, name="mass") if agg is not None else None
            counts = derived[0].heatmap(ident[:2], a, b, a + seg, edges,
                                        lambda idx: (all_min[idx], all_max[idx], all_hist[idx]), mass)
        if counts is None:
            edges, counts = rd.heatmap(vmin, vmax, hist, seg, bins) if n else (
                np.full(bins + 1, np.nan), np.zeros((0, bins)))
        return {
            "run": run, "tag": tag, "start": start, "end": end, "count": n,
            "reduced": method != "raw", "method": method,
            "quantile_probs": qp.tolist(),
            "steps": out_steps, "step_ends": step_ends,
            "min": np.asarray(omin, np.float64), "max": np.asarray(omax, np.float64),
            "mean": np.asarray(omean, np.float64), "quantiles": np.asarray(oq, np.float64),
            # float32: a count is an estimate of where mass lies (spread within bins)
            "heatmap_edges": edges, "heatmap_counts": np.ascontiguousarray(counts, dtype=np.float32),
            "sampled": src.sampled(run, tag, "distribution"),
        }

    @staticmethod
    def _column_aggregates(agg, a, data, Q, seg, seg_end):
        """rd.bands' column reducer over pyramid.ColumnAggregates, for steps [a + seg, a +
        seg_end) of the whole series `data`."""
        starts, ends = a + seg, a + seg_end
        plan = agg.plan(starts, ends)
        fields = {"min": md.MIN, "max": md.MAX}
        fields.update({"q%d" % i: md.HEADER_LENGTH + i for i in range(Q)})

        def reduce(name, x, op):
            if op is None:
                return agg.between(starts, ends, name)
            column = fields[name]
            return agg.extreme(plan, data[:, column], column, op)

        return reduce

    @_route
    def _serve_step(self, request):
        src = self._source(request)
        run = self._run(request, src)
        step = _int(request, "step")
        scalars, dists, sources = {}, {}, {}
        wall = None
        prev_step = next_step = None
        for info in src.series(run):
            tag, kind = info.tag, info.kind
            if tag in (scalars if kind == "scalar" else dists):
                continue  # a tag two writers wrote: the one of the preferred source
            s = src.scalars(run, tag, info.source) if kind == "scalar" else src.distributions(run, tag)
            i = int(np.searchsorted(s.steps, step, side="left"))
            found = i < len(s.steps) and int(s.steps[i]) == step
            if i > 0:
                p = int(s.steps[i - 1])
                prev_step = p if prev_step is None else max(prev_step, p)
            j = i + 1 if found else i
            if j < len(s.steps):
                q = int(s.steps[j])
                next_step = q if next_step is None else min(next_step, q)
            if not found:
                continue
            if wall is None:
                wall = num(s.wall_times[i])
            if kind == "scalar":
                scalars[tag] = num(s.values[i])
                sources[tag] = info.source
            else:
                row = s.data[i]
                entry = {f: num(row[k]) for k, f in enumerate(md.HEADER_FIELDS)}
                for f in ("count", "nan_count", "posinf_count", "neginf_count"):
                    if isinstance(entry[f], float) and entry[f].is_integer():
                        entry[f] = int(entry[f])
                entry["quantile_probs"] = s.quantile_probs.tolist()
                entry["quantiles"] = floats(s.quantiles[i])
                entry["bin_edges"] = floats(s.step_bin_edges(i))
                entry["histogram"] = floats(s.histograms[i])
                dists[tag] = entry
        found = bool(scalars or dists)
        evaluation = None
        for e in src.evaluations(run):
            if e["first_step"] <= step:
                evaluation = e
        return _json(request, {
            "run": run, "step": step, "wall_time": wall, "found": found,
            "scalars": scalars, "scalar_sources": sources, "distributions": dists,
            "prev_step": prev_step, "next_step": next_step, "evaluation": evaluation,
        })

    @_route
    def _serve_samples(self, request):
        src = self._source(request)
        run = self._run(request, src)
        if _get(request, "step", required=False) is None and (
                _get(request, "fingerprint", required=False) is not None
                or _get(request, "id", required=False) is not None):
            return self._serve_sample_steps(request, src, run)
        step = _int(request, "step")
        series = src.samples(run)
        i = int(np.searchsorted(series.steps, step, side="left"))
        found = i < len(series.steps) and int(series.steps[i]) == step
        rows = []
        if found:
            recorded = series.rows(i)
            names = [f for f in series.fields if f not in ("fingerprint_hi", "fingerprint_lo")]
            for r, fingerprint in enumerate(recorded["fingerprint"]):
                row = {f: num(recorded[f][r]) for f in names}
                row["id"] = None if row["id"] == "NaN" else int(recorded["id"][r])
                row["fingerprint"] = fingerprint
                rows.append(row)
        shares = [r["share"] for r in rows if isinstance(r["share"], float)]
        return _json(request, {
            "run": run, "step": step, "found": found, "num_samples": series.num_samples,
            "fields": ["fingerprint"] + [f for f in series.fields if not f.startswith("fingerprint_")],
            "samples": rows, "share": num(sum(shares)) if shares else None,
        })

    def _serve_sample_steps(self, request, src, run):
        """samples?run&fingerprint= (or &id=)[&start&end]: the steps where one sample was among
        its batch's highest losses."""
        fingerprint = _get(request, "fingerprint", required=False)
        if fingerprint is not None and not _HEX64_RE.match(fingerprint):
            raise BadRequest("fingerprint", "fingerprint must be 16 hexadecimal digits")
        sample_id = _int(request, "id", required=False) if fingerprint is None else None
        series = src.samples(run)
        if not len(series.steps):
            raise NotFound("no samples recorded in run %r" % (run,))
        start, end = _range(request, int(series.steps[0]), int(series.steps[-1]))
        a = int(np.searchsorted(series.steps, start, side="left"))
        b = int(np.searchsorted(series.steps, end, side="right"))
        if fingerprint is not None:
            match = series.fingerprints[a:b] == np.uint64(int(fingerprint, 16))
        else:
            match = series.field("id")[a:b] == sample_id
        rows, slots = np.nonzero(match)

        def column(name):
            return floats(series.field(name)[a:b][rows, slots])

        return _json(request, {
            "run": run, "fingerprint": fingerprint, "id": sample_id, "start": start, "end": end,
            "steps": series.steps[a:b][rows].tolist(), "loss": column("loss"), "share": column("share"),
            "position": column("position"),
        })

    @_route
    def _serve_hardest(self, request):
        src = self._source(request)
        run = self._run(request, src)
        top = _int(request, "top", required=False, lo=1, hi=MAX_HARDEST, default=DEFAULT_HARDEST)
        series = src.samples(run)
        if not len(series.steps):
            raise NotFound("no samples recorded in run %r" % (run,))
        start, end = _range(request, int(series.steps[0]), int(series.steps[-1]))
        rows = [{k: num(v) if isinstance(v, float) else v for k, v in entry.items()}
                for entry in src.hardest(run, start, end, top)]
        return _json(request, {"run": run, "start": start, "end": end, "samples": rows})

    @_route
    def _serve_per_class(self, request):
        src = self._source(request)
        run = self._run(request, src)
        output = _get(request, "output", required=False)
        if output is not None and output not in src.per_class_outputs(run):
            raise NotFound("no per-class losses of output %r in run %r" % (output, run))
        width = _int(request, "width", lo=1, hi=MAX_WIDTH)
        series = src.per_class(run, output)
        if not len(series.steps):
            raise NotFound("no per-class losses in run %r" % (run,))
        start, end = _range(request, int(series.steps[0]), int(series.steps[-1]))
        a = int(np.searchsorted(series.steps, start, side="left"))
        b = int(np.searchsorted(series.steps, end, side="right"))
        r = rd.per_class_columns(series.steps[a:b], series.means[a:b], series.counts[a:b], start, end, width)
        return _json(request, {
            "run": run, "output": output, "start": start, "end": end, "count": b - a,
            "classes": int(series.means.shape[1]), "reduced": r["reduced"],
            "method": "columns" if r["reduced"] else "raw",
            "steps": r["steps"].tolist(), "step_ends": r["step_ends"].tolist(),
            "means": [floats(row) for row in r["means"]], "counts": r["counts"].tolist(),
        })

    def _spikes(self, run, tag, source, s, fits, warmup):
        """(indices, SpikeScores) of the points of a scalar series that score at least
        reduce.SPIKE_MIN_THRESHOLD (reduce.spike_candidates: all a request can ask for), cached
        until the series changes (a new length, last step or wall times: appends and restarts
        both change one of them) or the warm-up or fit starts differ."""
        n = len(s.steps)
        version = (n, int(s.steps[-1]), float(s.wall_times[0]), float(s.wall_times[-1])) if n else (0,)
        starts = tuple(np.searchsorted(s.steps, fits).tolist())
        key = (version, warmup, starts)
        hit = self._spike_cache.get((run, tag, source))
        if hit is not None and hit[0] == key:
            return hit[1]
        scores = sp.spike_candidates(sp.spike_scores(s.values, warmup=warmup, segment_starts=starts))
        self._spike_cache[(run, tag, source)] = (key, scores)
        return scores

    @_route
    def _serve_anomalies(self, request):
        src = self._source(request)
        run = self._run(request, src)
        limit = _int(request, "limit", required=False, lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT)
        threshold = _float(request, "threshold", lo=sp.SPIKE_MIN_THRESHOLD, hi=1e6, default=sp.SPIKE_THRESHOLD)
        min_jump = _float(request, "min_jump", lo=0.0, hi=1e6, default=sp.SPIKE_MIN_JUMP)
        warmup = _int(request, "warmup", required=False, lo=0, hi=MAX_LIMIT, default=sp.SPIKE_WARMUP)
        if _get(request, "tag", required=False) is not None:
            tag, source, _ = self._tag(request, src, run, "scalar")
            names = [(tag, source)]
        else:
            names = [(i.tag, i.source) for i in src.series(run) if i.kind == "scalar"]
        fits = np.asarray(src.fits(run), dtype=np.int64)
        nonfinite, spikes, series = [], [], []
        for t, source in names:
            s = src.scalars(run, t, source)
            v = np.asarray(s.values, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(v))
            count = {"tag": t, "source": source, "points": int(v.size), "spike": 0, "nan": 0, "inf": 0, "-inf": 0}
            for i in bad:
                x = float(v[i])
                kind = "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
                count[kind] += 1
                if count[kind] <= limit:
                    nonfinite.append({"tag": t, "source": source, "step": int(s.steps[i]), "value": num(x),
                                      "kind": kind, "score": None, "jump": None, "level": None})
            points, sc = self._spikes(run, t, source, s, fits, warmup)
            hit = sp.spikes(sc, threshold, min_jump)  # into the candidates
            count["spike"] = int(hit.size)
            count["spread"] = num(sc.spread)
            series.append(count)
            if hit.size > limit:
                hit = hit[np.argsort(-sc.score[hit], kind="stable")[:limit]]
            for c in hit:
                i = points[c]
                spikes.append({"tag": t, "source": source, "step": int(s.steps[i]), "value": num(v[i]),
                               "kind": "spike", "score": num(sc.score[c]), "jump": num(sc.jump[c]),
                               "level": num(sc.level[c])})
        nonfinite.sort(key=lambda a: (a["step"], a["tag"]))
        spikes.sort(key=lambda a: (-a["score"] if isinstance(a["score"], float) else -math.inf,
                                   a["step"], a["tag"]))
        return _json(request, {
            "run": run, "threshold": threshold, "min_jump": min_jump, "warmup": warmup,
            "window": sp.SPIKE_WINDOW, "series": series,
            "anomalies": (nonfinite + spikes)[:limit],
        })

    @_route
    def _serve_export(self, request):
        src = self._source(request)
        run = self._run(request, src)
        tag, source, kind = self._tag(request, src, run, None)
        fmt = _get(request, "format", required=False) or "csv"
        if fmt not in ("csv", "json"):
            raise BadRequest("format", "format must be csv or json")
        if kind == "scalar":
            s = src.scalars(run, tag, source)
            cols = [("value", s.values)]
        else:
            s = src.distributions(run, tag)
            names = list(md.HEADER_FIELDS) + ["q%s" % _fmt_p(p) for p in s.quantile_probs] + [
                "h%d" % j for j in range(s.num_bins)]
            cols = [(nm, s.data[:, k]) for k, nm in enumerate(names)]
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", "%s_%s" % (run, tag)).strip("._") or "export"
        if fmt == "csv":
            body, mime = _csv_chunks(s.steps, s.wall_times, cols), "text/csv; charset=utf-8"
        else:
            body, mime = _json_chunks(s.steps, s.wall_times, cols, kind), "application/json"
        resp = wrappers.Response(body, content_type=mime, direct_passthrough=False)
        resp.headers["Content-Disposition"] = 'attachment; filename="%s.%s"' % (safe[:100], fmt)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    # -- static files --------------------------------------------------------------------------

    @staticmethod
    def _static_table():
        table = {}
        if os.path.isdir(STATIC_DIR):
            for dirpath, _dirs, files in os.walk(STATIC_DIR):
                for f in files:
                    full = os.path.join(dirpath, f)
                    rel = os.path.relpath(full, STATIC_DIR).replace(os.sep, "/")
                    table[rel] = full
        return table

    @_route
    def _serve_static(self, request):
        prefix = "/static/"
        path = request.path
        i = path.find(prefix)
        name = path[i + len(prefix):] if i >= 0 else ""
        full = self._static.get(name)
        if full is None:
            if name == "index.js":
                return http_util.Respond(request, _MISSING_FRONTEND_JS, "text/javascript")
            raise NotFound("no static file %r" % name)
        if name.endswith((".js", ".mjs")):
            mime = "text/javascript"
        else:
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            with open(full, "rb") as f:
                content = f.read()
        except OSError:
            raise NotFound("no static file %r" % name)
        return http_util.Respond(request, content, mime)


def _fmt_p(p):
    return ("%.6g" % p)


# Export: cells encoded by orjson from numpy slices (C speed; chunks small enough that a long
# export shares the GIL with other requests).
_EXPORT_CHUNK = 4096
_NONFINITE_CSV = {"NaN": b"nan", "Infinity": b"inf", "-Infinity": b"-inf"}


def _int_cells(a):
    return orjson.dumps(_ints(a), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",") if len(a) else []


def _float_cells(a):
    """CSV cells of floats: the shortest text that reads back as the same float64 (as Python's
    repr), non-finite values as nan, inf, -inf."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not a.size:
        return []
    cells = orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    for i in np.flatnonzero(~np.isfinite(a)).tolist():
        cells[i] = _NONFINITE_CSV[_nonfinite_name(float(a[i]))]
    return cells


def _csv_chunks(steps, walls, cols, chunk=_EXPORT_CHUNK):
    yield ("step,wall_time," + ",".join(n for n, _ in cols) + "\n").encode()
    n = len(steps)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        parts = [_int_cells(steps[a:b]), _float_cells(walls[a:b])] + [_float_cells(c[a:b]) for _, c in cols]
        yield b"\n".join(map(b",".join, zip(*parts))) + b"\n"


def _json_array_chunks(values, is_int=False, chunk=_EXPORT_CHUNK):
    yield b"["
    n = len(values)
    for a in range(0, n, chunk):
        part = values[a:a + chunk]
        yield (b"," if a else b"") + _dumps(_ints(part) if is_int else _nums(part))[1:-1]
    yield b"]"


def _json_chunks(steps, walls, cols, kind):
    yield b'{"steps":'
    yield from _json_array_chunks(steps, is_int=True)
    yield b',"wall_times":'
    yield from _json_array_chunks(walls)
    if kind == "scalar":
        yield b',"values":'
        yield from _json_array_chunks(cols[0][1])
    else:
        for name, c in cols:
            yield b"," + _dumps(name) + b":"
            yield from _json_array_chunks(c)
    yield b"}"
