"""Spike scores of a scalar series: how far each point stands from the local level on both sides
of it, in robust standard deviations (median and MAD of its neighbours), and which points of a
series the `anomalies` route lists. The definition is in docs/http_api.md (`GET anomalies`);
numpy, vectorised over points.
"""

import math
from collections import namedtuple

import numpy as np

SPIKE_THRESHOLD = 6.0
SPIKE_MIN_THRESHOLD = 3.0  # the lowest threshold served: only points scoring this much are kept
SPIKE_WINDOW = 25
SPIKE_MIN_JUMP = 0.2
SPIKE_WARMUP = 25
MAD_SCALE = 1.4826


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
            mid = np.partition(v, h, axis=1)[:, h]
            dev = np.abs(v - mid[:, None])
            md_dev = np.partition(dev, h, axis=1)[:, h]
        else:
            mid = np.median(v, axis=1)
            md_dev = np.median(np.abs(v - mid[:, None]), axis=1)
        med[a:a + rows] = mid
        mad[a:a + rows] = md_dev
    return med, mad


SpikeScores = namedtuple("SpikeScores", "score jump level spread")
SpikeScores.__doc__ = """Per point (NaN where not scored: non-finite, warm-up, no full side): the
score (robust sigmas from the local level, the smaller of both sides), the jump |x - level| and
that side's level; and the series' spread (1st..99th percentile range of its finite values)."""


def _global_noise(x):
    """Robust noise of a whole series from its first differences (a trend does not inflate it):
    1.4826 * MAD of the differences / sqrt(2); the mean absolute difference when that is 0."""
    d = np.abs(np.diff(x))
    if not d.size:
        return 0.0
    g = MAD_SCALE * float(np.median(d)) / np.sqrt(2.0)
    return g if g > 0 else 1.2533 * float(d.mean()) / np.sqrt(2.0)


def spike_scores(values, window=SPIKE_WINDOW, warmup=SPIKE_WARMUP, segment_starts=()):
    """SpikeScores of every point of `values` (the definition: docs/http_api.md, anomalies).

    Non-finite points are left out of the windows and get no score. ``segment_starts``: indices
    into `values` where a segment (a `fit`) starts; the first `warmup` finite points from each
    of them (and from the series' start) are not scored. A side's noise of 0 (a constant
    window) is replaced by the series' global noise (_global_noise); if that is 0 too, any
    deviation scores inf."""
    values = np.asarray(values, dtype=np.float64)
    score = np.full(values.shape, np.nan)
    jump = np.full(values.shape, np.nan)
    level = np.full(values.shape, np.nan)
    fi = np.flatnonzero(np.isfinite(values))
    x = values[fi]
    n = x.size
    if n < 3:
        return SpikeScores(score, jump, level, 0.0)
    spread = float(np.quantile(x, 0.99) - np.quantile(x, 0.01))
    w = max(1, min(int(window), (n - 1) // 2))
    med, mad = _window_stats(x, w)  # window k covers x[k : k + w]
    g = _global_noise(x)
    noise = MAD_SCALE * mad
    noise = np.where(noise > 0, noise, g)
    j = np.arange(n)
    has_before = j >= w             # x[j - w : j] is window j - w
    has_after = j + w < n           # x[j + 1 : j + 1 + w] is window j + 1
    big = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        def side(ok, k):
            k = np.clip(k, 0, med.size - 1)
            d = np.abs(x - med[k])
            z = np.where(noise[k] > 0, d / np.where(noise[k] > 0, noise[k], 1.0), np.where(d > 0, big, 0.0))
            return np.where(ok, d, big), np.where(ok, z, big), med[k]

        db, zb, lb = side(has_before, j - w)
        da, za, la = side(has_after, j + 1)
    scored = has_before | has_after
    starts = np.searchsorted(fi, np.asarray(sorted(set(int(s) for s in segment_starts) | {0}), dtype=np.int64))
    for s0 in starts:
        scored[s0:s0 + int(warmup)] = False
    s = np.minimum(zb, za)
    d = np.where(db <= da, db, da)
    lv = np.where(db <= da, lb, la)
    score[fi[scored]] = s[scored]
    jump[fi[scored]] = d[scored]
    level[fi[scored]] = lv[scored]
    return SpikeScores(score, jump, level, spread)


def spike_candidates(scores, floor=SPIKE_MIN_THRESHOLD):
    """(indices, SpikeScores of only those points) of the points scoring at least ``floor``:
    what a cache keeps of a series' scores (a few per cent of its points on noise)."""
    with np.errstate(invalid="ignore"):
        keep = np.flatnonzero(scores.score >= floor)
    return keep, SpikeScores(scores.score[keep], scores.jump[keep], scores.level[keep], scores.spread)


def spikes(scores, threshold=SPIKE_THRESHOLD, min_jump=SPIKE_MIN_JUMP):
    """Indices of the spikes among SpikeScores: score >= threshold and jump >= min_jump * spread
    (and a jump > 0)."""
    with np.errstate(invalid="ignore"):
        hit = (scores.score >= threshold) & (scores.jump >= min_jump * scores.spread) & (scores.jump > 0)
    return np.flatnonzero(hit)


NONFINITE_KINDS = ("nan", "inf", "-inf")


def nonfinite_points(values, limit):
    """(indices, kinds, counts) of the non-finite points of `values`: the first `limit` of each
    kind (``NONFINITE_KINDS``) in index order, the kind of each, and how many of each kind there
    are in all."""
    v = np.asarray(values, dtype=np.float64)
    counts = dict.fromkeys(NONFINITE_KINDS, 0)
    indices, kinds = [], []
    for i in np.flatnonzero(~np.isfinite(v)).tolist():
        x = float(v[i])
        kind = "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        counts[kind] += 1
        if counts[kind] <= limit:
            indices.append(i)
            kinds.append(kind)
    return indices, kinds, counts


def top_spikes(scores, threshold, min_jump, limit):
    """(positions, count): the spikes among SpikeScores (``spikes``), at most `limit` of them
    (the highest scores, in index order when all fit), and how many there are in all."""
    hit = spikes(scores, threshold, min_jump)
    count = int(hit.size)
    if hit.size > limit:
        hit = hit[np.argsort(-scores.score[hit], kind="stable")[:limit]]
    return hit, count
