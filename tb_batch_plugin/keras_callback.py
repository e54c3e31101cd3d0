"""BatchStats: a Keras callback that records the exact values of every training step.

Keras hands callbacks running means over the epoch, and with ``steps_per_execution > 1`` calls
them only every k steps. BatchStats therefore does its work inside the traced step: it wraps the
model's ``train_step`` / ``test_step`` on the instance (and rebuilds ``train_function``), and in
the graph of every step it

1. snapshots the state variables of every additive metric and zeroes them,
2. runs the original step, so the metrics then hold the state of this batch alone,
3. reads every metric's result (the exact per-batch value Keras would report had the epoch
   started at this batch), and under a distribution strategy first sums the batch state over
   the replicas, as Keras does when it reads a metric,
4. adds the snapshot back: the metric state, and so the logs Keras returns, are bit-identical
   to a run without the callback,
5. writes the scalars with ``tf.summary``'s op to its own writer, at its own int64 step, and
   stages the raw values of the distributions (``staging``), which are summarized and written
   in blocks of steps (with several replicas: summarized and written in the step).

Gradients, learning rate, per-sample losses and predictions are captured while the original step
is traced, by wrapping ``model.compute_loss`` and ``optimizer.apply`` on the instances. Nothing
runs in Python per step: the callback has no batch hooks, so Keras keeps dispatching batch
callbacks asynchronously and never has to fetch the logs to the host for it. The writer flushes by
itself every ``flush_secs``; the callback also flushes at epoch end, train end and exit.
"""

import atexit
import math
import os
import warnings
import weakref

import keras
import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata, numbering

try:  # Keras' own weighting of unreduced losses (internal; without it, losses are recomputed)
    from keras.src.backend import get_keras_mask as _get_keras_mask
    from keras.src.losses.loss import reduce_weighted_values as _reduce_weighted_values
except ImportError:  # pragma: no cover
    _reduce_weighted_values = None
from tb_batch_plugin.staging import DistributionStage, flat_float32
from tb_batch_plugin.summary import distribution_tensors, histogram_rows, step_cond

TRAIN, VALIDATION = "train", "validation"


