"""Block histograms of a distribution series, so that the heatmap of a zoomed-out range costs
what its pixels cost, not what its steps cost.

Re-binning one step's histogram onto the heatmap's bins (reduce.rebin) takes a few microseconds;
a million steps take seconds. Here the steps are aggregated once, off the request path, into
blocks of K = 4, 16, 64, ... consecutive steps (level 1, 2, 3, ...). A block's histogram lives
on an *aligned* grid: G bins of width w = 2**e starting at o * w (o, e integers, e the smallest
that fits the block's finite min..max into G bins). Aligned grids nest, so merging blocks onto a
coarser aligned grid is exact (a bin index shift, no re-binning); only level 1 re-bins each step
(onto its block's grid, spreading a bin's mass uniformly over its extent, as reduce.rebin does).

A heatmap query over the step range [a, b) with C pixel columns:

* the column's steps are decomposed into the largest aligned blocks inside the column (at most
  three per level at each end, like a segment tree); steps at the column's ends that fill no
  4-step block share the level-1 block they belong to with the neighbouring column, by step
  count (its histogram times the fraction of its steps that lie in the column);
* every block's histogram is added, by index shift, onto one aligned grid of GQ bins spanning the
  range's finite min..max (the same grid for all columns);
* that grid is mapped onto the requested equal-width bins with one matrix product.

So a column's heatmap holds exactly its steps' mass (for steps of equal count), placed at the
resolution of GQ bins over the range; only steps within 3 of a column boundary may be averaged
with up to 3 steps of the neighbouring column. Ranges of few steps per column are re-binned
exactly, step by step (``HistogramPyramid.heatmap`` returns None and reduce.heatmap is used).
"""

import contextlib
import threading
import time

import numpy as np

from tb_batch_plugin import metadata as md
from tb_batch_plugin.reduce import columns as rd

G = 32  # bins of a block's aligned grid
GQ = 128  # bins of the query's aligned grid
FANOUT = 4
MIN_STEPS_PER_COLUMN = FANOUT  # fewer: the exact per-step heatmap
ROW_CHUNK = 1000  # block rows added onto a query grid at a time


