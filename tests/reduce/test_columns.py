"""M4, distribution bands and heatmap re-binning (reduce/columns.py), against plain per-column loops."""

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from tb_batch_plugin.reduce import columns


def _col(step, start, end, width):
    return min(width - 1, (step - start) * width // (end - start + 1))  # exact integers


series = st.integers(1, 400).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int64, n, elements=st.integers(-10**6, 10**6), unique=True),
    hnp.arrays(np.float64, n, elements=st.one_of(
        st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0]))),
    st.integers(1, 60)))


@settings(max_examples=300, deadline=None)
@given(series)
def test_m4_keeps_every_column_extreme(args):
    steps, values, width = args
    order = np.argsort(steps)
    steps, values = steps[order], values[order]
    start, end = int(steps[0]), int(steps[-1])
    kept = columns.m4(steps, values, start, end, width)
    assert np.all(np.diff(kept) > 0)  # sorted, each point once
    kept_set = set(kept.tolist())
    assert len(kept) <= 7 * width
    cols = {}
    for i, s in enumerate(steps.tolist()):
        cols.setdefault(_col(s, start, end, width), []).append(i)
    kept_vals = values[kept]
    fin = values[np.isfinite(values)]
    if fin.size:  # global extremes survive
        assert np.nanmax(np.where(np.isfinite(kept_vals), kept_vals, np.nan)) == fin.max()
        assert np.nanmin(np.where(np.isfinite(kept_vals), kept_vals, np.nan)) == fin.min()
    for idx in cols.values():
        f = [i for i in idx if np.isfinite(values[i])]
        if f:
            assert f[0] in kept_set and f[-1] in kept_set
            vals = values[f]
            assert values[[i for i in f if i in kept_set]].max() == vals.max()
            assert values[[i for i in f if i in kept_set]].min() == vals.min()
        for pred in (np.isnan, lambda x: x == np.inf, lambda x: x == -np.inf):
            hits = [i for i in idx if pred(values[i])]
            if hits:
                assert hits[0] in kept_set


def test_m4_spike_survives_any_zoom():
    n = 100_000
    steps = np.arange(n, dtype=np.int64)
    values = np.sin(steps / 500.0)
    values[73_123] = 40.0
    for width in (1, 7, 500, 2000):
        for start, end in ((0, n - 1), (70_000, 80_000), (73_000, 73_200)):
            a, b = np.searchsorted(steps, [start, end + 1])
            k = columns.m4(steps[a:b], values[a:b], start, end, width)
            assert 73_123 - a in k.tolist()


def test_columns_are_exact_at_boundaries():
    steps = np.arange(0, 9)
    np.testing.assert_array_equal(columns.columns(steps, 0, 8, 3), [0, 0, 0, 1, 1, 1, 2, 2, 2])
    huge = np.array([-(2**62), 0, 2**62], dtype=np.int64)
    np.testing.assert_array_equal(columns.columns(huge, -(2**62), 2**62, 2), [0, 1, 1])


def test_bands_match_per_column_loop():
    rng = np.random.default_rng(3)
    n, width = 257, 10
    steps = np.sort(rng.choice(10_000, n, replace=False)).astype(np.int64)
    probs = [0.0, 0.1, 0.5, 0.9, 1.0]
    q = np.sort(rng.normal(size=(n, 5)), axis=1)
    q[5, :] = np.nan  # a step without finite values
    vmin, vmax = q[:, 0], q[:, -1]
    mean = q[:, 2] + 0.1
    fc = rng.integers(1, 100, n).astype(float)
    start, end = int(steps[0]), int(steps[-1])
    r = columns.bands(steps, q, probs, vmin, vmax, mean, fc, start, end, width)
    groups = {}
    for i, s in enumerate(steps.tolist()):
        groups.setdefault(_col(s, start, end, width), []).append(i)
    assert len(r["steps"]) == len(groups)
    for c, (col, idx) in enumerate(sorted(groups.items())):
        assert r["steps"][c] == steps[idx[0]] and r["step_ends"][c] == steps[idx[-1]]
        assert r["min"][c] == np.nanmin(vmin[idx]) and r["max"][c] == np.nanmax(vmax[idx])
        assert r["quantiles"][0][c] == np.nanmin(q[idx, 0]) and r["quantiles"][1][c] == np.nanmin(q[idx, 1])
        assert r["quantiles"][3][c] == np.nanmax(q[idx, 3]) and r["quantiles"][4][c] == np.nanmax(q[idx, 4])
        np.testing.assert_allclose(r["quantiles"][2][c], np.nanmean(q[idx, 2]))
        ok = [i for i in idx if np.isfinite(mean[i])]
        np.testing.assert_allclose(r["mean"][c], np.sum(mean[ok] * fc[ok]) / np.sum(fc[ok]))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 500), st.integers(-1000, 1000), st.integers(0, 60), st.integers(0, 60), st.integers(1, 300))