class BatchStats(keras.callbacks.Callback):
    """Records per-step loss, metrics, learning rate, gradient norm and distributions.

    Args:
      log_dir: where to write; event files go to ``<log_dir>/train`` and
        ``<log_dir>/validation``, as with ``keras.callbacks.TensorBoard`` (both can share it).
      every: record every N-th step (steps are still all counted).
      distributions: also record the distributions ``per_sample_loss`` and ``predictions``.
      validation: record validation batches (and ``model.evaluate`` while attached).
      flush_secs: flush the event files at least this often (also at every epoch end and at
        train end).
      additive_metrics: names of user-defined metrics whose state is additive (sums), to be
        recorded per batch; other user-defined metrics are recorded as Keras reports them.
      quantile_probs, num_bins: layout of the distribution summaries (see ``metadata``).
    """

    def __init__(self, log_dir, *, every=1, distributions=True, validation=True,
                 flush_secs=10.0, additive_metrics=(),
                 quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError("BatchStats: every must be a positive int, got %r" % (every,))
        if not flush_secs > 0:
            raise ValueError("BatchStats: flush_secs must be > 0, got %r" % (flush_secs,))
        self.log_dir = os.fspath(log_dir)
        self.every = every
        self.distributions = bool(distributions)
        self.validation = bool(validation)
        self.flush_secs = float(flush_secs)
        self.additive_metrics = frozenset(additive_metrics)
        self.quantile_probs = tuple(float(p) for p in quantile_probs)
        self.num_bins = int(num_bins)
        _check_writable(self.log_dir)
        self._recorders = {}
        self._installed = {}  # mode -> the model function built with our step, while installed
        self._built = {}  # mode -> (model key, wrapped step, function): reused by the next fit
        self._patches = []  # (object, attribute name, original) to undo at train end
        self._in_fit = False
        self._epoch = -1  # the epoch of the fit under way
        self._pending_fit_marker = None  # (step, optimizer batches) of a fit not yet marked
        self._warned = set()
        # Flush at exit too: an exception in fit() skips on_train_end.
        atexit.register(_flush_if_alive, weakref.ref(self))

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._start_training(self._recorder(TRAIN))
        self._install(TRAIN)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._pending_fit_marker is not None:  # the fit's first epoch: now it is known
            step, counter = self._pending_fit_marker
            self._pending_fit_marker = None
            self._write_marker(TRAIN, metadata.KIND_FIT, step, [counter, epoch])

    def on_test_begin(self, logs=None):
        if self.validation:
            self._start_evaluation(self._recorder(VALIDATION))
            self._install(VALIDATION)

    def on_test_end(self, logs=None):
        if not self._in_fit:  # a standalone evaluate(): leave the model as it was
            self._uninstall(VALIDATION)
        if VALIDATION in self._recorders:
            recorder = self._recorders[VALIDATION]
            numbering.ledger(recorder.logdir).advance(int(recorder.step.numpy()))
        self.flush()

    def on_epoch_end(self, epoch, logs=None):
        recorder = self._recorders[TRAIN]
        step, counter = int(recorder.step.numpy()), numbering.optimizer_batches(self.model.optimizer)
        self._write_marker(TRAIN, metadata.KIND_EPOCH, step, [counter, epoch])
        numbering.ledger(recorder.logdir).advance(step)
        self.flush()
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._warn_once("nonfinite-%d" % epoch,
                            "BatchStats: the loss of epoch %d is not finite; the steps with "
                            "NaN/Inf losses are recorded as such under %s"
                            % (epoch, os.path.join(self.log_dir, TRAIN)))

    def on_train_end(self, logs=None):
        self._in_fit = False
        recorder = self._recorders[TRAIN]
        numbering.ledger(recorder.logdir).advance(int(recorder.step.numpy()))
        self._uninstall(TRAIN)
        self._uninstall(VALIDATION)
        self.flush()

    def flush(self):
        """Writes the staged distributions and flushes the event files."""
        for recorder in self._recorders.values():
            if recorder.stage is not None:
                recorder.stage.drain()
            recorder.writer.flush()

    # Step numbering (numbering.py) ------------------------------------------------------------

    def _start_training(self, recorder):
        """Sets the training step counter where this fit continues (see numbering)."""
        ledger = numbering.ledger(recorder.logdir)
        counter = numbering.optimizer_batches(self.model.optimizer)
        start, supersedes = ledger.training_start(counter)
        if supersedes:
            warnings.warn("BatchStats: the model's optimizer has counted %d batches, so training "
                          "resumes at step %d: the steps >= %d recorded in %s are superseded by the "
                          "new ones" % (counter, start, start, recorder.logdir), stacklevel=3)
        recorder.step.assign(start)
        ledger.advance(start)
        ledger.note_counter(start, counter)
        self._pending_fit_marker = (start, counter)

    def _start_evaluation(self, recorder):
        """Continues the validation counter and marks the evaluation with the training step it
        follows and the epoch."""
        ledger = numbering.ledger(recorder.logdir)
        first = ledger.next_step
        recorder.step.assign(first)
        if self._in_fit:
            train_step, epoch = int(self._recorders[TRAIN].step.numpy()), self._epoch
        else:  # a model.evaluate(): where a fit of this model would continue
            train_ledger = numbering.ledger(os.path.join(self.log_dir, TRAIN))
            train_step = train_ledger.training_start(numbering.optimizer_batches(self.model.optimizer))[0]
            epoch = -1
        self._write_marker(VALIDATION, metadata.KIND_EVALUATION, first, [train_step, epoch])

    def _write_marker(self, mode, kind, step, values):
        numbering.write_marker(self._recorders[mode].writer, kind, step, values)

    # Installing the wrapped step -------------------------------------------------------------

    def _recorder(self, mode):
        if mode not in self._recorders:
            with self.model.distribute_strategy.scope():
                self._recorders[mode] = _Recorder(os.path.join(self.log_dir, mode), self.flush_secs)
        return self._recorders[mode]

    def _install(self, mode):
        """Makes the model's train/test function run our wrapped step.

        The function traced with our step is kept between fits (and validation runs) of the same
        compiled model, so reinstalling it does not retrace.
        """
        model = self.model
        attr = "train_function" if mode == TRAIN else "test_function"
        current = getattr(model, attr)
        if current is not None and current is self._installed.get(mode):
            return
        step_name = "train_step" if mode == TRAIN else "test_step"
        jit = bool(getattr(model, "jit_compile", False))
        key = (id(model), model.steps_per_execution, jit, id(model.optimizer),
               id(getattr(model, "_compile_loss", None)))
        self._patch_capture_hooks(model)
        self._recorder(mode)
        self._patches.append((model, step_name, model.__dict__.get(step_name, _ABSENT)))
        cached = self._built.get(mode)
        if cached is not None and cached[0] == key:
            _, wrapped, function = cached
            setattr(model, step_name, wrapped)
            setattr(model, attr, function)
            self._installed[mode] = function
            return
        original_step = getattr(model, step_name)
        if isinstance(original_step, _StepWrapper):  # ours from an earlier build: never wrap twice
            original_step = original_step.original_step
        recorder = self._recorders[mode]
        if recorder.stage is not None:  # staged by an earlier build: write it before replacing it
            recorder.stage.drain()
        # Created here, outside any trace and strategy scope: staging is used with one replica.
        in_loop = model.steps_per_execution > 1  # Keras runs the steps in a tf.while_loop
        recorder.stage = DistributionStage(recorder.writer, self.quantile_probs, self.num_bins, in_loop=in_loop)
        wrapped = _StepWrapper(self, mode, original_step, jit, in_loop)
        setattr(model, step_name, wrapped)
        if jit:  # compile our step ourselves: summary ops have no XLA kernel
            model.jit_compile = False
        try:
            if mode == TRAIN:
                model.make_train_function(force=True)
            else:
                model.make_test_function(force=True)
        finally:
            if jit:
                model.jit_compile = True
        self._installed[mode] = getattr(model, attr)
        self._built[mode] = (key, wrapped, self._installed[mode])

    def _uninstall(self, mode):
        if mode not in self._installed:
            return
        del self._installed[mode]
        step_name = "train_step" if mode == TRAIN else "test_step"
        keep = []
        for obj, name, original in reversed(self._patches):  # the latest patch first
            if name == step_name or (not self._installed and name in ("compute_loss", "apply", "call")):
                if original is _ABSENT:
                    obj.__dict__.pop(name, None)
                else:
                    setattr(obj, name, original)
            else:
                keep.append((obj, name, original))
        self._patches = keep[::-1]
        # The functions Keras cached were traced with our step: have them rebuilt without it.
        if mode == TRAIN:
            self.model.train_function = None
        else:
            self.model.test_function = None

    def _patch_capture_hooks(self, model):
        """Wraps compute_loss and optimizer.apply on the instances to see y, y_pred and grads."""
        if "compute_loss" in model.__dict__ and isinstance(model.compute_loss, _CaptureComputeLoss):
            return
        self._patches.append((model, "compute_loss", model.__dict__.get("compute_loss", _ABSENT)))
        model.compute_loss = _CaptureComputeLoss(model.compute_loss)
        optimizer = model.optimizer
        if optimizer is not None and not isinstance(optimizer.apply, _CaptureApply):
            self._patches.append((optimizer, "apply", optimizer.__dict__.get("apply", _ABSENT)))
            optimizer.apply = _CaptureApply(optimizer, optimizer.apply)
        self._patch_loss_calls(model)

    def _patch_loss_calls(self, model):
        """Wraps the compiled losses' ``call``. Keras builds them while the first step is traced
        (without a distribution strategy), so this runs again at every trace."""
        for _, loss_fn, _, _ in _flat_losses(model):
            if hasattr(loss_fn, "call") and not isinstance(loss_fn.call, _CaptureLossCall):
                self._patches.append((loss_fn, "call", loss_fn.__dict__.get("call", _ABSENT)))
                loss_fn.call = _CaptureLossCall(loss_fn, loss_fn.call)

    # Helpers ----------------------------------------------------------------------------------

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)

    def _metric_partition(self):
        """(additive metric objects, names of the non-additive ones) among the model's metrics."""
        additive, other = [], []
        for metric in _leaf_metrics(self.model.metrics):
            module = type(metric).__module__ or ""
            if module.startswith("keras.") or metric.name in self.additive_metrics:
                additive.append(metric)
            else:
                other.append(metric.name)
        return additive, other


