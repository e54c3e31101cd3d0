"""The routes the tab's charts read: `runs` (what there is), `series` (a scalar reduced by M4),
`distribution` (bands and heatmap, JSON or binary) and `step` (everything at one step). Each
parses, calls read/reduce and responds; encoded bodies are cached by what they were computed
from. docs/http_api.md.
"""

from collections import namedtuple

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read import UnknownKey
from tb_batch_plugin.reduce import columns, distribution
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.http import InvalidParameter, NotFound
from tb_batch_plugin.serve.sources import RouteFamily

DEFAULT_BINS = 32
MAX_BINS = 256
# The arrays of a `distribution` response, in the order the binary format sends them.
DISTRIBUTION_ARRAYS = ("steps", "step_ends", "min", "max", "mean", "quantiles", "heatmap_counts")

Chart = namedtuple("Chart", "run tag source width series span")
Chart.__doc__ = """What a `series` or `distribution` request names: the run, tag and source, the
pixel columns, the series (read) and the columns.StepRange of the query in it."""


class Charts(RouteFamily):
    """Handlers of `runs`, `series`, `distribution` and `step`, with `cache` (http.ResponseCache)
    for the encoded bodies."""

    def __init__(self, sources, cache):
        super().__init__(sources)
        self._cache = cache

    def _chart(self, request, kind):
        """(source, Chart) of a `series` (kind "scalar") or `distribution` request."""
        src, run = self._sources.with_run(request)
        tag, source, _ = params.series_tag(request, src, run, kind)
        width = params.width(request)
        s = src.scalars(run, tag, source) if kind == "scalar" else src.distributions(run, tag)
        if not len(s.steps):
            raise NotFound("no points for tag %r in run %r" % (tag, run))
        return src, Chart(run, tag, source, width, s, params.step_range(request, s.steps))

    @http.route
    def runs(self, request):
        src = self._sources.of(request)
        names = src.runs()
        key = ("runs", src.version, src.loading, src.indexing, len(names)) if src.source == "index" else None
        body = self._cache.get(key)
        if body is None:
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
                             "per_class": src.per_class_outputs(run),
                             "dynamics": src.dynamics_outputs(run)})
            body = self._cache.put(key, http.Body(http.dumps({
                "runs": runs, "corrupt_records": src.corrupt_records, "loading": src.loading,
                "indexing": src.indexing, "problems": src.problems})))
        return http.send(request, body)

    @http.route
    def series(self, request):
        src, (run, tag, source, width, s, span) = self._chart(request, "scalar")
        key = ("series", run, tag, source, src.key(run, tag, "scalar", source), span.start, span.end,
               width) if src.source == "index" else None
        body = self._cache.get(key)
        if body is None:
            points = slice(span.first, span.stop)
            steps, values, walls = s.steps[points], s.values[points], s.wall_times[points]
            kept = columns.m4_points(steps, values, span.start, span.end, width)
            if kept is not None:
                steps, values, walls = steps[kept], values[kept], walls[kept]
            method = "raw" if kept is None else "m4"
            body = self._cache.put(key, http.Body(http.dumps({
                "run": run, "tag": tag, "start": span.start, "end": span.end, "count": span.stop - span.first,
                "reduced": method != "raw", "method": method,
                "steps": http.ints(steps), "values": http.nums(values), "wall_times": http.nums(walls),
                "source": source, "sampled": src.sampled(run, tag, "scalar", source),
            })))
        return http.send(request, body)

    @http.route
    def distribution(self, request):
        src, (run, tag, _, width, d, span) = self._chart(request, "distribution")
        bins = params.integer(request, "bins", required=False, lo=1, hi=MAX_BINS, default=DEFAULT_BINS)
        fmt = params.text(request, "format", required=False) or "json"
        if fmt not in ("json", "binary"):
            raise InvalidParameter("format", "format must be 'json' or 'binary'")
        ident = src.key(run, tag, "distribution") if src.source == "index" else None
        key = ("distribution", run, tag, ident, span.start, span.end, width, bins, fmt) if ident else None
        body = self._cache.get(key)
        if body is None:
            precomputed = self._sources.precomputed(run, tag) if ident is not None else None
            bands = distribution.reduce_range(d.steps, d.data, d.quantile_probs, span, width, bins, precomputed,
                                              ident[:2] if ident is not None else None)
            body = self._cache.put(key, _distribution_body(run, tag, span, d, bands, fmt,
                                                           src.sampled(run, tag, "distribution")))
        return http.send(request, body)

    @http.route
    def step(self, request):
        src, run = self._sources.with_run(request)
        step = params.integer(request, "step")
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
                wall = http.num(s.wall_times[i])
            if kind == "scalar":
                scalars[tag] = http.num(s.values[i])
                sources[tag] = info.source
            else:
                dists[tag] = _step_distribution(s, i)
        found = bool(scalars or dists)
        evaluation = None
        for e in src.evaluations(run):
            if e["first_step"] <= step:
                evaluation = e
        return http.json_response(request, {
            "run": run, "step": step, "wall_time": wall, "found": found,
            "scalars": scalars, "scalar_sources": sources, "distributions": dists,
            "prev_step": prev_step, "next_step": next_step, "evaluation": evaluation,
        })


def _distribution_body(run, tag, span, d, bands, fmt, sampled):
    """The encoded `distribution` response (http_api.md): JSON, or the binary format's JSON
    header and raw arrays."""
    head = {"run": run, "tag": tag, "start": span.start, "end": span.end, "count": span.stop - span.first,
            "reduced": bands.method != "raw", "method": bands.method,
            "quantile_probs": d.quantile_probs.tolist(), "sampled": sampled,
            "heatmap": {"edges": http.nums(bands.heatmap_edges)}}
    arrays = dict(zip(DISTRIBUTION_ARRAYS, (bands.steps, bands.step_ends, bands.min, bands.max, bands.mean,
                                            bands.quantiles, bands.heatmap_counts)))
    if fmt == "binary":  # steps as float64, as JavaScript numbers are
        arrays["steps"], arrays["step_ends"] = (arrays[name].astype(np.float64) for name in ("steps", "step_ends"))
        return http.Body(http.binary(head, [(name, arrays[name]) for name in DISTRIBUTION_ARRAYS]),
                         "application/octet-stream")
    head.update({name: http.ints(arrays[name]) for name in ("steps", "step_ends")})
    head.update({name: http.nums(arrays[name]) for name in ("min", "max", "mean", "quantiles")})
    head["heatmap"]["counts"] = arrays["heatmap_counts"]
    return http.Body(http.dumps(head))


def _step_distribution(s, i):
    """The `step` route's entry for step index `i` of a distribution series."""
    row = s.data[i]
    entry = {f: http.num(row[k]) for k, f in enumerate(metadata.HEADER_FIELDS)}
    for f in ("count", "nan_count", "posinf_count", "neginf_count"):
        if isinstance(entry[f], float) and entry[f].is_integer():
            entry[f] = int(entry[f])
    entry["quantile_probs"] = s.quantile_probs.tolist()
    entry["quantiles"] = http.floats(s.quantiles[i])
    entry["bin_edges"] = http.floats(s.step_bin_edges(i))
    entry["histogram"] = http.floats(s.histograms[i])
    return entry


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
