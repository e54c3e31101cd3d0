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
    """The fixed-layout float64 summary of a batch of values (see ``metadata``)."""
    return distribution_tensors([values], quantile_probs, num_bins)[0]


def distribution_tensors(values_list, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                         num_bins=metadata.DEFAULT_NUM_BINS):
    """``distribution_tensor`` of several batches of values at once: a (K, 8+Q+B) tensor.

    Runs once per recorded step inside the training graph, so it is written for few ops: the K
    value sets are padded into one matrix and sorted together, every non-finite (and padding)
    value sorted to the end as +inf and left out by index arithmetic. Static shapes only, so it
    also compiles with XLA.
    """
    inf = float("inf")
    flats = [tf.cast(tf.reshape(v, [-1]), tf.float64) for v in values_list]
    sizes = tf.stack([tf.size(f) for f in flats])
    if len(flats) == 1:
        x, valid = flats[0][tf.newaxis, :], None
    else:
        width = tf.reduce_max(sizes)
        x = tf.stack([tf.pad(f, [[0, width - tf.size(f)]]) for f in flats])
        valid = tf.sequence_mask(sizes, width)
    finite = tf.math.is_finite(x)
    if valid is not None:
        finite = tf.logical_and(finite, valid)  # padding is zeros: never NaN or Inf
    n = tf.reduce_sum(tf.cast(finite, tf.int32), axis=1)
    nf = tf.cast(n, tf.float64)
    size = tf.cast(sizes, tf.float64)
    nan_count = tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.float64), axis=1)
    posinf_count = tf.reduce_sum(tf.cast(tf.equal(x, inf), tf.float64), axis=1)
    neginf_count = size - nf - nan_count - posinf_count

    # With no finite value these are 0/0 = NaN, as the layout says.
    mean = tf.reduce_sum(tf.where(finite, x, 0.0), axis=1) / nf
    centered = tf.where(finite, x - mean[:, tf.newaxis], 0.0)
    std = tf.sqrt(tf.reduce_sum(centered * centered, axis=1) / nf)

    # Ascending, the n finite values of a row first; one extra column keeps gathers in range.
    s = tf.sort(tf.where(finite, x, inf), axis=1)
    s = tf.concat([s, tf.fill([tf.shape(s)[0], 1], tf.constant(inf, tf.float64))], 1)
    last = tf.maximum(n - 1, 0)[:, tf.newaxis]
    lo_val = s[:, 0]
    hi_val = tf.gather(s, last, batch_dims=1)[:, 0]

    # Exact quantiles, numpy's "linear" method: position p * (n - 1) between closest ranks,
    # interpolated as numpy's _lerp does (from the nearer end).
    pos = tf.constant(quantile_probs, tf.float64)[tf.newaxis, :] * tf.cast(last, tf.float64)
    lo = tf.floor(pos)
    frac = pos - lo
    lo_i = tf.cast(lo, tf.int32)
    a = tf.gather(s, lo_i, batch_dims=1)
    b = tf.gather(s, tf.minimum(lo_i + 1, last), batch_dims=1)
    diff = b - a
    quantiles = tf.where(frac >= 0.5, b - diff * (1.0 - frac), a + diff * frac)

    # Histogram as np.histogram: B equal-width bins over [min, max] (edges as np.linspace), the
    # last bin closed. Counting the values below each inner edge is one binary search per row;
    # with min == max the span is taken as 1, which puts every value in bin 0.
    span = hi_val - lo_val
    step = tf.where(span > 0, span, 1.0) / num_bins
    inner_edges = (lo_val[:, tf.newaxis]
                   + tf.range(1, num_bins, dtype=tf.float64)[tf.newaxis, :] * step[:, tf.newaxis])
    below = tf.minimum(tf.searchsorted(s, inner_edges, side="left", out_type=tf.int32), n[:, tf.newaxis])
    cum = tf.concat([tf.zeros_like(below[:, :1]), below, n[:, tf.newaxis]], 1)
    hist = tf.cast(cum[:, 1:] - cum[:, :-1], tf.float64)

    finite_stats = tf.concat([tf.stack([lo_val, hi_val, mean, std], 1), quantiles], 1)
    stats = tf.concat([
        tf.stack([size, nan_count, posinf_count, neginf_count], 1),
        tf.where(n[:, tf.newaxis] > 0, finite_stats, float("nan")),
        hist,
    ], 1)
    return tf.ensure_shape(
        stats, [len(flats), metadata.distribution_length(len(quantile_probs), num_bins)])