_ABSENT = object()


class _Recorder:
    """The writer and the step counter of one run (train or validation)."""

    def __init__(self, logdir, flush_secs):
        self.logdir = logdir
        try:
            self.writer = tf.summary.create_file_writer(
                logdir, flush_millis=int(flush_secs * 1000), max_queue=1000)
        except (tf.errors.OpError, OSError) as e:
            raise OSError("BatchStats: cannot write event files under %r: %s" % (logdir, e)) from None
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                name="tb_batch_step", synchronization=tf.VariableSynchronization.ON_WRITE,
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.stage = None  # the DistributionStage of the current build of the step


class _Capture:
    """What the original step showed us while it was being traced (symbolic tensors)."""

    active = None  # the capture of the step being traced now

    def __init__(self):
        self.y = self.y_pred = self.sample_weight = None
        self.grads = self.learning_rate = self.loss_scale = None
        self.unreduced = {}  # id(compiled Loss) -> its unreduced output in this step


class _CaptureComputeLoss:
    """Stands in for model.compute_loss: records its inputs during tracing, then calls it."""

    def __init__(self, original):
        self.original = original

    def __call__(self, *args, **kwargs):
        cap = _Capture.active
        if cap is not None:
            names = ("x", "y", "y_pred", "sample_weight")
            bound = dict(zip(names, args))
            bound.update({k: v for k, v in kwargs.items() if k in names})
            cap.y, cap.y_pred = bound.get("y"), bound.get("y_pred")
            cap.sample_weight = bound.get("sample_weight")
        return self.original(*args, **kwargs)


