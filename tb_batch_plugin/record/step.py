"""The traced step: BatchStats' replacement for the model's ``train_step``/``test_step``, and the
writing of what one step records (its scalars, distributions and samples) inside the graph.

It runs the original step between the zeroing and the restoration of the metric state
(``metric_state``), with the stand-ins of ``capture`` on, and writes this batch's values with
``tf.summary``'s op at its own int64 step (docs/recording.md has the sequence).
"""

import logging

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata
from tb_batch_plugin.record.capture import Capture, capturing
from tb_batch_plugin.record.loss_structure import flat_logs
from tb_batch_plugin.record.losses import (loss_per_sample, output_kind, output_losses, per_sample_losses,
                                           prediction_values)
from tb_batch_plugin.record.metric_state import MetricStates, metric_variable_count, partition_metrics
from tb_batch_plugin.record.runs import TRAIN
from tb_batch_plugin.record.samples import CLASSIFICATION_KINDS, SampleLayout, row_fingerprints
from tb_batch_plugin.record.summary_ops import distribution_tensors, histogram_rows, step_cond


_LOSS_ONLY_SAID = []  # the process has said that dynamics without a classifier are losses only


class StepWrapper:
    """The replacement train_step/test_step of one mode (``runs.TRAIN`` or ``runs.VALIDATION``),
    recording into ``recorder`` (a runs.Recorder: writer, step counter and distribution stage)
    with the settings of ``callback`` (a BatchStats)."""

    def __init__(self, callback, mode, original_step, recorder, jit, in_loop):
        self.callback = callback
        self.mode = mode
        self.original_step = original_step
        self.recorder = recorder
        self.stage = recorder.stage
        self.jit = jit
        self._cond = step_cond(in_loop)
        self.reported = frozenset()  # names of the logs that are not this batch's exact value
        self.sample_layout = None  # what the step's samples record (set when it is traced)
        self._compiled = tf.function(self._compiled_step, jit_compile=True, reduce_retracing=True) if jit else None

    def __call__(self, data):
        every = self.callback.every
        if self.jit:  # XLA runs the step and collects the values; summaries are written outside
            logs, scalars, dists, sample_values, step, first = self._compiled(data)
            samples = self._samples(sample_values, _inputs(data), None)  # fingerprints outside XLA
            self._write(scalars, dists, samples, step, _all(_every_nth(step, every), first), first is None)
            return logs
        logs, scalars, capture, replica_ctx, step = self._step(data)
        first = _first_replica(replica_ctx)
        every_nth = _every_nth(step, every)
        if every_nth is None or first is not None:
            # Every step, or several replicas: their collectives (gradient sum, gathering the
            # values) cannot sit in a conditional that only some replicas take.
            scalars, dists, samples = self._values(scalars, capture, replica_ctx)
            self._write(scalars, dists, samples, step, _all(every_nth, first), first is None)
        else:  # every N-th step: nothing is computed on the others
            def record():
                self._write(*self._values(scalars, capture, None), step, None, True)
                return tf.constant(True)

            self._cond(every_nth, record, lambda: tf.constant(False))
        return logs

    def _compiled_step(self, data):
        logs, scalars, capture, replica_ctx, step = self._step(data)
        scalars, dists, _ = self._values(scalars, capture, replica_ctx, samples=False)
        sample_values = self._sample_values(capture) if self._records_samples() else None
        return logs, scalars, dists, sample_values, step, _first_replica(replica_ctx)

    def _step(self, data):
        """Runs the original step between the zeroing of the metric state and its restoration
        (``MetricStates``).

        Returns Keras' logs (those of a run without BatchStats), this batch's values of them,
        what the step showed us (``Capture``), the replica context when there are several
        replicas, and the step.
        """
        callback = self.callback
        model = callback.model
        replicas = tf.distribute.get_replica_context()
        states = MetricStates(self._additive_metrics(), replicas is not None and replicas.num_replicas_in_sync > 1)
        built = metric_variable_count(model)
        capture = Capture(states)
        capture.data = data
        with capturing(model, capture, self._additive_metrics):
            logs = self.original_step(data)
        states.restore_unread()
        # A trace that creates metric variables is not the one TensorFlow runs (it traces the step
        # again once they exist): no warnings about its logs.
        scalars, self.reported = _log_values(logs, states, self.mode, callback._warn_once,
                                             quiet=metric_variable_count(model) != built)

        replica_ctx = tf.distribute.get_replica_context()
        if replica_ctx is None or replica_ctx.num_replicas_in_sync < 2:
            replica_ctx = None

        step = self.recorder.step.value()
        self.recorder.step.assign_add(1, read_value=False)
        return logs, scalars, capture, replica_ctx, step

    def _additive_metrics(self):
        return partition_metrics(self.callback.model, self.callback.additive_metrics)[0]

    def _values(self, scalars, capture, replica_ctx, samples=True):
        """All scalars, the raw values of the distributions, and the samples (a SampleLayout and
        the step's columns of it, or None) of the step."""
        if self.mode == TRAIN:
            scalars = {**scalars, **_optimizer_scalars(capture, replica_ctx, self.callback._warn_once)}
        dists = self._distribution_values(capture, replica_ctx) if self.callback.distributions else {}
        if not (samples and self._records_samples()):
            return scalars, dists, None
        return scalars, dists, self._samples(self._sample_values(capture), _inputs(capture.data), replica_ctx)

    def _records_samples(self):
        """Whether the step stages its samples: for the top-k samples, or (training) dynamics."""
        return bool(self.callback.samples or self._dynamics())

    def _dynamics(self):
        return self.callback.dynamics and self.mode == TRAIN

    def _sample_values(self, capture):
        """What the step's samples are made of: the sample losses, ids, and per output (its own
        loss, y_true, y_pred); None without per-sample losses. Their layout (samples.SampleLayout,
        not a tensor: an XLA-compiled step returns only tensors) is kept in ``sample_layout``."""
        callback = self.callback
        if capture.y_pred is None:
            return None
        outputs, single = output_losses(callback.model, capture, callback._warn_once)
        if not outputs:
            return None
        total, described, per_output = None, [], []
        for name, loss_fn, y_true, y_pred, values, mask, loss_weight in outputs:
            loss = loss_per_sample(values, mask)
            if loss_weight is not None:
                loss = loss * loss_weight
            total = loss if total is None else total + loss
            kind, classes, from_logits = output_kind(loss_fn, y_pred)
            described.append(("" if single else "/" + name, kind, classes, from_logits))
            per_output.append((loss, y_true, y_pred))
        ids = None
        if callback.sample_ids is not None:
            x = _inputs(capture.data)
            if isinstance(x, dict) and callback.sample_ids in x:
                ids = tf.reshape(x[callback.sample_ids], [-1])
            else:
                callback._warn_once("sample-ids", "BatchStats: sample_ids=%r is not a key of the model's "
                                    "input dict; samples are identified by fingerprints only"
                                    % (callback.sample_ids,))
        if self._dynamics() and not any(kind in CLASSIFICATION_KINDS for _, kind, _, _ in described):
            # Said once, in the log: a warning would greet every regression model at the defaults.
            if not _LOSS_ONLY_SAID:
                _LOSS_ONLY_SAID.append(True)
                logging.getLogger(__name__).info(
                    "BatchStats: no output is a classification with one prediction per sample; the "
                    "dynamics record each sample's loss only (no margin, label or prediction)")
        self.sample_layout = SampleLayout(callback.samples, described, ids is not None, len(outputs) > 1,
                                          dynamics=self._dynamics())
        return total, ids, per_output

    def _samples(self, values, x, replica_ctx):
        """(SampleLayout, the step's columns) of the step's samples, over the global batch under a
        distribution strategy (None without per-sample losses)."""
        if values is None:
            return None
        loss, ids, outputs = values
        layout = self.sample_layout
        columns = layout.step_columns(loss, row_fingerprints(x), ids, outputs)
        if replica_ctx is not None:
            columns = [replica_ctx.all_gather(c, axis=0) for c in columns]
        return layout, columns

    def _distribution_values(self, capture, replica_ctx):
        callback = self.callback
        if capture.y_pred is None:
            callback._warn_once("no-capture", "BatchStats: the train/test step did not call "
                                "model.compute_loss; per_sample_loss and predictions are not recorded")
            return {}
        out = prediction_values(callback.model, capture.y_pred)
        out.update(per_sample_losses(callback.model, capture, callback._warn_once))
        if replica_ctx is not None:
            out = {k: replica_ctx.all_gather(v, axis=0) for k, v in out.items()}
        return out

    def _write(self, scalars, dists, samples, step, record, staged):
        """Writes the step's scalars, and stages its distributions (with a single replica) or
        summarizes and writes them now. Either way outside any XLA cluster, so they are the same
        exact statistics in every mode."""
        callback = self.callback
        resource = self.recorder.writer._resource
        scalar_metadata = {p: metadata.scalar_metadata(p).SerializeToString()
                           for p in (metadata.PROVENANCE_EXACT, metadata.PROVENANCE_REPORTED)}
        distribution_metadata = metadata.distribution_metadata(
            callback.quantile_probs, callback.num_bins).SerializeToString()
        histogram_metadata = metadata.histogram_metadata().SerializeToString()
        reported = self.reported

        def write():
            for name, value in scalars.items():
                provenance = metadata.PROVENANCE_REPORTED if name in reported else metadata.PROVENANCE_EXACT
                gen_summary_ops.write_summary(resource, step, value, name, scalar_metadata[provenance])
            if (dists or samples) and staged:
                self.stage.append(step, dists, samples)
                return tf.constant(True)
            if dists:
                stats = distribution_tensors(list(dists.values()), callback.quantile_probs, callback.num_bins)
                histograms = histogram_rows(stats, len(callback.quantile_probs), callback.num_bins)
                for i, name in enumerate(dists):
                    gen_summary_ops.write_summary(resource, step, stats[i], metadata.distribution_tag(name),
                                                  distribution_metadata)
                    gen_summary_ops.write_summary(resource, step, histograms[i], name, histogram_metadata)
            if samples:  # a block of one step
                layout, columns = samples
                rows = layout.block_rows([c[tf.newaxis] for c in columns], tf.size(columns[0])[tf.newaxis])
                for tag, (row, row_metadata, _) in rows.items():  # one step: no padding
                    gen_summary_ops.write_summary(resource, step, row[0], tag, row_metadata)
            return tf.constant(True)

        with tf.device("/cpu:0"):
            if record is None:  # no conditional where none is needed (an If op costs per step)
                write()
            else:
                self._cond(record, write, lambda: tf.constant(False))


