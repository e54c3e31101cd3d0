"""The routes of the samples BatchStats(samples=k) records: `samples` (the highest-loss samples of
a step, or the steps of one sample), `hardest` (the samples most often among them) and
`per_class` (each class's mean loss per pixel column). docs/http_api.md.
"""

import re

import numpy as np

from tb_batch_plugin.reduce import columns
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.http import InvalidParameter, NotFound
from tb_batch_plugin.serve.sources import RouteFamily

DEFAULT_HARDEST = 50
MAX_HARDEST = 1000
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{16}$")


class Samples(RouteFamily):
    """Handlers of `samples`, `hardest` and `per_class`."""

    @http.route
    def samples(self, request):
        src, run = self._sources.with_run(request)
        if params.text(request, "step", required=False) is None and (
                params.text(request, "fingerprint", required=False) is not None
                or params.text(request, "id", required=False) is not None):
            return self._sample_steps(request, src, run)
        step = params.integer(request, "step")
        series = src.samples(run)
        i = int(np.searchsorted(series.steps, step, side="left"))
        found = i < len(series.steps) and int(series.steps[i]) == step
        rows = []
        if found:
            recorded = series.rows(i)
            names = [f for f in series.fields if f not in ("fingerprint_hi", "fingerprint_lo")]
            for r, fingerprint in enumerate(recorded["fingerprint"]):
                row = {f: http.num(recorded[f][r]) for f in names}
                row["id"] = None if row["id"] == "NaN" else int(recorded["id"][r])
                row["fingerprint"] = fingerprint
                rows.append(row)
        shares = [r["share"] for r in rows if isinstance(r["share"], float)]
        return http.json_response(request, {
            "run": run, "step": step, "found": found, "num_samples": series.num_samples,
            "fields": ["fingerprint"] + [f for f in series.fields if not f.startswith("fingerprint_")],
            "samples": rows, "share": http.num(sum(shares)) if shares else None,
        })

    @staticmethod
    def _sample_steps(request, src, run):
        """samples?run&fingerprint= (or &id=)[&start&end]: the steps where one sample was among
        its batch's highest losses."""
        fingerprint = params.text(request, "fingerprint", required=False)
        if fingerprint is not None and not _HEX64_RE.match(fingerprint):
            raise InvalidParameter("fingerprint", "fingerprint must be 16 hexadecimal digits")
        sample_id = params.integer(request, "id", required=False) if fingerprint is None else None
        series = _recorded(src, run)
        span = params.step_range(request, series.steps)
        points = slice(span.first, span.stop)
        if fingerprint is not None:
            match = series.fingerprints[points] == np.uint64(int(fingerprint, 16))
        else:
            match = series.field("id")[points] == sample_id
        rows, slots = np.nonzero(match)

        def column(name):
            return http.floats(series.field(name)[points][rows, slots])

        return http.json_response(request, {
            "run": run, "fingerprint": fingerprint, "id": sample_id, "start": span.start, "end": span.end,
            "steps": series.steps[points][rows].tolist(), "loss": column("loss"), "share": column("share"),
            "position": column("position"),
        })

    @http.route
    def hardest(self, request):
        src, run = self._sources.with_run(request)
        top = params.integer(request, "top", required=False, lo=1, hi=MAX_HARDEST, default=DEFAULT_HARDEST)
        series = _recorded(src, run)
        start, end = params.bounds(request, int(series.steps[0]), int(series.steps[-1]))
        rows = [{k: http.num(v) if isinstance(v, float) else v for k, v in entry.items()}
                for entry in src.hardest(run, start, end, top)]
        return http.json_response(request, {"run": run, "start": start, "end": end, "samples": rows})

    @http.route
    def per_class(self, request):
        src, run = self._sources.with_run(request)
        output = params.text(request, "output", required=False)
        if output is not None and output not in src.per_class_outputs(run):
            raise NotFound("no per-class losses of output %r in run %r" % (output, run))
        width = params.width(request)
        series = src.per_class(run, output)
        if not len(series.steps):
            raise NotFound("no per-class losses in run %r" % (run,))
        span = params.step_range(request, series.steps)
        points = slice(span.first, span.stop)
        r = columns.per_class_columns(series.steps[points], series.means[points], series.counts[points],
                                      span.start, span.end, width)
        return http.json_response(request, {
            "run": run, "output": output, "start": span.start, "end": span.end, "count": span.stop - span.first,
            "classes": int(series.means.shape[1]), "reduced": r["reduced"],
            "method": "columns" if r["reduced"] else "raw",
            "steps": r["steps"].tolist(), "step_ends": r["step_ends"].tolist(),
            "means": [http.floats(row) for row in r["means"]], "counts": r["counts"].tolist(),
        })


def _recorded(src, run):
    """The samples series of `run`, 404 when it has none."""
    series = src.samples(run)
    if not len(series.steps):
        raise NotFound("no samples recorded in run %r" % (run,))
    return series
