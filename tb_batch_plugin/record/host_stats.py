"""The rows tb-batch writes, computed with numpy from values on the host: the twins of the
TensorFlow ops of ``summary_ops`` (distributions, histograms) and ``samples``/``dynamics`` (a
step's samples, per-class losses and dynamics rows), for writing without TensorFlow
(``host_writer``: custom loops in any framework, BatchStats on the JAX and PyTorch backends).

Same inputs, same rows: the same dtypes, shapes and layout (``metadata``), the same order of
operations, so nearly every value is bit-identical to TensorFlow's. Where TensorFlow's kernels
order float arithmetic their own way, the values may differ in the last bits (a few ulp), never
more:
  * sums: the mean and std of a distribution, a sample's share (its loss over the batch's sum)
    and, for batches large enough that TensorFlow splits the sum across threads (200,000 here;
    20,000 were still equal), the per-class mean losses: numpy sums pairwise, Eigen in SIMD
    lanes (measured: about 1e-16 relative; a mean of values that cancel, 1e-14 of the largest);
  * exp and sigmoid: the probabilities of samples and dynamics from logits (``from_logits``;
    measured: up to 8 float32 ulp, a third of them equal), and so, in a near tie of two
    classes, possibly the predicted class of a sample (``samples``' ``predicted`` is the
    argmax of the probabilities, as in TensorFlow; the dynamics' is of the scores: exact).
Counts, min, max, quantiles, histograms, losses, fingerprints, ids, positions, labels, margins
and the dynamics' predicted class are exact.
"""

import numpy as np

from tb_batch_plugin import metadata

CLASSIFICATION_KINDS = ("sparse", "categorical", "binary")


def distribution_rows(values_list, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                      num_bins=metadata.DEFAULT_NUM_BINS):
    """(K, 8+Q+B) float64 distribution rows (layout in ``metadata``) of K sets of values (any
    shape each, flattened), as ``summary_ops.distribution_tensors`` computes them: values that
    are neither float32 nor float64 taken as float32 (exact for float16/bfloat16 and small
    integers), every set in float64 if one is; non-finite values counted and left out; exact
    quantiles (numpy's "linear", interpolated from the nearer end); an np.histogram of B
    equal-width bins (all values in bin 0 when min == max); NaN statistics for a set without a
    finite value."""
    flat = []
    for values in values_list:
        v = np.asarray(values).reshape(-1)
        flat.append(v if v.dtype in (np.float32, np.float64) else v.astype(np.float32))
    dtype = np.float64 if any(v.dtype == np.float64 for v in flat) else np.float32
    sizes = np.array([v.size for v in flat], np.int64)
    padded = np.zeros((len(flat), max(sizes, default=0)), dtype)
    for r, v in enumerate(flat):
        padded[r, :v.size] = v
    return padded_distribution_rows(padded, sizes, quantile_probs, num_bins)


def padded_distribution_rows(padded, sizes, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                             num_bins=metadata.DEFAULT_NUM_BINS):
    """``distribution_rows`` of value sets given as the rows of a float32 or float64 matrix
    ``padded`` (R, W): row r holds its ``sizes[r]`` values first, then anything (padding), as
    ``summary_ops.distribution_rows`` takes them. No Python work per row but the histogram's
    binary searches."""
    k, width = padded.shape
    sizes = np.asarray(sizes, np.int64)
    valid = np.arange(width)[np.newaxis, :] < sizes[:, np.newaxis]
    finite = valid & np.isfinite(padded)
    nan_count = (valid & np.isnan(padded)).sum(axis=1).astype(np.float64)
    posinf_count = (valid & (padded == np.inf)).sum(axis=1).astype(np.float64)
    n = finite.sum(axis=1)
    neginf_count = sizes - n - nan_count - posinf_count
    # Each set's finite values, then +inf (the rest, and the one column TensorFlow's gathers keep
    # in range with): sorted, its first n are its finite values, in tf.sort's order.
    s = np.full((k, width + 1), np.inf, padded.dtype)
    s[:, :width] = np.where(finite, padded, np.inf)
    s = _sorted_rows(s).astype(np.float64)
    nf = n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if (n == width).all():  # every row full and finite, the usual case: no mask is needed
            mean = s[:, :width].sum(axis=1) / nf
            centered = s[:, :width] - mean[:, np.newaxis]
        else:
            in_row = np.arange(width + 1)[np.newaxis, :] < n[:, np.newaxis]
            mean = np.where(in_row, s, 0.0).sum(axis=1) / nf
            centered = np.where(in_row, s - mean[:, np.newaxis], 0.0)
        std = np.sqrt((centered * centered).sum(axis=1) / nf)
        last = np.maximum(n - 1, 0)[:, np.newaxis]
        lo_val, hi_val = s[:, 0], np.take_along_axis(s, last, axis=1)[:, 0]
        quantiles = _quantiles(s, last, quantile_probs)
        hist = _histogram(s, n, lo_val, hi_val, num_bins)
    finite_stats = np.concatenate([np.stack([lo_val, hi_val, mean, std], 1), quantiles], 1)
    return np.concatenate([
        np.stack([sizes.astype(np.float64), nan_count, posinf_count, neginf_count], 1),
        np.where(n[:, np.newaxis] > 0, finite_stats, np.nan),
        hist,
    ], 1).reshape(k, metadata.distribution_length(len(quantile_probs), num_bins))


