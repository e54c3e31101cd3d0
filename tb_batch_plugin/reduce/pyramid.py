"""Block histograms of a distribution series (blocks of 4, 16, 64, ... steps on aligned grids,
built off the request path by the reload thread), so that the heatmap of a zoomed-out range
costs what its pixels cost, not what its steps cost. The design and its error bounds are in
docs/backend.md (Reductions, Heatmap); the grid arithmetic is in grids.py.
"""

import threading

import numpy as np

from tb_batch_plugin.reduce import columns
from tb_batch_plugin.reduce.aggregates import GrowingColumns
from tb_batch_plugin.reduce.grids import (G, GQ, SCRATCH, aligned, apply_overlap, coarsen, coarser, overlap,
                                          query_grids, spread_into)

FANOUT = 4
MIN_STEPS_PER_COLUMN = FANOUT  # fewer: the exact per-step heatmap
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
    return GrowingColumns(**specs)


class HistogramPyramid:
    """The block histograms of one distribution series (docs/backend.md, Heatmap). ``update``
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
        e, o = aligned(np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), G)
        edges = np.ldexp((o[:, None] + np.arange(G + 1)[None, :]), e[:, None])
        rows = columns.rebin(vmin, vmax, hist, np.repeat(edges, FANOUT, axis=0))
        out = rows.reshape(m, FANOUT, G).sum(axis=1)
        # A point-mass block (lo == hi): rebin put each step's mass in bin 0 of its own edges.
        return dict(lo=lo, hi=hi, e=e, o=o, hist=out.astype(np.float32))

    def _from_blocks(self, child, a, b):
        m = (b - a) // FANOUT
        clo, chi = child.lo[a:b], child.hi[a:b]
        lo, hi, ok = self._block_range(clo, chi)
        e, o = aligned(np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), G)
        parent = np.repeat(np.arange(m), FANOUT)
        live = np.isfinite(clo)
        # Each child on its parent's grid (row parent * FANOUT + its position), then the sums.
        idx, mass = coarsen(child.e[a:b][live], child.o[a:b][live], child.hist[a:b][live], clo[live],
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
            columns.add_rows(out, ids, columns.rebin(vmin, vmax, hist, edges))
            ends = np.minimum(ends, covered)
            starts = np.minimum(starts, ends)
        if not hi > lo:  # every finite value equal: all mass in the first bin
            e_q, o_q = aligned(np.array([lo]), np.array([lo]), GQ)
        else:
            e_q, o_q = aligned(np.array([lo]), np.array([hi]), GQ)
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
                mass = np.add.reduceat(columns.step_mass(*rows(steps)), offsets)
            block = levels[0].hist[blk].sum(axis=1, dtype=np.float64)
            queue(1, blk, owner, weights=np.where(block > 0, mass / np.where(block > 0, block, 1.0), 0.0))
        grids = query_grids(levels, pending, e_q, o_q, C, zeros)
        nb0 = coarser(o_q, 0)[0]
        fine = grids.pop(0) if 0 in grids else zeros((nb0, C), np.float32)
        for k, grid in grids.items():
            spread_into(fine, grid, o_q, k)
        out += apply_overlap(fine, overlap(e_q, o_q, nb0, edges), zeros).T
        return out.astype(np.float32)