class _CaptureLossCall:
    """Stands in for a compiled Keras Loss's ``call``: keeps its unreduced output, so the
    per-sample losses need not be computed a second time."""

    def __init__(self, loss_fn, original):
        self.key = id(loss_fn)
        self.original = original

    def __call__(self, y_true, y_pred):
        losses = self.original(y_true, y_pred)
        cap = _Capture.active
        if cap is not None:
            cap.unreduced.setdefault(self.key, losses)
        return losses


class _CaptureApply:
    """Stands in for optimizer.apply: records gradients (before clipping), lr and loss scale."""

    def __init__(self, optimizer, original):
        self.optimizer = optimizer
        self.original = original

    def __call__(self, grads, trainable_variables=None):
        cap = _Capture.active
        if cap is not None and cap.grads is None:
            cap.grads = [g for g in grads if g is not None]
            cap.learning_rate = tf.cast(self.optimizer.learning_rate, tf.float32)
            scale = getattr(self.optimizer, "dynamic_scale", None)  # LossScaleOptimizer
            if scale is not None:
                cap.loss_scale = tf.cast(scale, tf.float32)
        return self.original(grads, trainable_variables)


class _StepWrapper:
    """The replacement train_step/test_step (see the module docstring for the sequence)."""

    def __init__(self, callback, mode, original_step, jit, in_loop):
        self.callback = callback
        self.mode = mode
        self.original_step = original_step
        self.recorder = callback._recorders[mode]
        self.stage = self.recorder.stage
        self.jit = jit
        self._cond = step_cond(in_loop)
        self.reported = frozenset()  # names of the logs that are not this batch's exact value
        self._compiled = tf.function(self._compiled_step, jit_compile=True, reduce_retracing=True) if jit else None

    def __call__(self, data):
        every = self.callback.every
        if self.jit:  # XLA runs the step and collects the values; summaries are written outside
            logs, scalars, dists, step, first = self._compiled(data)
            self._write(scalars, dists, step, _all(_every_nth(step, every), first), first is None)
            return logs
        logs, scalars, cap, replica_ctx, step = self._step(data)
        first = _first_replica(replica_ctx)
        every_nth = _every_nth(step, every)
        if every_nth is None or first is not None:
            # Every step, or several replicas: their collectives (gradient sum, gathering the
            # values) cannot sit in a conditional that only some replicas take.
            scalars, dists = self._values(scalars, cap, replica_ctx)
            self._write(scalars, dists, step, _all(every_nth, first), first is None)
        else:  # every N-th step: nothing is computed on the others
            def record():
                self._write(*self._values(scalars, cap, None), step, None, True)
                return tf.constant(True)

            self._cond(every_nth, record, lambda: tf.constant(False))
        return logs

    def _compiled_step(self, data):
        logs, scalars, cap, replica_ctx, step = self._step(data)
        scalars, dists = self._values(scalars, cap, replica_ctx)
        return logs, scalars, dists, step, _first_replica(replica_ctx)

    def _step(self, data):
        """Runs the original step between the metric snapshot and its restoration.

        Returns Keras' logs (unchanged), this batch's metric values, what the step showed us
        (``_Capture``), the replica context when there are several replicas, and the step.
        """
        cb = self.callback
        model = cb.model
        additive, others = cb._metric_partition()
        self.reported = frozenset(others)  # written as reported by the step, not per batch
        if others:
            cb._warn_once("non-additive", "BatchStats: metrics %s keep non-additive state; they "
                          "are recorded as Keras reports them (over the epoch so far), not per batch. "
                          "Pass additive_metrics=[...] for user metrics that only keep sums." % others)
        # The tf.Variables under Keras' variables: one op per read, zeroing and restoring each
        # (Keras' own assign_add is a read, an add and an assign).
        state = [_tf_variable(v) for m in additive for v in m.variables]
        snapshot = [v.value() for v in state]
        zeros = {}
        for v in state:
            if v.shape.is_fully_defined():
                key = (tuple(v.shape), v.dtype)
                if key not in zeros:
                    zeros[key] = tf.zeros(v.shape, v.dtype)
                v.assign(zeros[key], read_value=False)
            else:
                v.assign(tf.zeros_like(v), read_value=False)

        cb._patch_loss_calls(model)
        cap = _Capture()
        previous, _Capture.active = _Capture.active, cap
        try:
            logs = self.original_step(data)
        finally:
            _Capture.active = previous

        replica_ctx = tf.distribute.get_replica_context()
        if replica_ctx is None or replica_ctx.num_replicas_in_sync < 2:
            replica_ctx = None
        if isinstance(logs, dict):
            batch = {k: v for k, v in logs.items() if _is_scalar_like(v)}
            if replica_ctx is not None:  # the exact global-batch value: the result of the summed batch state
                local = [v.value() for v in state]
                summed = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, local) if state else []
                for v, s in zip(state, summed):
                    v.assign(s)
                global_results = {k: tf.identity(v) for k, v in model.get_metrics_result().items()}
                batch.update({k: v for k, v in global_results.items() if k in batch})
                for v, l in zip(state, local):
                    v.assign(l)
        else:
            cb._warn_once("logs", "BatchStats: train_step returned %s, not a dict of logs; "
                          "only learning_rate, grad_norm and distributions are recorded" % type(logs))
            batch = {}
        for v, s in zip(state, snapshot):
            v.assign_add(s, read_value=False)
        if isinstance(logs, dict):
            running = model.get_metrics_result()
            logs = {k: (running[k] if k in running else v) for k, v in logs.items()}

        scalars = {k: _scalar(v) for k, v in batch.items()}
        step = self.recorder.step.value()
        self.recorder.step.assign_add(1, read_value=False)
        return logs, scalars, cap, replica_ctx, step

    def _values(self, scalars, cap, replica_ctx):
        """All scalars and the raw values of the distributions of the step."""
        if self.mode == TRAIN:
            scalars = {**scalars, **self._optimizer_scalars(cap, replica_ctx)}
        dists = self._distribution_values(cap, replica_ctx) if self.callback.distributions else {}
        return scalars, dists

    def _optimizer_scalars(self, cap, replica_ctx):
        out = {}
        if cap.learning_rate is not None:
            out["learning_rate"] = cap.learning_rate
        if cap.grads:
            grads = cap.grads
            if replica_ctx is not None:  # the gradient of the global batch is the replicas' sum
                grads = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])
            if cap.loss_scale is not None:
                norm = norm / cap.loss_scale
            out["grad_norm"] = norm
        return out

    def _distribution_values(self, cap, replica_ctx):
        cb = self.callback
        out = {}
        if cap.y_pred is None:
            cb._warn_once("no-capture", "BatchStats: the train/test step did not call "
                          "model.compute_loss; per_sample_loss and predictions are not recorded")
            return out
        preds = [flat_float32(p) for p in tf.nest.flatten(cap.y_pred)]
        out["predictions"] = preds[0] if len(preds) == 1 else tf.concat(preds, 0)
        for name, values in _per_sample_losses(cb, cap).items():
            out[name] = values
        if replica_ctx is not None:
            out = {k: replica_ctx.all_gather(v, axis=0) for k, v in out.items()}
        return out

    def _write(self, scalars, dists, step, record, staged):
        """Writes the step's scalars, and stages its distributions (with a single replica) or
        summarizes and writes them now. Either way outside any XLA cluster, so they are the same
        exact statistics in every mode."""
        cb = self.callback
        resource = self.recorder.writer._resource
        scalar_md = {p: metadata.scalar_metadata(p).SerializeToString()
                     for p in (metadata.PROVENANCE_EXACT, metadata.PROVENANCE_REPORTED)}
        dist_md = metadata.distribution_metadata(cb.quantile_probs, cb.num_bins).SerializeToString()
        histogram_md = metadata.histogram_metadata().SerializeToString()
        reported = self.reported

        def write():
            for name, value in scalars.items():
                provenance = metadata.PROVENANCE_REPORTED if name in reported else metadata.PROVENANCE_EXACT
                gen_summary_ops.write_summary(resource, step, value, name, scalar_md[provenance])
            if dists and staged:
                self.stage.append(step, dists)
            elif dists:
                stats = _summarize(dists, cb)
                histograms = histogram_rows(stats, len(cb.quantile_probs), cb.num_bins)
                for i, name in enumerate(dists):
                    gen_summary_ops.write_summary(resource, step, stats[i], metadata.distribution_tag(name), dist_md)
                    gen_summary_ops.write_summary(resource, step, histograms[i], name, histogram_md)
            return tf.constant(True)

        with tf.device("/cpu:0"):
            if record is None:  # no conditional where none is needed (an If op costs per step)
                write()
            else:
                self._cond(record, write, lambda: tf.constant(False))


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