def _sorted_rows(s):
    """Each row sorted ascending as tf.sort sorts it (stably: -0.0 and 0.0 stay in their order):
    numpy's SIMD sort, and a stable sort again for the rows holding zeros of both signs, the
    only equal values a sort can tell apart."""
    zero = s == 0
    negative = np.signbit(s)
    both = (zero & negative).any(axis=1) & (zero & ~negative).any(axis=1)
    out = np.sort(s, axis=1)
    if both.any():
        out[both] = np.sort(s[both], axis=1, kind="stable")
    return out


def _quantiles(s, last, quantile_probs):
    """Position p * (n - 1) between closest ranks, interpolated as numpy's _lerp does."""
    pos = np.asarray(quantile_probs, np.float64)[np.newaxis, :] * last.astype(np.float64)
    lo = np.floor(pos)
    frac = pos - lo
    lo_i = lo.astype(np.int64)
    a = np.take_along_axis(s, lo_i, axis=1)
    b = np.take_along_axis(s, np.minimum(lo_i + 1, last), axis=1)
    diff = b - a
    return np.where(frac >= 0.5, b - diff * (1.0 - frac), a + diff * frac)


def _histogram(s, n, lo_val, hi_val, num_bins):
    """B bins with edges lo + i * span / B (span 1 when min == max), the last bin closed: the
    values below each inner edge, counted by binary search."""
    span = hi_val - lo_val
    step = np.where(span > 0, span, 1.0) / num_bins
    inner_edges = lo_val[:, np.newaxis] + np.arange(1, num_bins, dtype=np.float64)[np.newaxis, :] * step[:, np.newaxis]
    below = np.stack([np.searchsorted(row, edges, side="left") for row, edges in zip(s, inner_edges)]) \
        if len(s) else np.zeros((0, num_bins - 1), np.int64)
    below = np.minimum(below, n[:, np.newaxis])
    cum = np.concatenate([np.zeros((len(s), 1), np.int64), below, n[:, np.newaxis]], 1)
    return (cum[:, 1:] - cum[:, :-1]).astype(np.float64)


def histogram_rows(stats, num_quantiles, num_bins):
    """(K, B, 3) float64 standard TensorBoard histograms ([left edge, right edge, count] rows) of
    K distribution rows, as ``summary_ops.histogram_rows``: all zeros without a finite value;
    edges all at the value and the count in the last bucket when every finite value is the same."""
    stats = np.asarray(stats, np.float64)
    lo = stats[:, metadata.MIN:metadata.MIN + 1]
    hi = stats[:, metadata.MAX:metadata.MAX + 1]
    counts = stats[:, metadata.HEADER_LENGTH + num_quantiles:]
    total = counts.sum(axis=1, keepdims=True)  # whole numbers: exact in any order
    fractions = np.arange(num_bins + 1, dtype=np.float64)[np.newaxis, :] / num_bins
    with np.errstate(invalid="ignore"):
        edges = np.concatenate([(lo + (hi - lo) * fractions)[:, :-1], hi], 1)
    single = lo == hi
    edges = np.where(single, hi, edges)
    last = np.zeros(num_bins)[np.newaxis, :]
    last[0, num_bins - 1] = 1.0
    counts = np.where(single, total * last, counts)
    rows = np.stack([edges[:, :-1], edges[:, 1:], counts], axis=2)
    return np.where((total > 0)[:, :, np.newaxis], rows, 0.0)


