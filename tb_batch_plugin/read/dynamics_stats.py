"""The streaming aggregation of per-sample dynamics rows per sample identity (read/dynamics.py
feeds it chunk by chunk): numpy only, no Python per row, memory O(identities + one chunk).

Why this shape (measured on 170K-row chunks of 1.28M identities, one core): mapping keys to
slots with a sorted table costs a searchsorted of ~25 ms (sorted needles; ~120 ms unsorted) and
a stable argsort of 64-bit keys ~35 ms, together most of the time; the open-addressing table
below answers in a few gathers (~5 ms), and a chunk in which every identity occurs once (the
usual case: a chunk is a small part of an epoch) needs no sort at all. Chunks with repeats (an
epoch boundary, a small data set, oversampling) are grouped by one argsort of slot * R + row."""

import numpy as np

from tb_batch_plugin import metadata

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # multiplicative hashing (Knuth)


def words(rows, fields, num_classes):
    """{key, fingerprint, id (or None), loss[, margin, label_probability, label, predicted]} of
    (R, W) int32 rows in metadata's layout (DYNAMICS_TAG); key: the identity (the id where
    recorded, else the fingerprint) as uint64."""
    col = {name: rows[:, j] for j, name in enumerate(fields)}

    def u64(hi, lo):
        j = fields.index(hi)
        if fields[j + 1:j + 2] == (lo,):  # adjacent words: one copy, halves swapped (10x faster)
            pair = np.ascontiguousarray(rows[:, j:j + 2]).view(np.uint64).ravel()
            return (pair << np.uint64(32)) | (pair >> np.uint64(32))
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


class KeyTable:
    """uint64 key -> int slot: open addressing with linear probing, at most half full, every
    probe round one vectorised gather for all keys still looking."""

    def __init__(self, bits=10):
        self.bits, self.count = bits, 0
        self.keys = np.zeros(1 << bits, np.uint64)
        self.slots = np.full(1 << bits, -1, np.int32)  # -1: empty

    def _home(self, keys):
        return ((keys * _GOLDEN) >> np.uint64(64 - self.bits)).astype(np.int64)

    def find(self, keys):
        """The slot of each key, -1 where unknown."""
        out = np.full(len(keys), -1, np.int64)
        todo, pos, mask = None, self._home(keys), (1 << self.bits) - 1
        while pos.size:
            slot = self.slots[pos]
            wanted = keys if todo is None else keys[todo]
            hit = (slot >= 0) & (self.keys[pos] == wanted)
            where = np.flatnonzero(hit) if todo is None else todo[hit]
            out[where] = slot[hit]
            go_on = (slot >= 0) & ~hit
            todo = np.flatnonzero(go_on) if todo is None else todo[go_on]
            pos = (pos[go_on] + 1) & mask
        return out

    def insert(self, keys, slots):
        """Adds distinct keys not in the table with their slots."""
        if 2 * (self.count + len(keys)) > len(self.keys):
            old = self.slots >= 0
            old_keys, old_slots = self.keys[old], self.slots[old]
            self.bits = max(self.bits, int(2 * (self.count + len(keys))).bit_length())
            self.keys = np.zeros(1 << self.bits, np.uint64)
            self.slots = np.full(1 << self.bits, -1, np.int32)
            self.count = 0
            self.insert(old_keys, old_slots)
        todo, pos, mask = np.arange(len(keys)), self._home(keys), (1 << self.bits) - 1
        while todo.size:
            free = np.flatnonzero(self.slots[pos] == -1)
            claim, at = todo[free], pos[free]
            self.slots[at] = -2 - claim  # of keys claiming one place, the last written wins
            won = self.slots[at] == -2 - claim
            self.keys[at[won]], self.slots[at[won]] = keys[claim[won]], slots[claim[won]]
            placed = np.zeros(todo.size, dtype=bool)
            placed[free[won]] = True
            todo, pos = todo[~placed], (pos[~placed] + 1) & mask  # the others: the next place
        self.count += len(keys)