def test_bounds_of_consecutive_steps_as_by_search(n, s0, before, after, width):
    """Consecutive steps take their columns' first steps by subtraction: the same as searching."""
    steps = np.arange(s0, s0 + n)
    start, end = s0 - before, s0 + n - 1 + after
    span = end - start + 1
    c = np.arange(1, width)
    b = np.concatenate([[0], np.searchsorted(steps, start + (c * span + width - 1) // width)])
    want = b[np.concatenate([b[1:] > b[:-1], [b[-1] < n]])]
    np.testing.assert_array_equal(columns._bounds(steps, start, end, width), want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=60), st.integers(0, 10**6))
def test_snapped_columns_move_little_and_stay_whole(lens, origin):
    """Snapped boundaries: on a multiple of the largest power of 4 that SNAP_RATIO times fits
    both neighbouring columns, moved by at most 1/(2 * SNAP_RATIO) of either, none emptied."""
    seg = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = int(np.sum(lens))
    got = columns.snap_bounds(seg, n, origin)
    assert got[0] == 0 and got.size == seg.size and (np.diff(np.append(got, n)) > 0).all()
    for i in range(1, seg.size):
        m = min(lens[i - 1], lens[i]) // columns.SNAP_RATIO
        k = 4 ** int(np.floor(np.log(m) / np.log(4) + 1e-9)) if m >= 1 else 1
        assert (origin + got[i]) % k == 0 and 2 * abs(got[i] - seg[i]) <= k
        assert abs(got[i] - seg[i]) * 2 * columns.SNAP_RATIO <= min(lens[i - 1], lens[i])


def test_snapped_bands_are_exact_over_their_columns():
    """With an origin, the columns of a zoomed-out range start on aligned blocks; each column's
    values are the exact reductions of the steps it reports (steps .. step_ends), and its
    extent is its pixel's up to 1/(2 * SNAP_RATIO) of a column."""
    rng = np.random.default_rng(8)
    n, width, a = 40_000, 150, 1_234
    steps = np.sort(rng.choice(10**6, n, replace=False)).astype(np.int64)
    probs = [0.0, 0.25, 0.5, 0.75, 1.0]
    q = np.sort(rng.normal(size=(n, 5)), axis=1)
    vmin, vmax, mean = q[:, 0], q[:, -1], q[:, 2] + 0.1
    fc = rng.integers(1, 100, n).astype(float)
    start, end = int(steps[0]), int(steps[-1])
    r = columns.bands(steps, q, probs, vmin, vmax, mean, fc, start, end, width, origin=a)
    first = np.searchsorted(steps, r["steps"])
    last = np.searchsorted(steps, r["step_ends"])
    assert first[0] == 0 and last[-1] == n - 1 and (first[1:] == last[:-1] + 1).all()
    assert ((a + first[1:]) % 64 == 0).mean() > 0.5  # ~267 steps a column: blocks of 16 or 64
    assert ((a + first[1:]) % 16 == 0).all()
    pixel = columns._bounds(steps, start, end, width)
    np.testing.assert_array_equal(r["segments"], first)
    lens = np.diff(np.append(pixel, n))
    assert (np.abs(first - pixel)[1:] * 2 * columns.SNAP_RATIO <= np.minimum(lens[:-1], lens[1:])).all()
    for c in range(first.size):
        i = slice(first[c], last[c] + 1)
        assert r["min"][c] == vmin[i].min() and r["max"][c] == vmax[i].max()
        assert r["quantiles"][1][c] == q[i, 1].min() and r["quantiles"][3][c] == q[i, 3].max()
        np.testing.assert_allclose(r["quantiles"][2][c], q[i, 2].mean())
        np.testing.assert_allclose(r["mean"][c], np.sum(mean[i] * fc[i]) / np.sum(fc[i]))


def test_heatmap_rebinning():
    # Two steps; the first's bins coincide with the common bins, the second is a point mass.
    vmin = np.array([0.0, 2.0, np.nan])
    vmax = np.array([4.0, 2.0, np.nan])
    hist = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 0, 0, 0], [0, 0, 0, 0]])
    edges, counts = columns.heatmap(vmin, vmax, hist, np.array([0, 1, 2]), 4)
    np.testing.assert_allclose(edges, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(counts, [[1, 2, 3, 4], [0, 0, 5, 0], [0, 0, 0, 0]])
    # Halving the bins merges pairs; one column for everything conserves the mass.
    edges, counts = columns.heatmap(vmin, vmax, hist, np.array([0]), 2)
    np.testing.assert_allclose(counts, [[3, 12]])
    # Uniform spreading: one source bin [0, 4] over 4 target bins.
    edges, counts = columns.heatmap(np.array([0.0]), np.array([4.0]), np.array([[8.0]]), np.array([0]), 4)
    np.testing.assert_allclose(counts, [[2, 2, 2, 2]])
