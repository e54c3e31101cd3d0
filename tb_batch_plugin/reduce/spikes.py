"""Spike scores of a scalar series: how far each point stands from the local level on both sides
of it, in robust standard deviations (median and MAD of its neighbours), and which points of a
series the `anomalies` route lists. The definition is in docs/http_api.md (`GET anomalies`);
numpy, vectorised over points.
"""

import math
import warnings
from collections import namedtuple

import numpy as np

SPIKE_THRESHOLD = 6.0
SPIKE_MIN_THRESHOLD = 3.0  # the lowest threshold served: only points scoring this much are kept
SPIKE_WINDOW = 25
SPIKE_MIN_JUMP = 0.2
SPIKE_WARMUP = 25
MAD_SCALE = 1.4826


def _window_medians(x, w):
    """The median of each length-w window of x (len(x) - w + 1 windows)."""
    view = np.lib.stride_tricks.sliding_window_view(x, w)
    m = view.shape[0]
    med = np.empty(m)
    rows = max(1, (1 << 22) // w)
    h = w // 2
    for a in range(0, m, rows):
        v = view[a:a + rows]
        # odd window: the median is the middle order statistic (partition is cheap)
        med[a:a + rows] = np.partition(v, h, axis=1)[:, h] if w % 2 else np.median(v, axis=1)
    return med


SpikeScores = namedtuple("SpikeScores", "score jump level gap spread")
SpikeScores.__doc__ = """Per point (NaN where not scored: non-finite, warm-up, no full side): the
score (robust sigmas from the local level, the nearer of both sides, in the scored scale: the log
of the values for a positive series), the jump |x - level| and that side's level in the series'
units, and the signed gap x - level in the scored scale; and the series' spread (1st..99th
percentile range of its finite values, in its units)."""

NOISE_BLOCK = 256  # finite points per block of the pooled noise


def _global_noise(x):
    """Robust noise of a whole series from its first differences (a trend does not inflate it):
    1.4826 * MAD of the differences / sqrt(2); the mean absolute difference when that is 0."""
    d = np.abs(np.diff(x))
    if not d.size:
        return 0.0
    g = MAD_SCALE * float(np.median(d)) / np.sqrt(2.0)
    return g if g > 0 else 1.2533 * float(d.mean()) / np.sqrt(2.0)


def _pooled_noise(distance, fallback):
    """The noise at each point: 1.4826 x the median distance from the local level over blocks of
    NOISE_BLOCK points (NaN distances left out), interpolated between block centres. Pooled over a
    block, not taken from the 25 points of one side, it is stable (a side's own MAD varies by a
    factor of two from window to window). A block without spread uses ``fallback``."""
    n = distance.size
    blocks = -(-n // NOISE_BLOCK)
    padded = np.full(blocks * NOISE_BLOCK, np.nan)
    padded[:n] = distance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a block without a scored point
        per_block = MAD_SCALE * np.nanmedian(padded.reshape(blocks, NOISE_BLOCK), axis=1)
    per_block = np.where(per_block > 0, per_block, fallback)
    centres = np.minimum((np.arange(blocks) + 0.5) * NOISE_BLOCK, n - 1)
    return np.interp(np.arange(n), centres, per_block)


def _side_levels(x, window):
    """Per point of x: (its distance to the nearer of the medians of the `window` points before
    and after it (inf without a full side), that median, whether it has a side)."""
    n = x.size
    if n < 3:
        return np.full(n, np.inf), x.copy(), np.zeros(n, dtype=bool)
    w = max(1, min(int(window), (n - 1) // 2))
    med = _window_medians(x, w)  # window k covers x[k : k + w]
    j = np.arange(n)
    has_before = j >= w             # x[j - w : j] is window j - w
    has_after = j + w < n           # x[j + 1 : j + 1 + w] is window j + 1
    before = med[np.clip(j - w, 0, med.size - 1)]
    after = med[np.clip(j + 1, 0, med.size - 1)]
    db = np.where(has_before, np.abs(x - before), np.inf)
    da = np.where(has_after, np.abs(x - after), np.inf)
    return np.minimum(db, da), np.where(db <= da, before, after), has_before | has_after


def spike_scores(values, window=SPIKE_WINDOW, warmup=SPIKE_WARMUP, segment_starts=(), scale=None, groups=None):
    """SpikeScores of every point of `values` (the definition: docs/http_api.md, anomalies).

    ``scale``: 'log' scores the log of the values (scale-free: the heavy tail of a positive
    series such as a converged classifier's per-batch loss is not a spike, a jump that neither
    neighbourhood explains is; a value of 0 counts as the smallest positive one), 'linear' the
    values; None: 'log' when every finite value is positive.
    Non-finite points are left out of the windows and get no score. ``segment_starts``: indices
    into `values` where a segment (a `fit`) starts; the first `warmup` finite points from each
    of them (and from the series' start) are not scored, and do not count in the noise.
    ``groups``: index arrays into `values` of points scored only against the points of their own
    group (the same validation batch in the evaluations before and after it, not the other
    batches of its evaluation); the first `warmup` of each group are its warm-up. Noise of 0 (a
    constant stretch) is replaced by the series' global noise (_global_noise); if that is 0 too,
    any deviation scores inf."""
    values = np.asarray(values, dtype=np.float64)
    score, jump, level, gap = (np.full(values.shape, np.nan) for _ in range(4))
    fi = np.flatnonzero(np.isfinite(values))
    raw = values[fi]
    n = raw.size
    if n < 3:
        return SpikeScores(score, jump, level, gap, 0.0)
    positive = raw[raw > 0]
    log = (positive.size == n if scale is None else scale == "log") and positive.size > 0
    x = np.log(np.maximum(raw, positive.min())) if log else raw
    if groups is None:
        distance, near, scored = _side_levels(x, window)
        starts = np.searchsorted(fi, np.asarray(sorted(set(int(s) for s in segment_starts) | {0}), dtype=np.int64))
        for s0 in starts:
            scored[s0:s0 + int(warmup)] = False
    else:
        distance, near, scored = np.full(n, np.inf), x.copy(), np.zeros(n, dtype=bool)
        for index in groups:
            at = np.searchsorted(fi, np.asarray(index, dtype=np.int64))
            at = at[(at < n) & (fi[np.minimum(at, n - 1)] == np.asarray(index))]  # its finite points
            if at.size:
                distance[at], near[at], scored[at] = _side_levels(x[at], window)
                scored[at[:int(warmup)]] = False
    noise = _pooled_noise(np.where(scored, distance, np.nan), _global_noise(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(noise > 0, distance / np.where(noise > 0, noise, 1.0), np.where(distance > 0, np.inf, 0.0))
    levels = np.exp(near) if log else near
    score[fi[scored]] = z[scored]
    gap[fi[scored]] = (x - near)[scored]
    level[fi[scored]] = levels[scored]
    jump[fi[scored]] = np.abs(raw - levels)[scored]
    return SpikeScores(score, jump, level, gap, float(np.quantile(raw, 0.99) - np.quantile(raw, 0.01)))


def spike_candidates(scores, floor=SPIKE_MIN_THRESHOLD):
    """(indices, SpikeScores of only those points) of the points scoring at least ``floor``:
    what a cache keeps of a series' scores (a few per cent of its points on noise)."""
    with np.errstate(invalid="ignore"):
        keep = np.flatnonzero(scores.score >= floor)
    return keep, SpikeScores(scores.score[keep], scores.jump[keep], scores.level[keep], scores.gap[keep],
                             scores.spread)


def spikes(scores, threshold=SPIKE_THRESHOLD, min_jump=SPIKE_MIN_JUMP):
    """Indices of the spikes among SpikeScores: score >= threshold and jump >= min_jump * spread
    (and a jump > 0): scored scale-free, a spike must still be a jump that matters against the
    range the series covered (a converged loss bumping from 0.0001 to 0.003 is not one)."""
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
