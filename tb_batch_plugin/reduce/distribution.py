"""The `distribution` route's reduction of a step range: quantile bands per pixel column and the
heatmap, from what the reload thread precomputed for the series where it covers the range, else
from every step. The answer's layout is in docs/http_api.md (`GET distribution`), the design in
docs/backend.md (Reductions).
"""

import functools
from collections import namedtuple

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.reduce import aggregates, columns, pyramid


class Precomputed:
    """What the reload thread keeps for one distribution series: its column aggregates (bands)
    and its block histograms (heatmap)."""

    __slots__ = ("aggregates", "pyramid")

    def __init__(self):
        self.aggregates = aggregates.ColumnAggregates()
        self.pyramid = pyramid.HistogramPyramid()

    def update(self, ident, data, quantile_probs):
        """Extends both with the new steps of the series whose content `ident` names ((store id,
        generation): the same ident, the same steps, maybe more of them)."""
        self.aggregates.update(ident, data, quantile_probs)
        self.pyramid.update(ident, *columns.distribution_columns(data, len(quantile_probs)))


Bands = namedtuple("Bands", "method steps step_ends min max mean quantiles heatmap_edges heatmap_counts")
Bands.__doc__ = """A reduced step range: `method` "raw" (a point per step) or "bands" (a point per
pixel column); per point its first and last step, min, max, mean (float64, [C]) and quantiles
(float64, [Q, C]); the heatmap's B + 1 edges and its counts (float32, [C, B])."""


def reduce_range(steps, data, quantile_probs, span, width, bins, precomputed=None, ident=None):
    """The Bands of the points span.first..span.stop of a distribution series (its `steps` and
    (N, 8+Q+B) `data`, column-major as the index keeps it) for `width` pixel columns and a
    heatmap of `bins` bins. `precomputed`, the Precomputed of the series whose content `ident`
    names, serves the steps it covers."""
    a, b = span.first, span.stop
    range_steps = steps[a:b]
    rows = data[a:b]  # column-major from the index: each field of the range is contiguous
    n = int(range_steps.size)
    Q = len(quantile_probs)
    h0 = metadata.HEADER_LENGTH
    quant = rows[:, h0:h0 + Q]
    hist = rows[:, h0 + Q:]
    vmin, vmax, mean = rows[:, metadata.MIN], rows[:, metadata.MAX], rows[:, metadata.MEAN]
    agg = None
    if precomputed is not None and precomputed.aggregates.covers(ident, b):
        agg = precomputed.aggregates
    if n > width:
        if agg is not None:  # columns from precomputed aggregates: O(columns), not O(steps)
            fc = None
            reducer = functools.partial(aggregates.bands_reducer, agg, a, data, Q)
        else:
            fc = columns.finite_counts(rows)
            reducer = None
        r = columns.bands(range_steps, quant, quantile_probs, vmin, vmax, mean, fc, span.start, span.end, width,
                          reducer, origin=a)
        seg = r["segments"]
        out_steps, step_ends = r["steps"], r["step_ends"]
        omin, omax, omean, oq = r["min"], r["max"], r["mean"], r["quantiles"]
        method = "bands"
    else:
        seg = np.arange(n)
        out_steps = step_ends = range_steps
        omin, omax, omean, oq = vmin, vmax, mean, quant.T
        method = "raw"
    counts = None
    if n and method == "bands" and precomputed is not None:
        edges = columns.heatmap_edges(omin, omax, bins)  # the columns' extremes: the range's
        all_min, all_max, all_hist = columns.distribution_columns(data, Q)
        mass = functools.partial(agg.between, name="mass") if agg is not None else None
        counts = precomputed.pyramid.heatmap(ident, a, b, a + seg, edges,
                                             lambda idx: (all_min[idx], all_max[idx], all_hist[idx]), mass)
    if counts is None:
        edges, counts = columns.heatmap(vmin, vmax, hist, seg, bins) if n else (
            np.full(bins + 1, np.nan), np.zeros((0, bins)))
    return Bands(method, out_steps, step_ends, np.asarray(omin, np.float64), np.asarray(omax, np.float64),
                 np.asarray(omean, np.float64), np.asarray(oq, np.float64), edges,
                 # float32: a count is an estimate of where mass lies (spread within bins)
                 np.ascontiguousarray(counts, dtype=np.float32))
