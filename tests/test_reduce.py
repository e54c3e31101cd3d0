"""M4, distribution bands, heatmap re-binning and spike scores, against plain per-column loops."""

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from tb_batch_plugin import reduce as rd


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
    kept = rd.m4(steps, values, start, end, width)
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
            k = rd.m4(steps[a:b], values[a:b], start, end, width)
            assert 73_123 - a in k.tolist()


def test_columns_are_exact_at_boundaries():
    steps = np.arange(0, 9)
    np.testing.assert_array_equal(rd.columns(steps, 0, 8, 3), [0, 0, 0, 1, 1, 1, 2, 2, 2])
    huge = np.array([-(2**62), 0, 2**62], dtype=np.int64)
    np.testing.assert_array_equal(rd.columns(huge, -(2**62), 2**62, 2), [0, 1, 1])


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
    r = rd.bands(steps, q, probs, vmin, vmax, mean, fc, start, end, width)
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


def test_heatmap_rebinning():
    # Two steps; the first's bins coincide with the common bins, the second is a point mass.
    vmin = np.array([0.0, 2.0, np.nan])
    vmax = np.array([4.0, 2.0, np.nan])
    hist = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 0, 0, 0], [0, 0, 0, 0]])
    edges, counts = rd.heatmap(vmin, vmax, hist, np.array([0, 1, 2]), 4)
    np.testing.assert_allclose(edges, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(counts, [[1, 2, 3, 4], [0, 0, 5, 0], [0, 0, 0, 0]])
    # Halving the bins merges pairs; one column for everything conserves the mass.
    edges, counts = rd.heatmap(vmin, vmax, hist, np.array([0]), 2)
    np.testing.assert_allclose(counts, [[3, 12]])
    # Uniform spreading: one source bin [0, 4] over 4 target bins.
    edges, counts = rd.heatmap(np.array([0.0]), np.array([4.0]), np.array([[8.0]]), np.array([0]), 4)
    np.testing.assert_allclose(counts, [[2, 2, 2, 2]])


def test_spike_scores_match_direct_definition():
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    x[150] = 25.0
    x[7] = np.nan
    s = rd.spike_scores(x)
    assert np.isnan(s[7])
    fin = np.flatnonzero(np.isfinite(x))
    xf = x[fin]
    w = rd.SPIKE_WINDOW
    for j in (0, 10, 100, len(xf) - 1):
        a = min(max(j - w // 2, 0), len(xf) - w)
        win = xf[a:a + w]
        med = np.median(win)
        mad = np.median(np.abs(win - med))
        np.testing.assert_allclose(s[fin[j]], abs(xf[j] - med) / (1.4826 * mad))
    spikes = np.flatnonzero(s >= rd.SPIKE_THRESHOLD)
    assert spikes.tolist() == [150]


def test_spike_in_constant_series_and_tiny_series():
    x = np.ones(200)
    x[100] = 2.0
    s = rd.spike_scores(x)
    assert np.flatnonzero(s >= rd.SPIKE_THRESHOLD).tolist() == [100]
    assert np.all(rd.spike_scores(np.ones(100)) == 0)
    assert rd.spike_scores(np.array([1.0, np.inf])).tolist()[0] == 0.0