def sample_rows(sample_loss, fingerprints, ids=None, outputs=(), num_samples=8, dynamics=False):
    """{tag: (rows, SummaryMetadata)} of one step's samples, in the order TensorFlow writes them:
    what ``summary.samples``/``summary.dynamics`` (and BatchStats, with several outputs) write.

    ``sample_loss`` (batch,) the samples' losses; ``fingerprints`` (batch,) uint64 (or int64, the
    same bits) as ``fingerprints.row_fingerprints`` computes them; ``ids`` (batch,) integers or
    None; ``outputs``: per output (suffix, kind, classes, from_logits, y_true, y_pred[, loss]) as
    ``samples.SampleLayout`` describes them: suffix "" for a model's only output, "/<name>" for
    each of several (appended to its tags and fields), kind 'sparse', 'categorical', 'binary',
    'regression' or None, classes its number of classes (classification; None: y_pred's last
    dimension), ``loss`` its own per-sample losses (default ``sample_loss``: an output's per-class
    losses and dynamics are of its own loss, as BatchStats stages them). ``num_samples`` > 0: the samples
    row (float64, (num_samples * fields,)) and per classification output its per-class row
    (float64, (2C,)); ``dynamics``: per output its (batch, W) int32 dynamics rows."""
    outputs = list(outputs)
    rows = _rows(_flat(sample_loss, np.float32)[np.newaxis], np.asarray(fingerprints).reshape(1, -1).view(np.uint64),
                 None if ids is None else _flat(ids, np.int64)[np.newaxis],
                 [_stacked([_described(o, _flat(sample_loss, np.float32))]) for o in outputs],
                 num_samples, dynamics)
    return {tag: (values[0], meta) for tag, (values, meta) in rows.items()}


def sample_columns(steps, num_samples=8, dynamics=False):
    """The rows ``sample_rows`` makes of each of several steps, made together (the same values):
    ``steps`` [(sample_loss, fingerprints, ids, outputs)] as ``sample_rows`` takes them, all
    with outputs of the same suffixes and kinds, and all with ids or none (one model's steps).
    Returns [(tag, step indices, rows (m, ...), SummaryMetadata)]: the rows of ``tag`` of those
    steps (those of one batch size together), in the order ``sample_rows`` gives the tags."""
    by_size = {}
    for i, step in enumerate(steps):
        by_size.setdefault(np.size(step[0]), []).append(i)
    out = []
    for index in by_size.values():
        loss32 = np.stack([_flat(steps[i][0], np.float32) for i in index])
        fingerprints = np.stack([np.asarray(steps[i][1]).reshape(-1).view(np.uint64) for i in index])
        ids = None if steps[index[0]][2] is None else np.stack([_flat(steps[i][2], np.int64) for i in index])
        described = [_stacked([_described(steps[i][3][o], loss32[r]) for r, i in enumerate(index)])
                     for o in range(len(steps[index[0]][3]))]
        rows = _rows(loss32, fingerprints, ids, described, num_samples, dynamics)
        out += [(tag, index, values, meta) for tag, (values, meta) in rows.items()]
    return out


