"""What the bands of a distribution series need, precomputed by the reload thread so that a
pixel column costs O(1) or O(16) instead of O(its steps): running sums and the extremes of
aligned 16-step blocks (docs/backend.md, Reductions, Bands); and the append-only columns that
these and the heatmap pyramid grow in.
"""

import threading

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.reduce import columns


class GrowingColumns:
    """Append-only arrays that grow together; a reader takes views of a published count."""

    def __init__(self, **specs):  # name -> (trailing shape, dtype)
        self.n = 0
        self.names = list(specs)
        for name, (shape, dtype) in specs.items():
            setattr(self, name, np.zeros((0,) + shape, dtype))

    def extend(self, **values):
        k = len(next(iter(values.values())))
        need = self.n + k
        if need > len(getattr(self, self.names[0])):
            cap = max(need, self.n + self.n // 2 + 256)
            for name in self.names:
                old = getattr(self, name)
                new = np.empty((cap,) + old.shape[1:], old.dtype)
                new[:self.n] = old[:self.n]
                setattr(self, name, new)
        for name, v in values.items():
            getattr(self, name)[self.n:need] = v
        self.n = need
        return need  # the caller publishes the new count


EXTREME_BLOCK = 16  # steps per block of the precomputed extremes


class ColumnAggregates:
    """What the bands of a distribution series need, precomputed so that a pixel column costs
    O(1) or O(block) instead of O(its steps):

    * running sums over the steps (a column's sum is one difference): ``w`` the finite count
      where the mean is finite, ``mw`` w * mean, ``median`` and ``median_count`` the median where
      it is not NaN and how often, ``mass`` the heatmap mass (columns.step_mass). Float64; a column's sum is
      exact to about 1e-13 of the sums it is the difference of;
    * the fmin (or fmax) of every field that bands reduce that way (min, max, the quantiles below
      (above) the median) over aligned blocks of EXTREME_BLOCK steps: a column's extreme is that
      of its whole blocks and of its few other steps, exactly.

    Updated like HistogramPyramid (``update`` by the reload thread, reads never wait)."""

    SUMS = ("w", "mw", "median", "median_count", "mass")

    def __init__(self):
        self._lock = threading.Lock()
        self._ident = None
        self._sums = self._blocks = None
        self._published = (None, 0, None, None)  # (ident, steps covered, sums, block extremes)

    @staticmethod
    def extreme_fields(quantile_probs):
        """{column of the (N, 8+Q+B) data: fmin or fmax} of the fields reduced by extremes."""
        fields = {metadata.MIN: np.fmin, metadata.MAX: np.fmax}
        for i, p in enumerate(quantile_probs):
            if p != 0.5:
                fields[metadata.HEADER_LENGTH + i] = np.fmin if p < 0.5 else np.fmax
        return fields

    def update(self, ident, data, quantile_probs):
        with self._lock:
            fields = self.extreme_fields(quantile_probs)
            if ident != self._ident or self._sums is None:
                self._ident = ident
                self._sums = GrowingColumns(**{name: ((), np.float64) for name in self.SUMS})
                self._sums.extend(**{name: np.zeros(1) for name in self.SUMS})  # sums before step 0
                self._blocks = GrowingColumns(**{"f%d" % c: ((), np.float64) for c in fields})
            sums, blocks = self._sums, self._blocks
            done, n = sums.n - 1, data.shape[0]
            if n > done:
                d = data[done:n]
                qp = np.asarray(quantile_probs)
                fc = columns.finite_counts(d)
                mean = d[:, metadata.MEAN]
                w = np.where(np.isfinite(mean), fc, 0.0)
                new = {"w": w, "mw": np.where(w > 0, mean * w, 0.0)}
                med = np.flatnonzero(qp == 0.5)
                if med.size:
                    x = d[:, metadata.HEADER_LENGTH + int(med[0])]
                    ok = ~np.isnan(x)
                    new["median"], new["median_count"] = np.where(ok, x, 0.0), ok.astype(np.float64)
                else:
                    new["median"] = new["median_count"] = np.zeros(n - done)
                new["mass"] = columns.step_mass(*columns.distribution_columns(d, qp.size))
                last = {name: getattr(sums, name)[done] for name in self.SUMS}
                sums.extend(**{name: last[name] + np.cumsum(v) for name, v in new.items()})
            K = EXTREME_BLOCK
            b0, b1 = blocks.n, (sums.n - 1) // K
            if b1 > b0:
                blocks.extend(**{"f%d" % c: op.reduce(data[b0 * K:b1 * K, c].reshape(-1, K), axis=1)
                                 for c, op in fields.items()})
            self._published = (ident, sums.n - 1, sums, blocks)

    def covers(self, ident, end):
        """Whether the aggregates of steps [0, end) of the series `ident` are published."""
        pub_ident, n, _, _ = self._published
        return pub_ident == ident and end <= n

    def between(self, starts, ends, name):
        """Sums of `name` over steps [starts[i], ends[i]) (covered steps only)."""
        p = getattr(self._published[2], name)
        return p[ends] - p[starts]

    @staticmethod
    def plan(starts, ends):
        """The BlockPlan of columns [starts[i], ends[i]) for ``extreme``."""
        return BlockPlan(starts, ends, EXTREME_BLOCK)

    def extreme(self, plan, x, column, op):
        """op (np.fmin or np.fmax) of x (the data's `column`, all steps) over each column of
        `plan`, exactly: the precomputed blocks inside, and the other steps directly. NaN
        where every value is NaN, as op.reduceat."""
        return plan.reduce(x, getattr(self._published[3], "f%d" % column), op)


class BlockPlan:
    """Where a reduction over each of C columns [starts[i], ends[i]) (non-empty, increasing)
    comes from: the aligned blocks of K steps inside the column (``pairs``: [fs, fe) of the
    columns ``has``), and its other steps, those before its first whole block and after its
    last (all of it without one), as one segment per column (``idx``: their step indices,
    ``seg``: the segment starts of the columns ``loose``): one gather and one reduceat per
    field. Computed once per request, used for every field."""

    def __init__(self, starts, ends, K):
        self.C = starts.size
        fs = -(-starts // K)
        fe = np.maximum(ends // K, fs)
        self.has = np.flatnonzero(fe > fs)
        self.pairs = np.empty(2 * self.has.size, np.int64)
        self.pairs[0::2], self.pairs[1::2] = fs[self.has], fe[self.has]
        self.end = int(fe[self.has[-1]]) if self.has.size else 0
        h_end = np.where(fe > fs, np.minimum(fs * K, ends), ends)
        t_start = np.where(fe > fs, np.maximum(fe * K, h_end), ends)
        first = np.stack([starts, t_start], axis=1).ravel()  # head and tail of each column
        n = np.stack([h_end - starts, ends - t_start], axis=1).ravel()
        offset = np.cumsum(n) - n
        self.idx = np.repeat(first - offset, n) + np.arange(int(n.sum()))
        self.loose = np.flatnonzero(n[0::2] + n[1::2] > 0)
        self.seg = offset[0::2][self.loose]

    def reduce(self, x, blocks, op):
        """op (np.fmin or np.fmax) of x over each column, from the block reductions `blocks`
        (op over x[k*K:(k+1)*K]) and the other steps. NaN where every value is NaN."""
        out = np.full(self.C, np.nan)  # NaN: the identity of fmin and fmax
        if self.loose.size:
            out[self.loose] = op.reduceat(x[self.idx], self.seg)
        if self.has.size:  # whole blocks: reduceat over [fs, fe) pairs (the gaps between are ignored)
            # (the last segment runs to the end of the blocks given: no copy of them)
            whole = op.reduceat(blocks[:self.end], self.pairs[:-1])[0::2]
            out[self.has] = op(out[self.has], whole)
        return out



def bands_reducer(aggregates, a, data, quantile_count, seg, seg_end):
    """columns.bands' column reducer over ColumnAggregates `aggregates`, for the columns [a +
    seg, a + seg_end) of the whole series `data` ((N, 8+Q+B), Q = `quantile_count`)."""
    starts, ends = a + seg, a + seg_end
    plan = aggregates.plan(starts, ends)
    fields = {"min": metadata.MIN, "max": metadata.MAX}
    fields.update({"q%d" % i: metadata.HEADER_LENGTH + i for i in range(quantile_count)})

    def reduce(name, x, op):
        if op is None:
            return aggregates.between(starts, ends, name)
        column = fields[name]
        return aggregates.extreme(plan, data[:, column], column, op)

    return reduce
