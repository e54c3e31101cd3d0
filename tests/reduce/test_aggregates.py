"""The bands of a distribution from precomputed aggregates (reduce/aggregates.py: running sums,
16-step block extremes) against the same reductions over every step of each column."""

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.reduce import aggregates, columns

B = 30


def test_precomputed_aggregates_give_the_bands():
    """Column extremes, means and medians from ColumnAggregates equal the reductions over each
    column's steps (extremes exactly, sums to rounding)."""
    rng = np.random.default_rng(4)
    n, Q = 30_000, len(metadata.DEFAULT_QUANTILE_PROBS)
    data = np.zeros((n, metadata.distribution_length(Q, B)))
    data[:, metadata.COUNT] = rng.integers(60, 65, n)
    data[:, metadata.NAN_COUNT] = rng.integers(0, 3, n)
    data[:, metadata.MIN] = rng.normal(size=n) - 3
    data[:, metadata.MAX] = data[:, metadata.MIN] + 6
    data[:, metadata.MEAN] = rng.normal(size=n)
    data[::97, metadata.MEAN] = np.nan
    data[:, metadata.HEADER_LENGTH:metadata.HEADER_LENGTH + Q] = np.sort(rng.normal(size=(n, Q)), axis=1)
    data[::89, metadata.HEADER_LENGTH + 5] = np.nan  # the median (p = 0.5)
    data[1000:1040, metadata.HEADER_LENGTH + 1] = np.nan  # a column's worth of one quantile
    data[:, metadata.HEADER_LENGTH + Q:] = rng.random((n, B))
    data = np.asfortranarray(data)  # column-major, as the index keeps it
    agg = aggregates.ColumnAggregates()
    agg.update((1, 0), data[:20_000], metadata.DEFAULT_QUANTILE_PROBS)
    agg.update((1, 0), data, metadata.DEFAULT_QUANTILE_PROBS)
    assert agg.covers((1, 0), n) and not agg.covers((2, 0), n)
    steps = np.arange(n) * 3
    for a, b, width in ((1234, 29_000, 700), (0, n, 2000), (1000, 1100, 20), (5, 30_000, 29_000)):
        d = data[a:b]
        fc = d[:, metadata.COUNT] - d[:, metadata.NAN_COUNT]
        args = (steps[a:b], d[:, metadata.HEADER_LENGTH:metadata.HEADER_LENGTH + Q],
                metadata.DEFAULT_QUANTILE_PROBS, d[:, metadata.MIN], d[:, metadata.MAX], d[:, metadata.MEAN])
        start, end = int(steps[a]), int(steps[b - 1])
        for origin in (None, a):  # pixel columns, and columns snapped to aligned blocks
            direct = columns.bands(*args, fc, start, end, width, origin=origin)
            via = columns.bands(*args, None, start, end, width,
                                lambda seg, seg_end: aggregates.bands_reducer(agg, a, data, Q, seg, seg_end),
                                origin=origin)
            _same_bands(via, direct)


def _same_bands(via, direct):
    """Extremes equal, sums to rounding."""
    np.testing.assert_array_equal(via["min"], direct["min"])
    np.testing.assert_array_equal(via["max"], direct["max"])
    np.testing.assert_allclose(via["mean"], direct["mean"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(via["quantiles"], direct["quantiles"], rtol=1e-12, atol=1e-12)
    extremes = [i for i, p in enumerate(metadata.DEFAULT_QUANTILE_PROBS) if p != 0.5]
    np.testing.assert_array_equal(via["quantiles"][extremes], direct["quantiles"][extremes])
