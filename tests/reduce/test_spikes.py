"""Spike scores (reduce/spikes.py) against their definition computed one point at a time, on
noise, warm-ups, level shifts and injected spikes; the anomaly listing's helpers."""

import numpy as np
from hypothesis import given, settings, strategies as st

from tb_batch_plugin.reduce import spikes


def _direct_scores(x, w, warmup, starts=(), block=spikes.NOISE_BLOCK):
    """The definition of docs/http_api.md (anomalies), one point at a time (no numpy windows):
    {index: (score, jump, level, gap)}."""
    fin = [i for i in range(len(x)) if np.isfinite(x[i])]
    raw = [float(x[i]) for i in fin]
    log = all(v > 0 for v in raw)
    y = [float(np.log(v)) if log else v for v in raw]
    n = len(y)
    w = max(1, min(w, (n - 1) // 2))
    d = sorted(abs(y[k + 1] - y[k]) for k in range(n - 1))
    g = 1.4826 * float(np.median(d)) / np.sqrt(2)
    if g == 0:
        g = 1.2533 * float(np.mean(d)) / np.sqrt(2)
    near = {}  # j -> (distance, level in the scored scale)
    for j in range(n):
        sides = []
        for side in ([y[j - w:j]] if j >= w else []) + ([y[j + 1:j + 1 + w]] if j + w < n else []):
            med = float(np.median(side))
            sides.append((abs(y[j] - med), med))
        if sides:
            near[j] = min(sides, key=lambda t: t[0])
    skip = set()
    for s0 in [0] + [fin.index(s) for s in starts]:
        skip.update(range(s0, s0 + warmup))
    # the noise: 1.4826 x the median distance of the scored points of each block of `block`
    # points (warm-ups left out), between block centres
    centres, levels = [], []
    for b in range(0, n, block):
        dist = [near[j][0] for j in range(b, min(b + block, n)) if j in near and j not in skip]
        noise = 1.4826 * float(np.median(dist)) if dist else 0.0
        centres.append(min(b + block / 2, n - 1))
        levels.append(noise if noise > 0 else g)
    out = {}
    for j, (dist, med) in near.items():
        if j in skip:
            continue
        noise = float(np.interp(j, centres, levels))
        score = dist / noise if noise > 0 else (np.inf if dist > 0 else 0.0)
        level = float(np.exp(med)) if log else med
        out[fin[j]] = (score, abs(raw[j] - level), level, y[j] - med)
    return out


def test_spike_scores_match_direct_definition():
    rng = np.random.default_rng(5)
    # linear (crossing 0), and log (positive: a spike is a ratio, 2000 is 7 sigma of a log-normal)
    for x, spike, shift in ((rng.normal(size=700), 25.0, lambda v: v + 50.0),
                            (np.exp(rng.normal(size=700)), 2000.0, lambda v: v * 20.0)):
        x[150] = spike
        x[7] = np.nan
        x[400:] = shift(x[400:])  # a level shift: close to one side, not a spike
        s = spikes.spike_scores(x, segment_starts=[100])
        ref = _direct_scores(x, spikes.SPIKE_WINDOW, spikes.SPIKE_WARMUP, starts=[100])
        assert np.isnan(s.score[7])
        for i in range(len(x)):
            if i in ref:
                np.testing.assert_allclose([s.score[i], s.jump[i], s.level[i], s.gap[i]], ref[i], rtol=1e-9, atol=1e-12)
            else:
                assert np.isnan(s.score[i]) and np.isnan(s.jump[i]), i
        assert 0 not in ref and 100 not in ref and 124 not in ref and 130 in ref  # warm-ups
        fin = x[np.isfinite(x)]
        np.testing.assert_allclose(s.spread, np.quantile(fin, 0.99) - np.quantile(fin, 0.01))  # in its units
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
    # a constant stretch has no noise: the series' global noise (mean |difference|, on the log
    # scale of a positive series) stands in
    step = np.log(2.0)
    np.testing.assert_allclose(s.score[100], step / (1.2533 * (2 * step / 199) / np.sqrt(2.0)))
    assert s.jump[100] == 1.0 and s.level[100] == 1.0 and s.gap[100] == step
    assert spikes.spikes(spikes.spike_scores(x - 1.0)).tolist() == [100]  # with zeros: linear
    assert spikes.spikes(spikes.spike_scores(x - 1.5)).tolist() == [100]  # crossing 0: linear
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


def test_grouped_points_are_scored_against_their_own_group():
    """A validation batch against itself in the other evaluations: 10 batches of different
    levels, evaluated 30 times; one batch off in one evaluation is a spike, the others are not,
    although batch 9's level is far above the others'."""
    rng = np.random.default_rng(2)
    levels = np.linspace(0.5, 5.0, 10)
    x = (levels[None, :] * np.exp(0.05 * rng.standard_normal((30, 10)))).ravel()  # evaluation-major
    x[20 * 10 + 3] *= 4
    groups = [np.arange(k, x.size, 10) for k in range(10)]
    s = spikes.spike_scores(x, window=5, warmup=5, groups=groups)
    assert spikes.spikes(s).tolist() == [203]
    assert np.isnan(s.score[:50]).all() and not np.isnan(s.score[50:]).any()  # 5 evaluations of warm-up
    assert spikes.spikes(spikes.spike_scores(x)).tolist() != [203]  # ungrouped, batches differ
