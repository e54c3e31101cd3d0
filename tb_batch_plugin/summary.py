"""Writers for per-step values from custom training loops (and the ops BatchStats uses).

Each function writes one summary through ``tf.summary.write`` to the default writer, with the
plugin data of ``metadata``; they work eagerly and inside ``tf.function`` (nothing runs in
Python per step once traced). ``step`` defaults to ``tf.summary.experimental.get_step()``.
They return the bool tensor ``tf.summary.write`` returns (False when no default writer).
"""

import tensorflow as tf

from tb_batch_plugin import metadata


def scalar(name, value, step=None, description=None):
    """Writes one per-step scalar (kept exactly as given: float32 stays float32)."""
    value = tf.convert_to_tensor(value)
    if not value.dtype.is_floating:
        value = tf.cast(value, tf.float64)
    with tf.name_scope("tb_batch_scalar"):
        return tf.summary.write(
            tag=name, tensor=tf.reshape(value, []), step=step,
            metadata=metadata.scalar_metadata(description=description),
        )


def distribution(name, values, step=None, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS, description=None):
    """Writes the distribution of ``values`` (any shape, flattened) at one step.

    The tensor layout (count, non-finite counts, min, max, mean, std, exact quantiles,
    histogram) is documented in ``metadata``.
    """
    with tf.name_scope("tb_batch_distribution"):
        stats = distribution_tensor(values, quantile_probs, num_bins)
        return write_distribution_tensor(name, stats, step, quantile_probs, num_bins, description)


def write_distribution_tensor(name, stats, step=None, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                              num_bins=metadata.DEFAULT_NUM_BINS, description=None):
    """Writes a tensor made by ``distribution_tensor`` (split from it so it can be computed
    inside an XLA-compiled step and written outside)."""
    return tf.summary.write(
        tag=name, tensor=stats, step=step,
        metadata=metadata.distribution_metadata(quantile_probs, num_bins, description=description),
    )


def distribution_tensor(values, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                        num_bins=metadata.DEFAULT_NUM_BINS):
    """The fixed-layout float64 summary of a batch of values (see ``metadata``).

    Static shapes only (no boolean masks), so it also compiles with XLA: non-finite values are
    sorted to the end as +inf and excluded by index arithmetic.
    """
    x = tf.cast(tf.reshape(values, [-1]), tf.float64)
    finite = tf.math.is_finite(x)
    count = tf.cast(tf.size(x), tf.float64)
    nan_count = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.float64))
    posinf_count = tf.reduce_sum(tf.cast(tf.equal(x, float("inf")), tf.float64))
    neginf_count = tf.reduce_sum(tf.cast(tf.equal(x, float("-inf")), tf.float64))
    n = tf.reduce_sum(tf.cast(finite, tf.int32))
    nf = tf.cast(n, tf.float64)
    has_finite = n > 0
    nan = tf.constant(float("nan"), tf.float64)

    x_finite_or_zero = tf.where(finite, x, tf.zeros_like(x))
    mean = tf.reduce_sum(x_finite_or_zero) / tf.maximum(nf, 1.0)
    centered = tf.where(finite, x - mean, tf.zeros_like(x))
    std = tf.sqrt(tf.reduce_sum(centered * centered) / tf.maximum(nf, 1.0))

    # Ascending sort with every non-finite value moved to the end; the first n are the finite ones.
    s = tf.sort(tf.where(finite, x, tf.fill(tf.shape(x), tf.constant(float("inf"), tf.float64))))
    last = tf.maximum(n - 1, 0)
    s_safe = tf.concat([s, tf.zeros([1], tf.float64)], 0)  # keeps gathers in range when n == 0
    lo_val = s_safe[0]
    hi_val = tf.gather(s_safe, last)

    # Exact quantiles, numpy's "linear" method: position p * (n - 1) between closest ranks.
    probs = tf.constant(quantile_probs, tf.float64)
    pos = probs * tf.cast(last, tf.float64)
    lo = tf.floor(pos)
    frac = pos - lo
    lo_i = tf.cast(lo, tf.int32)
    hi_i = tf.minimum(lo_i + 1, last)
    a = tf.gather(s_safe, lo_i)
    b = tf.gather(s_safe, hi_i)
    # numpy's _lerp: a + (b - a) * t, evaluated from the nearer end for t >= 0.5.
    quantiles = tf.where(frac >= 0.5, b - (b - a) * (1.0 - frac), a + (b - a) * frac)

    # Histogram on num_bins equal-width bins over [min, max], the last bin closed (np.histogram).
    width = hi_val - lo_val
    span = tf.where(width > 0, width, tf.ones_like(width))
    step = span / num_bins
    inner_edges = lo_val + tf.range(1, num_bins, dtype=tf.float64) * step
    # Values below edge j: cumulative counts at each inner edge (finite values only, ranks < n).
    below = tf.searchsorted(s[tf.newaxis, :], inner_edges[tf.newaxis, :], side="left")[0]
    below = tf.minimum(tf.cast(below, tf.int32), n)
    cum = tf.concat([[0], below, [n]], 0)
    hist = tf.cast(cum[1:] - cum[:-1], tf.float64)
    hist = tf.where(width > 0, hist,
                    tf.concat([[nf], tf.zeros([num_bins - 1], tf.float64)], 0))

    stats = tf.concat([
        tf.stack([count, nan_count, posinf_count, neginf_count]),
        tf.where(has_finite, tf.stack([lo_val, hi_val, mean, std]), tf.fill([4], nan)),
        tf.where(has_finite, quantiles, tf.fill([len(quantile_probs)], nan)),
        hist,
    ], 0)
    return tf.ensure_shape(stats, [metadata.distribution_length(len(quantile_probs), num_bins)])