class _Scratch:
    """Zeroed arrays for the large temporaries of a heatmap query, reused across requests. In
    the server an array of 256 KiB or more is a mapping of its own (plugin._tune_allocator),
    whose pages fault in fresh on every request (~2 us a page: 1,000-2,000 faults, a third of
    a zoomed heatmap's time). Up to KEEP buffers of at most MAX_BYTES are kept; a query that
    finds none free allocates as before. ``drop_idle`` (the reload thread) frees them once
    unused for a while."""

    KEEP = 8
    MAX_BYTES = 8 << 20

    def __init__(self):
        self._lock = threading.Lock()
        self._free = []  # 1-D buffers, smallest first
        self._used = time.monotonic()

    @contextlib.contextmanager
    def session(self):
        """Yields zeros(shape, dtype=float64): a zeroed array, valid until the session ends."""
        taken = []

        def zeros(shape, dtype=np.float64):
            n = int(np.prod(shape))
            words = -(-n * np.dtype(dtype).itemsize // 8)  # float64 words of the buffer
            buf = None
            with self._lock:
                for i, b in enumerate(self._free):
                    if b.size >= words:
                        buf = self._free.pop(i)
                        break
            if buf is None:
                buf = np.empty(words)
            taken.append(buf)
            a = buf[:words].view(dtype)[:n].reshape(shape)
            a.fill(0)
            return a

        try:
            yield zeros
        finally:
            with self._lock:
                self._free.extend(b for b in taken if b.nbytes <= self.MAX_BYTES)
                self._free.sort(key=len)
                del self._free[:-self.KEEP]  # the largest are kept
                self._used = time.monotonic()

    def drop_idle(self, seconds):
        """Frees the buffers when no query took any for `seconds`."""
        with self._lock:
            if time.monotonic() - self._used > seconds:
                self._free = []


SCRATCH = _Scratch()


def _aligned(lo, hi, bins):
    """(e, o) of the smallest aligned grid (width 2**e from o * 2**e) holding [lo, hi] in `bins`
    bins; lo == hi gives a fine grid around the point. Arrays of finite lo <= hi."""
    span = hi - lo
    mag = np.maximum(np.abs(lo), np.abs(hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(span > 0, np.ceil(np.log2(span / (bins - 1))), np.frexp(mag)[1] - 40.0)
    e = np.where(np.isfinite(e), e, 0.0)
    # No finer than 2**-50 of the values' magnitude: o stays an exact integer in a float64.
    e = np.clip(np.maximum(e, np.frexp(mag)[1] - 50.0), -1070, 1020)
    o = np.floor(np.ldexp(lo, -e.astype(np.int64)))
    top = np.floor(np.ldexp(hi, -e.astype(np.int64)))
    grow = top - o > bins - 1  # rounding: one more doubling always fits
    e = np.where(grow, e + 1, e)
    o = np.where(grow, np.floor(np.ldexp(lo, -e.astype(np.int64))), o)
    return e.astype(np.int64), o


class _Columns:
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


RUNS = ("p2", "p3", "s1", "s2")  # children 0-1, 0-2, 1-3, 2-3 of a block, on its grid


def _level(runs):
    """A level's blocks: finite min and max, aligned grid (e, o), histogram on it; with `runs`
    (levels above the first), also the sums of its first two and three and of its last three
    and two children (RUNS), on its grid: a column that ends inside a block takes the run of
    children it holds as one row."""
    specs = dict(lo=((), np.float64), hi=((), np.float64), e=((), np.int64), o=((), np.float64),
                 hist=((G,), np.float32))
    if runs:
        specs.update({name: ((G,), np.float32) for name in RUNS})
    return _Columns(**specs)


def _coarsen(rows_e, rows_o, hist, lo, target_e, target_o, nbins, row_ids, columns=None, dtype=np.float64):
    """(flat indices, masses) that add each row's aligned histogram onto the aligned grid
    (target_e, target_o) of `nbins` bins: at flat index row_ids * nbins + bin, or with
    `columns` (bin-major, for the query's (nbins, columns) grid) bin * columns + row_ids. Onto
    a grid coarser by d doublings a bin moves by a shift (exact); onto one finer by k doublings
    its mass is split in 2**k equal parts; a row whose grid is more than 62 doublings finer (its
    values are equal at the target's resolution) goes whole to the bin of its lo. Bins past the
    target grid's ends (mass of steps just outside a query range) go to its end bins. Masses in
    `dtype`, the target's (np.add.at has no fast path for mixed types)."""
    d = target_e - rows_e
    h = hist.astype(dtype, copy=False)
    j = np.arange(G, dtype=np.int64)[None, :]
    rows = row_ids.astype(np.int64)
    bin_stride, row_offset = (1, rows * nbins) if columns is None else (columns, rows)
    tgt_o = target_o.astype(np.int64)
    one_origin = bool(tgt_o.size) and (tgt_o == tgt_o[0]).all()

    def place(sel, t, clip=True):
        """Flat indices of the target bins t (relative to each row's origin) of rows sel."""
        two = t.ndim == 2
        if one_origin:
            t -= tgt_o[0]
        else:
            t -= tgt_o[sel][:, None] if two else tgt_o[sel]
        if clip:
            np.clip(t, 0, nbins - 1, out=t)
        if bin_stride != 1:
            t *= bin_stride
        t += row_offset[sel][:, None] if two else row_offset[sel]
        return t.ravel()

    coarse = (d >= 0) & (d <= 62)
    if coarse.all():  # no row selection (a query's usual case is taken before, in _grids)
        t = rows_o.astype(np.int64)[:, None] + j
        if d.any():
            np.right_shift(t, d[:, None], out=t)
        inside = one_origin and t[:, 0].min() >= tgt_o[0] and t[:, -1].max() < tgt_o[0] + nbins
        return place(slice(None), t, clip=not inside), h.ravel()
    idx, mass = [], []
    c = np.flatnonzero(coarse)
    if c.size:
        t = rows_o[c].astype(np.int64)[:, None] + j
        np.right_shift(t, d[c][:, None], out=t)
        idx.append(place(c, t))
        mass.append(h[c].ravel())
    for k in np.unique(-d[d < 0]).tolist():  # a finer target: each bin splits into 2**k
        fine = np.flatnonzero(d == -k)
        base = (rows_o[fine].astype(np.int64)[:, None] + j) << k
        for part in range(1 << k):
            idx.append(place(fine, base + part))
            mass.append(h[fine].ravel() / (1 << k))
    far = np.flatnonzero(d > 62)
    if far.size:
        idx.append(place(far, np.floor(np.ldexp(lo[far], -target_e[far])).astype(np.int64)))
        mass.append(h[far].sum(axis=1))
    return np.concatenate(idx), np.concatenate(mass)


class HistogramPyramid:
    """The block histograms of one distribution series (see the module docstring). ``update``
    (the reload thread) extends it with the series' new steps; ``heatmap`` (requests) reads the
    published levels, never waiting for an update."""

    def __init__(self):
        self._lock = threading.Lock()  # one updater at a time
        self._ident = None  # (store id, generation) of the series it aggregates
        self._levels = []
        self._published = (None, (), [])  # (ident, block counts per level, levels)

    def update(self, ident, vmin, vmax, hist):
        """Aggregates the complete blocks of the series (arrays over all its steps); `ident`
        identifies the content (same ident: the same steps, maybe more of them)."""
        with self._lock:
            if ident != self._ident:
                self._ident, self._levels = ident, []
                self._published = (None, (), self._levels)
            counts = list(self._published[1])
            n_below = vmin.size
            level = 0
            while n_below >= FANOUT:
                if level == len(self._levels):
                    self._levels.append(_level(runs=level > 0))
                    counts.append(0)
                lv = self._levels[level]
                done = counts[level]
                new = n_below // FANOUT - done
                if new > 0:
                    a, b = done * FANOUT, (done + new) * FANOUT
                    if level == 0:
                        cols = self._from_steps(vmin[a:b], vmax[a:b], hist[a:b])
                    else:
                        cols = self._from_blocks(self._levels[level - 1], a, b)
                    counts[level] = lv.extend(**cols)
                n_below = counts[level]
                level += 1
            self._published = (ident, tuple(counts), self._levels)

    @staticmethod
    def _block_range(lo, hi):
        """Finite min and max of each group of FANOUT rows (NaN where none is finite)."""
        lo = np.fmin.reduce(lo.reshape(-1, FANOUT), axis=1)
        hi = np.fmax.reduce(hi.reshape(-1, FANOUT), axis=1)
        ok = np.isfinite(lo) & np.isfinite(hi)
        return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan), ok

    def _from_steps(self, vmin, vmax, hist):
        m = vmin.size // FANOUT
        lo, hi, ok = self._block_range(vmin, vmax)
        e, o = _aligned(np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), G)
        edges = np.ldexp((o[:, None] + np.arange(G + 1)[None, :]), e[:, None])
        rows = rd.rebin(vmin, vmax, hist, np.repeat(edges, FANOUT, axis=0))
        out = rows.reshape(m, FANOUT, G).sum(axis=1)
        # A point-mass block (lo == hi): rebin put each step's mass in bin 0 of its own edges.
        return dict(lo=lo, hi=hi, e=e, o=o, hist=out.astype(np.float32))

    def _from_blocks(self, child, a, b):
        m = (b - a) // FANOUT
        clo, chi = child.lo[a:b], child.hi[a:b]
        lo, hi, ok = self._block_range(clo, chi)
        e, o = _aligned(np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), G)
        parent = np.repeat(np.arange(m), FANOUT)
        live = np.isfinite(clo)
        # Each child on its parent's grid (row parent * FANOUT + its position), then the sums.
        idx, mass = _coarsen(child.e[a:b][live], child.o[a:b][live], child.hist[a:b][live], clo[live],
                             e[parent[live]], o[parent[live]], G, np.arange(b - a)[live])
        c = np.bincount(idx, weights=mass, minlength=(b - a) * G).reshape(m, FANOUT, G)
        runs = {"p2": c[:, 0] + c[:, 1], "s2": c[:, 2] + c[:, 3]}
        runs["p3"], runs["s1"] = runs["p2"] + c[:, 2], c[:, 1] + runs["s2"]
        return dict(lo=lo, hi=hi, e=e, o=o, hist=(runs["p2"] + runs["s2"]).astype(np.float32),
                    **{name: v.astype(np.float32) for name, v in runs.items()})

    def covered(self):
        """Steps aggregated into level-1 blocks, and the series ident they belong to."""
        ident, counts, _ = self._published
        return (counts[0] * FANOUT if counts else 0), ident

    def heatmap(self, ident, a, b, col_starts, edges, rows, mass_sums=None):
        """Counts (C, bins), float32, of the heatmap of steps [a, b) with columns starting at the
        absolute step indices `col_starts` (the first is a), on the equal-width `edges`; None
        when the range has too few steps per column or the pyramid is not of this series.
        `rows(idx)` gives (vmin, vmax, hist) of the steps at indices `idx` (those not aggregated
        yet, and those that share a block with a neighbouring column); `mass_sums(p, q)`, if
        given, the mass of the steps [p[i], q[i]) (ColumnAggregates.between(..., "mass"))."""
        pub_ident, counts, levels = self._published
        C = col_starts.size
        if pub_ident != ident or not counts or (b - a) < MIN_STEPS_PER_COLUMN * C:
            return None
        with SCRATCH.session() as zeros:
            return self._heatmap(counts, levels, a, b, col_starts, edges, rows, mass_sums, zeros)

    @staticmethod
    def _heatmap(counts, levels, a, b, col_starts, edges, rows, mass_sums, zeros):
        C = col_starts.size
        bins = edges.size - 1
        lo, hi = float(edges[0]), float(edges[-1])
        out = zeros((C, bins))
        starts = col_starts.astype(np.int64)
        ends = np.append(starts[1:], b).astype(np.int64)
        # Steps after the last complete level-1 block: exactly, step by step.
        covered = counts[0] * FANOUT
        if b > covered:
            i = max(a, covered)
            vmin, vmax, hist = rows(np.arange(i, b))
            ids = np.searchsorted(starts, np.arange(i, b), side="right") - 1
            rd.add_rows(out, ids, rd.rebin(vmin, vmax, hist, edges))
            ends = np.minimum(ends, covered)
            starts = np.minimum(starts, ends)
        if not hi > lo:  # every finite value equal: all mass in the first bin
            e_q, o_q = _aligned(np.array([lo]), np.array([lo]), GQ)
        else:
            e_q, o_q = _aligned(np.array([lo]), np.array([hi]), GQ)
        e_q, o_q = int(e_q[0]), float(o_q[0])
        spc = (b - a) / C
        top = max(1, min(len(counts), int(np.log(max(spc, 1)) / np.log(FANOUT))))
        pending = []  # (level, field, blocks, columns, weights): gathered and added together

        def queue(level, blocks, owners, field="hist", weights=None):
            if blocks.size:
                pending.append((level, field, blocks, owners, weights))

        cols = np.arange(C)

        def each(level, p, q, field="hist"):
            """Queues the blocks [p[i], q[i]) of `level` of every column i, one row each."""
            n = np.maximum(q - p, 0)
            if n.any():
                owner = np.repeat(cols, n)
                first = np.repeat(p - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
                queue(level, first + np.arange(int(n.sum())), owner, field)

        def cover(level, p, q):
            """Queues the blocks [p[i], q[i]) of `level` of every column i: where they cross the
            boundary of a parent (a block of the level above), the run of one to three children
            before it and the run after it as one row each (a child, or the parent's sum of the
            run: RUNS), whole parents as one row each; other blocks one by one."""
            if level >= len(counts):  # no level above
                return each(level, p, q)
            v, w = -(-p // FANOUT), q // FANOUT  # the parents [v, w) lie inside
            split = (q > p) & (v * FANOUT <= q)
            left = np.where(split, v * FANOUT - p, 0)  # the last k children of parent v - 1
            complete = w < counts[level]  # parent w's runs exist
            right = np.where(split & complete, q - w * FANOUT, 0)  # the first k children of w
            for k, child, parent, fields in ((left, v * FANOUT - 1, v - 1, ("s2", "s1")),
                                             (right, w * FANOUT, w, ("p2", "p3"))):
                c = np.flatnonzero(k == 1)
                queue(level, child[c], c)
                for size, field in zip((2, 3), fields):
                    c = np.flatnonzero(k == size)
                    queue(level + 1, parent[c], c, field)
            each(level + 1, np.where(split, v, 0), np.where(split, w, 0))
            each(level, np.where(split, np.where(complete, q, w * FANOUT), p), q)

        upper_lo = upper_hi = None
        for level in range(top, 0, -1):
            K = FANOUT ** level
            nb = counts[level - 1]
            lo_b = np.minimum(-(-starts // K), nb)
            hi_b = np.maximum(np.minimum(ends // K, nb), lo_b)
            if upper_lo is None:
                cover(level, lo_b, hi_b)  # the column's blocks of the top level
            else:
                # What the column's whole blocks of the level above leave at each end (all of
                # it for a column without one).
                has = upper_hi > upper_lo
                cover(level, lo_b, np.where(has, upper_lo * FANOUT, hi_b))
                cover(level, np.where(has, upper_hi * FANOUT, hi_b), hi_b)
            upper_lo, upper_hi = lo_b, hi_b
        # Steps of a column outside its 4-step blocks: a share of the block they are in.
        full_lo, full_hi = upper_lo * FANOUT, upper_hi * FANOUT
        has = upper_hi > upper_lo
        for p, q in ((starts, np.where(has, full_lo, ends)), (np.where(has, full_hi, ends), ends)):
            rest = q > p
            if not rest.any():
                continue
            c = np.flatnonzero(rest)
            p, q = p[c], q[c]
            first_blk, last_blk = p // FANOUT, (q - 1) // FANOUT
            nblk = last_blk - first_blk + 1
            owner = np.repeat(c, nblk)
            blk = np.repeat(first_blk - np.concatenate([[0], np.cumsum(nblk)[:-1]]), nblk) + np.arange(int(nblk.sum()))
            pp, qq = np.repeat(p, nblk), np.repeat(q, nblk)
            first_step = np.maximum(pp, blk * FANOUT)
            inside = np.minimum(qq, (blk + 1) * FANOUT) - first_step
            # The share: the mass of the column's steps in the block over the block's mass.
            if mass_sums is not None:
                mass = mass_sums(first_step, first_step + inside)
            else:
                offsets = np.concatenate([[0], np.cumsum(inside)[:-1]])
                steps = np.repeat(first_step - offsets, inside) + np.arange(int(inside.sum()))
                mass = np.add.reduceat(_mass(*rows(steps)), offsets)
            block = levels[0].hist[blk].sum(axis=1, dtype=np.float64)
            queue(1, blk, owner, weights=np.where(block > 0, mass / np.where(block > 0, block, 1.0), 0.0))
        grids = _grids(levels, pending, e_q, o_q, C, zeros)
        nb0 = _coarser(o_q, 0)[0]
        fine = grids.pop(0) if 0 in grids else zeros((nb0, C), np.float32)
        for k, grid in grids.items():
            _spread_into(fine, grid, o_q, k)
        out += _apply(fine, _overlap(e_q, o_q, nb0, edges), zeros).T
        return out.astype(np.float32)


EXTREME_BLOCK = 16  # steps per block of the precomputed extremes


class ColumnAggregates:
    """What the bands of a distribution series need, precomputed so that a pixel column costs
    O(1) or O(block) instead of O(its steps):

    * running sums over the steps (a column's sum is one difference): ``w`` the finite count
      where the mean is finite, ``mw`` w * mean, ``median`` and ``median_count`` the median where
      it is not NaN and how often, ``mass`` the heatmap mass (_mass). Float64; a column's sum is
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
        fields = {md.MIN: np.fmin, md.MAX: np.fmax}
        for i, p in enumerate(quantile_probs):
            if p != 0.5:
                fields[md.HEADER_LENGTH + i] = np.fmin if p < 0.5 else np.fmax
        return fields

    def update(self, ident, data, quantile_probs):
        with self._lock:
            fields = self.extreme_fields(quantile_probs)
            if ident != self._ident or self._sums is None:
                self._ident = ident
                self._sums = _Columns(**{name: ((), np.float64) for name in self.SUMS})
                self._sums.extend(**{name: np.zeros(1) for name in self.SUMS})  # sums before step 0
                self._blocks = _Columns(**{"f%d" % c: ((), np.float64) for c in fields})
            sums, blocks = self._sums, self._blocks
            done, n = sums.n - 1, data.shape[0]
            if n > done:
                d = data[done:n]
                qp = np.asarray(quantile_probs)
                fc = d[:, md.COUNT] - d[:, md.NAN_COUNT] - d[:, md.POSINF_COUNT] - d[:, md.NEGINF_COUNT]
                mean = d[:, md.MEAN]
                w = np.where(np.isfinite(mean), fc, 0.0)
                new = {"w": w, "mw": np.where(w > 0, mean * w, 0.0)}
                med = np.flatnonzero(qp == 0.5)
                if med.size:
                    x = d[:, md.HEADER_LENGTH + int(med[0])]
                    ok = ~np.isnan(x)
                    new["median"], new["median_count"] = np.where(ok, x, 0.0), ok.astype(np.float64)
                else:
                    new["median"] = new["median_count"] = np.zeros(n - done)
                new["mass"] = _mass(*distribution_columns(d, qp.size))
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


def _mass(vmin, vmax, hist):
    """The mass each step's histogram puts on the heatmap (reduce.rebin's rule: its finite counts,
    none without a finite range)."""
    h = np.where(np.isfinite(hist), hist, 0.0).sum(axis=1)
    return np.where(np.isfinite(vmin) & np.isfinite(vmax), h, 0.0)


def _grids(levels, rows, e_q, o_q, C, zeros):
    """The rows (level, field, blocks, columns, weights or None) of a query added onto its
    aligned grid (e_q, o_q) coarsened k times, k = 0..2: {k: (bins, C) bin-major, float32}. A
    block whose own grid is coarser than the query grid (it spans most of the range) goes onto
    the query grid coarsened as often (up to twice): no bin is split. Float32 as the block
    histograms (no conversion; a cell sums a few rows, to ~1e-7), taken ROW_CHUNK rows at a
    time: no temporary large enough for its own mapping (malloc's threshold is 256 KiB in the
    server; a fresh page costs ~2 us)."""
    grids = {}
    j = np.arange(G, dtype=np.int64) * C  # a grid row's stride
    for level, field, blocks, cols, w in rows:
        lv = levels[level - 1]
        hist = getattr(lv, field)
        e, o, lo = lv.e[blocks], lv.o[blocks], lv.lo[blocks]
        ks = np.clip(e - e_q, 0, 2)
        ks[~np.isfinite(lo)] = 3  # a block without finite values has no mass and no grid
        k0 = int(ks.min())
        if k0 == ks.max():  # the usual case: one grid for all
            parts = [(k0, slice(None))] if k0 < 3 else []
        else:
            parts = [(k, np.flatnonzero(ks == k)) for k in np.flatnonzero(np.bincount(ks, minlength=4)[:3]).tolist()]
        for k, sel in parts:
            nb, to = _coarser(o_q, k)
            if k not in grids:
                grids[k] = zeros((nb, C), np.float32)
            flat = grids[k].ravel()
            be, bo, bl, bc, bw, bb = e[sel], o[sel], lo[sel], cols[sel], None if w is None else w[sel], blocks[sel]
            for i in range(0, bb.size, ROW_CHUNK):
                c = slice(i, i + ROW_CHUNK)
                h = hist[bb[c]]
                if bw is not None:
                    h *= bw[c, None].astype(np.float32)
                first = bo[c].astype(np.int64) - int(to)
                if (be[c] == e_q + k).all() and first.min() >= 0 and first.max() + G <= nb:
                    idx = (first * C + bc[c])[:, None] + j  # the usual case: bins the query's from first on
                    np.add.at(flat, idx.ravel(), h.ravel())
                    continue
                n = h.shape[0]
                idx, mass = _coarsen(be[c], bo[c], h, bl[c], np.full(n, e_q + k), np.full(n, to), nb, bc[c],
                                     columns=C, dtype=np.float32)
                np.add.at(flat, idx, mass)
    return grids


def _spread_into(fine, grid, o, k):
    """Adds `grid`, the query grid (GQ bins from o; `fine`) coarsened k times, onto `fine`: a
    coarser bin's mass spread evenly over the 2**k finer bins it holds, those outside the query
    grid added to its end bins."""
    s = 1 << k
    shift = int(_coarser(o, k)[1]) * s - int(o)  # in [-(s - 1), 0]
    g = grid
    g /= s  # (the caller's grid, not used again: no copy)
    n = fine.shape[0]
    for p in range(s):
        r = np.arange(g.shape[0]) * s + p + shift  # the fine bin of each coarse bin's part p
        inside = np.flatnonzero((r >= 0) & (r < n))
        a, b = int(inside[0]), int(inside[-1]) + 1
        fine[int(r[a]):int(r[b - 1]) + 1:s] += g[a:b]
        if a:
            fine[0] += g[:a].sum(axis=0)
        if b < r.size:
            fine[-1] += g[b:].sum(axis=0)


def _apply(h, m, zeros=np.zeros):
    """m.T @ h for h (nbins, C) and the banded overlap matrix m (nbins, bins), in h's dtype
    (float32: the output's; half the memory traffic of float64): an output bin takes the
    contiguous rows of h that overlap it (or, with more output bins than rows, a row of h the
    contiguous output bins it overlaps), as sums of scaled slices. No BLAS: a matrix product
    would start BLAS threads for microseconds of work, and wait for a busy core to run them
    (and np.add.reduceat over rows took 10 times as long)."""
    nbins, bins = m.shape
    out = zeros((bins, h.shape[1]), h.dtype)
    w = m.astype(h.dtype)
    nz = m > 0
    if bins <= nbins:
        spans = [(j, np.flatnonzero(nz[:, j])) for j in np.flatnonzero(nz.any(axis=0)).tolist()]
        tmp = zeros((max(int(r[-1]) - int(r[0]) + 1 for _, r in spans), h.shape[1]), h.dtype) if spans else None
        for j, r in spans:
            r0, r1 = int(r[0]), int(r[-1]) + 1
            t = np.multiply(h[r0:r1], w[r0:r1, j, None], out=tmp[:r1 - r0])
            np.add.reduce(t, axis=0, out=out[j])
    else:
        for g in np.flatnonzero(nz.any(axis=1)).tolist():
            c = np.flatnonzero(nz[g])
            c0, c1 = int(c[0]), int(c[-1]) + 1
            out[c0:c1] += w[g, c0:c1, None] * h[g]
    return out


def _coarser(o, k):
    """(bins, origin) of the query grid (GQ bins from o) coarsened k times (one more bin: the
    coarser bins need not start where the query grid starts)."""
    return (GQ >> k) + 1, float(np.floor(o / (1 << k)))


def _overlap(e, o, nbins, edges):
    """(nbins, bins) matrix: the share of the mass of aligned bin g (width 2**e from (o + g) * 2**e)
    that falls in each equal-width bin of `edges`, spread uniformly over the bin's part inside
    [edges[0], edges[-1]] (the values lie inside; the aligned grid overhangs them). A zero-width
    `edges` (every value equal) takes everything in its first bin."""
    bins = edges.size - 1
    m = np.zeros((nbins, bins))
    e0, e1 = float(edges[0]), float(edges[-1])
    if not e1 > e0:
        m[:, 0] = 1.0
        return m
    g = np.ldexp(o + np.arange(nbins + 1, dtype=np.float64), e)
    glo, ghi = np.clip(g[:-1], e0, e1), np.clip(g[1:], e0, e1)
    width = ghi - glo
    inter = np.clip(np.minimum(ghi[:, None], edges[None, 1:]) - np.maximum(glo[:, None], edges[None, :-1]), 0.0, None)
    ok = width > 0
    m[ok] = inter[ok] / width[ok, None]
    m[~ok & (g[1:] <= e0), 0] = 1.0
    m[~ok & (g[:-1] >= e1), -1] = 1.0
    return m


def distribution_columns(data, quantile_count):
    """(vmin, vmax, hist) column views of a distribution series' (N, 8+Q+B) data."""
    h0 = md.HEADER_LENGTH + quantile_count
    return data[:, md.MIN], data[:, md.MAX], data[:, h0:]
