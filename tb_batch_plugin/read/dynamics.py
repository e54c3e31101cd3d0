"""Per-sample training dynamics of a run: its dynamics records read back by the locators the
index keeps (never held by the index), checked, and aggregated streaming per sample identity.

Numpy and TensorBoard's protos, never TensorFlow. Why streaming: a run of 1.28M samples x 90
epochs holds 115M rows (2.7 GB); memory here is O(identities + one chunk). The records of a
series are read in the store's order (increasing steps, after the restart rule), adjacent ones
together in reads of about ``CHUNK_BYTES``; each record's framing and CRCs are checked
(decoded as the index decodes: ``decode.decode``, vectorised) and it must hold the series' (B, W)
int32 tensor at its indexed step; others are counted per reason and skipped, never raised.
The aggregation per identity: ``dynamics_stats``; it is kept per series across the run's views
(``Kept``), so that a live run's next view costs only its new records. Design: docs/backend.md
("Per-sample dynamics"); the row layout: ``metadata.DYNAMICS_TAG``."""

import contextlib
import threading

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read import decode, files, tfrecord
from tb_batch_plugin.read.dynamics_stats import Aggregate, words
from tb_batch_plugin.read.sample_dynamics import SampleDynamics
from tb_batch_plugin.read.series import UnknownKey

CHUNK_BYTES = 4 << 20  # bytes per read and per aggregated chunk (tests lower it)
GAP_BYTES = 64 << 10  # records at most this far apart are read together (other tags between)
_PRESENTATIONS_KEPT = 16  # presentations() results kept per series view


class Kept:
    """The streaming aggregation of each dynamics series of one run, kept across the run's views:
    a view with more records of the same store (uid and generation) only adds the new ones.

    Why here: one Kept belongs to the reload side's state of a run (index._Run) and travels with
    every RunView of it, so a snapshot (what a request reads) reaches it without the LogdirIndex;
    it lives as long as the run (dropped with the run's last view when the run disappears or is
    read again from the start) and holds one state per series: bounded, with no eviction rule."""

    def __init__(self):
        self.streams = {}  # series name -> _Stream


class _Stream:
    """The aggregation of the first `n` records of one store (uid, generation), and the
    SampleDynamics last published from it (None: not since the last records were added)."""

    def __init__(self, view):
        self.uid, self.generation, _ = view.key
        self.n, self.skipped, self.result = 0, {}, None
        self.agg = Aggregate(tuple(view.plugin_data.fields), view.plugin_data.num_classes)


class Reads:
    """Records and bytes that dynamics() aggregations have read since the process started: how the
    tests and bench/dynamics_read.py see that an increment reads only the new records. Changed
    only during an aggregation's turn."""

    def __init__(self):
        self.records = self.bytes = 0


READS = Reads()


class _Turns:
    """One aggregation at a time. Among callers waiting with views of one store, the one with the
    fewest records goes first: after a long aggregation the waiters (holding views published
    meanwhile) each add their records to the kept state, instead of the newest going first and
    leaving the others older than the state (a full aggregation each)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = []  # series keys (uid, generation, n) of the callers waiting

    def _first(self, key):
        return not self._busy and not any(w[:2] == key[:2] and w[2] < key[2] for w in self._waiting)

    @contextlib.contextmanager
    def __call__(self, key):
        with self._cond:
            self._waiting.append(key)
            try:
                self._cond.wait_for(lambda: self._first(key))
            finally:
                self._waiting.remove(key)
                self._cond.notify_all()  # a caller behind this one may go now (or when not busy)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


_TURNS = _Turns()


# ----------------------------------------------------------------------------------------------
# Outputs and queries (IndexQueries calls these with the run's RunView)


def outputs(run_view):
    """{output name ('' for a single output): SeriesView} of the run's dynamics series."""
    prefix = metadata.DYNAMICS_TAG + "/"
    return {("" if tag == metadata.DYNAMICS_TAG else tag[len(prefix):]): v
            for (kind, tag, _), v in sorted(run_view.series.items()) if kind == "dynamics"}


def _select(run_view, run, output):
    found = outputs(run_view)
    if not found:
        raise UnknownKey("no per-sample dynamics in run %r" % (run,))
    if output is None and len(found) == 1:
        output = next(iter(found))
    if output not in found:
        raise UnknownKey("%s in run %r: outputs with dynamics are %s" % (
            "pick an output" if output is None else "no dynamics of output %r" % (output,), run,
            ", ".join(repr(o) for o in found)))
    return output, found[output], list(found)