def _summarize(dists, cb):
    """{name: values} -> the (len(dists), 8+Q+B) distribution tensors, one batched computation."""
    return distribution_tensors(list(dists.values()), cb.quantile_probs, cb.num_bins)


def _per_sample_losses(cb, cap):
    """The compiled loss of each output with no reduction, times the sample weight."""
    flat = _flat_losses(cb.model)
    if not flat:
        cb._warn_once("no-compile-loss", "BatchStats: no compiled loss; per_sample_loss is not recorded")
        return {}
    y_true, y_pred, sw = cap.y, cap.y_pred, cap.sample_weight
    single = len(flat) == 1
    if single:
        y_true_flat, y_pred_flat = [y_true], [y_pred]
        if tf.nest.is_nested(y_pred):
            y_true_flat, y_pred_flat = tf.nest.flatten(y_true), tf.nest.flatten(y_pred)
    out = {}
    for path, loss_fn, loss_weight, name in flat:
        try:
            y_t = _resolve(y_true, path) if not single else y_true_flat[0]
            y_p = _resolve(y_pred, path) if not single else y_pred_flat[0]
            s_w = _resolve(sw, path) if tf.nest.is_nested(sw) else sw
        except (KeyError, IndexError, TypeError):
            continue
        values = _weighted(loss_fn, cap.unreduced.get(id(loss_fn)), y_p, s_w)
        if values is None:  # not seen in the step (or masked): compute it again
            values = _unreduced(loss_fn, y_t, y_p, s_w)
        if values is None or values.shape.rank == 0:
            cb._warn_once("reduce-%s" % name,
                          "BatchStats: the loss %r cannot be made per-sample (it does not support "
                          "reduction=None or returns a scalar); per_sample_loss is not recorded for it"
                          % (getattr(loss_fn, "name", None) or name,))
            continue
        values = flat_float32(values)
        if loss_weight is not None:
            values = values * loss_weight
        out["per_sample_loss" if single else "per_sample_loss/%s" % name] = values
    return out


