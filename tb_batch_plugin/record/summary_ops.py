"""The TensorFlow side of ``summary``: its writers through ``tf.summary.write`` (what
``tbb.summary`` runs when no tbb writer is the default), and the graph ops BatchStats' traced step
and staging use (distribution statistics, histograms, conditionals).

The writers work eagerly and inside ``tf.function`` (nothing runs in Python per step once traced),
with the metadata of ``metadata`` (the data contract); ``step`` defaults to
``tf.summary.experimental.get_step()``. They return the bool tensor ``tf.summary.write`` returns
(False when no default writer). ``host_stats`` computes the same statistics with numpy.
"""

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2

from tb_batch_plugin import metadata


def scalar(name, value, step=None, description=None):
    """``summary.scalar`` through ``tf.summary.write``."""
    value = tf.convert_to_tensor(value)
    if not value.dtype.is_floating:
        value = tf.cast(value, tf.float64)
    with tf.name_scope("tb_batch_scalar"):
        return tf.summary.write(
            tag=name, tensor=tf.reshape(value, []), step=step,
            metadata=metadata.scalar_metadata(metadata.PROVENANCE_CUSTOM, description=description),
        )


def distribution(name, values, step=None, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS, description=None):
    """``summary.distribution`` through ``tf.summary.write``."""
    with tf.name_scope("tb_batch_distribution"):
        stats = distribution_tensor(values, quantile_probs, num_bins)
        return write_distribution_tensor(name, stats, step, quantile_probs, num_bins, description)


def write_distribution_tensor(name, stats, step=None, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                              num_bins=metadata.DEFAULT_NUM_BINS, description=None):
    """Writes a tensor made by ``distribution_tensor``, and its standard histogram (split from it
    so it can be computed inside an XLA-compiled step and written outside)."""
    histogram = histogram_rows(stats[tf.newaxis], len(quantile_probs), num_bins)[0]
    wrote = tf.summary.write(
        tag=metadata.distribution_tag(name), tensor=stats, step=step,
        metadata=metadata.distribution_metadata(quantile_probs, num_bins, description=description),
    )
    with tf.control_dependencies([wrote]):
        return tf.summary.write(tag=name, tensor=histogram, step=step,
                                metadata=metadata.histogram_metadata(description=description))


def histogram_rows(stats, num_quantiles, num_bins):
    """Standard TensorBoard histograms, (R, B, 3) float64 rows of [left edge, right edge, count],
    of R distribution tensors (R, 8+Q+B): their equal-width histograms of the finite values. As
    ``tf.summary.histogram`` writes them: all zeros for a step with no finite value; edges all at
    the value and the count in the last bucket when every finite value is the same."""
    lo = stats[:, metadata.MIN:metadata.MIN + 1]
    hi = stats[:, metadata.MAX:metadata.MAX + 1]
    counts = stats[:, metadata.HEADER_LENGTH + num_quantiles:]
    total = tf.reduce_sum(counts, axis=1, keepdims=True)
    fractions = tf.range(num_bins + 1, dtype=tf.float64)[tf.newaxis, :] / num_bins
    edges = tf.concat([(lo + (hi - lo) * fractions)[:, :-1], hi], 1)
    single = tf.equal(lo, hi)
    edges = tf.where(single, hi, edges)
    last = tf.one_hot(num_bins - 1, num_bins, dtype=tf.float64)[tf.newaxis, :]
    counts = tf.where(single, total * last, counts)
    rows = tf.stack([edges[:, :-1], edges[:, 1:], counts], axis=2)
    return tf.where((total > 0)[:, :, tf.newaxis], rows, tf.zeros_like(rows))


def samples(sample_loss, inputs, step, num_samples, y_true, y_pred, kind, classes, from_logits, ids,
            dynamics):
    """``summary.samples`` (and ``summary.dynamics``) through ``tf.summary.write``; ``kind``
    checked and ``classes`` found by ``summary``."""
    from tb_batch_plugin.record.samples import SampleLayout, row_fingerprints

    layout = SampleLayout(num_samples, [("", kind, classes, from_logits)], ids is not None, False, dynamics)
    columns = layout.step_columns(sample_loss, row_fingerprints(inputs), ids, [(None, y_true, y_pred)])
    rows = layout.block_rows([c[tf.newaxis] for c in columns], tf.size(columns[0])[tf.newaxis])
    wrote = []
    for tag, (row, row_metadata, _) in rows.items():  # one step: no padding
        with tf.control_dependencies(wrote):
            wrote = [tf.summary.write(tag=tag, tensor=row[0], step=step, metadata=row_metadata)]
    return wrote[-1]


def marker(kind, values, step=None):
    """``summary.marker`` through ``tf.summary.write``."""
    return tf.summary.write(tag=metadata.MARKER_TAGS[kind], tensor=tf.constant(values, tf.int64),
                            step=step, metadata=metadata.marker_metadata(kind))


def distribution_tensor(values, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                        num_bins=metadata.DEFAULT_NUM_BINS):
    """The fixed-layout float64 summary of a batch of values (see ``metadata``)."""
    return distribution_tensors([values], quantile_probs, num_bins)[0]


def distribution_tensors(values_list, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                         num_bins=metadata.DEFAULT_NUM_BINS):
    """``distribution_tensor`` of several batches of values at once: a (K, 8+Q+B) tensor."""
    flat = []
    for values in values_list:
        v = tf.reshape(values, [-1])
        if v.dtype not in (tf.float32, tf.float64):
            v = tf.cast(v, tf.float32)  # exact for float16/bfloat16 and small integers
        flat.append(v)
    dtype = tf.float64 if any(v.dtype == tf.float64 for v in flat) else tf.float32
    sizes = tf.stack([tf.size(v) for v in flat])
    width = tf.reduce_max(sizes)
    padded = tf.stack([tf.pad(tf.cast(v, dtype), [[0, width - tf.size(v)]]) for v in flat])
    return distribution_rows(padded, sizes, quantile_probs, num_bins)


