"""The `anomalies` route: a run's non-finite points and spikes, most severe first, with per-series
counts. The spike scores (reduce.spikes) of a series are computed once and cached until it
changes; a request's threshold and min_jump only filter them. docs/http_api.md (`GET anomalies`).
"""

import math

import numpy as np

from tb_batch_plugin.reduce import spikes
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.sources import RouteFamily

DEFAULT_LIMIT = 100
MAX_LIMIT = 100000


class Anomalies(RouteFamily):
    """The `anomalies` handler, and its cache of spike scores."""

    def __init__(self, sources):
        super().__init__(sources)
        self._scores = {}  # (run, tag, source) -> (what they were computed from, candidates)

    def _candidates(self, run, tag, source, s, fits, warmup):
        """(indices, SpikeScores) of the points of a scalar series that score at least
        spikes.SPIKE_MIN_THRESHOLD (spikes.spike_candidates: all a request can ask for), cached
        until the series changes (a new length, last step or wall times: appends and restarts
        both change one of them) or the warm-up or fit starts differ."""
        n = len(s.steps)
        version = (n, int(s.steps[-1]), float(s.wall_times[0]), float(s.wall_times[-1])) if n else (0,)
        starts = tuple(np.searchsorted(s.steps, fits).tolist())
        key = (version, warmup, starts)
        hit = self._scores.get((run, tag, source))
        if hit is not None and hit[0] == key:
            return hit[1]
        scores = spikes.spike_candidates(spikes.spike_scores(s.values, warmup=warmup, segment_starts=starts))
        self._scores[(run, tag, source)] = (key, scores)
        return scores

    @http.route
    def anomalies(self, request):
        src, run = self._sources.with_run(request)
        limit = params.integer(request, "limit", required=False, lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT)
        threshold = params.number(request, "threshold", lo=spikes.SPIKE_MIN_THRESHOLD, hi=1e6,
                                  default=spikes.SPIKE_THRESHOLD)
        min_jump = params.number(request, "min_jump", lo=0.0, hi=1e6, default=spikes.SPIKE_MIN_JUMP)
        warmup = params.integer(request, "warmup", required=False, lo=0, hi=MAX_LIMIT, default=spikes.SPIKE_WARMUP)
        if params.text(request, "tag", required=False) is not None:
            tag, source, _ = params.series_tag(request, src, run, "scalar")
            names = [(tag, source)]
        else:
            names = [(i.tag, i.source) for i in src.series(run) if i.kind == "scalar"]
        fits = np.asarray(src.fits(run), dtype=np.int64)
        nonfinite, found, series = [], [], []
        for tag, source in names:
            s = src.scalars(run, tag, source)
            indices, kinds, counts = spikes.nonfinite_points(s.values, limit)
            for i, kind in zip(indices, kinds):
                nonfinite.append({"tag": tag, "source": source, "step": int(s.steps[i]), "value": http.num(s.values[i]),
                                  "kind": kind, "score": None, "jump": None, "level": None})
            points, sc = self._candidates(run, tag, source, s, fits, warmup)
            hit, count = spikes.top_spikes(sc, threshold, min_jump, limit)
            series.append({"tag": tag, "source": source, "points": int(s.values.size), "spike": count, **counts,
                           "spread": http.num(sc.spread)})
            for c in hit:
                i = points[c]
                found.append({"tag": tag, "source": source, "step": int(s.steps[i]), "value": http.num(s.values[i]),
                              "kind": "spike", "score": http.num(sc.score[c]), "jump": http.num(sc.jump[c]),
                              "level": http.num(sc.level[c])})
        nonfinite.sort(key=lambda a: (a["step"], a["tag"]))
        found.sort(key=lambda a: (-a["score"] if isinstance(a["score"], float) else -math.inf, a["step"], a["tag"]))
        return http.json_response(request, {
            "run": run, "threshold": threshold, "min_jump": min_jump, "warmup": warmup,
            "window": spikes.SPIKE_WINDOW, "series": series,
            "anomalies": (nonfinite + found)[:limit],
        })
