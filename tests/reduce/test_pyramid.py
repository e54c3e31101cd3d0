"""The heatmap from block histograms (pyramid.py) against the exact per-step heatmap
(columns.heatmap, itself checked against per-column loops in test_columns): the same mass in every
column, a single step's mass in its own column, the same picture up to the resolution of the
aligned grid; incremental updates equal a build in one go. Block histograms are float32: masses
agree to 1e-6 relative."""

import numpy as np
import pytest

from tb_batch_plugin.reduce import columns, pyramid

B = 30
BATCH = 64.0  # every step's histogram holds the same count, as a batch does


def _series(n, seed=0):
    """vmin, vmax, hist of n steps drifting downwards (a loss), some steps with all values equal,
    one step without a finite value."""
    rng = np.random.default_rng(seed)
    level = 3.0 * np.exp(-np.arange(n) / (n / 3)) + 0.01 * np.cumsum(rng.normal(size=n)) / np.sqrt(n)
    vmin = level - np.abs(rng.normal(size=n)) * 0.3
    vmax = level + np.abs(rng.normal(size=n)) * 0.3
    hist = rng.dirichlet(np.ones(B), size=n) * BATCH
    eq = np.arange(n) % 101 == 7
    vmax[eq] = vmin[eq]
    vmin[n // 2] = vmax[n // 2] = np.nan
    hist[n // 2] = 0.0
    return vmin, vmax, hist


def _columns(a, b, width):
    seg = columns._segments(columns.columns(np.arange(a, b), a, b - 1, width))
    return seg, a + seg


def _both(vmin, vmax, hist, p, a, b, width, bins=32, ident=(1, 0), snap=False):
    seg, starts = _columns(a, b, width)
    if snap:  # the route's columns: boundaries on aligned blocks (columns.snap_bounds)
        seg = columns.snap_bounds(seg, b - a, a)
        starts = a + seg
    edges, exact = columns.heatmap(vmin[a:b], vmax[a:b], hist[a:b], seg, bins)
    got = p.heatmap(ident, a, b, starts, edges, lambda idx: (vmin[idx], vmax[idx], hist[idx]))
    return seg, exact, got


@pytest.fixture(scope="module")
def built():
    vmin, vmax, hist = _series(60_001)
    p = pyramid.HistogramPyramid()
    p.update((1, 0), vmin, vmax, hist)
    return vmin, vmax, hist, p


@pytest.mark.parametrize("a,b,width", [(0, 60_001, 2000), (1, 59_999, 777), (12_345, 40_000, 1000),
                                       (0, 60_001, 300), (30_000, 34_000, 1000)])
def test_every_column_holds_its_steps_mass(built, a, b, width):
    vmin, vmax, hist, p = built
    seg, exact, got = _both(vmin, vmax, hist, p, a, b, width)
    assert got is not None and got.shape == exact.shape
    np.testing.assert_allclose(got.sum(axis=1), exact.sum(axis=1), rtol=1e-6)
    # The same picture, up to the aligned grid's resolution: most mass in the same bins.
    assert np.abs(got - exact).sum() / exact.sum() < 0.1


@pytest.mark.parametrize("a,b,width", [(0, 60_001, 200), (1, 59_999, 77), (12_345, 40_000, 100)])
def test_snapped_columns_hold_exactly_their_steps_mass(built, a, b, width):
    """Columns that start and end on aligned blocks share no block with a neighbour: every
    column's mass is that of its own steps, whatever their counts (none averaged across)."""
    vmin, vmax, hist, p = built
    seg, exact, got = _both(vmin, vmax, hist, p, a, b, width, snap=True)
    assert ((a + seg[1:]) % 16 == 0).all()
    np.testing.assert_allclose(got.sum(axis=1), exact.sum(axis=1), rtol=1e-6)
    assert np.abs(got - exact).sum() / exact.sum() < 0.1


def test_a_single_steps_mass_stays_in_its_column(built):
    vmin, vmax, hist, _ = built
    vmin, vmax, hist = vmin.copy(), vmax.copy(), hist.copy()
    spike = 31_337
    vmin[spike], vmax[spike] = 40.0, 50.0  # far above everything else
    p = pyramid.HistogramPyramid()
    p.update((2, 0), vmin, vmax, hist)
    seg, starts = _columns(0, vmin.size, 1000)
    edges = columns.heatmap_edges(vmin, vmax, 32)
    got = p.heatmap((2, 0), 0, vmin.size, starts, edges, lambda idx: (vmin[idx], vmax[idx], hist[idx]))
    col = int(np.searchsorted(starts, spike, side="right") - 1)
    top = edges[:-1] >= 30.0  # everything else is below 5
    assert got[:, top].sum() == pytest.approx(BATCH)
    assert got[col, top].sum() == pytest.approx(BATCH)


def test_few_steps_per_column_are_left_to_the_exact_heatmap(built):
    vmin, vmax, hist, p = built
    seg, starts = _columns(100, 2100, 1000)
    assert p.heatmap((1, 0), 100, 2100, starts, columns.heatmap_edges(vmin, vmax, 32), None) is None
    assert p.heatmap((9, 9), 0, 60_001, _columns(0, 60_001, 100)[1], columns.heatmap_edges(vmin, vmax, 32), None) is None


def test_incremental_updates_equal_one_build(built):
    vmin, vmax, hist, p = built
    q = pyramid.HistogramPyramid()
    for n in (5, 1000, 1001, 33_333, 60_001):
        q.update((1, 0), vmin[:n], vmax[:n], hist[:n])
    assert q._published[1] == p._published[1]
    for lp, lq in zip(p._published[2], q._published[2]):
        k = lp.n
        for name in ("lo", "hi", "e", "o", "hist"):
            np.testing.assert_array_equal(getattr(lq, name)[:k], getattr(lp, name)[:k], err_msg=name)
    seg, starts = _columns(0, 60_001, 1500)
    edges = columns.heatmap_edges(vmin, vmax, 32)
    rows = lambda idx: (vmin[idx], vmax[idx], hist[idx])  # noqa: E731
    np.testing.assert_array_equal(q.heatmap((1, 0), 0, 60_001, starts, edges, rows),
                                  p.heatmap((1, 0), 0, 60_001, starts, edges, rows))


def test_steps_not_yet_aggregated_are_binned_exactly(built):
    vmin, vmax, hist, _ = built
    q = pyramid.HistogramPyramid()
    q.update((1, 0), vmin[:50_000], vmax[:50_000], hist[:50_000])  # the last 10,001 steps are new
    seg, exact, got = _both(vmin, vmax, hist, q, 0, 60_001, 1000)
    np.testing.assert_allclose(got.sum(axis=1), exact.sum(axis=1), rtol=1e-6)
    tail = seg >= 50_000 + 64  # whole columns after the aggregated part: step by step, exact
    np.testing.assert_allclose(got[tail], exact[tail], rtol=1e-6)


def test_all_values_equal(built):
    n = 20_000
    vmin = vmax = np.full(n, 2.5)
    hist = np.zeros((n, B))
    hist[:, 0] = BATCH
    p = pyramid.HistogramPyramid()
    p.update((3, 0), vmin, vmax, hist)
    seg, exact, got = _both(vmin, vmax, hist, p, 0, n, 500, bins=8, ident=(3, 0))
    np.testing.assert_allclose(got, exact)
    assert (got[:, 0] > 0).all() and (got[:, 1:] == 0).all()
