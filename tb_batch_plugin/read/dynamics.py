"""Per-sample training dynamics of a run: its dynamics records read back by the locators the
index keeps (never held by the index), checked, and aggregated streaming per sample identity.

Numpy and TensorBoard's protos, never TensorFlow. Why streaming: a run of 1.28M samples x 90
epochs holds 115M rows (2.7 GB); memory here is O(identities + one chunk). The records of a
series are read in the store's order (increasing steps, after the restart rule), adjacent ones
together in reads of about ``CHUNK_BYTES``; each record's framing and CRCs are checked
(decoded as the index decodes: ``decode.decode``, vectorised) and it must hold the series' (B, W)
int32 tensor at its indexed step; others are counted per reason and skipped, never raised.
The aggregation per identity: ``dynamics_stats``. Design: docs/backend.md ("Per-sample
dynamics"); the row layout: ``metadata.DYNAMICS_TAG``."""

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
_COMPUTING = threading.Lock()  # one aggregation at a time: concurrent requests wait for it


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
    under the series view's key (unchanged content: the same object). Computed once at a time:
    a second caller (another request thread) waits and gets the first one's result."""
    output, view, names = _select(run_view, run, output)
    memo_key = ("dynamics", view.key)
    found = run_view.memo.get(memo_key)
    if found is not None:
        return found
    with _COMPUTING:
        found = run_view.memo.get(memo_key)
        if found is None:
            records = _Records(run_view.paths, view)
            agg = Aggregate(records.fields, view.plugin_data.num_classes)
            for steps, rows in records.chunks():
                agg.add(steps, rows)
            found = run_view.memo[memo_key] = SampleDynamics(agg.columns(), names, output, agg.classification,
                                                             records.skipped)
    return found


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
        try:
            buf = readers[number].read(int(locs[-1, 1] + locs[-1, 2]) - start, start)
        except Exception:
            buf = None
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
