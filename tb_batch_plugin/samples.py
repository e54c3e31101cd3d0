"""Sample identities: 64-bit fingerprints of the inputs a model received, computed in the training
graph for every recorded sample, and for your own data, so a recorded sample leads back to its row.

A sample's fingerprint is ``tf.fingerprint`` (farmhash64) of the bytes of its input row as the
model received it. For a model with several inputs (a list or dict), each input's row is
fingerprinted and the fingerprints of all inputs (in ``tf.nest.flatten`` order: dicts by sorted
key) are fingerprinted together. Keras hands the model float numpy arrays as ``floatx`` (float32)
and keeps other dtypes; ``fingerprint`` converts numpy arrays the same way, and takes the
elements of a ``tf.data.Dataset`` as they are.

    fps = tbb.fingerprint(x_train)          # one per row
    rows = tbb.find(x_train, recorded_fps)  # row index of each recorded sample (-1: not in x)
"""

import numpy as np
import tensorflow as tf


def top_sample_rows(sample_loss, fingerprints, num_samples, ids=None, columns=()):
    """In the graph: the ``num_samples`` samples of a batch with the highest loss as a float64
    vector of that many rows of ``metadata.SAMPLE_FIELDS`` and then ``columns`` (each a (batch,)
    tensor), rows of NaN where the batch is smaller. A NaN loss ranks as +inf."""
    loss = tf.cast(sample_loss, tf.float64)
    batch = tf.shape(loss)[0]
    k = tf.minimum(num_samples, batch)
    order = tf.math.top_k(tf.where(tf.math.is_nan(loss), tf.constant(np.inf, tf.float64), loss), k=k).indices
    # The fingerprint's 32-bit halves, each exact in float64 (not by bitcast: grappler folds a
    # bitcast of the fingerprint's own bitcast into one it cannot run).
    low_bits = tf.constant(0xFFFFFFFF, tf.int64)
    high = tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(fingerprints, 32), low_bits), tf.float64)
    low = tf.cast(tf.bitwise.bitwise_and(fingerprints, low_bits), tf.float64)
    if ids is None:
        ids = tf.fill([batch], tf.constant(np.nan, tf.float64))
    fields = [loss, loss / tf.reduce_sum(loss), high, low, tf.cast(ids, tf.float64),
              tf.cast(tf.range(batch), tf.float64)] + [tf.cast(c, tf.float64) for c in columns]
    rows = tf.gather(tf.stack(fields, axis=1), order)
    rows = tf.pad(rows, [[0, num_samples - k], [0, 0]], constant_values=np.nan)
    return tf.reshape(rows, [num_samples * len(fields)])


def per_class_losses(sample_loss, labels, num_classes):
    """In the graph: [mean loss of each class, count of each class] (2C,) float64 of a batch's
    per-sample losses by label (NaN means for absent classes; labels outside 0..C-1 left out)."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    labels = tf.where((labels >= 0) & (labels < num_classes), labels, -1)
    loss = tf.cast(tf.reshape(sample_loss, [-1]), tf.float64)
    sums = tf.math.unsorted_segment_sum(loss, labels, num_classes)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(loss), labels, num_classes)
    return tf.concat([sums / counts, counts], 0)


def classification_columns(kind, y_true, y_pred, from_logits):
    """In the graph: (labels, [label, predicted, probability, label_probability]) per sample of a
    classification output: ``kind`` 'sparse' (integer labels), 'categorical' (one-hot or soft
    labels: their argmax) or 'binary' (one probability or logit per sample, threshold 0.5)."""
    y_pred = tf.cast(y_pred, tf.float32)
    if kind == "binary":
        p = tf.reshape(tf.sigmoid(y_pred) if from_logits else y_pred, [-1])
        labels = tf.cast(tf.reshape(y_true, [-1]) > 0.5, tf.int32)
        predicted = tf.cast(p > 0.5, tf.int32)
        probs = tf.stack([1.0 - p, p], axis=1)
    else:
        probs = tf.nn.softmax(y_pred, axis=-1) if from_logits else y_pred
        labels = (tf.cast(tf.reshape(y_true, [-1]), tf.int32) if kind == "sparse"
                  else tf.cast(tf.argmax(y_true, axis=-1), tf.int32))
        predicted = tf.cast(tf.argmax(probs, axis=-1), tf.int32)
    classes = tf.shape(probs)[1]
    probability = tf.gather(probs, predicted, batch_dims=1)
    label_probability = tf.gather(probs, tf.clip_by_value(labels, 0, classes - 1), batch_dims=1)
    return labels, [labels, predicted, probability, label_probability]


def row_fingerprints(x):
    """In the graph: the int64 fingerprint of each row (first dimension) of an input structure."""
    parts = [tf.fingerprint(t) for t in tf.nest.flatten(x)]  # (batch, 8) uint8 each
    fp = parts[0] if len(parts) == 1 else tf.fingerprint(tf.concat(parts, axis=1))
    return tf.bitcast(fp, tf.int64)


def fingerprint(x):
    """The fingerprints (uint64, one per row) of inputs as Keras would hand them to the model:
    a numpy array (or array-like), a list or dict of them, or a batched ``tf.data.Dataset``
    yielding ``x`` or ``(x, y[, sample_weight])`` (rows in the order of one pass over it)."""
    if isinstance(x, tf.data.Dataset):
        parts = [_fingerprints(_inputs_of(element)) for element in x]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    return _fingerprints(tf.nest.map_structure(_as_keras_hands_it, x))


def find(x, fingerprints):
    """The row of ``x`` (as ``fingerprint(x)`` numbers them) of each of ``fingerprints`` (ints, or
    16-digit hexadecimal strings as the tab shows them); -1 where none matches. With duplicate
    rows in ``x``, the first."""
    table = {}
    for i, fp in enumerate(fingerprint(x).tolist()):
        table.setdefault(fp, i)
    wanted = [int(f, 16) if isinstance(f, str) else int(f) % (1 << 64) for f in np.ravel(fingerprints)]
    return np.array([table.get(f, -1) for f in wanted], dtype=np.int64)


def hex_fingerprint(fp):
    """The 16-digit hexadecimal form of a fingerprint (as the tab shows it)."""
    return "%016x" % (int(fp) % (1 << 64))


def _fingerprints(x):
    return row_fingerprints(x).numpy().view(np.uint64)


def _inputs_of(element):
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element[0]
    return element


def _as_keras_hands_it(a):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        import keras

        a = a.astype(keras.backend.floatx(), copy=False)
    return a
