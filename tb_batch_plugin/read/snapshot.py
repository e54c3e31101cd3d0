"""The query API of the index, written once: an ``IndexSnapshot`` (the index at one moment, what a
request reads) answers from itself, and ``LogdirIndex`` from its latest snapshot.

Design: docs/backend.md ("Snapshots")."""

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read import dynamics as sample_dynamics_reader
from tb_batch_plugin.read.sample_dynamics import label_issues as ranked_label_issues
from tb_batch_plugin.read.sample_series import PerClassSeries, SampleSeries
from tb_batch_plugin.read.sample_series import hardest as hardest_samples
from tb_batch_plugin.read.series import (SOURCES, DistributionSeries, MarkerSeries, ScalarSeries,
                                         SeriesInfo, UnknownKey)

# The reasons of ``skipped`` that count as skipped values (not records, not files).
_VALUE_REASONS = ("newer_version", "malformed_metadata", "bad_shape")


class SeriesView:
    """One series as published: immutable numpy views and what identifies their content."""

    __slots__ = ("kind", "name", "source", "provenance", "plugin_data", "steps", "walls", "values", "key")

    def __init__(self, store):
        self.kind, self.name, self.source = store.kind, store.name, store.source
        self.provenance, self.plugin_data = store.provenance, store.plugin_data
        self.steps, self.walls, self.values = store.view()
        self.key = (store.uid, store.generation, store.n)  # appends only grow n


class RunView:
    """One run as published (see IndexSnapshot); ``paths``: its event files by number, which
    the locators of its dynamics name; ``kept``: the dynamics aggregation state that every view
    of the run shares (dynamics.Kept; None: none kept)."""

    __slots__ = ("series", "skipped", "files", "corrupt", "version", "memo", "paths", "kept")

    def __init__(self, series, skipped, files, corrupt, version, paths=(), kept=None):
        self.series, self.skipped, self.files = series, skipped, files
        self.corrupt, self.version, self.paths, self.kept = corrupt, version, paths, kept
        self.memo = {}  # derived values (series list, evaluations), computed on first use