class Groups:
    """A chunk's rows by identity slot, each group in time order: ``slot`` and ``count`` per
    group; ``take`` puts a row column in group order, ``sum``/``max``/``first``/``last`` reduce
    it per group. When every slot is distinct the groups are the rows themselves (no sort;
    ``order`` None, ``count`` 1)."""

    def __init__(self, slot, mark):
        n = len(slot)
        rows = np.arange(n)
        mark[slot] = rows
        if (mark[slot] == rows).all():
            self.order, self.slot, self.count = None, slot, 1
            self.starts = self.ends = rows
            return
        self.order = np.argsort(slot * n + rows)
        ordered = slot[self.order]
        first = np.ones(n, dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        self.starts = np.flatnonzero(first)
        self.ends = np.append(self.starts[1:], n) - 1
        self.slot, self.count = ordered[self.starts], self.ends - self.starts + 1

    def take(self, a):
        return a if self.order is None else a[self.order]

    def sum(self, a):
        return a if self.order is None else np.add.reduceat(a, self.starts)

    def max(self, a):
        return a if self.order is None else np.maximum.reduceat(a, self.starts)

    def first(self, a):
        return a if self.order is None else a[self.starts]

    def last(self, a):
        return a if self.order is None else a[self.ends]


class Aggregate:
    """Per-identity state over the chunks added so far, in slots numbered by first presentation
    (``add`` a chunk, ``columns()`` the SampleDynamics columns)."""

    # learned_step >= 0 also says that the last presentation was correct; label_predicted holds
    # the label of the last presentation in the high 32 bits, the prediction in the low ones.
    _INT = ("presentations", "first_step", "last_step", "forgetting", "learned_step", "correct",
            "label_predicted", "mark")
    _FLOAT = ("loss_sum", "last_loss", "margin_sum", "prob_mean", "prob_m2")

    def __init__(self, fields, num_classes):
        self.fields, self.num_classes = fields, int(num_classes)
        self.classification = self.num_classes > 0
        self.n = 0
        self.table = KeyTable()
        self.state = {name: np.zeros(0, np.int64) for name in self._INT}
        self.state.update({name: np.zeros(0, np.float64) for name in self._FLOAT})
        self.state["fingerprint"] = np.zeros(0, np.uint64)  # the key, without ids
        self.state["id"] = np.zeros(0, np.int64) if "id_hi" in fields else None
        self._lent = set()  # state arrays that published columns view: copied before the next write

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

    def _slots(self, key):
        """The slot of each row's identity; identities seen first here get the next slots in
        order of their first row."""
        slot = self.table.find(key)
        unknown = np.flatnonzero(slot < 0)
        if unknown.size:
            new_keys, first, inverse = np.unique(key[unknown], return_index=True, return_inverse=True)
            rank = np.empty(len(new_keys), np.int64)
            rank[np.argsort(first, kind="stable")] = np.arange(len(new_keys))
            self.table.insert(new_keys, self.n + rank)
            slot[unknown] = self.n + rank[inverse]
            self._grow(self.n + len(new_keys))
            self.n += len(new_keys)
        return slot

    def add(self, steps, rows):
        """Adds a chunk of (R, W) rows in time order (step order, batch order within a step)."""
        if not len(rows):
            return
        self._own()
        w = words(rows, self.fields, self.num_classes)
        st = self.state
        g = Groups(self._slots(w["key"]), st["mark"])
        slot, count = g.slot, g.count
        step = g.take(steps)
        before = st["presentations"][slot]
        new = before == 0
        any_new = bool(new.any())
        st["presentations"][slot] = before + count
        if any_new:
            st["first_step"][slot[new]] = g.first(step)[new]
        st["last_step"][slot] = g.last(step)
        if st["id"] is not None:
            st["id"][slot] = g.last(g.take(w["id"]))
            st["fingerprint"][slot] = g.last(g.take(w["fingerprint"]))  # it may change (augmentation)
        elif any_new:
            st["fingerprint"][slot[new]] = g.first(g.take(w["fingerprint"]))[new]
        loss = g.take(w["loss"]).astype(np.float64)
        st["loss_sum"][slot] += g.sum(loss)
        st["last_loss"][slot] = g.last(loss)
        if self.classification:
            self._add_classification(w, g, step, before, new if any_new else None)

    def _add_classification(self, w, g, step, before, new):
        """`new`: which groups are identities seen first in this chunk (None: none is)."""
        st, slot, count = self.state, g.slot, g.count
        st["margin_sum"][slot] += g.sum(g.take(w["margin"]).astype(np.float64))
        label, predicted = g.take(w["label"]), g.take(w["predicted"])
        correct = predicted == label
        st["correct"][slot] += g.sum(correct.astype(np.int64))
        # Forgetting: wrong now, right at the previous presentation (maybe in an earlier chunk).
        learned = st["learned_step"][slot]
        last_correct = (learned >= 0) if new is None else np.where(new, -1, learned >= 0)
        if g.order is None:
            previous = last_correct
        else:
            previous = np.empty(len(correct), dtype=np.int64)
            previous[1:] = correct[:-1]
            previous[g.starts] = last_correct
        st["forgetting"][slot] += g.sum(((previous == 1) & ~correct).astype(np.int64))
        # Learned: the first step of the final run of correct presentations (-1: wrong at the last).
        wrong_at = g.max(np.where(correct, -1, np.arange(len(correct))))
        after_wrong = step[np.minimum(wrong_at + 1, len(step) - 1)]
        kept = np.where(last_correct == 1, learned, g.first(step))
        st["learned_step"][slot] = np.where(wrong_at < 0, kept, np.where(wrong_at == g.ends, -1, after_wrong))
        st["label_predicted"][slot] = (g.last(label) << 32) | (g.last(predicted) & 0xFFFFFFFF)
        # p(label): the chunk's mean and squared deviations per identity, merged with the state's
        # (Chan et al.'s parallel variance), exact where a sum of squares would cancel.
        prob = g.take(w["label_probability"]).astype(np.float64)
        if g.order is None:
            mean_b, m2_b = prob, 0.0
        else:
            mean_b = g.sum(prob) / count
            m2_b = g.sum((prob - np.repeat(mean_b, count)) ** 2)
        mean_a, share = st["prob_mean"][slot], count / (before + count)
        delta = mean_b - mean_a
        st["prob_mean"][slot] = mean_a + delta * share
        st["prob_m2"][slot] += m2_b + delta * delta * (before * share)

    def _own(self):
        """Copies the state arrays lent to published columns (``columns``) before they are written."""
        for name in self._lent:
            self.state[name] = self.state[name].copy()
        self._lent.clear()

    def columns(self):
        """{column of sample_dynamics.COLUMNS: read-only array} of the identities seen; the state is
        kept, more chunks may be added after. Copy-on-write: a column that is a state array as it
        stands is a view of it, lent until the next ``add`` copies that array; the others (means,
        label and prediction) are new. Why not copy every column out: publishing then costs only
        the derived columns (measured at 1.28M identities: docs/benchmarks.md, "Reading per-sample
        dynamics"), and a published result shares its memory with the state until the run grows."""
        n, st = self.n, self.state
        count = np.maximum(st["presentations"][:n], 1)

        def lent(name):
            self._lent.add(name)
            return st[name][:n]

        out = {"id": None if st["id"] is None else lent("id")}
        for name in ("fingerprint", "first_step", "last_step", "last_loss", "presentations"):
            out[name] = lent(name)
        out["mean_loss"] = st["loss_sum"][:n] / count
        if self.classification:
            out["aum"] = st["margin_sum"][:n] / count
            out["confidence"] = lent("prob_mean")
            out["variability"] = np.sqrt(st["prob_m2"][:n] / count)
            out["accuracy"] = st["correct"][:n] / count
            out["forgetting"], out["learned_step"] = lent("forgetting"), lent("learned_step")
            packed = st["label_predicted"][:n]
            out["label"] = packed >> 32
            out["predicted"] = packed.astype(np.uint64).astype(np.uint32).view(np.int32).astype(np.int64)
        else:
            for name in ("aum", "confidence", "variability", "accuracy"):
                out[name] = np.full(n, np.nan)
            for name in ("forgetting", "learned_step", "label", "predicted"):
                out[name] = np.full(n, -1, np.int64)
        for a in out.values():
            if a is not None:
                a.flags.writeable = False  # a view's flag: the state's own array stays writable
        return out