def dynamics(run_view, run, output=None):
    """The SampleDynamics of one output of a run (IndexQueries.dynamics), memoised per run view
    under the series view's key. Computed once at a time (``_TURNS``): a second caller (another
    request thread) waits and gets the first one's result. Incremental (``_aggregate``)."""
    output, view, names = _select(run_view, run, output)
    memo_key = ("dynamics", view.key)
    found = run_view.memo.get(memo_key)
    if found is not None:
        return found
    with _TURNS(view.key):
        found = run_view.memo.get(memo_key)
        if found is None:
            found = run_view.memo[memo_key] = _aggregate(run_view, view, names, output)
    return found


def _aggregate(run_view, view, names, output):
    """The SampleDynamics of the series `view`, from the run's kept state of its store when there
    is one: only records after those it holds are read and added, then a new SampleDynamics is
    published (its columns lent by the state copy-on-write: never changed after). The same records
    give the same object. Another store or generation (a restart cut points, the run was read
    again) starts the state again; a view older than the state is aggregated aside, from scratch.
    A state that skipped records (a file unreadable or changed since indexed) is not kept: the
    next view reads them all again, as a fresh aggregation would."""
    uid, generation, n = view.key
    streams = run_view.kept.streams if run_view.kept is not None else {}
    s = streams.get(view.name)
    if s is None or (s.uid, s.generation) != (uid, generation):
        s = streams[view.name] = _Stream(view)
    elif s.n > n:
        s = _Stream(view)
    if s.n < n:
        records = _Records(run_view.paths, view)
        try:
            for steps, rows in records.chunks(s.n, n):
                s.agg.add(steps, rows)
        except BaseException:  # the state holds part of the records: not kept
            if streams.get(view.name) is s:
                del streams[view.name]
            raise
        finally:
            READS.records += records.records_read
            READS.bytes += records.bytes_read
        s.n, s.result = n, None
        for reason, count in records.skipped.items():
            s.skipped[reason] = s.skipped.get(reason, 0) + count
        if records.skipped and streams.get(view.name) is s:
            del streams[view.name]
    if s.result is None:
        s.result = SampleDynamics(s.agg.columns(), names, output, s.agg.classification, s.skipped)
    elif s.result.outputs != names:  # another output appeared: the same (read-only) columns
        s.result = SampleDynamics(s.result.columns(), names, output, s.agg.classification, s.skipped)
    return s.result


def presentations(run_view, run, key, output=None):
    """{step, loss[, margin, label_probability, label, predicted, correct]} arrays of every
    presentation of one sample (`key`: its fingerprint as hexadecimal, or its id as an int), in
    step order (IndexQueries.presentations). A scan of the series' records (of the steps between
    its first and last presentation when ``dynamics`` is known); the last few kept."""
    output, view, _ = _select(run_view, run, output)
    fields = tuple(view.plugin_data.fields)
    if not isinstance(key, str) and "id_hi" not in fields:
        raise UnknownKey("run %r recorded no sample ids: pass a fingerprint" % (run,))
    try:
        if isinstance(key, str):
            wanted, column = np.uint64(int(key, 16)), "fingerprint"
        else:
            wanted, column = np.int64(key), "id"
    except (ValueError, OverflowError, TypeError):
        raise UnknownKey("not a fingerprint (16 hexadecimal digits) nor an id: %r" % (key,)) from None
    kept = run_view.memo.setdefault(("presentations", view.key), {})
    found = kept.get((column, int(wanted)))
    if found is not None:
        return {k: v.copy() for k, v in found.items()}
    lo, hi = 0, len(view.steps)
    known = run_view.memo.get(("dynamics", view.key))
    if known is not None and (column == "id" or known.id is None):  # the identity's own key
        match = np.flatnonzero(getattr(known, column) == wanted)
        if len(match):
            lo = int(np.searchsorted(view.steps, known.first_step[match].min()))
            hi = int(np.searchsorted(view.steps, known.last_step[match].max(), side="right"))
    records = _Records(run_view.paths, view)
    parts = []
    for steps, rows in records.chunks(lo, hi):
        w = words(rows, fields, view.plugin_data.num_classes)
        hit = w[column] == wanted
        if hit.any():
            parts.append({"step": steps[hit], **{k: v[hit] for k, v in w.items()
                                                  if k not in ("fingerprint", "id", "key")}})
    if not parts:
        raise UnknownKey("no sample with %s %s in run %r" % (column, key, run))
    found = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if "label" in found:
        found["correct"] = found["predicted"] == found["label"]
    if len(kept) >= _PRESENTATIONS_KEPT:
        kept.clear()
    kept[(column, int(wanted))] = found
    return {k: v.copy() for k, v in found.items()}


