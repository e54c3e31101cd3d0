"""Per-sample training dynamics of a run: its dynamics records read back by the locators the
index keeps (never held by the index), checked, and aggregated streaming per sample identity.

Numpy and TensorBoard's protos, never TensorFlow. Why streaming: a run of 1.28M samples x 90
epochs holds 115M rows (2.7 GB); memory here is O(identities + one chunk). The records of a
series are read in the store's order (increasing steps, after the restart rule), adjacent ones
together in reads of about ``CHUNK_BYTES``; each record's framing and CRCs are checked
(``tfrecord.records_ok``, vectorised) and it must parse as an Event holding the series' (B, W)
int32 tensor at its indexed step; others are counted per reason and skipped, never raised.
Design: docs/backend.md ("Per-sample dynamics"); the row layout: ``metadata.DYNAMICS_TAG``."""

import threading

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read import files, tfrecord
from tb_batch_plugin.read.sample_dynamics import COLUMNS, SampleDynamics
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
            agg = _Aggregate(records.fields, view.plugin_data.num_classes)
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
    if isinstance(key, str):
        try:
            wanted, column = np.uint64(int(key, 16)), "fingerprint"
        except ValueError:
            raise UnknownKey("not a fingerprint (16 hexadecimal digits): %r" % (key,)) from None
    elif "id_hi" in fields:
        wanted, column = np.int64(key), "id"
    else:
        raise UnknownKey("run %r recorded no sample ids: pass a fingerprint" % (run,))
    kept = run_view.memo.setdefault(("presentations", view.key), {})
    found = kept.get((column, int(wanted)))
    if found is not None:
        return {k: v.copy() for k, v in found.items()}
    lo, hi = 0, len(view.steps)
    known = run_view.memo.get(("dynamics", view.key))
    if known is not None:
        match = np.flatnonzero(getattr(known, column) == wanted) if getattr(known, column) is not None else []
        if len(match):
            lo = int(np.searchsorted(view.steps, known.first_step[match].min()))
            hi = int(np.searchsorted(view.steps, known.last_step[match].max(), side="right"))
    records = _Records(run_view.paths, view)
    parts = []
    for steps, rows in records.chunks(lo, hi):
        words = _words(rows, fields, view.plugin_data.num_classes)
        hit = words[column] == wanted
        if hit.any():
            parts.append({"step": steps[hit], **{k: v[hit] for k, v in words.items()
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
        pending, pending_steps, size = [], [], 0
        try:
            for a, b in _spans(locs, CHUNK_BYTES, GAP_BYTES):
                for step, rows in self._read_span(readers, locs[a:b], steps[a:b]):
                    pending.append(rows)
                    pending_steps.append(np.full(len(rows), step, dtype=np.int64))
                    size += rows.nbytes
                if size >= CHUNK_BYTES:
                    yield np.concatenate(pending_steps), np.concatenate(pending)
                    pending, pending_steps, size = [], [], 0
            if pending:
                yield np.concatenate(pending_steps), np.concatenate(pending)
        finally:
            for reader in readers.values():
                if reader is not None:
                    reader.close()

    def _read_span(self, readers, locs, steps):
        """[(step, rows)] of the records of one read (one file, close together)."""
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
            return []
        ok = tfrecord.records_ok(np.frombuffer(buf, dtype=np.uint8), locs[:, 1] - start, locs[:, 2])
        self._skip("corrupt_records", int((~ok).sum()))
        out = []
        for i in np.flatnonzero(ok).tolist():
            at = int(locs[i, 1]) - start
            rows = self._parse(buf[at + 12:at + int(locs[i, 2]) - 4], int(steps[i]))
            if rows is not None:
                out.append((int(steps[i]), rows))
        return out

    def _parse(self, data, step):
        """The (B, W) rows of one record's Event, or None (counted) if it is not one."""
        from tensorboard.compat.proto import event_pb2
        try:
            ev = event_pb2.Event.FromString(data)
        except Exception:
            self._skip("corrupt_records")
            return None
        width = len(self.fields)
        for v in ev.summary.value if ev.step == step else ():
            if v.tag != self.view.name or not v.HasField("tensor"):
                continue
            t = v.tensor
            dims = [d.size for d in t.tensor_shape.dim]
            if t.dtype != 3 or len(dims) != 2 or dims[1] != width or dims[0] < 0:
                break
            if t.tensor_content:
                if len(t.tensor_content) != 4 * dims[0] * width:
                    break
                return np.frombuffer(t.tensor_content, dtype="<i4").reshape(dims[0], width)
            try:
                from tensorboard.util import tensor_util
                return np.asarray(tensor_util.make_ndarray(t), dtype=np.int32).reshape(dims[0], width)
            except Exception:
                break
        self._skip("bad_shape")  # another step, tag, dtype or shape than indexed
        return None


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


def _words(rows, fields, num_classes):
    """{key, fingerprint, id (or None), loss[, margin, label_probability, label, predicted]} of
    the rows (metadata's layout); key: the identity (id if recorded, else the fingerprint) as
    uint64."""
    col = {name: rows[:, j] for j, name in enumerate(fields)}

    def u64(hi, lo):
        return (col[hi].view(np.uint32).astype(np.uint64) << np.uint64(32)) | col[lo].view(np.uint32)

    out = {"fingerprint": u64("fingerprint_hi", "fingerprint_lo"), "id": None}
    if "id_hi" in col:
        out["id"] = u64("id_hi", "id_lo").view(np.int64)
    out["key"] = out["fingerprint"] if out["id"] is None else out["id"].view(np.uint64)
    for name in metadata.DYNAMICS_FLOAT_FIELDS:
        if name in col:
            out[name] = np.ascontiguousarray(col[name]).view(np.float32)
    if num_classes:
        if "label_predicted" in col:
            packed = col["label_predicted"].view(np.uint32)
            out["label"] = (packed & np.uint32(0xFFFF)).astype(np.int64)
            out["predicted"] = (packed >> np.uint32(16)).astype(np.int64)
        else:
            out["label"], out["predicted"] = col["label"].astype(np.int64), col["predicted"].astype(np.int64)
    return out


# ----------------------------------------------------------------------------------------------
# Streaming aggregation per identity


class _Aggregate:
    """Per-identity state over the chunks added so far, in slots by first presentation; the
    identities' keys sorted in ``keys`` (their slots in ``slots``) so a chunk maps its keys with
    np.unique and searchsorted, no Python per row."""

    _INT = ("presentations", "first_step", "last_step", "forgetting", "learned_step", "correct",
            "last_correct", "label", "predicted")
    _FLOAT = ("loss_sum", "last_loss", "margin_sum", "prob_mean", "prob_m2")

    def __init__(self, fields, num_classes):
        self.fields, self.num_classes = fields, int(num_classes)
        self.classification = self.num_classes > 0
        self.n = 0
        self.keys, self.slots = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        self.state = {name: np.zeros(0, np.int64) for name in self._INT}
        self.state.update({name: np.zeros(0, np.float64) for name in self._FLOAT})
        self.state["fingerprint"] = np.zeros(0, np.uint64)
        self.state["id"] = np.zeros(0, np.int64) if "id_hi" in fields else None

    def _grow(self, need):
        capacity = len(self.state["presentations"])
        if need <= capacity:
            return
        capacity = max(need, capacity + capacity // 2 + 1024)
        for name, a in self.state.items():
            if a is not None:
                grown = np.zeros(capacity, a.dtype)
                grown[:self.n] = a[:self.n]
                self.state[name] = grown

    def _slots(self, u, first_rows):
        """The slots of the chunk's distinct keys `u` (sorted), new ones numbered by their first
        row in the chunk (`first_rows`); returns (slots, which are new)."""
        pos = np.searchsorted(self.keys, u)
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == u[found]
        slots = np.empty(len(u), np.int64)
        slots[found] = self.slots[pos[found]]
        new = np.flatnonzero(~found)
        if new.size:
            by_first = new[np.argsort(first_rows[new], kind="stable")]
            slots[by_first] = self.n + np.arange(new.size)
            self.keys = np.insert(self.keys, pos[new], u[new])
            self.slots = np.insert(self.slots, pos[new], slots[new])
            self._grow(self.n + new.size)
            self.n += new.size
        return slots, ~found

    def add(self, steps, rows):
        """Adds a chunk of rows (in step order, batch order within a step) with their steps."""
        if not len(rows):
            return
        w = _words(rows, self.fields, self.num_classes)
        order = np.argsort(w["key"], kind="stable")  # by identity, in time order within one
        key = w["key"][order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(key)) - 1
        count = ends - starts + 1
        slot, new = self._slots(key[starts], order[starts])
        st, step = self.state, steps[order]
        before = st["presentations"][slot]
        st["presentations"][slot] = before + count
        st["first_step"][slot[new]] = step[starts[new]]
        st["last_step"][slot] = step[ends]
        for name in ("fingerprint", "id"):
            if st[name] is not None:
                st[name][slot] = w[name][order][ends]
        loss = w["loss"][order].astype(np.float64)
        st["loss_sum"][slot] += np.add.reduceat(loss, starts)
        st["last_loss"][slot] = loss[ends]
        if self.classification:
            self._add_classification(w, order, starts, ends, count, slot, new, before, step)

    def _add_classification(self, w, order, starts, ends, count, slot, new, before, step):
        st = self.state
        st["margin_sum"][slot] += np.add.reduceat(w["margin"][order].astype(np.float64), starts)
        label, predicted = w["label"][order], w["predicted"][order]
        correct = predicted == label
        st["correct"][slot] += np.add.reduceat(correct.astype(np.int64), starts)
        # Forgetting: wrong now, right at the previous presentation (maybe in an earlier chunk).
        previous = np.empty(len(correct), dtype=np.int64)
        previous[1:] = correct[:-1]
        previous[starts] = np.where(new, -1, st["last_correct"][slot])
        st["forgetting"][slot] += np.add.reduceat((previous == 1) & ~correct, starts)
        # Learned: the first step of the final run of correct presentations.
        wrong_at = np.maximum.reduceat(np.where(correct, -1, np.arange(len(correct))), starts)
        after_wrong = step[np.minimum(wrong_at + 1, len(step) - 1)]
        kept = np.where(st["last_correct"][slot] == 1, st["learned_step"][slot], step[starts])  # 0 if new
        st["learned_step"][slot] = np.where(wrong_at < 0, kept, np.where(wrong_at == ends, -1, after_wrong))
        st["last_correct"][slot] = correct[ends]
        st["label"][slot], st["predicted"][slot] = label[ends], predicted[ends]
        # p(label): the chunk's mean and squared deviations, merged (Chan et al.) with the state's.
        prob = w["label_probability"][order].astype(np.float64)
        mean_b = np.add.reduceat(prob, starts) / count
        m2_b = np.add.reduceat((prob - np.repeat(mean_b, count)) ** 2, starts)
        mean_a, total = st["prob_mean"][slot], before + count
        delta = mean_b - mean_a
        st["prob_mean"][slot] = mean_a + delta * count / total
        st["prob_m2"][slot] += m2_b + delta ** 2 * before * count / total

    def columns(self):
        """{column of SampleDynamics: array} of the identities seen."""
        n, st = self.n, self.state
        out = {name: st[name][:n].copy() for name in ("fingerprint", "presentations", "first_step", "last_step")}
        out["id"] = None if st["id"] is None else st["id"][:n].copy()
        count = np.maximum(out["presentations"], 1)
        out["mean_loss"] = st["loss_sum"][:n] / count
        out["last_loss"] = st["last_loss"][:n].copy()
        if self.classification:
            out["aum"] = st["margin_sum"][:n] / count
            out["confidence"] = st["prob_mean"][:n].copy()
            out["variability"] = np.sqrt(st["prob_m2"][:n] / count)
            out["accuracy"] = st["correct"][:n] / count
            for name in ("forgetting", "learned_step", "label", "predicted"):
                out[name] = st[name][:n].copy()
        else:
            for name in ("aum", "confidence", "variability", "accuracy"):
                out[name] = np.full(n, np.nan)
            for name in ("forgetting", "learned_step", "label", "predicted"):
                out[name] = np.full(n, -1, np.int64)
        assert set(out) == set(COLUMNS)
        return out
