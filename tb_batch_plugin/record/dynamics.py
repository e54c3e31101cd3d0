"""Per-sample training dynamics: for every sample of a block of staged training steps, the words of
its row in ``metadata``'s dynamics layout (identity, loss, margin, p(label), label and prediction).

The readers aggregate them per sample (AUM, forgetting, cartography: docs/label_issues.md). The
arithmetic is backend-neutral ``keras.ops``; only the packing into int32 words and the batching
over a block's steps sit in the TensorFlow staging around it. Everything runs once per written
block, never per step: a step stages only what its samples already stage (losses,
fingerprints, targets, predictions).
"""

from keras import ops

from tb_batch_plugin import metadata


def classification_values(kind, classes, from_logits, y_true, y_pred):
    """(labels, margin, label_probability, predicted) of R staged steps of B samples each.

    ``y_true``/``y_pred`` as staged: (R, B) for 'sparse' targets and 'binary' outputs, (R, B*C)
    for one-hot targets and class scores. The margin is the given label's score minus the
    largest other score, on logits when the output is logits, else on probabilities (a binary
    output is the two classes [1 - p, p], logits [0, z]); ``predicted`` is the argmax of the
    scores (the first of ties; binary: z > 0, p > 0.5), as Keras' accuracy metrics take it.
    Labels outside 0..C-1 get label -1 and NaN margin and probability.
    """
    if kind == "binary":
        labels = ops.cast(ops.greater(y_true, 0.5), "int32")
        scores = ops.stack([ops.zeros_like(y_pred), y_pred] if from_logits else [1.0 - y_pred, y_pred], axis=-1)
    else:
        rows, width = ops.shape(y_pred)[0], ops.shape(y_true)[1]
        if kind == "categorical":
            width = width // classes
            labels = ops.cast(ops.argmax(ops.reshape(y_true, (rows, width, classes)), axis=-1), "int32")
        else:
            labels = ops.cast(y_true, "int32")
        scores = ops.reshape(y_pred, (rows, width, classes))
    valid = ops.logical_and(ops.greater_equal(labels, 0), ops.less(labels, classes))
    safe = ops.where(valid, labels, ops.zeros_like(labels))
    is_label = ops.cast(ops.one_hot(safe, classes), "bool")
    own = ops.sum(ops.where(is_label, scores, ops.zeros_like(scores)), axis=-1)
    other = ops.max(ops.where(is_label, ops.full_like(scores, -float("inf")), scores), axis=-1)
    if kind == "binary":
        probability = ops.sigmoid(y_pred) if from_logits else y_pred
        label_probability = ops.where(ops.equal(safe, 1), probability, 1.0 - probability)
    else:
        probabilities = ops.softmax(scores, axis=-1) if from_logits else scores
        label_probability = ops.sum(ops.where(is_label, probabilities, ops.zeros_like(probabilities)), axis=-1)
    predicted = ops.cast(ops.argmax(scores, axis=-1), "int32")
    nan = ops.full_like(own, float("nan"))
    return (ops.where(valid, labels, -ops.ones_like(labels)), ops.where(valid, own - other, nan),
            ops.where(valid, label_probability, nan), predicted)


def block_words(fingerprints, ids, loss, classification, num_classes):
    """(R, B, W) int32 words of the dynamics rows (``metadata.dynamics_fields``) of R steps:
    ``fingerprints`` (R, B) int64, ``ids`` (R, B) int64 or None, ``loss`` (R, B) float32,
    ``classification`` None or ``classification_values``' result."""
    words = list(_halves(fingerprints))
    if ids is not None:
        words += _halves(ids)
    words.append(_bits(loss))
    if classification is not None:
        labels, margin, label_probability, predicted = classification
        words += [_bits(margin), _bits(label_probability)]
        if num_classes <= metadata.MAX_PACKED_CLASSES:
            low = ops.bitwise_and(labels, 0xFFFF)  # -1 (no valid label): 0xFFFF
            words.append(ops.bitwise_or(ops.left_shift(predicted, 16), low))
        else:
            words += [labels, predicted]
    return ops.stack(words, axis=-1)


def _halves(values):
    """The high and low 32 bits of int64 values, each as the int32 of the same bits."""
    values = ops.cast(values, "int64")
    return [_low_word(ops.right_shift(values, 32)), _low_word(values)]


def _low_word(values):
    # The low 32 bits as uint32, then the int32 of the same bits (a cast would saturate).
    return _view(ops.cast(ops.bitwise_and(values, 0xFFFFFFFF), "uint32"), "int32")


def _bits(values):
    return _view(ops.cast(values, "float32"), "int32")


def _view(values, dtype):
    """The same bits as ``dtype`` (of equal size). ``ops.view`` needs a static last dimension:
    given one of size 1."""
    return ops.squeeze(ops.view(ops.expand_dims(values, -1), dtype), -1)