# ----------------------------------------------------------------------------------------------
# Reading records by their locators


class _Records:
    """The records of one dynamics series (a SeriesView of locators) of a run whose event files
    are `paths`; ``chunks()`` yields their rows, ``skipped`` counts what could not be read."""

    def __init__(self, paths, view):
        self.paths, self.view = paths, view
        self.fields = tuple(view.plugin_data.fields)
        self.skipped = {}
        self.records_read = self.bytes_read = 0

    def _skip(self, reason, n=1):
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def chunks(self, lo=0, hi=None):
        """Yields (steps (R,), rows (R, W) int32) of the records [lo, hi) in order, about
        CHUNK_BYTES of rows at a time."""
        locs = self.view.values[lo:hi].astype(np.int64)
        steps = self.view.steps[lo:hi]
        readers = {}
        pending, size = [], 0
        try:
            for a, b in _spans(locs, CHUNK_BYTES, GAP_BYTES):
                got = self._read_span(readers, locs[a:b], steps[a:b])
                if got is not None:
                    pending.append(got)
                    size += got[1].nbytes
                if size >= CHUNK_BYTES:
                    yield tuple(np.concatenate(part) for part in zip(*pending))
                    pending, size = [], 0
            if pending:
                yield tuple(np.concatenate(part) for part in zip(*pending))
        finally:
            for reader in readers.values():
                if reader is not None:
                    reader.close()

    def _read_span(self, readers, locs, steps):
        """(steps, rows) of the rows of the records of one read (one file, close together), or
        None. The records are decoded as the index decodes (decode.decode, without an origin: the
        int32 values), with their CRCs; each must hold the series' rows at its indexed step."""
        number = int(locs[0, 0])
        if number not in readers:
            try:
                readers[number] = files.RangeReader(self.paths[number])
            except Exception:  # gone, unreadable, not a regular file, or a bad number
                readers[number] = None
        start = int(locs[0, 1])
        self.records_read += len(locs)
        try:
            buf = readers[number].read(int(locs[-1, 1] + locs[-1, 2]) - start, start)
        except Exception:
            buf = None
        self.bytes_read += 0 if buf is None else len(buf)
        if buf is None:
            self._skip("unreadable_file", len(locs))
            return None
        arr = np.frombuffer(buf, dtype=np.uint8)
        framed = np.flatnonzero(tfrecord.headers_ok(arr, locs[:, 1] - start, locs[:, 2]))
        pieces = decode.decode(buf, arr, locs[framed, 1] - start, locs[framed, 2] - 16, origin=None)
        self._skip("corrupt_records", len(locs) - len(framed) + pieces.corrupt)
        width, found, read = len(self.fields), [], 0
        for (tag, _), parts in pieces.points.items():
            for recs, at, _, values in parts if tag == self.view.name else ():
                good = at == steps[framed[recs]]  # else the file changed since it was indexed
                if values.dtype == np.int32 and values.shape[1] % width == 0 and good.any():
                    per_record = values.shape[1] // width
                    found.append((np.repeat(recs[good], per_record), np.repeat(at[good], per_record),
                                  values[good].reshape(-1, width)))
                    read += int(good.sum())
        self._skip("not_as_indexed", len(framed) - pieces.corrupt - read)  # another tag, step or layout
        if not found:
            return None
        recs, at, rows = (np.concatenate(part) for part in zip(*found))
        if len(found) > 1:  # records of several batch sizes: back to file order
            order = np.argsort(recs, kind="stable")
            at, rows = at[order], rows[order]
        return at, rows


def _spans(locs, chunk_bytes, gap_bytes):
    """[(a, b)]: the records [a, b) read at once: same file, in increasing offsets at most
    `gap_bytes` apart, starting within `chunk_bytes` of the read's first record."""
    n = len(locs)
    if not n:
        return []
    number, offset = locs[:, 0], locs[:, 1]
    end = offset + locs[:, 2]
    new = np.ones(n, dtype=bool)
    new[1:] = (number[1:] != number[:-1]) | (offset[1:] < end[:-1]) | (offset[1:] - end[:-1] > gap_bytes)
    first = offset[new][np.cumsum(new) - 1]  # the offset where each record's stretch starts
    part = (offset - first) // max(1, chunk_bytes)
    new[1:] |= part[1:] != part[:-1]
    starts = np.flatnonzero(new)
    return list(zip(starts.tolist(), np.append(starts[1:], n).tolist()))
