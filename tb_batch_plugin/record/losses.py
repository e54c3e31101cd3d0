"""Per-sample losses and predictions of a traced step, as Keras itself pairs and weighs them.

Keras reduces its compiled losses to one number per step. The distributions and samples need the
loss of every sample: each compiled loss unreduced (as the step computed it, else again), paired
with the targets and the output Keras gave it, times the sample weight, at the positions its Keras
mask keeps; and what kind of output (classification, regression) each loss belongs to.
"""

import tensorflow as tf

try:  # Keras' own weighting of unreduced losses (internal; without it, losses are recomputed)
    from keras.src.backend import get_keras_mask as _get_keras_mask
    from keras.src.losses.loss import reduce_weighted_values as _reduce_weighted_values
except ImportError:  # pragma: no cover
    _reduce_weighted_values = None

    def _get_keras_mask(x):
        return getattr(x, "_keras_mask", None)
from tb_batch_plugin.record.loss_structure import flat_losses, kind_of_output, named_outputs, output_for, resolve, unreduced
from tb_batch_plugin.record.staging import flat_float32


def output_losses(model, cap, warn_once):
    """The compiled loss of each output with no reduction, times the sample weight: a list of
    (output name, Loss, y_true, y_pred, unreduced losses, Keras mask of them or None, loss weight),
    and whether the model has a single compiled loss. The targets of each loss are the ones Keras
    paired with it in the step (``cap``: a capture.Capture; arrays, lists, dicts keyed by output
    name, nested), the predictions the model's own output (its Keras mask). Warns (once) for
    losses that cannot be made per-sample."""
    flat = flat_losses(model)
    if not flat:
        warn_once("no-compile-loss", "BatchStats: no compiled loss; per_sample_loss is not recorded")
        return [], True
    build = getattr(model._compile_loss, "_y_pred_build_structure", None)
    calls_taken = {}
    out = []
    for path, loss_fn, loss_weight, name in flat:
        n = calls_taken[id(loss_fn)] = calls_taken.get(id(loss_fn), -1) + 1
        calls = cap.loss_calls.get(id(loss_fn), ())
        y_t, called_pred, losses = calls[n] if n < len(calls) else (None, None, None)
        y_p = output_for(cap.y_pred, path, build, len(flat))
        if y_p is None:
            y_p = called_pred
        if y_t is None and y_p is not None:  # not called in the step: the targets by their path
            y_t = output_for(cap.y, path, build, len(flat))
        sw = cap.sample_weight
        try:
            s_w = resolve(sw, path) if tf.nest.is_nested(sw) else sw
        except (KeyError, IndexError, TypeError):
            s_w = y_t = None
        if y_t is None or y_p is None:
            warn_once("targets-%s" % name,
                      "BatchStats: the targets of the loss %r could not be matched with the "
                      "model's output; its per_sample_loss and samples are not recorded" % (name,))
            continue
        values = _weighted(loss_fn, losses, s_w)
        if values is None:  # not seen in the step: compute it again
            values = unreduced(loss_fn, y_t, y_p, s_w)
        if values is None or values.shape.rank == 0:
            warn_once("reduce-%s" % name,
                      "BatchStats: the loss %r cannot be made per-sample (it does not support "
                      "reduction=None or returns a scalar); per_sample_loss is not recorded for it"
                      % (getattr(loss_fn, "name", None) or name,))
            continue
        out.append((name, loss_fn, y_t, y_p, values, _loss_mask(y_p, losses), loss_weight))
    return out, len(flat) == 1


def per_sample_losses(model, cap, warn_once):
    """The compiled loss of each output with no reduction, times the sample weight, at the
    positions its Keras mask keeps (all positions without a mask): their mean is the step's loss
    without regularization, as Keras' ``sum_over_batch_size`` averages over unmasked positions."""
    outputs, single = output_losses(model, cap, warn_once)
    out = {}
    for name, _, _, _, values, mask, loss_weight in outputs:
        values = flat_float32(_unmasked(values, mask))
        if loss_weight is not None:
            values = values * loss_weight
        out["per_sample_loss" if single else "per_sample_loss/%s" % name] = values
    return out


def prediction_values(model, y_pred):
    """{``predictions`` (``predictions/<output>`` for several outputs): the output's values at the
    positions its Keras mask keeps, flat float32}."""
    outputs = named_outputs(model, y_pred)
    out = {}
    for name, output in outputs:
        key = "predictions" if len(outputs) == 1 else "predictions/%s" % name
        out[key] = flat_float32(_unmasked(output, _get_keras_mask(output)))
    return out


def loss_per_sample(values, mask):
    """One loss per sample from unreduced losses (batch, ...): for a sample with several positions
    (a sequence), the mean over the positions its Keras mask keeps, as Keras reduces them."""
    values = tf.cast(values, tf.float32)
    if values.shape.rank == 1:
        return values
    axes = list(range(1, values.shape.rank))
    if mask is None:
        return tf.reduce_mean(values, axis=axes)
    mask = tf.cast(mask, tf.float32)
    if mask.shape.rank == values.shape.rank + 1 and mask.shape[-1] == 1:
        mask = tf.squeeze(mask, -1)
    if mask.shape.rank != values.shape.rank:
        return tf.reduce_mean(values, axis=axes)
    return tf.reduce_sum(values * mask, axis=axes) / tf.reduce_sum(mask, axis=axes)


def output_kind(loss_fn, y_pred):
    """(kind, classes, from_logits) of one output for its samples' columns (samples.SampleLayout):
    see ``loss_structure.kind_of_output``."""
    rank = y_pred.shape.rank
    return kind_of_output(loss_fn, None if rank is None else tuple(y_pred.shape.as_list()))


def _weighted(loss_fn, losses, sample_weight):
    """The step's own unreduced losses times the sample weights, as Keras' Loss.__call__ weights
    them (its mask is applied by the caller)."""
    if losses is None or _reduce_weighted_values is None:
        return None
    return _reduce_weighted_values(losses, sample_weight=sample_weight, reduction=None,
                                   dtype=loss_fn.dtype)


def _loss_mask(y_pred, losses):
    """The mask Keras' Loss.__call__ applies: the predictions' and the losses' Keras masks."""
    masks = [m for m in (_get_keras_mask(y_pred), None if losses is None else _get_keras_mask(losses))
             if m is not None]
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else tf.logical_and(tf.cast(masks[0], tf.bool), tf.cast(masks[1], tf.bool))


def _unmasked(values, mask):
    """The values at the positions a Keras mask keeps (a mask of their leading dimensions, e.g.
    (batch, time) of (batch, time, classes)); all values without a mask."""
    if mask is None:
        return values
    values = tf.convert_to_tensor(values)
    mask = tf.cast(mask, tf.bool)
    if mask.shape.rank == values.shape.rank + 1 and mask.shape[-1] == 1:
        mask = tf.squeeze(mask, -1)
    if mask.shape.rank is None or values.shape.rank is None or not 0 < mask.shape.rank <= values.shape.rank:
        return values
    return tf.boolean_mask(values, mask)
