"""Sample identities: 64-bit fingerprints of the inputs a model received, computed in the training
graph for every recorded sample (``row_fingerprints``), so a recorded sample leads back to its row.

A sample's fingerprint is ``tf.fingerprint`` (farmhash64) of the bytes of its input row as the
model received it; for several inputs (a list or dict), of the fingerprints of all inputs
together. ``fingerprint`` and ``find`` for your own data compute the same values on the host
without TensorFlow (``tb_batch_plugin/fingerprints.py``; importable from here as before).
"""

import numpy as np
import tensorflow as tf

from tb_batch_plugin import metadata
from tb_batch_plugin.fingerprints import find, fingerprint, hex_fingerprint  # noqa: F401 (callers)
from tb_batch_plugin.record import dynamics


class SampleLayout:
    """What the samples of a step record, fixed when the step is traced.

    ``outputs``: per output (suffix, kind, classes, from_logits), kind 'sparse', 'categorical',
    'binary' (classification), 'regression' (one value per sample) or None (only the loss);
    ``ids``: whether an id column is recorded; ``output_losses``: whether each output's own loss
    is staged (for the per-class losses of a model with several outputs).

    A step stages ``step_columns`` (its per-sample losses, fingerprints, ids, and each output's
    targets and predictions as they are); ``block_rows`` turns a block of steps into the rows of
    ``metadata``'s samples and per-class layouts, with every op batched over the block's steps,
    so a step pays for little more than its fingerprints and an enqueue.
    """

    def __init__(self, num_samples, outputs, ids, output_losses, dynamics=False):
        self.num_samples, self.outputs = int(num_samples), tuple(outputs)
        self.ids, self.output_losses = bool(ids), bool(output_losses)
        self.dynamics = bool(dynamics)  # every sample's dynamics row (record/dynamics.py) too

    def _key(self):
        return (self.num_samples, tuple(map(tuple, self.outputs)), self.ids, self.output_losses, self.dynamics)

    def __eq__(self, other):  # equal layouts write the same rows (staging caches its writers by it)
        return isinstance(other, SampleLayout) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    @property
    def fields(self):
        if not self.num_samples:
            return ("dynamics",) + tuple(o[0] for o in self.outputs)
        names = list(metadata.SAMPLE_FIELDS)
        for suffix, kind, _, _ in self.outputs:
            if kind in CLASSIFICATION_KINDS:
                names += [f + suffix for f in metadata.CLASSIFICATION_FIELDS]
            elif kind == "regression":
                names += [f + suffix for f in metadata.REGRESSION_FIELDS]
        return tuple(names)

    def dtypes(self):
        """The dtypes of ``step_columns``' vectors."""
        out = [tf.float32, tf.int64] + ([tf.int64] if self.ids else [])
        for _, kind, _, _ in self.outputs:
            out += ([tf.float32] if self.output_losses else []) + ([tf.float32] * 2 if kind else [])
        return out

    def step_columns(self, loss, fingerprints, ids, outputs):
        """The vectors a step stages: ``loss`` (batch,), ``fingerprints`` (batch,) int64, ``ids``
        (batch,) or None, and per output (its own loss or None, y_true, y_pred)."""
        columns = [_flat(loss, tf.float32), fingerprints]
        if self.ids:
            columns.append(_flat(ids, tf.int64))
        for (own_loss, y_true, y_pred), (_, kind, _, _) in zip(outputs, self.outputs):
            if self.output_losses:
                columns.append(_flat(own_loss, tf.float32))
            if kind:  # targets and predictions only where they are recorded
                columns += [_flat(y_true, tf.float32), _flat(y_pred, tf.float32)]
        return columns

    def block_rows(self, columns, batch_sizes):
        """{tag: (rows, SummaryMetadata bytes, lengths)} of R staged steps: ``columns`` as staged,
        each (R, padded length), ``batch_sizes`` (R,) the batch size of each step. Row i of
        ``rows`` is written at the i-th step: (R, width) float64 rows, or with ``lengths`` (R,)
        (R, padded length, W) int32 dynamics rows, of which the first ``lengths[i]`` are row i's."""
        columns = list(columns)
        loss32, fingerprints = columns.pop(0), columns.pop(0)
        loss = tf.cast(loss32, tf.float64)
        ids = columns.pop(0) if self.ids else None
        width = tf.shape(loss)[1]
        rows, outputs = {}, self.staged_outputs(columns, loss32)
        for suffix, own_loss, y_true, y_pred, (_, kind, classes, from_logits) in outputs:
            if self.dynamics:
                classified = kind in CLASSIFICATION_KINDS
                values = (dynamics.classification_values(kind, classes, from_logits, y_true, y_pred)
                          if classified else None)
                rows[metadata.DYNAMICS_TAG + suffix] = (
                    dynamics.block_words(fingerprints, ids, own_loss, values, classes if classified else 0),
                    metadata.dynamics_metadata(classes if classified else 0, ids is not None).SerializeToString(),
                    batch_sizes)
        if self.num_samples:
            rows.update(self._sample_rows(loss, fingerprints, ids, width, batch_sizes, outputs))
        return rows

    def staged_outputs(self, columns, loss):
        """(suffix, own loss (R, B) float32, y_true, y_pred, description) per output of the staged
        columns after the identities (own loss: ``loss``, the sample loss, with a single output)."""
        columns, out = list(columns), []
        for described in self.outputs:
            own_loss = columns.pop(0) if self.output_losses else loss
            y_true, y_pred = (columns.pop(0), columns.pop(0)) if described[1] else (None, None)
            out.append((described[0], own_loss, y_true, y_pred, described))
        return out

    def _sample_rows(self, loss, fingerprints, ids, width, batch_sizes, outputs):
        """The samples and per-class rows (``block_rows``) of the top ``num_samples`` samples."""
        valid = tf.sequence_mask(batch_sizes, width)
        inf = tf.constant(np.inf, tf.float64)
        key = tf.where(valid, tf.where(tf.math.is_nan(loss), inf, loss), -inf)
        k = tf.minimum(self.num_samples, width)
        order = tf.math.top_k(key, k=k).indices  # (R, k): highest loss first, a NaN as +inf

        def take(t):
            return tf.gather(t, order, batch_dims=1)

        low_bits = tf.constant(0xFFFFFFFF, tf.int64)
        chosen = take(fingerprints)
        total = tf.reduce_sum(tf.where(valid, loss, 0.0), axis=1, keepdims=True)
        fields = [take(loss), take(loss) / total,
                  # the fingerprint's 32-bit halves, each exact in float64
                  tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(chosen, 32), low_bits), tf.float64),
                  tf.cast(tf.bitwise.bitwise_and(chosen, low_bits), tf.float64),
                  tf.cast(take(ids), tf.float64) if ids is not None
                  else tf.fill(tf.shape(order), tf.constant(np.nan, tf.float64)),
                  tf.cast(order, tf.float64)]
        rows = {}
        for suffix, own_loss, y_true, y_pred, (_, kind, classes, from_logits) in outputs:
            own_loss = tf.cast(own_loss, tf.float64)
            if kind is None:
                continue
            if kind in CLASSIFICATION_KINDS:
                labels, probs = _labels_and_probabilities(kind, classes, from_logits, y_true, y_pred, width)
                fields += _classification_fields(take(labels), take(probs))
                rows[metadata.PER_CLASS_TAG + suffix] = (
                    _per_class(own_loss, labels, valid, classes),
                    metadata.per_class_metadata(classes).SerializeToString(), None)
            elif kind == "regression":
                fields += [tf.cast(take(y_true), tf.float64), tf.cast(take(y_pred), tf.float64)]
        taken = tf.stack(fields, axis=2)  # (R, k, F)
        taken = tf.where(take(valid)[:, :, tf.newaxis], taken, tf.constant(np.nan, tf.float64))
        taken = tf.pad(taken, [[0, 0], [0, self.num_samples - k], [0, 0]], constant_values=np.nan)
        rows[metadata.SAMPLES_TAG] = (
            tf.reshape(taken, [-1, self.num_samples * len(fields)]),
            metadata.samples_metadata(self.num_samples, self.fields).SerializeToString(), None)
        return rows


