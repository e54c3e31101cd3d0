"""Reductions of per-step series to what a chart can show, without hiding a spike.

* ``m4``: per pixel column (by step range) the first, last, min and max point of the finite
  values, plus the first NaN, +Inf and -Inf point of the column. Any point that is the extreme of
  its column survives at every zoom.
* ``bands``: per column quantile bands of a distribution tag (low quantiles: column min; high
  quantiles: column max; median: mean of the medians), and a heatmap re-binned onto common bins.
* ``spike_scores``: a spike is a single point far from the local level on *both* sides of it.
  For point i, the level and noise of each side are the median and 1.4826 * MAD of the
  SPIKE_WINDOW (25) finite points before i and the 25 after it; its score is the smaller of the
  two sides' |x_i - level| / noise (one side where the other is not full, e.g. at the end), and
  its jump the smaller |x_i - level|. A point is a spike when score >= threshold (default 6: a
  "6 sigma" event that a heavy tail cannot mask, since median and MAD ignore the spike itself)
  AND jump >= min_jump * spread (default 0.2 of the series' spread, its 1st..99th percentile
  range), so that noise on a flat near-zero stretch, however large relative to its own tiny
  MAD, is not a spike. A level shift (a learning-rate step, a resumed run) is close to one side
  and is not a spike. The first SPIKE_WARMUP (25) points of a series, and of every segment that
  starts at a given index (a new `fit`), are not scored: warm-up is not an anomaly.

Everything is numpy, vectorised over points; no Python loop per point.
"""

from collections import namedtuple

import numpy as np

SPIKE_THRESHOLD = 6.0
SPIKE_MIN_THRESHOLD = 3.0  # the lowest threshold served: only points scoring this much are kept
SPIKE_WINDOW = 25
SPIKE_MIN_JUMP = 0.2
SPIKE_WARMUP = 25
MAD_SCALE = 1.4826
SNAP_RATIO = 4  # a bands column boundary moves by at most 1/(2 * SNAP_RATIO) of a column

__all__ = ["columns", "m4", "bands", "heatmap", "per_class_columns", "spike_scores", "spikes", "SpikeScores", "SPIKE_THRESHOLD",
           "SPIKE_WINDOW", "SPIKE_MIN_JUMP", "SPIKE_WARMUP", "SPIKE_MIN_THRESHOLD", "spike_candidates"]


def columns(steps, start, end, width):
    """Pixel column (0..width-1) of each step for the inclusive step range [start, end]."""
    span = int(end) - int(start) + 1
    if span * width < 2**62 and int(start) > -(2**62) and int(end) < 2**62:
        # exact: column c holds the steps with c*span <= (step-start)*width < (c+1)*span
        col = (steps.astype(np.int64) - int(start)) * int(width) // span
    else:
        col = np.floor((steps.astype(np.float64) - float(start)) * (width / float(span))).astype(np.int64)
    return np.clip(col, 0, width - 1)


def _segments(col):
    """Start index of each run of equal values in a non-decreasing array."""
    if col.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.flatnonzero(np.diff(col)) + 1])


