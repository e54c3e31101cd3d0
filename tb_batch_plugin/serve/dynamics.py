"""The routes of per-sample training dynamics (BatchStats(dynamics=True)): `dynamics` (the data
map of a run: confidence against variability, binned and, for up to POINTS_MAX samples, every
point; one page of the per-sample table), `label_issues` (the samples most likely mislabelled)
and `dynamics_sample` (every presentation of one sample). The aggregates per sample (AUM,
forgetting events, confidence, variability) are the reader's (read/dynamics.py); these handlers
parse, call and respond. docs/http_api.md.
"""

import math
import re

import numpy as np

from tb_batch_plugin.read import UnknownKey
from tb_batch_plugin.read.sample_dynamics import flagged
from tb_batch_plugin.reduce import datamap
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.http import InvalidParameter, NotFound
from tb_batch_plugin.serve.sources import RouteFamily

DEFAULT_BINS, MIN_BINS, MAX_BINS = 48, 4, 256
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
DEFAULT_ISSUES, MAX_ISSUES = 50, 1000
POINTS_MAX = 5000  # beyond: the binned map only
ORDERS = ("aum", "forgetting", "confidence", "variability", "accuracy", "mean_loss", "presentations")
PRESENTATION_FIELDS = ("step", "loss", "margin", "label_probability", "correct", "label", "predicted")
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{16}$")
_ID_RE = re.compile(r"^-?[0-9]{1,19}$")


class Dynamics(RouteFamily):
    """Handlers of `dynamics`, `label_issues` and `dynamics_sample`, with `cache`
    (http.ResponseCache) for the encoded `dynamics` bodies."""

    def __init__(self, sources, cache):
        super().__init__(sources)
        self._cache = cache

    @http.route
    def dynamics(self, request):
        src, run = self._sources.with_run(request)
        output = params.text(request, "output", required=False)
        bins = params.integer(request, "bins", required=False, lo=MIN_BINS, hi=MAX_BINS, default=DEFAULT_BINS)
        order = params.text(request, "order", required=False) or "aum"
        if order not in ORDERS:
            raise InvalidParameter("order", "order must be one of %s" % ", ".join(ORDERS))
        descending = _flag(request, "descending")
        offset = params.integer(request, "offset", required=False, lo=0, default=0)
        limit = params.integer(request, "limit", required=False, lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT)
        d = src.dynamics(run, output=output)  # UnknownKey: 404 (no dynamics, an unknown output, several)
        key = None
        if src.source == "index":
            key = ("dynamics", run, src.run_version(run), d.output, bins, order, descending, offset, limit)
        body = self._cache.get(key)
        if body is None:
            m = datamap.data_map(d.variability, d.confidence, d.aum, d.forgetting, bins)
            body = self._cache.put(key, http.Body(http.dumps({
                "run": run, "output": d.output, "outputs": list(d.outputs), "count": len(d),
                "classification": bool(d.classification),
                "map": {"variability": m.variability.tolist(), "confidence": m.confidence.tolist(),
                        "count": m.count.tolist(), "aum": _nullable(m.aum), "forgetting": _nullable(m.forgetting)},
                "points": _points(d) if len(d) <= POINTS_MAX else None,
                "rows": _records(d.records(order=order, descending=descending, start=offset, count=limit)),
                "order": order, "descending": descending, "offset": offset, "limit": limit,
            })))
        return http.send(request, body)

    @http.route
    def label_issues(self, request):
        src, run = self._sources.with_run(request)
        output = params.text(request, "output", required=False)
        top = params.integer(request, "top", required=False, lo=1, hi=MAX_ISSUES, default=DEFAULT_ISSUES)
        d = src.dynamics(run, output=output)
        if not d.classification:
            raise NotFound("no label issues: output %r of run %r records losses only (not a classifier: no labels "
                           "to rank)" % (d.output, run))
        return http.json_response(request, {"run": run, "output": d.output, "count": len(d),
                                            "flagged": int(flagged(d).sum()),
                                            "issues": _records(src.label_issues(run, top=top, output=d.output))})

    @http.route
    def dynamics_sample(self, request):
        src, run = self._sources.with_run(request)
        output = params.text(request, "output", required=False)
        text = params.text(request, "key")
        if not (_HEX64_RE.match(text) or _ID_RE.match(text)):
            raise InvalidParameter("key", "key must be a fingerprint (16 hexadecimal digits) or an integer id")
        d = src.dynamics(run, output=output)
        found = None
        for key in _keys(text, d):
            try:
                found = src.presentations(run, key, output=d.output)
                break
            except (UnknownKey, KeyError, ValueError):
                continue
        if found is None or not len(found["step"]):
            raise NotFound("no sample %r in the dynamics of run %r" % (text, run))
        out = {}
        for name in PRESENTATION_FIELDS:
            a = found.get(name)
            if a is None:
                out[name] = None
            elif name == "correct":
                out[name] = np.asarray(a).astype(bool).tolist()
            elif name in ("step", "label", "predicted"):
                out[name] = _ints_or_floats(a)
            else:
                out[name] = http.nums(a)
        return http.json_response(request, {"run": run, "output": d.output, "key": text, "presentations": out})


def _flag(request, name):
    v = params.text(request, name, required=False)
    if v is None:
        return False
    if v not in ("0", "1", "false", "true"):
        raise InvalidParameter(name, "parameter %r must be 0 or 1" % name)
    return v in ("1", "true")


def _keys(text, d):
    """What the reader is asked for, in turn: 16 hex digits are a fingerprint (and, in a run
    that recorded ids, could also be a decimal id of 16 digits); anything else a decimal id."""
    keys = []
    if _HEX64_RE.match(text):
        keys.append(text.lower())
    if _ID_RE.match(text) and (d.id is not None or not keys):
        keys.append(int(text))
    return keys


def _hex(fingerprints):
    return ["%016x" % f for f in np.asarray(fingerprints, dtype=np.uint64).tolist()]


def _ints_or_floats(a):
    """Integers of an int array as ints; a float array (NaN where unknown) as http.nums."""
    a = np.asarray(a)
    return a.tolist() if a.dtype.kind in "iub" else http.nums(a)


def _points(d):
    """Every sample of the map: its coordinates, colours and identity (label and prediction
    null for an output without classes)."""
    classes = d.classification

    def of(a):
        return _ints_or_floats(a) if classes and a is not None else None

    return {"variability": http.nums(d.variability), "confidence": http.nums(d.confidence),
            "aum": http.nums(d.aum), "forgetting": of(d.forgetting),
            "fingerprint": _hex(d.fingerprint), "id": None if d.id is None else http.ints(d.id),
            "label": of(d.label), "predicted": of(d.predicted)}


def _nullable(grid):
    """A float grid as lists, null where a cell has no value."""
    return [[v if math.isfinite(v) else None for v in row] for row in np.asarray(grid, dtype=np.float64).tolist()]


def _records(records):
    """The reader's records as JSON values: non-finite floats as the API's strings, numpy
    scalars as Python numbers."""
    return [{k: _value(v) for k, v in r.items()} for r in records]


def _value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return http.num(v)
    return v