CLASSIFICATION_KINDS = ("sparse", "categorical", "binary")


def _flat(t, dtype):
    t = tf.convert_to_tensor(t)
    if t.dtype != dtype:
        t = tf.cast(t, dtype)
    return t if t.shape.rank == 1 else tf.reshape(t, [-1])


def _labels_and_probabilities(kind, classes, from_logits, y_true, y_pred, width):
    """(R, B) int32 labels and (R, B, C) class probabilities of staged targets and predictions."""
    if kind == "binary":
        p = tf.sigmoid(y_pred) if from_logits else y_pred
        return tf.cast(y_true > 0.5, tf.int32), tf.stack([1.0 - p, p], axis=2)
    rows = tf.shape(y_pred)[0]
    y_pred = tf.reshape(y_pred, [rows, width, classes])
    probs = tf.nn.softmax(y_pred, axis=-1) if from_logits else y_pred
    if kind == "sparse":
        return tf.cast(y_true, tf.int32), probs
    return tf.cast(tf.argmax(tf.reshape(y_true, [rows, width, classes]), axis=-1), tf.int32), probs


def _classification_fields(labels, probs):
    """label, predicted, probability, label_probability of (R, k) labels, (R, k, C) probabilities."""
    predicted = tf.argmax(probs, axis=-1, output_type=tf.int32)
    classes = tf.shape(probs)[2]
    label_probability = tf.gather(probs, tf.clip_by_value(labels, 0, classes - 1), batch_dims=2)
    return [tf.cast(t, tf.float64) for t in
            (labels, predicted, tf.reduce_max(probs, axis=-1), label_probability)]


def _per_class(loss, labels, valid, classes):
    """(R, 2C): each class's mean loss and count of R batches (labels outside 0..C-1 left out; a
    NaN loss makes only its own class's mean NaN)."""
    member = tf.logical_and(tf.one_hot(labels, classes, on_value=True, off_value=False, dtype=tf.bool),
                            valid[:, :, tf.newaxis])  # (R, B, C)
    counts = tf.reduce_sum(tf.cast(member, tf.float64), axis=1)
    sums = tf.reduce_sum(tf.where(member, loss[:, :, tf.newaxis], tf.constant(0.0, tf.float64)), axis=1)
    return tf.concat([sums / counts, counts], axis=1)


def row_fingerprints(x):
    """In the graph: the int64 fingerprint of each row (first dimension) of an input structure."""
    parts = [tf.fingerprint(t) for t in tf.nest.flatten(x)]  # (batch, 8) uint8 each
    fp = parts[0] if len(parts) == 1 else tf.fingerprint(tf.concat(parts, axis=1))
    return tf.bitcast(fp, tf.int64)
