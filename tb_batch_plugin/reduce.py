"""Reductions of per-step series to what a chart can show, without hiding a spike.

* ``m4``: per pixel column (by step range) the first, last, min and max point of the finite
  values, plus the first NaN, +Inf and -Inf point of the column. Any point that is the extreme of
  its column survives at every zoom.
* ``bands``: per column quantile bands of a distribution tag (low quantiles: column min; high
  quantiles: column max; median: mean of the medians), and a heatmap re-binned onto common bins.
* ``spike_scores``: robust score |x - rolling median| / (1.4826 * rolling MAD) over a centred
  window (51 steps); a spike when the score is >= SPIKE_THRESHOLD (6). 1.4826 * MAD estimates the
  standard deviation for normal data, so 6 is a "6 sigma" event that a heavy tail cannot mask
  (the median and MAD ignore the spike itself).

Everything is numpy, vectorised over points; no Python loop per point.
"""

import numpy as np

SPIKE_THRESHOLD = 6.0
SPIKE_WINDOW = 51
MAD_SCALE = 1.4826

__all__ = ["columns", "m4", "bands", "heatmap", "spike_scores", "SPIKE_THRESHOLD", "SPIKE_WINDOW"]


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
    b = np.concatenate([[0], np.searchsorted(steps, first, side="left")])
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
    col = columns(steps, start, end, width)
    values = np.asarray(values)
    finite = np.isfinite(values)
    keep = []
    fi = np.flatnonzero(finite) if not finite.all() else None
    if fi is None:
        fv, fcol, base = values, col, None
    else:
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
    return np.unique(np.concatenate(keep)).astype(np.int64)


def bands(steps, quantiles, quantile_probs, vmin, vmax, mean, finite_count, start, end, width):
    """Per-column reduction of a distribution series (arrays over steps; quantiles is (N, Q)).

    Returns dict with steps (first step of each column), step_ends, min, max, mean,
    quantiles (Q, C) and the segment starts (for the heatmap)."""
    col = columns(steps, start, end, width)
    seg = _segments(col)
    seg_end = np.concatenate([seg[1:], [steps.size]]) if seg.size else seg
    q = np.empty((len(quantile_probs), seg.size))
    for i, p in enumerate(quantile_probs):
        x = quantiles[:, i]
        if p < 0.5:
            q[i] = np.fmin.reduceat(x, seg)
        elif p > 0.5:
            q[i] = np.fmax.reduceat(x, seg)
        else:
            ok = ~np.isnan(x)
            s = np.add.reduceat(np.where(ok, x, 0.0), seg)
            c = np.add.reduceat(ok.astype(np.float64), seg)
            with np.errstate(invalid="ignore", divide="ignore"):
                q[i] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    w = np.where(np.isfinite(mean), finite_count, 0.0)
    sw = np.add.reduceat(w, seg)
    sm = np.add.reduceat(np.where(w > 0, mean * w, 0.0), seg)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmean = np.where(sw > 0, sm / np.where(sw > 0, sw, 1.0), np.nan)
    return {
        "steps": steps[seg], "step_ends": steps[seg_end - 1],
        "min": np.fmin.reduceat(vmin, seg), "max": np.fmax.reduceat(vmax, seg),
        "mean": cmean, "quantiles": q, "segments": seg,
    }


def heatmap(vmin, vmax, hist, segments, bins):
    """Re-bins each step's histogram (B equal-width bins over [vmin, vmax] of that step) onto
    `bins` common equal-width bins over the finite range of all steps, spreading a bin's mass
    uniformly over its extent, and sums per segment (column). Returns (edges, counts (C, bins))."""
    n, b = hist.shape
    nseg = segments.size
    fin = np.isfinite(vmin) & np.isfinite(vmax)
    if not fin.any():
        return np.full(bins + 1, np.nan), np.zeros((nseg, bins))
    lo, hi = float(vmin[fin].min()), float(vmax[fin].max())
    edges = np.linspace(lo, hi, bins + 1)
    out = np.zeros((nseg, bins))
    seg_id = np.repeat(np.arange(nseg), np.diff(np.concatenate([segments, [n]])))
    rows_per = max(1, (1 << 21) // (bins + b + 2))
    for a in range(0, n, rows_per):
        z = slice(a, min(n, a + rows_per))
        mn, mx, h, sid, f = vmin[z], vmax[z], hist[z], seg_id[z], fin[z]
        h = np.where(np.isfinite(h), h, 0.0)
        counts = np.zeros((h.shape[0], bins))
        wide = f & (mx > mn)
        if wide.any():
            hw = h[wide]
            cum = np.concatenate([np.zeros((hw.shape[0], 1)), np.cumsum(hw, axis=1)], axis=1)
            t = (edges[None, :] - mn[wide, None]) / (mx[wide] - mn[wide])[:, None] * b
            t = np.clip(t, 0.0, float(b))
            k = np.minimum(np.floor(t).astype(np.int64), b - 1)
            frac = t - k
            r = np.arange(hw.shape[0])[:, None]
            cdf = cum[r, k] + frac * hw[r, k]
            counts[wide] = np.diff(cdf, axis=1)
        point = f & (mx == mn)
        if point.any():
            span = hi - lo
            j = np.zeros(int(point.sum()), dtype=np.int64) if span <= 0 else np.clip(
                np.floor((mn[point] - lo) / span * bins).astype(np.int64), 0, bins - 1)
            counts[np.flatnonzero(point), j] = h[point].sum(axis=1)
        np.add.at(out, sid, counts)
    return edges, out


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


def spike_scores(values, window=SPIKE_WINDOW):
    """Robust spike score of every point (NaN for non-finite points).

    score_i = |x_i - median(W_i)| / (1.4826 * MAD(W_i)), W_i the centred window of `window`
    finite points around i (shifted inwards at the ends; the whole series if shorter). Where a
    window's MAD is 0, the series' global MAD is used instead (then the mean absolute deviation
    * 1.2533, then no spike at all for a constant series)."""
    values = np.asarray(values, dtype=np.float64)
    scores = np.full(values.shape, np.nan)
    fi = np.flatnonzero(np.isfinite(values))
    x = values[fi]
    n = x.size
    if n < 3:
        if n:
            scores[fi] = 0.0
        return scores
    w = min(int(window), n)
    med, mad = _window_stats(x, w)
    start = np.clip(np.arange(n) - w // 2, 0, n - w)
    med, mad = med[start], mad[start]
    gmed = np.median(x)
    dev = np.abs(x - gmed)
    gscale = MAD_SCALE * np.median(dev)
    if gscale == 0:
        gscale = 1.2533 * dev.mean()
    scale = MAD_SCALE * mad
    scale = np.where(scale > 0, scale, gscale)
    d = np.abs(x - med)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(scale > 0, d / np.where(scale > 0, scale, 1.0), 0.0)
    scores[fi] = s
    return scores