def _log_values(logs, states, mode, warn_once, quiet=False):
    """({name: this batch's value} of every numeric log the step returned, named as in Keras'
    flattened logs (a vector per component: ``name/0``, ...); the names of those recorded as the
    step reported them). A log that is not the result of an additive metric is recorded as the
    step reported it: written with provenance REPORTED, and named in a warning, once."""
    if not isinstance(logs, dict):
        warn_once("logs", "BatchStats: the %s step returned %s, not a dict of logs; only "
                  "learning_rate, grad_norm and distributions are recorded" % (mode, type(logs)))
        return {}, frozenset()
    out, reported, reported_logs, skipped = {}, set(), [], []
    for name, value in _flat_logs(logs).items():
        batch = states.batch_value(value)
        tensor = _numeric(value if batch is None else batch)
        if tensor is None:
            skipped.append(name)
            continue
        components = _components(name, tensor)
        out.update(components)
        if batch is None:
            reported.update(components)
            reported_logs.append(name)
    if quiet:
        return out, frozenset(reported)
    if reported_logs:
        warn_once("reported-%s" % mode, (
            "BatchStats: %s recorded as the %s step reports them (provenance 'reported', e.g. "
            "a mean over the epoch so far), not as each batch's own value: they are not results "
            "of metrics with additive state. Pass additive_metrics=[...] for user metrics that "
            "only keep sums.") % (sorted(reported_logs), mode))
    if skipped:
        warn_once("skipped-%s" % mode, "BatchStats: the logs %s of the %s step are not "
                  "numbers of a known shape; they are not recorded" % (sorted(skipped), mode))
    return out, frozenset(reported)