def _weighted(loss_fn, losses, y_pred, sample_weight):
    """The step's own unreduced losses times the sample weights, as Keras' Loss.__call__ weights
    them with reduction None; None where that needs a mask (then they are computed again)."""
    if losses is None or _reduce_weighted_values is None:
        return None
    if _get_keras_mask(y_pred) is not None or _get_keras_mask(losses) is not None:
        return None
    return _reduce_weighted_values(losses, sample_weight=sample_weight, reduction=None,
                                   dtype=loss_fn.dtype)


def _flat_losses(model):
    """Keras' compiled losses: (path, Loss, weight, name) per output (empty before Keras built them)."""
    return getattr(getattr(model, "_compile_loss", None), "_flat_losses", None) or ()


def _unreduced(loss_fn, y_true, y_pred, sample_weight):
    """Calls a Keras Loss with reduction None (temporarily; trace time only)."""
    if not hasattr(loss_fn, "reduction"):
        return None
    saved = loss_fn.reduction
    loss_fn.reduction = None
    try:
        return tf.convert_to_tensor(loss_fn(y_true, y_pred, sample_weight))
    except Exception:  # a custom loss that does not support it: warned by the caller
        return None
    finally:
        loss_fn.reduction = saved


def _resolve(structure, path):
    for key in path:
        structure = structure[key]
    return structure


