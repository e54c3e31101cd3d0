"""The `anomalies` route: a run's non-finite points and spikes, most severe first, each with its
kind (the batch as a whole, a few samples, the gradient, the learning rate), with per-series and
per-run counts. Scores (reduce.spikes, reduce.findings) are computed once per series and cached
until it changes; a request's threshold and min_jump only filter them. docs/http_api.md
(`GET anomalies`).
"""

import math

import numpy as np

from tb_batch_plugin.read import UnknownKey
from tb_batch_plugin.reduce import findings, spikes
from tb_batch_plugin.serve import http, params
from tb_batch_plugin.serve.sources import RouteFamily

DEFAULT_LIMIT = 100
MAX_LIMIT = 100000
KINDS = ("spike", "samples", "gradient", "learning_rate")
EXACT = "tb_batch"  # the source of BatchStats' own series
# Runs whose scalars are all shorter are not scored ahead: a request scores them in a few ms, and
# scoring each of 1,000 short runs ahead (~4 ms each) would delay listing them all by seconds.
WARM_MIN_POINTS = 10_000


class Anomalies(RouteFamily):
    """The `anomalies` handler, and its caches of scores."""

    def __init__(self, sources):
        super().__init__(sources)
        self._scores = {}  # (run, tag, source) -> (what they were computed from, candidates)
        self._batches = {}  # run -> (what they were computed from, BatchScores or None)
        self._bodies = http.ResponseCache(http.CACHE_BYTES // 4)  # by the run's version and parameters
        sources.on_run(self.warm)

    def warm(self, src, run):
        """Computes the answer for `run` at the tab's parameters (the defaults), so that its first
        view does not (the reload thread calls it as each run's data arrives)."""
        if all(i.count < WARM_MIN_POINTS for i in src.series(run) if i.kind == "scalar"):
            return
        self._body(src, run, None, spikes.SPIKE_WARMUP, spikes.SPIKE_THRESHOLD, spikes.SPIKE_MIN_JUMP,
                   DEFAULT_LIMIT)

    def _body(self, src, run, names, warmup, threshold, min_jump, limit):
        """The encoded answer for the series `names` [(tag, source)] of `run` (None: every
        scalar), cached until the run changes: classifying a long run's candidates takes a
        request ~0.35 s per 1M steps even with the scores cached."""
        key = (run, src.run_version(run), names and tuple(names), warmup, threshold, min_jump,
               limit) if src.source == "index" else None
        body = self._bodies.get(key)
        if body is not None:
            return body
        if names is None:
            names = [(i.tag, i.source) for i in src.series(run) if i.kind == "scalar"]
        fits = np.asarray(src.fits(run), dtype=np.int64)
        listing = _Listing(self, src, run, fits, warmup, threshold, min_jump, limit)
        for tag, source in names:
            listing.add_series(tag, source)
        return self._bodies.put(key, http.Body(http.dumps({
            "run": run, "threshold": threshold, "min_jump": min_jump, "warmup": warmup,
            "window": spikes.SPIKE_WINDOW, "batch_scored": listing.batch is not None,
            "series": listing.series, "counts": listing.counts(), "anomalies": listing.entries(),
        })))

    def candidates(self, run, tag, source, s, fits, warmup, evaluations, scale=None):
        """(indices, SpikeScores) of the points of a scalar series that score at least
        spikes.SPIKE_MIN_THRESHOLD (spikes.spike_candidates: all a request can ask for), cached
        until the series changes (a new length, last step or wall times: appends and restarts
        both change one of them) or the warm-up, fit starts or scale differ. A validation run's
        batches are each scored against themselves in the other evaluations."""
        key = (_version(s), warmup, _starts(s, fits), scale, len(evaluations))
        hit = self._scores.get((run, tag, source))
        if hit is not None and hit[0] == key:
            return hit[1]
        groups = findings.batch_groups(s.steps, evaluations)
        scores = spikes.spike_candidates(findings.series_scores(s.values, groups, warmup, key[2], scale))
        self._scores[(run, tag, source)] = (key, scores)
        return scores

    def batch_scores(self, src, run, fits, warmup, evaluations):
        """findings.BatchScores of the run's batches as a whole (from its per-sample loss
        quantiles), cached like the series' scores; None when the run has none."""
        try:
            d = src.distributions(run, findings.PER_SAMPLE_LOSS_TAG)
        except (UnknownKey, KeyError):
            return None
        key = (_version(d), warmup, _starts(d, fits), len(evaluations))
        hit = self._batches.get(run)
        if hit is not None and hit[0] == key:
            return hit[1]
        scores = findings.BatchScores(d, warmup, key[2], findings.batch_groups(d.steps, evaluations))
        scores = scores if scores.parts else None
        self._batches[run] = (key, scores)
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
            names = None
        return http.send(request, self._body(src, run, names, warmup, threshold, min_jump, limit))


class _Listing:
    """The anomalies of one run for one request: every series' entries, classified."""

    def __init__(self, route, src, run, fits, warmup, threshold, min_jump, limit):
        self.route, self.src, self.run, self.fits, self.warmup = route, src, run, fits, warmup
        self.threshold, self.min_jump, self.limit = threshold, min_jump, limit
        self.evaluations = src.evaluations(run)
        self.batch = route.batch_scores(src, run, fits, warmup, self.evaluations)
        self.loss = self._loss_scores() if self.batch is not None else None
        self.nonfinite, self.found, self.series = [], [], []
        self.all_found = []  # before the limit: what the run's counts count

    def _loss_scores(self):
        try:
            s = self.src.scalars(self.run, findings.LOSS_TAG, EXACT)
        except (UnknownKey, KeyError):
            return findings.StepScores([], [])
        points, sc = self.route.candidates(self.run, findings.LOSS_TAG, EXACT, s, self.fits, self.warmup,
                                            self.evaluations, findings.LOSS_SCALE)
        return findings.StepScores(s.steps[points], sc.score)

    def _entry(self, tag, source, step, value, kind, score, jump=None, level=None):
        entry = {"tag": tag, "source": source, "step": step, "value": http.num(value), "kind": kind,
                 "score": None if score is None else http.num(score), "jump": jump, "level": level}
        if self.batch is not None:
            entry["batch_score"] = http.num(self.batch.at(step, self.min_jump))
        if kind == "samples":
            entry["share"] = self.batch.share(step)
        if self.evaluations:
            entry["evaluation"] = findings.evaluation_of(self.evaluations, step)
        return entry

    def add_series(self, tag, source):
        s = self.src.scalars(self.run, tag, source)
        indices, kinds, counts = spikes.nonfinite_points(s.values, self.limit)
        for i, kind in zip(indices, kinds):
            self.nonfinite.append(self._entry(tag, source, int(s.steps[i]), s.values[i], kind, None))
        batch_scored = self.batch is not None and source == EXACT
        scale = findings.LOSS_SCALE if batch_scored and tag == findings.LOSS_TAG else None
        points, sc = self.route.candidates(self.run, tag, source, s, self.fits, self.warmup, self.evaluations,
                                            scale)
        counts.update(dict.fromkeys(KINDS, 0))
        found = []
        for c in spikes.spikes(sc, self.threshold, self.min_jump).tolist():
            step = int(s.steps[points[c]])
            kind, score = "spike", float(sc.score[c])
            if batch_scored and self.batch.covers(step):  # else scored as a series of its own
                batch = self.batch.at(step, self.min_jump)
                kind = findings.kind_of(tag, batch, self.loss.at(step), self.batch.share(step), self.threshold,
                                        rise=bool(sc.gap[c] > 0))
                if kind is None:
                    continue
                score = batch if kind == "spike" else score
            found.append(self._entry(tag, source, step, s.values[points[c]], kind, score,
                                     http.num(sc.jump[c]), http.num(sc.level[c])))
        if batch_scored and tag == findings.LOSS_TAG:
            found += self._whole_batches_below_the_loss_score(s, {e["step"] for e in found})
        found = _one_per_stretch(found, s.steps)
        self.all_found += found
        for kind in KINDS:
            of_kind = [e for e in found if e["kind"] == kind]
            counts[kind] = len(of_kind)
            self.found += sorted(of_kind, key=lambda e: -e["score"])[:self.limit]
        self.series.append({"tag": tag, "source": source, "points": int(s.values.size), **counts,
                            "spread": http.num(sc.spread)})

    def _whole_batches_below_the_loss_score(self, s, listed):
        """Loss entries for the steps whose batch as a whole is off while the mean loss stays
        under the threshold (a batch of uniformly hard samples)."""
        out = []
        for step, batch in self.batch.above(self.threshold, self.min_jump).items():
            i = int(np.searchsorted(s.steps, step))
            if int(step) not in listed and i < len(s.steps) and s.steps[i] == step:
                out.append(self._entry(findings.LOSS_TAG, EXACT, int(step), s.values[i], "spike", float(batch)))
        return out

    def counts(self):
        """Per kind, the steps of the run with an entry of that kind (each step once)."""
        out = {kind: len({e["step"] for e in self.all_found if e["kind"] == kind}) for kind in KINDS}
        for kind in spikes.NONFINITE_KINDS:
            out[kind] = len({e["step"] for e in self.nonfinite if e["kind"] == kind})
        return out

    def entries(self):
        self.nonfinite.sort(key=lambda a: (a["step"], a["tag"]))
        self.found.sort(key=lambda a: (-a["score"] if isinstance(a["score"], float) else -math.inf, a["step"], a["tag"]))
        return (self.nonfinite + self.found)[:self.limit]


def _one_per_stretch(found, steps):
    """Whole-batch entries of consecutive recorded steps are one event (a learning-rate blow-up
    that takes a few steps to recover): the entry of its highest score stands for it, with the
    stretch's first and last steps."""
    others = [e for e in found if e["kind"] != "spike"]
    batch = sorted((e for e in found if e["kind"] == "spike"), key=lambda e: e["step"])
    index = np.searchsorted(steps, [e["step"] for e in batch])
    out, stretch = [], []
    for i, e in enumerate(batch):
        if stretch and index[i] != index[i - 1] + 1:
            out.append(_best_of(stretch))
            stretch = []
        stretch.append(e)
    if stretch:
        out.append(_best_of(stretch))
    return others + out


def _best_of(stretch):
    best = dict(max(stretch, key=lambda e: e["score"]))
    best["first_step"], best["last_step"] = stretch[0]["step"], stretch[-1]["step"]
    return best


def _version(series):
    n = len(series.steps)
    return (n, int(series.steps[-1]), float(series.wall_times[0]), float(series.wall_times[-1])) if n else (0,)


def _starts(series, fits):
    return tuple(np.searchsorted(series.steps, fits).tolist())