def snap_bounds(seg, n, origin):
    """Column starts `seg` (indices of n steps, seg[0] == 0) with each inner boundary moved to
    the nearest multiple of K of its absolute index (origin + index), K the largest power of 4
    with SNAP_RATIO * K <= the steps of each column beside it (not moved where that is under
    4). A boundary moves by at most 1/8 of the columns it separates, so no column empties or
    changes order, and columns then start and end on the aligned blocks that precomputed
    aggregates are kept for (pyramid.py): a zoomed-out column costs its few blocks, not its
    steps. The columns' exact extents are what ``bands`` returns (steps, step_ends)."""
    if seg.size < 2:
        return seg
    lens = np.diff(np.append(seg, n))
    m = np.minimum(lens[:-1], lens[1:]) // SNAP_RATIO
    e = np.frexp(np.maximum(m, 1).astype(np.float64))[1] - 1  # floor(log2 m), exactly
    k = np.left_shift(np.int64(1), (e // 2 * 2).astype(np.int64))  # the largest power of 4 <= m
    pos = seg[1:].astype(np.int64) + int(origin)
    out = seg.astype(np.int64)
    out[1:] = (pos + k // 2) // k * k - int(origin)
    return out


def _first_where(mask, seg_id):
    """For each segment id with some True in mask: the first index where mask is True."""
    cand = np.flatnonzero(mask)
    if cand.size == 0:
        return cand
    _, first = np.unique(seg_id[cand], return_index=True)
    return cand[first]


def _bounds(steps, start, end, width):
    """Start index of each non-empty column, by binary search of the columns' first steps."""
    span = int(end) - int(start) + 1
    if not (span * width < 2**62 and int(start) > -(2**62) and int(end) < 2**62):
        return _segments(columns(steps, start, end, width))
    c = np.arange(1, width, dtype=np.int64)
    first = int(start) + (c * span + width - 1) // width  # ceil(c * span / width)
    s0 = int(steps[0]) if steps.size else 0
    if steps.size and int(steps[-1]) - s0 == steps.size - 1:  # consecutive steps: no search
        found = np.clip(first - s0, 0, steps.size)
    else:
        found = np.searchsorted(steps, first, side="left")
    b = np.concatenate([[0], found])
    keep = np.concatenate([b[1:] > b[:-1], [b[-1] < steps.size]])
    return b[keep]


def _first_in_segments(mask, seg):
    """First index where mask is True in each segment (every segment has one)."""
    cand = np.flatnonzero(mask)
    return cand[np.searchsorted(cand, seg, side="left")]


def m4(steps, values, start, end, width):
    """Indices (sorted, unique) of the points kept by M4 for `width` columns over [start, end].

    `steps` must be sorted; all points should lie within [start, end]."""
    n = steps.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    values = np.asarray(values)
    finite = np.isfinite(values)
    keep = []
    fi = np.flatnonzero(finite) if not finite.all() else None
    if fi is None:  # every value finite: columns by binary search, no per-point column
        col = None
        fv, fcol, base = values, None, None
    else:
        col = columns(steps, start, end, width)
        fv, fcol, base = values[fi], col[fi], fi
    if fv.size:
        seg = _bounds(steps, start, end, width) if base is None else _segments(fcol)
        seg_end = np.concatenate([seg[1:], [fv.size]])
        seg_len = seg_end - seg
        cmin = np.minimum.reduceat(fv, seg)
        cmax = np.maximum.reduceat(fv, seg)
        local = np.concatenate([seg, seg_end - 1,
                                _first_in_segments(fv == np.repeat(cmin, seg_len), seg),
                                _first_in_segments(fv == np.repeat(cmax, seg_len), seg)])
        keep.append(local if base is None else base[local])
    if fi is not None:
        for mask in (np.isnan(values), values == np.inf, values == -np.inf):
            if mask.any():
                keep.append(_first_where(mask, col))
    return _sorted_unique(np.concatenate(keep).astype(np.int64))


def _sorted_unique(x):
    """np.unique of a small int array, by sort (numpy's hash-based unique is slower here)."""
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if x.size else x


def bands(steps, quantiles, quantile_probs, vmin, vmax, mean, finite_count, start, end, width,
          aggregates=None, origin=None):
    """Per-column reduction of a distribution series (arrays over steps; quantiles is (N, Q)).

    Returns dict with steps (first step of each column), step_ends, min, max, mean,
    quantiles (Q, C) and the segment starts (for the heatmap). `aggregates(seg, seg_end)`, if
    given, returns a function ``(name, x, op) -> column results`` for the sums "w", "mw",
    "median", "median_count" and the extremes of the fields reduced with op (min, max,
    quantile i; see pyramid.ColumnAggregates; `finite_count` is then not used) instead of
    reducing every step here. With `origin` (the series index of steps[0]) the pixel columns'
    boundaries are snapped to aligned blocks (snap_bounds)."""
    seg = _bounds(steps, start, end, width)
    if origin is not None:
        seg = snap_bounds(seg, steps.size, origin)
    seg_end = np.concatenate([seg[1:], [steps.size]]) if seg.size else seg
    agg = aggregates(seg, seg_end) if aggregates is not None else None

    def extreme(name, x, op):
        return agg(name, x, op) if agg is not None else op.reduceat(x, seg)

    q = np.empty((len(quantile_probs), seg.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, p in enumerate(quantile_probs):
            x = quantiles[:, i]
            if p < 0.5:
                q[i] = extreme("q%d" % i, x, np.fmin)
            elif p > 0.5:
                q[i] = extreme("q%d" % i, x, np.fmax)
            elif agg is not None:
                s, c = agg("median", None, None), agg("median_count", None, None)
                q[i] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
            elif not np.isnan(x).any():  # the usual case, same result as below
                q[i] = np.add.reduceat(x, seg) / (seg_end - seg)
            else:
                ok = ~np.isnan(x)
                s = np.add.reduceat(np.where(ok, x, 0.0), seg)
                c = np.add.reduceat(ok.astype(np.float64), seg)
                q[i] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
        if agg is not None:
            sw, sm = agg("w", None, None), agg("mw", None, None)
        elif np.isfinite(mean).all():  # the usual case, same result as below
            sw, sm = np.add.reduceat(finite_count, seg), np.add.reduceat(mean * finite_count, seg)
        else:
            w = np.where(np.isfinite(mean), finite_count, 0.0)
            sw, sm = np.add.reduceat(w, seg), np.add.reduceat(np.where(w > 0, mean * w, 0.0), seg)
        cmean = np.where(sw > 0, sm / np.where(sw > 0, sw, 1.0), np.nan)
    return {
        "steps": steps[seg], "step_ends": steps[seg_end - 1],
        "min": extreme("min", vmin, np.fmin), "max": extreme("max", vmax, np.fmax),
        "mean": cmean, "quantiles": q, "segments": seg,
    }


def per_class_columns(steps, means, counts, start, end, width):
    """Per-class losses over steps (means, counts: (N, C)) per pixel column of [start, end]: each
    class's mean loss over the column's samples of that class (the steps' means weighted by their
    counts; NaN where the class has none) and its count. Raw (one column per step) when the range
    holds at most ``width`` steps. Returns dict steps (first step of each column), step_ends,
    means, counts, reduced."""
    if steps.size <= width:
        return {"steps": steps, "step_ends": steps, "means": means, "counts": counts, "reduced": False}
    seg = _bounds(steps, start, end, width)
    weighted = np.where(counts > 0, means * counts, 0.0)
    sums = np.add.reduceat(weighted, seg, axis=0)
    totals = np.add.reduceat(counts, seg, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        column_means = np.where(totals > 0, sums / totals, np.nan)
    step_ends = steps[np.concatenate([seg[1:], [steps.size]]) - 1]
    return {"steps": steps[seg], "step_ends": step_ends, "means": column_means, "counts": totals,
            "reduced": True}


def rebin(lo, hi, hist, edges):
    """Mass of each row's histogram on equal-width bins `edges` (common (bins+1,), or (rows,
    bins+1) per row): row i has hist[i] (counts in B equal-width bins over [lo[i], hi[i]]), whose
    mass is spread uniformly over each bin's extent (a point mass at lo[i] when lo[i] == hi[i];
    nothing for a row without a finite range). Returns (rows, bins)."""
    n, b = hist.shape
    per_row = edges.ndim == 2
    bins = edges.shape[-1] - 1
    out = np.zeros((n, bins))
    fin = np.isfinite(lo) & np.isfinite(hi)
    wide = np.flatnonzero(fin & (hi > lo))
    if wide.size:
        hw = np.asarray(hist[wide], dtype=np.float64)
        hw[~np.isfinite(hw)] = 0.0
        cum = np.zeros((wide.size, b + 1))
        np.cumsum(hw, axis=1, out=cum[:, 1:])
        mn, mx = lo[wide], hi[wide]
        e = edges[wide] if per_row else edges[None, :]
        t = (e - mn[:, None]) / (mx - mn)[:, None] * b
        np.clip(t, 0.0, float(b), out=t)
        k = np.minimum(t.astype(np.intp), b - 1)  # t >= 0: truncation is the floor
        frac = t - k
        rows = np.arange(wide.size)[:, None]
        cdf = cum.ravel()[k + rows * (b + 1)] + frac * hw.ravel()[k + rows * b]
        out[wide] = np.diff(cdf, axis=1)
    point = np.flatnonzero(fin & (hi == lo))
    if point.size:
        e0 = edges[point, 0] if per_row else edges[0]
        span = (edges[point, -1] if per_row else edges[-1]) - e0
        with np.errstate(divide="ignore", invalid="ignore"):
            j = np.where(span > 0, np.floor((lo[point] - e0) / np.where(span > 0, span, 1.0) * bins), 0.0)
        j = np.clip(np.nan_to_num(j), 0, bins - 1).astype(np.int64)
        h = np.asarray(hist[point], dtype=np.float64)
        out[point, j] = np.where(np.isfinite(h), h, 0.0).sum(axis=1)
    return out


def heatmap_edges(vmin, vmax, bins):
    """`bins` + 1 equal-width edges over the finite min..max of the steps (all NaN without one)."""
    lo, hi = np.fmin.reduce(vmin) if vmin.size else np.nan, np.fmax.reduce(vmax) if vmax.size else np.nan
    if not (np.isfinite(lo) and np.isfinite(hi)):
        fin = np.isfinite(vmin) & np.isfinite(vmax)
        if not fin.any():
            return np.full(bins + 1, np.nan)
        lo, hi = vmin[fin].min(), vmax[fin].max()
    return np.linspace(float(lo), float(hi), bins + 1)


def heatmap(vmin, vmax, hist, segments, bins):
    """Re-bins each step's histogram (B equal-width bins over [vmin, vmax] of that step) onto
    `bins` common equal-width bins over the finite range of all steps, spreading a bin's mass
    uniformly over its extent, and sums per segment (column). Returns (edges, counts (C, bins))."""
    n = hist.shape[0]
    nseg = segments.size
    edges = heatmap_edges(vmin, vmax, bins)
    out = np.zeros((nseg, bins))
    if not np.isfinite(edges[0]):
        return edges, out
    seg_id = np.repeat(np.arange(nseg), np.diff(np.concatenate([segments, [n]])))
    rows_per = max(1, (1 << 21) // (bins + hist.shape[1] + 2))
    for a in range(0, n, rows_per):
        z = slice(a, min(n, a + rows_per))
        add_rows(out, seg_id[z], rebin(vmin[z], vmax[z], hist[z], edges))
    return edges, out


def add_rows(out, ids, rows):
    """out[ids[i]] += rows[i] (ids non-decreasing)."""
    if ids.size:
        seg = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
        out[ids[seg]] += np.add.reduceat(rows, seg, axis=0)


def _window_stats(x, w):
    """Median and MAD of each length-w window of x (len(x) - w + 1 windows)."""
    view = np.lib.stride_tricks.sliding_window_view(x, w)
    m = view.shape[0]
    med = np.empty(m)
    mad = np.empty(m)
    rows = max(1, (1 << 22) // w)
    h = w // 2
    for a in range(0, m, rows):
        v = view[a:a + rows]
        if w % 2:  # odd window: the median is the middle order statistic (partition is cheap)
            md = np.partition(v, h, axis=1)[:, h]
            dev = np.abs(v - md[:, None])
            md_dev = np.partition(dev, h, axis=1)[:, h]
        else:
            md = np.median(v, axis=1)
            md_dev = np.median(np.abs(v - md[:, None]), axis=1)
        med[a:a + rows] = md
        mad[a:a + rows] = md_dev
    return med, mad


SpikeScores = namedtuple("SpikeScores", "score jump level spread")
SpikeScores.__doc__ = """Per point (NaN where not scored: non-finite, warm-up, no full side): the
score (robust sigmas from the local level, the smaller of both sides), the jump |x - level| and
that side's level; and the series' spread (1st..99th percentile range of its finite values)."""


def _global_noise(x):
    """Robust noise of a whole series from its first differences (a trend does not inflate it):
    1.4826 * MAD of the differences / sqrt(2); the mean absolute difference when that is 0."""
    d = np.abs(np.diff(x))
    if not d.size:
        return 0.0
    g = MAD_SCALE * float(np.median(d)) / np.sqrt(2.0)
    return g if g > 0 else 1.2533 * float(d.mean()) / np.sqrt(2.0)


def spike_scores(values, window=SPIKE_WINDOW, warmup=SPIKE_WARMUP, segment_starts=()):
    """SpikeScores of every point of `values` (see the module docstring).

    Non-finite points are left out of the windows and get no score. ``segment_starts``: indices
    into `values` where a segment (a `fit`) starts; the first `warmup` finite points from each
    of them (and from the series' start) are not scored. A side's noise of 0 (a constant
    window) is replaced by the series' global noise (_global_noise); if that is 0 too, any
    deviation scores inf."""
    values = np.asarray(values, dtype=np.float64)
    score = np.full(values.shape, np.nan)
    jump = np.full(values.shape, np.nan)
    level = np.full(values.shape, np.nan)
    fi = np.flatnonzero(np.isfinite(values))
    x = values[fi]
    n = x.size
    if n < 3:
        return SpikeScores(score, jump, level, 0.0)
    spread = float(np.quantile(x, 0.99) - np.quantile(x, 0.01))
    w = max(1, min(int(window), (n - 1) // 2))
    med, mad = _window_stats(x, w)  # window k covers x[k : k + w]
    g = _global_noise(x)
    noise = MAD_SCALE * mad
    noise = np.where(noise > 0, noise, g)
    j = np.arange(n)
    has_before = j >= w             # x[j - w : j] is window j - w
    has_after = j + w < n           # x[j + 1 : j + 1 + w] is window j + 1
    big = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        def side(ok, k):
            k = np.clip(k, 0, med.size - 1)
            d = np.abs(x - med[k])
            z = np.where(noise[k] > 0, d / np.where(noise[k] > 0, noise[k], 1.0), np.where(d > 0, big, 0.0))
            return np.where(ok, d, big), np.where(ok, z, big), med[k]

        db, zb, lb = side(has_before, j - w)
        da, za, la = side(has_after, j + 1)
    scored = has_before | has_after
    starts = np.searchsorted(fi, np.asarray(sorted(set(int(s) for s in segment_starts) | {0}), dtype=np.int64))
    for s0 in starts:
        scored[s0:s0 + int(warmup)] = False
    s = np.minimum(zb, za)
    d = np.where(db <= da, db, da)
    lv = np.where(db <= da, lb, la)
    score[fi[scored]] = s[scored]
    jump[fi[scored]] = d[scored]
    level[fi[scored]] = lv[scored]
    return SpikeScores(score, jump, level, spread)


def spike_candidates(scores, floor=SPIKE_MIN_THRESHOLD):
    """(indices, SpikeScores of only those points) of the points scoring at least ``floor``:
    what a cache keeps of a series' scores (a few per cent of its points on noise)."""
    with np.errstate(invalid="ignore"):
        keep = np.flatnonzero(scores.score >= floor)
    return keep, SpikeScores(scores.score[keep], scores.jump[keep], scores.level[keep], scores.spread)


def spikes(scores, threshold=SPIKE_THRESHOLD, min_jump=SPIKE_MIN_JUMP):
    """Indices of the spikes among SpikeScores: score >= threshold and jump >= min_jump * spread
    (and a jump > 0)."""
    with np.errstate(invalid="ignore"):
        hit = (scores.score >= threshold) & (scores.jump >= min_jump * scores.spread) & (scores.jump > 0)
    return np.flatnonzero(hit)