def _leaf_metrics(metrics):
    """Metrics with their own state: CompileMetrics is opened into the metrics it holds."""
    out = []
    for m in metrics:
        inner = getattr(m, "metrics", None) if type(m).__name__ == "CompileMetrics" else None
        if inner is not None:
            out.extend(_leaf_metrics(inner))
        else:
            out.append(m)
    return out


def _tf_variable(variable):
    """The tf.Variable that holds a Keras variable's value (the variable itself otherwise)."""
    inner = getattr(variable, "_value", None)
    return inner if isinstance(inner, tf.Variable) else variable


def _scalar(value):
    """A logged scalar as a float tensor of rank 0 (integers cast to float32)."""
    value = tf.convert_to_tensor(value)
    if not value.dtype.is_floating:
        value = tf.cast(value, tf.float32)
    return value if value.shape.rank == 0 else tf.reshape(value, [])


def _is_scalar_like(value):
    try:
        t = tf.convert_to_tensor(value)
    except (TypeError, ValueError):
        return False
    return t.shape.rank == 0 and (t.dtype.is_floating or t.dtype.is_integer)


def _check_writable(log_dir):
    try:
        tf.io.gfile.makedirs(log_dir)
        probe = os.path.join(log_dir, ".tb_batch_write_check")
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as e:
        raise OSError("BatchStats: log_dir %r cannot be written: %s" % (log_dir, e)) from None


def _flush_if_alive(ref):
    callback = ref()
    if callback is not None:
        try:
            callback.flush()
        except Exception:  # interpreter shutdown: nothing left to save it for
            pass
