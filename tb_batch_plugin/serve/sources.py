"""Where a request's data comes from: the plugin's own index of `context.logdir` (a snapshot per
request, reloaded off the request path by the plugin's thread, with the aggregates it precomputes
for every distribution series), or, with `--logdir_spec`, TensorBoard's data provider (sampled:
"n of N"). docs/backend.md (Serving).
"""

import logging
import os
import threading
import time
import weakref

import numpy as np

from tensorboard import plugin_util

from tb_batch_plugin import metadata
from tb_batch_plugin.read import SOURCES, DistributionSeries, LogdirIndex, ScalarSeries, SeriesInfo, UnknownKey
from tb_batch_plugin.reduce import distribution
from tb_batch_plugin.serve import params
from tb_batch_plugin.serve.http import NotFound

logger = logging.getLogger(__name__)

RELOAD_MIN_INTERVAL_S = 1.0  # the background reload's period (also the provider source's)
SAMPLED_DOWNSAMPLE = 10**9  # "everything the provider keeps"


class ProviderSource:
    """Fallback over TensorBoard's data provider (sampled by TensorBoard, not lossless; the
    provider does not list markers, so there are no fits or evaluations)."""

    def __init__(self, provider, ctx, eid):
        self._p, self._ctx, self._eid = provider, ctx, eid
        # (run, name, kind, source) -> (plugin name, tag, provenance, plugin data)
        self._meta = {}
        for plugin in (metadata.SCALARS_PLUGIN_NAME, metadata.PLUGIN_NAME):
            listing = provider.list_scalars(ctx, experiment_id=eid, plugin_name=plugin) or {}
            for run, tags in listing.items():
                for tag, ts in tags.items():
                    try:
                        if plugin == metadata.PLUGIN_NAME:  # version 1
                            plugin_data = metadata.parse_plugin_data(ts.plugin_content)
                            provenance = metadata.PROVENANCE_EXACT
                        else:
                            plugin_data = metadata.parse_scalars_content(ts.plugin_content)
                            provenance = (plugin_data.provenance if plugin_data is not None
                                          else metadata.PROVENANCE_LOGGED)
                    except ValueError:
                        continue
                    source = "tb_batch" if plugin_data is not None else "scalars"
                    self._meta[(run, tag, "scalar", source)] = (plugin, tag, provenance, plugin_data)
        listing = provider.list_tensors(ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME) or {}
        for run, tags in listing.items():
            for tag, ts in tags.items():
                try:
                    plugin_data = metadata.parse_plugin_data(ts.plugin_content)
                except ValueError:
                    continue
                if plugin_data.kind == metadata.KIND_DISTRIBUTION:
                    self._meta[(run, metadata.distribution_name(tag), "distribution", "tb_batch")] = (
                        metadata.PLUGIN_NAME, tag, metadata.PROVENANCE_LOGGED, plugin_data)
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
                out.append(SeriesInfo(key[1], key[2], key[3], metadata.PROVENANCE_NAMES[self._meta[key][2]],
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
        plugin, tag, _, plugin_data = self._meta[key]
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
            width = metadata.distribution_length(len(plugin_data.quantile_probs), plugin_data.num_bins)
            pts = sorted(((d.step, d.wall_time, np.asarray(d.numpy, dtype=np.float64).ravel())
                          for d in data.get(run, {}).get(tag, [])), key=lambda p: p[0])
            pts = [p for p in pts if p[2].size == width]
            steps = np.array([p[0] for p in pts], dtype=np.int64)
            mat = np.array([p[2] for p in pts], dtype=np.float64).reshape(len(pts), width)
            series = DistributionSeries(steps, np.array([p[1] for p in pts], dtype=np.float64), mat,
                                        list(plugin_data.quantile_probs), plugin_data.num_bins)
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
    def samples(run, *_):  # the provider does not list tb-batch's samples (no data class)
        raise UnknownKey("no samples recorded in run %r" % (run,))

    hardest = samples

    @staticmethod
    def per_class(run, output=None):
        raise UnknownKey("no per-class losses in run %r" % (run,))

    @staticmethod
    def per_class_outputs(run):
        return []

    @staticmethod
    def dynamics_outputs(run):  # nor its per-sample dynamics
        return []

    @staticmethod
    def dynamics(run, *_, **__):
        raise UnknownKey("no dynamics recorded in run %r" % (run,))

    label_issues = presentations = dynamics

    @staticmethod
    def key(run, tag, kind, source=None):
        return None  # not cached: TensorBoard's provider says nothing about what changed

    @staticmethod
    def not_indexed_yet(run):
        return False

    corrupt_records = 0
    source = "sampled"
    loading = indexing = False
    version = None
    problems = ()


def _subset(series, idx):
    if isinstance(series, ScalarSeries):
        return ScalarSeries(series.steps[idx], series.values[idx], series.wall_times[idx])
    return DistributionSeries(series.steps[idx], series.wall_times[idx], series.data[idx],
                              series.quantile_probs, series.num_bins)


class IndexSource:
    """One request's view of the index: an IndexSnapshot (every read of the request sees the
    same moment), plus what the routes ask of any source. It lists the runs whose first-view
    aggregates are computed (`ready`); the others, and the runs the reload under way found and
    has not read yet (`pending`; None: the first listing is not done), are being indexed."""

    source = "index"

    def __init__(self, snapshot, loading, pending=frozenset(), ready=None):
        self._s = snapshot
        self.loading = loading
        self._pending, self._ready = pending, ready
        names = snapshot.runs()
        self._runs = names if ready is None else [r for r in names if r in ready]
        self.indexing = pending is None or bool(pending) or len(self._runs) < len(names)

    def __getattr__(self, name):  # series, scalars, skipped_files, version, ...
        return getattr(self._s, name)

    def runs(self):
        return self._runs

    def not_indexed_yet(self, run):
        """Whether `run`, which runs() does not list, may be one being indexed (before the
        first listing of the logdir is done, any run may be)."""
        return self._pending is None or run in self._pending or run in self._s.runs()

    def fits(self, run):
        return self._s.markers(run, "fit").steps.tolist()

    def key(self, run, tag, kind, source=None):
        """What identifies the content of a series (for cache keys)."""
        return self._s.series_key(run, tag, kind, source)

    @staticmethod
    def sampled(run, tag, kind, source=None):
        return None


class Sources:
    """The source of each request (``of``), and what the reload thread keeps: the index it
    reloads, the Precomputed of every distribution series, the runs whose first-view
    aggregates are computed, whether the first reload and its aggregates are done."""

    def __init__(self, context):
        self._provider = getattr(context, "data_provider", None)
        logdir = getattr(context, "logdir", None) or ""
        self.index = LogdirIndex(logdir) if logdir else None
        self.scanned = threading.Event()  # the first reload is done
        self.aggregated = threading.Event()  # ... and the aggregates of what it read
        self._precomputed = {}  # (run, tag) -> reduce.distribution.Precomputed
        self._ready = frozenset()  # runs whose first view is precomputed (replaced, never changed)
        self._warmers = []  # weakref.WeakMethod(f): f(source, run) computes a route's caches
        self._provider_sources = {}  # experiment id -> (monotonic time made, ProviderSource)

    def of(self, request):
        """The source of `request` (None: TensorBoard's own question, e.g. is_active). Never
        waits: during the first index it lists what is indexed so far."""
        if self.index is not None:
            # `unpublished` before the snapshot: a run leaves it only once it is published
            pending = self.index.unpublished
            if pending is None and self.scanned.is_set():
                pending = frozenset()  # a first reload that failed before listing anything
            return IndexSource(self.index.snapshot(), not self.aggregated.is_set(), pending, self._ready)
        if self._provider is None:
            raise NotFound("no data source")
        # One source per experiment, re-listed at most once per RELOAD_MIN_INTERVAL_S (its
        # cache of points would otherwise be rebuilt on every request).
        environ = request.environ if request is not None else {}
        eid = plugin_util.experiment_id(environ)
        made, src = self._provider_sources.get(eid, (None, None))
        if made is None or time.monotonic() - made >= RELOAD_MIN_INTERVAL_S:
            src = ProviderSource(self._provider, plugin_util.context(environ), eid)
            self._provider_sources[eid] = (time.monotonic(), src)
        return src

    def has_event_files(self, limit=10_000):
        """Whether the index's logdir holds an event file, looked for without waiting for the
        first reload: a walk of at most ``limit`` entries of a local logdir (past it, or for a
        remote one, probably yes)."""
        logdir = self.index.logdir
        if "://" in logdir:
            return True
        seen = 0
        for _, dirs, files in os.walk(logdir):
            if any(".tfevents." in name for name in files):
                return True
            seen += len(dirs) + len(files)
            if seen > limit:
                return True
        return False

    def with_run(self, request):
        """(source, run) of a request that names a `run` (404 for one the source does not list,
        202 "indexing" for one it may list once indexed)."""
        src = self.of(request)
        return src, params.run(request, src)

    def precomputed(self, run, tag):
        """The Precomputed of a distribution series of the index, or None."""
        return self._precomputed.get((run, tag))

    def on_run(self, warm):
        """Registers the bound method ``warm(source, run)``, called by the reload thread for
        every run it publishes (weakly: it does not keep the route alive)."""
        self._warmers.append(weakref.WeakMethod(warm))

    def precompute_run(self, snap, run):
        """What the first view of `run` needs, computed as its data arrives (``LogdirIndex.reload``
        calls it after publishing the run): the distributions' aggregates, then each registered
        route's caches. The run is listed from then on."""
        try:
            for info in snap.series(run):
                if info.kind == "distribution":
                    self._update(snap, run, info.tag)
            src = IndexSource(snap, False)
            for ref in self._warmers:
                warm = ref()
                if warm is not None:
                    warm(src, run)
        except Exception:
            logger.exception("tb_batch: precomputing run %r failed", run)
        finally:
            if run not in self._ready:
                self._ready = self._ready | {run}

    def _update(self, snap, run, tag):
        uid, generation, _ = snap.series_key(run, tag, "distribution")
        pre = self._precomputed.get((run, tag)) or distribution.Precomputed()
        d = snap.distributions(run, tag)
        pre.update((uid, generation), d.data, d.quantile_probs)
        self._precomputed[(run, tag)] = pre
        return pre

    def precompute(self, snap):
        """After each reload: extends the aggregates of every distribution series with its new
        steps (those of runs published during the reload are already extended), drops those of
        series and runs that are gone."""
        derived = {}
        for run in snap.runs():
            for info in snap.series(run):
                if info.kind == "distribution":
                    derived[(run, info.tag)] = self._update(snap, run, info.tag)
        self._precomputed = derived
        self._ready = self._ready & set(snap.runs())


class RouteFamily:
    """The handlers of a route family (one module each), reading through `sources` (Sources)."""

    def __init__(self, sources):
        self._sources = sources
