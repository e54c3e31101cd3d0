"""The aligned grids of the heatmap pyramid (pyramid.py) and the arithmetic of a query on them:
a block's histogram onto a coarser or finer aligned grid by index shifts, a query's blocks onto
its grid, that grid onto the requested bins; and the pool of reused buffers a query's large
arrays come from. Design in docs/backend.md (Reductions, Heatmap; Serving, Memory).
"""

import contextlib
import threading
import time

import numpy as np

G = 32  # bins of a block's aligned grid
GQ = 128  # bins of the query's aligned grid
ROW_CHUNK = 1000  # block rows added onto a query grid at a time


class _Scratch:
    """Zeroed arrays for the large temporaries of a heatmap query, reused across requests. In
    the server an array of 256 KiB or more is a mapping of its own (serve/plugin.py,
    tune_allocator), whose pages fault in fresh on every request (~2 us a page: 1,000-2,000
    faults, a third of a zoomed heatmap's time). Up to KEEP buffers of at most MAX_BYTES are kept; a query that
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


def aligned(lo, hi, bins):
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


def coarsen(rows_e, rows_o, hist, lo, target_e, target_o, nbins, row_ids, columns=None, dtype=np.float64):
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
    if coarse.all():  # no row selection (a query's usual case is taken before, in query_grids)
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


def query_grids(levels, rows, e_q, o_q, C, zeros):
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
            nb, to = coarser(o_q, k)
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
                idx, mass = coarsen(be[c], bo[c], h, bl[c], np.full(n, e_q + k), np.full(n, to), nb, bc[c],
                                    columns=C, dtype=np.float32)
                np.add.at(flat, idx, mass)
    return grids


def spread_into(fine, grid, o, k):
    """Adds `grid`, the query grid (GQ bins from o; `fine`) coarsened k times, onto `fine`: a
    coarser bin's mass spread evenly over the 2**k finer bins it holds, those outside the query
    grid added to its end bins."""
    s = 1 << k
    shift = int(coarser(o, k)[1]) * s - int(o)  # in [-(s - 1), 0]
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


def apply_overlap(h, m, zeros=np.zeros):
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


def coarser(o, k):
    """(bins, origin) of the query grid (GQ bins from o) coarsened k times (one more bin: the
    coarser bins need not start where the query grid starts)."""
    return (GQ >> k) + 1, float(np.floor(o / (1 << k)))


def overlap(e, o, nbins, edges):
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