def padded_sample_columns(batch_sizes, loss, fingerprints, ids, outputs, num_samples=8, dynamics=False):
    """``sample_columns`` of steps staged as padded matrices, the steps of one batch size taken
    together without Python work per step: row i of each (n, padded) matrix holds its step's
    ``batch_sizes[i]`` samples' values first (each column's values a sample: its width over the
    widest batch). ``loss`` float32, ``fingerprints`` int64 or uint64, ``ids`` or None, and
    ``outputs`` [(suffix, kind, classes, from_logits, y_true, y_pred, own loss or None)] with
    matrices (y_true and y_pred None where the kind is None)."""
    batch_sizes = np.asarray(batch_sizes, np.int64)
    widest = int(batch_sizes.max())
    out = []
    for b in dict.fromkeys(batch_sizes.tolist()):
        index = np.flatnonzero(batch_sizes == b)

        def cut(column):
            return None if column is None else column[index, :b * (column.shape[1] // widest if widest else 0)]

        loss32 = cut(loss).astype(np.float32, copy=False)
        described = []
        for suffix, kind, classes, from_logits, y_true, y_pred, own_loss in outputs:
            y_true, y_pred, own_loss = cut(y_true), cut(y_pred), cut(own_loss)
            first = _described((suffix, kind, classes, from_logits, None if y_true is None else y_true[0],
                                None if y_pred is None else y_pred[0]), loss32[0])
            described.append(first[:4] + (
                None if y_true is None else y_true.astype(np.float32, copy=False),
                None if y_pred is None else y_pred.astype(np.float32, copy=False),
                loss32 if own_loss is None else own_loss.astype(np.float32, copy=False)))
        rows = _rows(loss32, np.ascontiguousarray(cut(fingerprints)).view(np.uint64),
                     None if ids is None else cut(ids).astype(np.int64, copy=False), described, num_samples, dynamics)
        out += [(tag, index, values, meta) for tag, (values, meta) in rows.items()]
    return out


def _stacked(described):
    """One ``_described`` of several steps (of one batch size): their arrays stacked, (m, ...)."""
    first = described[0]
    return first[:4] + tuple(None if first[k] is None else np.stack([d[k] for d in described]) for k in (4, 5, 6))


def _rows(loss32, fingerprints, ids, described, num_samples, dynamics):
    """``sample_rows``' {tag: (rows (m, ...), metadata)} of m steps of one batch size b at once:
    ``loss32`` (m, b) float32, ``fingerprints`` (m, b) uint64, ``ids`` (m, b) int64 or None,
    ``described``: ``_described`` with each array stacked (m, ...)."""
    m, b = loss32.shape
    rows = {}
    if dynamics:
        for suffix, kind, classes, from_logits, y_true, y_pred, own_loss in described:
            classified = kind in CLASSIFICATION_KINDS  # per sample: the m steps' samples as one batch
            values = (classification_values(kind, classes, from_logits, y_true.reshape(-1), y_pred.reshape(-1))
                      if classified else None)
            words = dynamics_words(fingerprints.reshape(-1), None if ids is None else ids.reshape(-1),
                                   own_loss.reshape(-1), values, classes if classified else 0)
            rows[metadata.DYNAMICS_TAG + suffix] = (words.reshape(m, b, -1),
                                                    metadata.dynamics_metadata(classes if classified else 0,
                                                                               ids is not None))
    if num_samples:
        rows.update(_top_rows(loss32, fingerprints, ids, described, int(num_samples)))
    return rows


def _described(output, loss32):
    """(suffix, kind, classes, from_logits, y_true, y_pred, own loss) of one output, its targets
    and predictions flattened to float32 as BatchStats stages them."""
    suffix, kind, classes, from_logits, y_true, y_pred = output[:6]
    if kind not in CLASSIFICATION_KINDS + ("regression", None):
        raise ValueError("kind must be 'sparse', 'categorical', 'binary', 'regression' or None, got %r" % (kind,))
    own = _flat(output[6], np.float32) if len(output) > 6 and output[6] is not None else loss32
    if kind is None:
        return suffix, None, None, bool(from_logits), None, None, own
    if kind == "binary":
        classes = 2
    elif kind in CLASSIFICATION_KINDS and classes is None:
        classes = int(np.shape(y_pred)[-1])
    return suffix, kind, classes, bool(from_logits), _flat(y_true, np.float32), _flat(y_pred, np.float32), own


def _top_rows(loss32, fingerprints, ids, described, num_samples):
    """The per-class rows (per classification output) and the samples row of the top
    ``num_samples`` samples by loss (a NaN as +inf, ties in batch order: tf.math.top_k), of m
    steps at once (arrays (m, b, ...); rows (m, ...))."""
    m, b = loss32.shape
    loss = loss32.astype(np.float64)
    key = np.where(np.isnan(loss), np.inf, loss)
    order = np.argsort(-key, axis=1, kind="stable")[:, :min(num_samples, b)]

    def take(values):
        return np.take_along_axis(values, order, axis=1)

    with np.errstate(invalid="ignore", divide="ignore"):
        share = take(loss) / loss.sum(axis=1, keepdims=True)
    chosen = take(fingerprints)
    fields = [take(loss), share, (chosen >> np.uint64(32)).astype(np.float64),
              (chosen & np.uint64(0xFFFFFFFF)).astype(np.float64),
              take(ids).astype(np.float64) if ids is not None else np.full(order.shape, np.nan),
              order.astype(np.float64)]
    names, rows = list(metadata.SAMPLE_FIELDS), {}
    for suffix, kind, classes, from_logits, y_true, y_pred, own_loss in described:
        if kind in CLASSIFICATION_KINDS:
            labels, probs = _labels_and_probabilities(kind, classes, from_logits, y_true.reshape(-1),
                                                      y_pred.reshape(-1))
            labels, probs = labels.reshape(m, b), probs.reshape(m, b, classes)
            fields += _classification_fields(take(labels), np.take_along_axis(probs, order[:, :, np.newaxis], 1))
            names += [f + suffix for f in metadata.CLASSIFICATION_FIELDS]
            rows[metadata.PER_CLASS_TAG + suffix] = (_per_class(own_loss.astype(np.float64), labels, classes),
                                                     metadata.per_class_metadata(classes))
        elif kind == "regression":
            fields += [take(y_true[:, :b]).astype(np.float64), take(y_pred[:, :b]).astype(np.float64)]
            names += [f + suffix for f in metadata.REGRESSION_FIELDS]
    taken = np.full((m, num_samples, len(fields)), np.nan)
    taken[:, :order.shape[1]] = np.stack(fields, axis=2)
    rows[metadata.SAMPLES_TAG] = (taken.reshape(m, -1), metadata.samples_metadata(num_samples, names))
    return rows


def _labels_and_probabilities(kind, classes, from_logits, y_true, y_pred):
    """(batch,) int32 labels and (batch, C) float32 class probabilities, as samples' are."""
    if kind == "binary":
        p = sigmoid(y_pred) if from_logits else y_pred
        return (y_true > 0.5).astype(np.int32), np.stack([np.float32(1.0) - p, p], axis=1)
    scores = y_pred.reshape(-1, classes)
    probs = softmax(scores) if from_logits else scores
    if kind == "sparse":
        return _as_int32(y_true), probs
    return np.argmax(y_true.reshape(-1, classes), axis=-1).astype(np.int32), probs


def _classification_fields(labels, probs):
    """label, predicted, probability, label_probability (float64) of the chosen samples
    (labels (..., k), probs (..., k, C))."""
    predicted = np.argmax(probs, axis=-1)
    label_probability = np.take_along_axis(probs, np.clip(labels, 0, probs.shape[-1] - 1)[..., np.newaxis], -1)[..., 0]
    return [t.astype(np.float64) for t in (labels, predicted, probs.max(axis=-1), label_probability)]


def _per_class(loss, labels, classes):
    """(m, 2C) each class's mean loss and count of m steps (loss and labels (m, b); labels
    outside 0..C-1 left out)."""
    member = labels[:, :, np.newaxis] == np.arange(classes)[np.newaxis, np.newaxis, :]
    counts = member.sum(axis=1).astype(np.float64)
    sums = np.where(member, loss[:, :, np.newaxis], 0.0).sum(axis=1)  # in batch order, as TensorFlow
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.concatenate([sums / counts, counts], axis=1)


def classification_values(kind, classes, from_logits, y_true, y_pred):
    """(labels, margin, label_probability, predicted) of one batch, as ``dynamics``' are: the
    label's score minus the largest other score (logits, or probabilities), p(label), the argmax
    of the scores; label -1 and NaN margin and probability for a label outside 0..C-1."""
    if kind == "binary":
        labels = (y_true > 0.5).astype(np.int32)
        scores = np.stack([np.zeros_like(y_pred), y_pred] if from_logits else [np.float32(1.0) - y_pred, y_pred], -1)
    else:
        labels = (np.argmax(y_true.reshape(-1, classes), axis=-1).astype(np.int32) if kind == "categorical"
                  else _as_int32(y_true))
        scores = y_pred.reshape(-1, classes)
    valid = (labels >= 0) & (labels < classes)
    safe = np.where(valid, labels, 0)[:, np.newaxis]
    # TensorFlow sums the label's score with zeros (the other classes): + 0.0 turns -0.0 into 0.0.
    own = np.take_along_axis(scores, safe, 1)[:, 0] + np.float32(0.0)
    is_label = np.arange(classes)[np.newaxis, :] == safe
    other = _max_last_axis(np.where(is_label, np.float32(-np.inf), scores))
    if kind == "binary":
        p = sigmoid(y_pred) if from_logits else y_pred
        label_probability = np.where(safe[:, 0] == 1, p, np.float32(1.0) - p)
    else:
        probs = softmax(scores) if from_logits else scores
        label_probability = np.take_along_axis(probs, safe, 1)[:, 0] + np.float32(0.0)
    nan = np.float32(np.nan)
    with np.errstate(invalid="ignore"):
        margin = np.where(valid, own - other, nan)
    return (np.where(valid, labels, -1).astype(np.int32), margin,
            np.where(valid, label_probability, nan).astype(np.float32), np.argmax(scores, axis=-1).astype(np.int32))


def dynamics_words(fingerprints, ids, loss, classification, num_classes):
    """(batch, W) int32 dynamics rows of one batch, their words named by
    ``metadata.dynamics_fields``: ``fingerprints`` uint64, ``ids`` int64 or None, ``loss``
    float32, ``classification`` None or ``classification_values``' result (then ``num_classes``
    > 0)."""
    words = dict(zip(metadata.DYNAMICS_FIELDS, _halves(fingerprints)), loss=_bits(loss))
    if ids is not None:
        words.update(zip(metadata.DYNAMICS_ID_FIELDS, _halves(ids)))
    if classification is not None:
        labels, margin, label_probability, predicted = classification
        packed = (predicted.astype(np.uint32) << np.uint32(16)) | (labels.astype(np.uint32) & np.uint32(0xFFFF))
        words.update(margin=_bits(margin), label_probability=_bits(label_probability),
                     label_predicted=packed.view(np.int32), label=labels, predicted=predicted)
    fields = metadata.dynamics_fields(num_classes if classification is not None else 0, ids is not None)
    return np.stack([words[f] for f in fields], axis=-1).astype(np.int32, copy=False)


def softmax(logits):
    """Softmax over the last axis as TensorFlow's kernel computes it: exp(x - max) times the
    reciprocal of its sum (float32 stays float32)."""
    e = np.exp(logits - _max_last_axis(logits)[..., np.newaxis])
    return e * (np.asarray(1, e.dtype) / e.sum(axis=-1, keepdims=True))


def _max_last_axis(x):
    """``x.max(axis=-1)``, the same values: over a short last axis (a few classes) numpy reduces
    row by row, about ten times slower than over the first axis of the transposed copy."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 0)).max(axis=0)


def sigmoid(x):
    with np.errstate(over="ignore"):
        return (np.asarray(1, x.dtype) / (np.asarray(1, x.dtype) + np.exp(-x))).astype(x.dtype)


def _halves(values):
    """The high and low 32 bits of 64-bit values, each as the int32 of the same bits."""
    u = np.asarray(values).view(np.uint64)
    return [(u >> np.uint64(32)).astype(np.uint32).view(np.int32),
            (u & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)]


def _bits(values):
    return np.asarray(values, np.float32).view(np.int32)


def _as_int32(values):
    """float32 to int32, truncating as TensorFlow's cast."""
    with np.errstate(invalid="ignore"):
        return values.astype(np.int32)


def _flat(values, dtype):
    return np.asarray(values).reshape(-1).astype(dtype, copy=False)