def distribution_rows(padded, sizes, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                      num_bins=metadata.DEFAULT_NUM_BINS):
    """The distribution tensors of R value sets given as rows: a (R, 8+Q+B) tensor.

    ``padded`` is (R, W) float32 or float64; row r holds its ``sizes[r]`` values first, then
    anything (padding). Written for few ops, as it runs inside training graphs: the rows are
    sorted together in their own dtype (casting after the sort keeps the order), every
    non-finite and padding value sorted to the end as +inf and left out by index arithmetic (a
    block whose rows are all full and finite, the usual case, needs no masks and skips them).
    Static ranks only, so it also compiles with XLA.
    """
    inf = float("inf")
    sizes = tf.cast(sizes, tf.int32)
    width = tf.shape(padded)[1]

    def with_inf_column(s):
        # One extra +inf column keeps the gathers below in range when a row has no finite value.
        return tf.pad(s, [[0, 0], [0, 1]], constant_values=inf)

    def with_masks():
        valid = tf.sequence_mask(sizes, width)
        finite = tf.logical_and(valid, tf.math.is_finite(padded))
        n = tf.reduce_sum(tf.cast(finite, tf.int32), axis=1)
        nan_count = tf.reduce_sum(tf.cast(tf.logical_and(valid, tf.math.is_nan(padded)), tf.float64), axis=1)
        # +inf counted from the signs of the infinities (comparing a matrix with a scalar is a
        # slow, broadcasting kernel on CPU): (count + sum of signs) / 2, exact in float64.
        infinite = tf.logical_and(valid, tf.math.is_inf(padded))
        inf_count = tf.reduce_sum(tf.cast(infinite, tf.float64), axis=1)
        inf_signs = tf.reduce_sum(tf.cast(tf.where(infinite, tf.sign(padded), 0), tf.float64), axis=1)
        posinf_count = (inf_count + inf_signs) / 2
        neginf_count = tf.cast(sizes, tf.float64) - tf.cast(n, tf.float64) - nan_count - posinf_count
        # The first n of a sorted row are its finite values (the rest sorted to the end as +inf).
        s = with_inf_column(tf.cast(tf.sort(tf.where(finite, padded, tf.constant(inf, padded.dtype))), tf.float64))
        in_row = tf.sequence_mask(n, tf.shape(s)[1])
        nf = tf.cast(n, tf.float64)
        # With no finite value these are 0/0 = NaN, as the layout says.
        mean = tf.reduce_sum(tf.where(in_row, s, 0.0), axis=1) / nf
        centered = tf.where(in_row, s - mean[:, tf.newaxis], 0.0)
        std = tf.sqrt(tf.reduce_sum(centered * centered, axis=1) / nf)
        return n, nan_count, posinf_count, neginf_count, s, mean, std

    def without_masks():  # every row full and finite, the usual case: no mask is needed
        s = tf.cast(tf.sort(padded), tf.float64)
        nf = tf.cast(width, tf.float64)
        mean = tf.reduce_sum(s, axis=1) / nf
        centered = s - mean[:, tf.newaxis]
        std = tf.sqrt(tf.reduce_sum(centered * centered, axis=1) / nf)
        zeros = tf.zeros(tf.shape(sizes), tf.float64)
        return sizes, zeros, zeros, zeros, with_inf_column(s), mean, std

    plain = tf.logical_and(tf.reduce_all(tf.equal(sizes, width)), tf.reduce_all(tf.math.is_finite(padded)))
    n, nan_count, posinf_count, neginf_count, s, mean, std = tf.cond(plain, without_masks, with_masks)
    size = tf.cast(sizes, tf.float64)

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
    cum = tf.concat([tf.zeros_like(n[:, tf.newaxis]), below, n[:, tf.newaxis]], 1)  # also with B = 1
    hist = tf.cast(cum[:, 1:] - cum[:, :-1], tf.float64)

    finite_stats = tf.concat([tf.stack([lo_val, hi_val, mean, std], 1), quantiles], 1)
    stats = tf.concat([
        tf.stack([size, nan_count, posinf_count, neginf_count], 1),
        tf.where(n[:, tf.newaxis] > 0, finite_stats, float("nan")),
        hist,
    ], 1)
    return tf.ensure_shape(
        stats, [padded.shape[0], metadata.distribution_length(len(quantile_probs), num_bins)])


def cond_as_call(pred, true_fn, false_fn):
    """``tf.cond`` whose ``If`` op stays a function call instead of being lowered into
    Switch/Merge nodes (TensorFlow's default outside XLA), for a conditional in a step that runs
    once per call. Any lowered control flow in a graph makes TensorFlow's executor run every op
    of that graph on its slower path for frames (``PropagatorState`` instead of
    ``SimplePropagatorState``): about 15 µs more per call of a one-step Keras
    ``train_function`` on CPU. Each run then calls one branch as a function, which inside a loop
    of steps (where the frames are in use anyway) is dearer than lowering: use ``tf.cond`` there."""
    graph = tf.compat.v1.get_default_graph()
    first_new = len(graph.get_operations())
    out = tf.cond(pred, true_fn, false_fn)
    for op in graph.get_operations()[first_new:]:
        if op.type in ("If", "StatelessIf"):
            op._set_attr("_lower_using_switch_merge", attr_value_pb2.AttrValue(b=False))
    return out


def step_cond(in_loop):
    """The conditional for code in a training step: ``tf.cond`` (lowered) where the steps run in
    a loop, ``cond_as_call`` where each call runs one step."""
    return tf.cond if in_loop else cond_as_call
