"""The columns of one series of a run, in buffers with spare room that appends fill, copied on
write so that a published view never changes under its reader.

Design: docs/backend.md ("Storage", "Snapshots")."""

import itertools

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read.decode import LOCATOR_FIELDS

_UIDS = itertools.count(1)


class SeriesStore:
    """Columns of one series of a run (a classify.SeriesClass), in buffers with spare capacity.

    Readers get views of the first ``n`` points (``view``). An append writes only after them and
    then publishes a longer view; a restart that cuts published points, or a dtype change, copies
    the kept points into new buffers. So a view handed out never changes under its reader while
    the reload thread appends (copy-on-write), and appends cost O(new points). Multi-column
    values (distributions, markers) are stored column-major, so one field of a range is a
    contiguous array. A dynamics series holds the locators of its records (decode.LOCATOR_FIELDS),
    never their rows."""

    def __init__(self, series_class):
        self.kind, self.name, self.source = series_class.kind, series_class.name, series_class.source
        self.provenance, self.plugin_data = series_class.provenance, series_class.plugin_data
        self.width = (1 if self.kind == "scalar" else len(LOCATOR_FIELDS) if self.kind == "dynamics"
                      else metadata.data_length(self.plugin_data))
        self.uid = next(_UIDS)  # identity of this store's content, with `generation`
        self.generation = 0  # +1 whenever published points are cut (a restart)
        self.n = 0
        self._steps = np.zeros(0, np.int64)
        self._walls = np.zeros(0, np.float64)
        self._vals = np.zeros((self.width, 0)) if self.width > 1 else np.zeros(0, np.float32)
        self.last_step = None
        self._last_of = {}  # writer (file number) -> the last step it appended

    def view(self):
        """(steps, wall_times, values) of the published points; values are (n,) for scalars, an
        (n, width) view of column-major storage otherwise."""
        n = self.n
        vals = self._vals[:, :n].T if self.width > 1 else self._vals[:n]
        return self._steps[:n], self._walls[:n], vals

    def _repeats(self, steps):
        """Whether any of `steps` is already a step of the series."""
        old = self._steps[:self.n]
        i = np.minimum(np.searchsorted(old, steps), self.n - 1)
        return bool((old[i] == steps).any())

    def _merge(self, steps, walls, values):
        """Adds points whose steps the series does not have, in step order, into new buffers
        (views handed out keep the old ones); a new generation: points moved."""
        old_steps, old_walls, old_vals = self.view()
        all_steps = np.concatenate([old_steps, steps])
        order = np.argsort(all_steps, kind="stable")
        dtype = self._vals.dtype if self.width > 1 else np.result_type(self._vals.dtype, values.dtype)
        vals = np.concatenate([old_vals.astype(dtype, copy=False), values.astype(dtype, copy=False)])[order]
        n = int(all_steps.size)
        self._realloc(n + n // 2 + 1024, 0, dtype)
        self._steps[:n] = all_steps[order]
        self._walls[:n] = np.concatenate([old_walls, walls])[order]
        if self.width > 1:
            self._vals[:, :n] = vals.T
        else:
            self._vals[:n] = vals
        self.n = n
        self.generation += 1
        self.last_step = int(self._steps[n - 1])

    def _realloc(self, capacity, keep, dtype):
        """New buffers of `capacity` points holding the first `keep` points."""
        steps = np.empty(capacity, np.int64)
        walls = np.empty(capacity, np.float64)
        steps[:keep] = self._steps[:keep]
        walls[:keep] = self._walls[:keep]
        if self.width > 1:
            vals = np.empty((self.width, capacity), np.float64)
            vals[:, :keep] = self._vals[:, :keep]
        else:
            vals = np.empty(capacity, dtype)
            vals[:keep] = self._vals[:keep]
        self._steps, self._walls, self._vals = steps, walls, vals

    def append(self, steps, walls, values, writer=None):
        """Points in file order (values (k,) or (k, width)) of one file (`writer`: its number
        among the run's files; None: the only writer). Applies the restart rule, keeps steps
        strictly increasing. Points of a file that fall among those of the run's other files
        without repeating any of their steps come from another writer of the same run (several
        processes writing into one directory, steps interleaved): they are merged in by step,
        not taken for a restart (which repeats a step, or goes back within one file)."""
        if steps.size == 0:
            return
        # Point i survives the batch iff every later point of the batch has a larger step.
        suffix_min = np.minimum.accumulate(steps[::-1])[::-1]
        keep = np.empty(steps.size, dtype=bool)
        keep[-1] = True
        np.less(steps[:-1], suffix_min[1:], out=keep[:-1])
        if not keep.all():
            steps, walls, values = steps[keep], walls[keep], values[keep]
        first = int(steps[0])
        own_last = self._last_of.get(writer)
        if writer is not None:
            self._last_of[writer] = int(steps[-1])
        if (writer is not None and self.n and first <= self.last_step
                and (own_last is None or first > own_last) and not self._repeats(steps)):
            self._merge(steps, walls, values)
            return
        kept = self.n
        if self.n and first <= self.last_step:
            kept = int(np.searchsorted(self._steps[:self.n], first, side="left"))
        k = int(steps.size)
        need = kept + k
        dtype = self._vals.dtype if self.width > 1 else np.result_type(self._vals.dtype, values.dtype)
        if kept < self.n or need > self._steps.size or dtype != self._vals.dtype:
            # The first append is sized exactly (a cold index holds no spare room); later growth
            # is geometric. Untouched spare room of a large buffer is not resident memory.
            capacity = need if self.n == 0 else max(need, self.n + self.n // 2 + 1024)
            if kept < self.n:
                self.generation += 1
            self._realloc(capacity, kept, dtype)
        self._steps[kept:need] = steps
        self._walls[kept:need] = walls
        if self.width > 1:
            self._vals[:, kept:need] = values.T
        else:
            self._vals[kept:need] = values
        self.n = need
        self.last_step = int(steps[-1])