class IndexQueries:
    """The queries of the index, written once: each reads exactly one IndexSnapshot,
    ``self.snapshot()`` (its ``_runs``, ``_run`` and ``_view``), its own for a snapshot, the
    latest for a LogdirIndex (docs/backend.md, "The query API")."""

    def snapshot(self):
        """The IndexSnapshot that answers the queries."""
        raise NotImplementedError

    def runs(self):
        """Run names (directories holding event files, relative to the logdir; '.' for it)."""
        return sorted(self.snapshot()._runs)

    def series(self, run):
        """[SeriesInfo] of a run's scalar and distribution series with at least one point, by tag
        (the same tag from two writers is two series, told apart by ``source``)."""
        r = self.snapshot()._run(run)
        out = r.memo.get("series")
        if out is None:
            views = sorted((v for (kind, _, _), v in r.series.items() if kind in ("scalar", "distribution")),
                           key=lambda v: (v.name, v.kind, SOURCES.index(v.source)))
            out = r.memo["series"] = [
                SeriesInfo(v.name, v.kind, v.source, metadata.PROVENANCE_NAMES[v.provenance], len(v.steps),
                           int(v.steps[0]), int(v.steps[-1])) for v in views]
        return list(out)

    def tags(self, run):
        """{tag: 'scalar' | 'distribution'} of a run's series (for a tag that two writers wrote,
        the kind of the one ``scalars``/``distributions`` return without a ``source``)."""
        out = {}
        for info in self.series(run):
            out.setdefault(info.tag, info.kind)
        return out

    def scalars(self, run, tag, source=None):
        """The ScalarSeries of `tag`: tb-batch's if it wrote one, else the one other writer's
        (``source`` picks one: 'tb_batch', 'scalars' or 'simple_value')."""
        v = self.snapshot()._view(run, tag, "scalar", source)
        return ScalarSeries(v.steps, v.values, v.walls)

    def distributions(self, run, tag):
        v = self.snapshot()._view(run, tag, "distribution")
        layout = v.plugin_data
        return DistributionSeries(v.steps, v.walls, v.values, list(layout.quantile_probs), layout.num_bins)

    def samples(self, run):
        """The SampleSeries of a run: the highest-loss samples of each recorded step."""
        v = self.snapshot()._view(run, metadata.SAMPLES_TAG, "samples")
        return SampleSeries(v.steps, v.walls, v.values, v.plugin_data.fields, v.plugin_data.num_samples)

    def per_class(self, run, output=None):
        """The PerClassSeries of a run (of one output's classes, for a model with several)."""
        tag = metadata.PER_CLASS_TAG + ("" if output is None else "/" + output)
        v = self.snapshot()._view(run, tag, "per_class")
        return PerClassSeries(v.steps, v.walls, v.values, v.plugin_data.num_classes)

    def per_class_outputs(self, run):
        """The outputs with per-class losses in a run (None for a model's single output)."""
        tags = sorted(tag for (kind, tag, _) in self.snapshot()._run(run).series if kind == "per_class")
        return [None if t == metadata.PER_CLASS_TAG else t[len(metadata.PER_CLASS_TAG) + 1:] for t in tags]

    def hardest(self, run, start=None, end=None, top=50):
        """The samples most often among their batch's highest losses in steps [start, end] (see
        ``sample_series.hardest``)."""
        return hardest_samples(self.samples(run), start, end, top)

    def dynamics_outputs(self, run):
        """The outputs with per-sample dynamics in a run ('' for a model's single output)."""
        return list(sample_dynamics_reader.outputs(self.snapshot()._run(run)))

    def dynamics(self, run, output=None):
        """The SampleDynamics of a run's training samples (of `output`: None picks the only one;
        UnknownKey names the choices when there are several): per sample, AUM, forgetting,
        confidence, variability, losses, ... (see sample_dynamics.SampleDynamics). Reads the
        run's dynamics records streaming (seconds per GB) the first time; then, as the run grows,
        only its new records, added to the aggregation kept for the run (dynamics.Kept)."""
        return sample_dynamics_reader.dynamics(self.snapshot()._run(run), run, output)

    def label_issues(self, run, top=None, output=None):
        """The samples most likely mislabelled first, with their signals (see
        ``sample_dynamics.label_issues``); ValueError for an output without classes."""
        return ranked_label_issues(self.dynamics(run, output), top)

    def presentations(self, run, key, output=None):
        """Every presentation of one sample (`key`: fingerprint as 16 hexadecimal digits, or id):
        {step, loss, margin, label_probability, label, predicted, correct} arrays (the last five
        for classification outputs), in step order."""
        return sample_dynamics_reader.presentations(self.snapshot()._run(run), run, key, output)

    def markers(self, run, kind):
        """The MarkerSeries of marker `kind` ('fit', 'epoch' or 'evaluation'; see metadata),
        empty when the run has none."""
        code = {name: k for k, name in metadata.KIND_NAMES.items()}[kind]
        fields = metadata.MARKER_FIELDS[code]
        v = self.snapshot()._run(run).series.get(("marker", kind, "tb_batch"))
        if v is None:
            steps, walls, vals = np.zeros(0, np.int64), np.zeros(0), np.zeros((0, len(fields)))
        else:
            steps, walls, vals = v.steps, v.walls, v.values
        return MarkerSeries(steps, walls, dict(zip(fields, vals.astype(np.int64).T)))

    def evaluations(self, run):
        """The evaluations of a validation run, from its evaluation markers: a list of
        {first_step, last_step, count, train_step, epoch} (epoch None outside fit; last_step None
        when no step of it was recorded). Each evaluation holds the run's steps from its marker
        up to the next marker."""
        snap = self.snapshot()
        r = snap._run(run)
        out = r.memo.get("evaluations")
        if out is None:
            out = r.memo["evaluations"] = _evaluations(snap.markers(run, "evaluation"), r)
        return [dict(e) for e in out]

    def skipped(self, run):
        """{reason: count} of what was skipped in a run: 'corrupt_records' (bad CRC or framing,
        or not parseable), 'implausible_length' (a record header claiming more than
        tfrecord.MAX_RECORD_BYTES; reading goes on after it), 'newer_version' (tb_batch data of a
        newer contract), 'malformed_metadata', 'bad_shape' (a value whose shape does not fit its
        series), and files not read now: 'unreadable_file', 'not_a_regular_file' (see
        ``skipped_files``)."""
        return dict(self.snapshot()._run(run).skipped)

    def skipped_files(self, run):
        """[{file, reason, error}] of the run's event files not read now: reason 'unreadable_file'
        (error: the OS error, e.g. 'Permission denied') or 'not_a_regular_file' (error: 'FIFO',
        'socket', 'character device', ...; such files are never opened)."""
        return [dict(f) for f in self.snapshot()._run(run).files]

    @property
    def corrupt_records(self):
        """Records skipped because their CRC (or framing) was wrong, or they did not parse."""
        return sum(r.corrupt for r in self.snapshot()._runs.values())

    @property
    def skipped_values(self):
        """Values skipped because they did not fit their series or could not be read."""
        return sum(n for r in self.snapshot()._runs.values() for k, n in r.skipped.items()
                   if k in _VALUE_REASONS)

    def nbytes(self):
        """Bytes held by the numpy columns of the published points."""
        return sum(len(v.steps) * (16 + v.values.dtype.itemsize * (v.values.shape[1] if v.values.ndim > 1 else 1))
                   for r in self.snapshot()._runs.values() for v in r.series.values())


