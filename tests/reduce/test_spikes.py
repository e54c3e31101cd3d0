"""Spike scores (reduce/spikes.py) against their definition computed one point at a time, on
noise, warm-ups, level shifts and injected spikes; the anomaly listing's helpers."""

import numpy as np
from hypothesis import given, settings, strategies as st

from tb_batch_plugin.reduce import spikes


def _direct_scores(x, w, warmup, starts=()):
    """The definition of docs/http_api.md (anomalies), one point at a time (no numpy windows)."""
    fin = [i for i in range(len(x)) if np.isfinite(x[i])]
    xf = [float(x[i]) for i in fin]
    n = len(xf)
    w = max(1, min(w, (n - 1) // 2))
    d = sorted(abs(xf[k + 1] - xf[k]) for k in range(n - 1))
    g = 1.4826 * float(np.median(d)) / np.sqrt(2)
    if g == 0:
        g = 1.2533 * float(np.mean(d)) / np.sqrt(2)
    out = {}
    skip = set()
    for s0 in [0] + [fin.index(s) for s in starts]:
        skip.update(range(s0, s0 + warmup))
    for j in range(n):
        sides = []
        for side in ([xf[j - w:j]] if j >= w else []) + ([xf[j + 1:j + 1 + w]] if j + w < n else []):
            med = float(np.median(side))
            noise = 1.4826 * float(np.median([abs(v - med) for v in side])) or g
            dev = abs(xf[j] - med)
            sides.append((dev / noise if noise > 0 else (np.inf if dev > 0 else 0.0), dev, med))
        if sides and j not in skip:
            out[fin[j]] = (min(z for z, _, _ in sides), min(sides, key=lambda t: t[1])[1:])
    return out


def test_spike_scores_match_direct_definition():
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    x[150] = 25.0
    x[7] = np.nan
    x[200:] += 50.0  # a level shift: close to one side, not a spike
    s = spikes.spike_scores(x, segment_starts=[100])
    ref = _direct_scores(x, spikes.SPIKE_WINDOW, spikes.SPIKE_WARMUP, starts=[100])
    assert np.isnan(s.score[7])
    for i in range(len(x)):
        if i in ref:
            np.testing.assert_allclose(s.score[i], ref[i][0], rtol=1e-12)
            np.testing.assert_allclose([s.jump[i], s.level[i]], ref[i][1], rtol=1e-12)
        else:
            assert np.isnan(s.score[i]) and np.isnan(s.jump[i]), i
    assert 0 not in ref and 100 not in ref and 124 not in ref and 130 in ref  # warm-ups
    fin = x[np.isfinite(x)]
    np.testing.assert_allclose(s.spread, np.quantile(fin, 0.99) - np.quantile(fin, 0.01))
    assert spikes.spikes(s).tolist() == [150]


def test_no_spikes_in_noise_near_zero_or_warm_up_but_the_injected_ones():
    """A loss decaying to a flat near-zero level with log-normal batch noise (20%), very
    heavy-tailed near zero (bumps of 10x the level and more, as a well-fit model's per-batch
    loss), has no spike;
    warm-up is never one; spikes injected into the same curve are found exactly."""
    rng = np.random.default_rng(3)
    t = np.arange(5000)
    level = 2.3 * np.exp(-t / 300) + 0.002
    calm = level * np.exp(np.where(level > 0.01, 0.2, 1.0) * rng.standard_normal(t.size))
    assert calm[t > 3000].max() > 10 * 0.002
    assert spikes.spikes(spikes.spike_scores(calm)).tolist() == []
    spiky = calm.copy()
    at = [800, 2100, 2161, 4500]
    spiky[at] += 1.5
    sc = spikes.spike_scores(spiky)
    assert spikes.spikes(sc).tolist() == at
    # a lower threshold or min_jump flags more, never fewer
    assert set(at) <= set(spikes.spikes(sc, threshold=3, min_jump=0.0).tolist())


def test_spike_in_constant_series_and_tiny_series():
    x = np.ones(200)
    x[100] = 2.0
    s = spikes.spike_scores(x)
    assert spikes.spikes(s).tolist() == [100]
    # a constant window has no noise: the series' global noise (mean |difference|) stands in
    np.testing.assert_allclose(s.score[100], 1.0 / (1.2533 * (2.0 / 199) / np.sqrt(2.0)))
    assert s.jump[100] == 1.0 and s.level[100] == 1.0
    assert spikes.spikes(spikes.spike_scores(np.ones(100))).tolist() == []
    assert np.all(np.isnan(spikes.spike_scores(np.array([1.0, np.inf])).score))
    # a step change (a learning-rate schedule) is not a spike
    lr = np.where(np.arange(1000) < 900, 0.1, 0.01)
    assert spikes.spikes(spikes.spike_scores(lr)).tolist() == []


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(3.0, 20.0), st.floats(0.0, 1.0))
def test_spike_candidates_keep_every_spike_a_request_can_ask_for(seed, threshold, min_jump):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, size=400)
    x[rng.integers(0, 400, 5)] += 30.0
    full = spikes.spike_scores(x)
    points, compact = spikes.spike_candidates(full)
    assert points.size < x.size
    np.testing.assert_array_equal(points[spikes.spikes(compact, threshold, min_jump)],
                                  spikes.spikes(full, threshold, min_jump))


def test_nonfinite_points_keep_the_first_of_each_kind_and_count_all():
    x = np.array([1.0, np.nan, np.inf, np.nan, -np.inf, 2.0, np.nan, np.inf], dtype=np.float32)
    indices, kinds, counts = spikes.nonfinite_points(x, limit=2)
    assert indices == [1, 2, 3, 4, 7] and kinds == ["nan", "inf", "nan", "-inf", "inf"]
    assert counts == {"nan": 3, "inf": 2, "-inf": 1}
    assert spikes.nonfinite_points(np.ones(5), limit=1) == ([], [], {"nan": 0, "inf": 0, "-inf": 0})


def test_top_spikes_are_the_highest_scores_beyond_the_limit():
    scores = spikes.SpikeScores(np.array([7.0, 9.0, 2.0, 8.0, 6.5]), np.ones(5), np.zeros(5), 1.0)
    assert spikes.top_spikes(scores, 6.0, 0.2, limit=10)[0].tolist() == [0, 1, 3, 4]
    hit, count = spikes.top_spikes(scores, 6.0, 0.2, limit=2)
    assert hit.tolist() == [1, 3] and count == 4
