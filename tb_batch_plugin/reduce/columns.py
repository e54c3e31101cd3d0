"""Reductions of per-step series to the pixel columns of a chart, without hiding a spike: M4
(``series``), the quantile bands and per-step heatmap of a distribution, per-class columns.
Design in docs/backend.md (Reductions); numpy, vectorised, no Python loop per point.
"""

from collections import namedtuple

import numpy as np

from tb_batch_plugin import metadata

SNAP_RATIO = 4  # a bands column boundary moves by at most 1/(2 * SNAP_RATIO) of a column

StepRange = namedtuple("StepRange", "start end first stop")
StepRange.__doc__ = """A query's inclusive step range [start, end] and the indices [first, stop) of
the series' points in it."""


def step_range(steps, start, end):
    """The StepRange of [start, end] in the sorted `steps`."""
    first = int(np.searchsorted(steps, start, side="left"))
    stop = int(np.searchsorted(steps, end, side="right"))
    return StepRange(start, end, first, stop)


def m4_points(steps, values, start, end, width):
    """Indices of the points a chart of `width` columns over [start, end] shows (``m4``), or
    None for all of them (the range holds at most 4 * width: M4 would keep them all)."""
    if steps.size > 4 * width:
        return m4(steps, values, start, end, width)
    return None


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



def step_mass(vmin, vmax, hist):
    """The mass each step's histogram puts on the heatmap (rebin's rule: its finite counts, none
    without a finite range)."""
    h = np.where(np.isfinite(hist), hist, 0.0).sum(axis=1)
    return np.where(np.isfinite(vmin) & np.isfinite(vmax), h, 0.0)


def finite_counts(data):
    """Each step's count of finite values, from a distribution series' (N, 8+Q+B) data."""
    return (data[:, metadata.COUNT] - data[:, metadata.NAN_COUNT] - data[:, metadata.POSINF_COUNT]
            - data[:, metadata.NEGINF_COUNT])


def distribution_columns(data, quantile_count):
    """(vmin, vmax, hist) column views of a distribution series' (N, 8+Q+B) data."""
    h0 = metadata.HEADER_LENGTH + quantile_count
    return data[:, metadata.MIN], data[:, metadata.MAX], data[:, h0:]