def _evaluations(markers, r):
    """IndexQueries.evaluations of the run view `r` with evaluation markers `markers`."""
    if not len(markers.steps):
        return []
    parts = [v.steps for (kind, _, source), v in r.series.items()
             if kind != "marker" and source == "tb_batch"]
    steps = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    bounds = np.searchsorted(steps, np.append(markers.steps, np.iinfo(np.int64).max))
    out = []
    for i, first in enumerate(markers.steps.tolist()):
        inside = steps[bounds[i]:bounds[i + 1]]
        epoch = int(markers.fields["epoch"][i])
        out.append({"first_step": first, "last_step": int(inside[-1]) if inside.size else None,
                    "count": int(inside.size), "train_step": int(markers.fields["train_step"][i]),
                    "epoch": epoch if epoch >= 0 else None})
    return out


class IndexSnapshot(IndexQueries):
    """The index at one moment: what all reads of one request see. Never changes; the reload
    publishes a new snapshot (``LogdirIndex.snapshot()``), so readers need no lock and are
    never blocked by reading. The queries are those of IndexQueries."""

    def __init__(self, runs, problems, loading, version):
        self._runs = runs  # name -> RunView
        self.problems = problems  # [{path, reason, error}] of the logdir, not of a run
        self.loading = loading  # True until the first reload has read every file
        self.version = version  # changes whenever anything published changes

    def snapshot(self):
        """This snapshot (so that code reading an index or a snapshot can ask either for one)."""
        return self

    def _run(self, run):
        r = self._runs.get(run) if isinstance(run, str) else None
        if r is None:
            raise UnknownKey("unknown run %r" % (run,))
        return r

    def _view(self, run, tag, kind, source=None):
        r = self._run(run)
        for src in (source,) if source is not None else SOURCES:
            v = r.series.get((kind, tag, src))
            if v is not None:
                return v
        raise UnknownKey("unknown %s tag %r in run %r" % (kind, tag, run))

    def run_version(self, run):
        """A number that changes whenever anything of the run changes."""
        return self._run(run).version

    def series_key(self, run, tag, kind, source=None):
        """(store id, generation, count): identifies the content of a series; a longer count with
        the same id and generation is the same points plus appended ones."""
        return self._view(run, tag, kind, source).key
