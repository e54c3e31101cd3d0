"""The `export` route: a series at full resolution, streamed as CSV or JSON in chunks whose cells
orjson encodes from numpy slices (C speed; chunks small enough that a long export shares the
interpreter with the other requests). docs/http_api.md (`GET export`).
"""

import re

import numpy as np
from werkzeug import wrappers

from tb_batch_plugin import metadata
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.http import InvalidParameter
from tb_batch_plugin.serve.sources import RouteFamily

_EXPORT_CHUNK = 4096
_NONFINITE_CSV = {"NaN": b"nan", "Infinity": b"inf", "-Infinity": b"-inf"}


class Export(RouteFamily):
    """The `export` handler."""

    @http.route
    def export(self, request):
        src, run = self._sources.with_run(request)
        tag, source, kind = params.series_tag(request, src, run, None)
        fmt = params.text(request, "format", required=False) or "csv"
        if fmt not in ("csv", "json"):
            raise InvalidParameter("format", "format must be csv or json")
        if kind == "scalar":
            s = src.scalars(run, tag, source)
            cols = [("value", s.values)]
        else:
            s = src.distributions(run, tag)
            names = list(metadata.HEADER_FIELDS) + ["q%s" % _fmt_p(p) for p in s.quantile_probs] + [
                "h%d" % j for j in range(s.num_bins)]
            cols = [(name, s.data[:, k]) for k, name in enumerate(names)]
            # each step's B+1 bin edges (equal-width over its finite min..max): the counts h* alone
            # cannot be placed
            edges = s.bin_edges
            cols += [("e%d" % j, edges[:, j]) for j in range(s.num_bins + 1)]
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


def _fmt_p(p):
    return ("%.6g" % p)


def _int_cells(a):
    return http.dumps(http.ints(a))[1:-1].split(b",") if len(a) else []


def _float_cells(a):
    """CSV cells of floats: the shortest text that reads back as the same float64 (as Python's
    repr), non-finite values as nan, inf, -inf."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not a.size:
        return []
    cells = http.dumps(a)[1:-1].split(b",")
    for i in np.flatnonzero(~np.isfinite(a)).tolist():
        cells[i] = _NONFINITE_CSV[http.nonfinite_name(float(a[i]))]
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
        yield (b"," if a else b"") + http.dumps(http.ints(part) if is_int else http.nums(part))[1:-1]
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
            yield b"," + http.dumps(name) + b":"
            yield from _json_array_chunks(c)
    yield b"}"
