"""The distribution route's reduction (reduce/distribution.py) with what the reload thread
precomputes against the same reduction from every step: the same bands (extremes exactly, sums
to rounding), the same mass in every heatmap column; raw below a point per column."""

import numpy as np
import pytest

from tb_batch_plugin import metadata
from tb_batch_plugin.reduce import columns, distribution

B = 30


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(11)
    n, Q = 50_000, len(metadata.DEFAULT_QUANTILE_PROBS)
    data = np.zeros((n, metadata.distribution_length(Q, B)))
    data[:, metadata.COUNT] = 64
    data[:, metadata.MIN] = rng.normal(size=n) - 3
    data[:, metadata.MAX] = data[:, metadata.MIN] + 6
    data[:, metadata.MEAN] = rng.normal(size=n)
    data[:, metadata.HEADER_LENGTH:metadata.HEADER_LENGTH + Q] = np.sort(rng.normal(size=(n, Q)), axis=1)
    data[:, metadata.HEADER_LENGTH + Q:] = rng.dirichlet(np.ones(B), size=n) * 64
    data = np.asfortranarray(data)
    steps = np.arange(n, dtype=np.int64) * 2
    probs = np.asarray(metadata.DEFAULT_QUANTILE_PROBS)
    pre = distribution.Precomputed()
    pre.update((1, 0), data[:40_000], probs)
    pre.update((1, 0), data, probs)
    return steps, data, probs, pre


@pytest.mark.parametrize("a,b,width,bins", [(0, 50_000, 2000, 32), (1234, 45_678, 777, 16), (100, 140, 50, 8)])
def test_precomputed_range_equals_the_range_from_every_step(series, a, b, width, bins):
    steps, data, probs, pre = series
    span = columns.step_range(steps, int(steps[a]), int(steps[b - 1]))
    via = distribution.reduce_range(steps, data, probs, span, width, bins, pre, (1, 0))
    direct = distribution.reduce_range(steps, data, probs, span, width, bins)
    assert via.method == direct.method == ("raw" if b - a <= width else "bands")
    np.testing.assert_array_equal(via.steps, direct.steps)
    np.testing.assert_array_equal(via.step_ends, direct.step_ends)
    np.testing.assert_array_equal(via.min, direct.min)
    np.testing.assert_array_equal(via.max, direct.max)
    np.testing.assert_allclose(via.mean, direct.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(via.quantiles, direct.quantiles, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(via.heatmap_edges, direct.heatmap_edges)
    assert via.heatmap_counts.dtype == np.float32 and via.heatmap_counts.shape == (via.steps.size, bins)
    np.testing.assert_allclose(via.heatmap_counts.sum(axis=1), direct.heatmap_counts.sum(axis=1), rtol=1e-5)


def test_another_series_content_is_not_served_from_the_aggregates(series):
    steps, data, probs, pre = series
    span = columns.step_range(steps, 0, int(steps[-1]))
    other = distribution.reduce_range(steps, data, probs, span, 500, 32, pre, (2, 0))
    direct = distribution.reduce_range(steps, data, probs, span, 500, 32)
    np.testing.assert_array_equal(other.heatmap_counts, direct.heatmap_counts)
    np.testing.assert_array_equal(other.mean, direct.mean)