def _optimizer_scalars(capture, replica_ctx, warn_once):
    """``learning_rate`` and ``grad_norm`` of the optimizer that applied gradients in the step;
    of several, ``learning_rate/<name>`` and ``grad_norm/<name>`` each (named by the model's
    attribute that holds it; its gradients of all its applies in the step together)."""
    by_optimizer = {}
    for name, optimizer, grads, learning_rate, loss_scale in capture.applies:
        entry = by_optimizer.setdefault(id(optimizer), (name, learning_rate, loss_scale, []))
        entry[3].extend(grads)
    if not by_optimizer:
        warn_once("no-apply", "BatchStats: the train step applied no gradients through an optimizer "
                  "held by the model (model.optimizer or an attribute of it); learning_rate and "
                  "grad_norm are not recorded")
    out = {}
    for name, learning_rate, loss_scale, grads in by_optimizer.values():
        suffix = "" if len(by_optimizer) == 1 else "/" + name
        out["learning_rate" + suffix] = learning_rate
        if grads:
            if replica_ctx is not None:  # the gradient of the global batch is the replicas' sum
                grads = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])
            out["grad_norm" + suffix] = norm if loss_scale is None else norm / loss_scale
    return out


def _every_nth(step, every):
    return None if every == 1 else tf.equal(step % every, 0)


def _first_replica(replica_ctx):
    return None if replica_ctx is None else tf.equal(replica_ctx.replica_id_in_sync_group, 0)


def _all(*conditions):
    """The conjunction of the conditions that are not None (None if there are none)."""
    conditions = [c for c in conditions if c is not None]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else tf.reduce_all(tf.stack(conditions))


def _inputs(data):
    """The model's inputs x of a step's data (x, (x, y), (x, y, sample_weight))."""
    return keras.utils.unpack_x_y_sample_weight(data)[0]


_flat_logs = flat_logs  # as Keras flattens them for callbacks and History


def _numeric(value):
    """A logged value as a float tensor of known shape (integers cast to float32), or None."""
    try:
        value = tf.convert_to_tensor(value)
    except (TypeError, ValueError):
        return None
    if not (value.dtype.is_floating or value.dtype.is_integer) or not value.shape.is_fully_defined():
        return None
    return value if value.dtype.is_floating else tf.cast(value, tf.float32)


def _components(name, value):
    """{name: value} of a scalar; of a vector (or any array) one entry per component, named by
    its index (``f1_score/0``, ...; ``name/i/j`` for a matrix)."""
    if value.shape.rank == 0:
        return {name: value}
    flat = tf.unstack(tf.reshape(value, [-1]), num=value.shape.num_elements())
    indices = np.ndindex(*value.shape.as_list())
    return {"/".join([name] + [str(i) for i in index]): v for index, v in zip(indices, flat)}
