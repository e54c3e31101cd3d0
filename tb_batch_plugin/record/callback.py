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

Steps 3 and 4 happen per metric, the first time the step reads its result: the step gets the
result of the restored state, so a custom ``train_step`` that returns results (or arithmetic on
them) returns what it would without the callback. Every numeric log the step returns is recorded;
one that is not the result of an additive metric, as the step reported it (marked REPORTED).

Gradients, learning rate, per-sample losses and predictions are captured while the original step
is traced, by stand-ins on the instances for ``model.compute_loss``, the compiled losses' ``call``,
every optimizer's ``apply`` and every additive metric's ``result``, removed when the trace ends.
Nothing runs in Python per step: the callback has no batch hooks, so Keras keeps dispatching batch
callbacks asynchronously and never has to fetch the logs to the host for it.

Faults: the write ops in a step only enqueue; a daemon thread flushes every ``flush_secs`` (also
while training pauses) and a failing write never raises (``event_writer``). An exception anywhere
in ``fit`` (in a step, in another callback) restores the model and writes what was recorded
before it propagates.
"""

import atexit
import contextlib
import logging
import math
import os
import sys
import threading
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata
from tb_batch_plugin.record import event_writer, numbering

try:  # Keras' own weighting of unreduced losses (internal; without it, losses are recomputed)
    from keras.src.backend import get_keras_mask as _get_keras_mask
    from keras.src.losses.loss import reduce_weighted_values as _reduce_weighted_values
except ImportError:  # pragma: no cover
    _reduce_weighted_values = None
from tb_batch_plugin.record.samples import SampleLayout, row_fingerprints
from tb_batch_plugin.record.staging import DistributionStage, flat_float32
from tb_batch_plugin.record.summary import distribution_tensors, histogram_rows, step_cond

TRAIN, VALIDATION = "train", "validation"
_LOG = logging.getLogger(__name__)


class BatchStats(keras.callbacks.Callback):
    """Records per-step loss, metrics, learning rate, gradient norm and distributions.

    Args:
      log_dir: where to write; event files go to ``<log_dir>/train`` and
        ``<log_dir>/validation``, as with ``keras.callbacks.TensorBoard`` (both can share it).
      every: record every N-th step (steps are still all counted).
      distributions: also record the distributions ``per_sample_loss`` and ``predictions``.
      validation: record validation batches (and ``model.evaluate`` while attached).
      flush_secs: flush the event files this often, also while training pauses (and at every
        epoch end and train end): a kill loses at most the last ``flush_secs`` of steps.
      additive_metrics: names of user-defined metrics whose state is additive (sums), to be
        recorded per batch; other user-defined metrics are recorded as the step reports them.
      samples: record, per step, the samples of the batch with the highest losses (their loss,
        share of the batch loss, fingerprint, label and prediction; see ``metadata``), and per
        classification output each class's mean loss and count; 0 records neither.
      sample_ids: the key of an integer feature in the model's input dict that identifies each
        sample (recorded with the samples besides their fingerprints).
      quantile_probs, num_bins: layout of the distribution summaries (see ``metadata``).
    """

    def __init__(self, log_dir, *, every=1, distributions=True, validation=True,
                 flush_secs=10.0, additive_metrics=(), samples=8, sample_ids=None,
                 quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError("BatchStats: every must be a positive int, got %r" % (every,))
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 0:
            raise ValueError("BatchStats: samples must be an int >= 0, got %r" % (samples,))
        self.samples = samples
        self.sample_ids = sample_ids
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
        self._off = False  # this fit or evaluate records nothing (an unsupported strategy)
        self._epoch = -1  # the epoch of the fit under way
        self._training_started = False  # the fit's first step is numbered (at its first epoch)
        self._warned = set()
        self._step_lock = threading.RLock()  # held while the model's function runs, and by drains
        self._writer_lock = threading.RLock()  # held by flushes and by the replacement of a writer
        self._flusher = None  # the event_writer.Flusher while a fit or evaluate records
        self._reopen_due = False  # a writer failed: replace it on the main thread
        self._guarded = []  # the CallbackLists whose hooks restore the model on an exception
        self._entry_frame = None  # the frame of the fit (or evaluate) that records now
        # Flush at exit too: an exception in fit() skips on_train_end.
        atexit.register(_flush_if_alive, weakref.ref(self))

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._check_alone()
        self._off = self._unsupported()
        if self._off:
            return
        self._in_fit = True
        self._training_started = False
        self._recorder(TRAIN)
        self._install(TRAIN)
        self._begin_recording()

    def on_epoch_begin(self, epoch, logs=None):
        if self._off:
            return
        self._epoch = epoch
        if not self._training_started:
            # The fit's first step is numbered now, when the training state is final: other
            # callbacks restore it in their on_train_begin (BackupAndRestore: weights, optimizer
            # and epoch), before or after ours.
            self._training_started = True
            self._start_training(self._recorders[TRAIN], epoch)

    def on_test_begin(self, logs=None):
        if not self._in_fit:  # a standalone evaluate()
            self._check_alone()
            self._off = self._unsupported()
        if self.validation and not self._off:
            self._start_evaluation(self._recorder(VALIDATION))
            self._install(VALIDATION)
            self._begin_recording()

    def on_test_end(self, logs=None):
        if self._off:
            return
        if not self._in_fit:  # a standalone evaluate(): leave the model as it was
            self._uninstall(VALIDATION)
        if VALIDATION in self._recorders:
            recorder = self._recorders[VALIDATION]
            numbering.ledger(recorder.logdir).advance(int(recorder.step.numpy()))
        self.flush()
        self._end_evaluation()

    def on_epoch_end(self, epoch, logs=None):
        if self._off:
            return
        step, counter = self._note_position()
        self._write_marker(TRAIN, metadata.KIND_EPOCH, step, [counter, epoch])
        self.flush()
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._warn_once("nonfinite-%d" % epoch,
                            "BatchStats: the loss of epoch %d is not finite; the steps with "
                            "NaN/Inf losses are recorded as such under %s"
                            % (epoch, os.path.join(self.log_dir, TRAIN)))

    def on_train_end(self, logs=None):
        if self._off:
            return
        self._in_fit = False
        self._note_position()
        self._uninstall(TRAIN)
        self._uninstall(VALIDATION)
        self.flush()
        self._end_recording()

    def flush(self):
        """Writes the staged distributions and flushes the event files. A failing write never
        raises: it is warned about once, and recording goes on in a new event file as soon as
        writes succeed again (``event_writer``)."""
        self._flush(reopen=True)

    # Faults: exceptions in fit, write errors, pauses -------------------------------------------

    def _flush_in_background(self):
        """The Flusher's flush, every flush_secs. A writer to replace is replaced on the main
        thread (at the next call of the model's function, or the next flush there), so that it
        never changes under the markers that thread writes."""
        self._flush(reopen=False)

    def _flush(self, reopen):
        # A drain must not dequeue while a step does: it waits for the call of the model's
        # function under way. The flusher does not wait for a long one (or a trace): it flushes
        # the writers, and the steps write their staged rows when due (staging.MAX_DELAY_SECS).
        if self._step_lock.acquire(timeout=-1 if reopen else _DRAIN_WAIT_SECS):
            try:
                for recorder in list(self._recorders.values()):
                    if recorder.stage is not None:
                        recorder.stage.drain()
            finally:
                self._step_lock.release()
        with self._writer_lock:
            for recorder in list(self._recorders.values()):
                events = recorder.events
                if events.flush() is not None or not events.on_disk:
                    self._warn_once("write-fault", (
                        "BatchStats: writing events to %s failed (%s); training goes on. Recording "
                        "goes on in a new event file as soon as writes succeed again; the events "
                        "that could not be written are lost.")
                        % (events.path or events.logdir, event_writer.describe(events.fault)))
                    self._reopen_due = True
            if reopen and self._reopen_due:
                self._reopen_writers()

    def _reopen_writers(self):
        """Replaces failed writers (on the main thread, with no step running; the caller holds
        the writer lock)."""
        self._reopen_due = False
        for recorder in self._recorders.values():
            events = recorder.events
            if events.fault is not None or not events.on_disk:
                if events.reopen():
                    _LOG.info("BatchStats: writing to %s again", events.path or events.logdir)

    def _begin_recording(self):
        """At the start of a fit or an evaluate: from now on the event files are flushed every
        flush_secs, and an exception raised anywhere in the fit or evaluate (in its steps, in
        another callback) restores the model and writes what was recorded before it propagates.
        Keras' fit has no try/finally around its callbacks: the CallbackList calling this hook is
        found on the stack and its hooks are guarded."""
        if self._flusher is None:
            self._flusher = event_writer.Flusher(self, self.flush_secs)
        owner, entry = _calling_callback_list(self)
        if owner is not None and not any(owner is g for g in self._guarded):
            for name in _GUARDED_HOOKS:
                if name not in owner.__dict__:
                    setattr(owner, name, _AbortOnException(self, getattr(owner, name)))
            self._guarded.append(owner)
            self._entry_frame = entry

    def _end_evaluation(self):
        if not self._in_fit:  # a standalone evaluate()
            self._end_recording()

    def _end_recording(self):
        """At the end of a fit or a standalone evaluate, or when an exception ends it: the
        flusher stops and everything recorded is written."""
        for owner in self._guarded:
            for name in _GUARDED_HOOKS:
                hook = owner.__dict__.get(name)
                if isinstance(hook, _AbortOnException) and hook.callback is self:
                    del owner.__dict__[name]
        self._guarded = []
        self._entry_frame = None
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None
        self.flush()

    def _abort(self):
        """An exception ends the fit or evaluate: the model runs its own steps again right away,
        and what was recorded up to the exception is written (then the exception propagates)."""
        if self._in_fit:
            self._note_position()
        self._in_fit = False
        self._uninstall(TRAIN)
        self._uninstall(VALIDATION)
        self._end_recording()

    def _before_keras_builds(self, mode, caller):
        """Keras is about to get the model's train or test function (``make_*_function``, at the
        start of every fit and evaluate) while ours is installed. For a fit or evaluate this
        callback is not part of, the model must run its own step: either ours is left over from a
        fit that an exception ended outside the guarded hooks (restore everything), or another
        callback evaluates the model inside our fit (restore the test step; validation
        reinstalls it)."""
        callbacks = caller.f_locals.get("callbacks") if caller is not None else None
        if isinstance(callbacks, keras.callbacks.CallbackList) and any(c is self for c in callbacks.callbacks):
            return
        if mode == VALIDATION and _on_stack(self._entry_frame, caller):
            self._uninstall(VALIDATION)
        else:
            self._abort()

    # Step numbering (numbering.py) ------------------------------------------------------------

    def _start_training(self, recorder, epoch):
        """Sets the training step counter where this fit continues (see numbering) and marks it."""
        ledger = numbering.ledger(recorder.logdir)
        counter = numbering.optimizer_batches(self.model.optimizer)
        recorded = ledger.next_step
        start, supersedes = ledger.training_start(counter)
        if supersedes:
            warnings.warn("BatchStats: the model's optimizer is at batch %d, which is step %d of the "
                          "%d steps recorded in %s, so training resumes at step %d: the steps >= %d "
                          "recorded there are superseded by the new ones"
                          % (counter, start, recorded, recorder.logdir, start, start), stacklevel=3)
        recorder.step.assign(start)
        ledger.advance(start)
        ledger.note_counter(start, counter)
        self._write_marker(TRAIN, metadata.KIND_FIT, start, [counter, epoch])

    def _note_position(self):
        """At an epoch's end and the fit's: the ledger learns where the steps continue and the
        optimizer's batch counter there, so a later fit in this process continues after the
        batches that ran, also when the optimizer skipped some (loss scaling). (step, counter)."""
        recorder = self._recorders[TRAIN]
        step, counter = int(recorder.step.numpy()), numbering.optimizer_batches(self.model.optimizer)
        if self._training_started:
            ledger = numbering.ledger(recorder.logdir)
            ledger.advance(step)
            ledger.note_counter(step, counter)
        return step, counter

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
                self._recorders[mode] = _Recorder(os.path.join(self.log_dir, mode))
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
        self._recorder(mode)
        self._hook_make_functions(model)
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
        make = getattr(model, "make_train_function" if mode == TRAIN else "make_test_function")
        try:
            getattr(make, "original", make)(force=True)
        finally:
            if jit:
                model.jit_compile = True
        setattr(model, attr, _GuardedFunction(self, getattr(model, attr)))
        self._installed[mode] = getattr(model, attr)
        self._built[mode] = (key, wrapped, self._installed[mode])

    def _uninstall(self, mode):
        if mode not in self._installed:
            return
        del self._installed[mode]
        step_name = "train_step" if mode == TRAIN else "test_step"
        keep = []
        for obj, name, original in reversed(self._patches):  # the latest patch first
            if name == step_name or (not self._installed and name in _MAKE_FUNCTIONS.values()):
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

    def _hook_make_functions(self, model):
        """Stand-ins for make_train_function/make_test_function while installed
        (``_before_keras_builds``)."""
        for mode, name in _MAKE_FUNCTIONS.items():
            if not isinstance(model.__dict__.get(name), _MakeFunctionHook):
                self._patches.append((model, name, model.__dict__.get(name, _ABSENT)))
                setattr(model, name, _MakeFunctionHook(self, mode, getattr(model, name)))

    # Helpers ----------------------------------------------------------------------------------

    def _check_alone(self):
        """One BatchStats records a model at a time: with several in one fit or evaluate, each
        would take the step from the one before, so this one stops it before anything starts."""
        owner, _ = _calling_callback_list(self)
        others = [c for c in (owner.callbacks if owner is not None else ())
                  if isinstance(c, BatchStats) and c is not self]
        if others:
            raise ValueError(
                "BatchStats: this fit or evaluate has %d BatchStats callbacks (log_dirs %s); one "
                "BatchStats records a model at a time. Pass one: its log_dir holds every step, and "
                "tb_batch_plugin.load reads any subset of them (e.g. every 3rd step)."
                % (len(others) + 1, ", ".join(repr(c.log_dir) for c in [self] + others)))

    def _unsupported(self):
        """A reason (warned about once) why this model's fit or evaluate records nothing, or
        False. Under a strategy that keeps one copy of the metric state for all replicas
        (CentralStorageStrategy, ParameterServerStrategy), no batch's own value can be read, and
        zeroing the state would change what Keras reports."""
        strategy = self.model.distribute_strategy
        if strategy.num_replicas_in_sync < 2:
            return False
        shared = [m.name for m in _leaf_metrics(self.model.metrics) for v in m.variables
                  if not isinstance(_tf_variable(v), tf.distribute.DistributedValues)]
        if not shared:
            return False
        self._warn_once("strategy", "BatchStats: %s keeps one copy of the metric state for all "
                        "replicas (e.g. of the metric %r); BatchStats records nothing under it and leaves the "
                        "model as it is (MirroredStrategy, MultiWorkerMirroredStrategy and "
                        "OneDeviceStrategy are supported)" % (type(strategy).__name__, shared[0]))
        return True

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
_DRAIN_WAIT_SECS = 0.2  # how long the flusher waits for a call of the model's function to end
_MAKE_FUNCTIONS = {TRAIN: "make_train_function", VALIDATION: "make_test_function"}


class _Recorder:
    """The writer and the step counter of one run (train or validation)."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.events = event_writer.RunWriter(logdir)  # flushed by BatchStats' Flusher only
        self.writer = self.events.writer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                name="tb_batch_step", synchronization=tf.VariableSynchronization.ON_WRITE,
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.stage = None  # the DistributionStage of the current build of the step


class _Capture:
    """What the original step showed us while it was being traced (symbolic tensors)."""

    def __init__(self, states=None):
        self.states = states  # the _MetricStates of this trace of the step
        self.data = None  # the step's data: (x, y, sample_weight) as the step received it
        self.y = self.y_pred = self.sample_weight = None
        self.applies = []  # per optimizer.apply: (name, optimizer, gradients, learning rate, loss scale)
        self.applying = False  # inside an apply (a LossScaleOptimizer's inner apply is not another)
        self.after_compute_loss = None  # called after model.compute_loss
        self.loss_calls = {}  # id(compiled Loss) -> [(y_true, y_pred, unreduced losses)] per call


# The capture of the step this thread traces now. Per thread: a distribution strategy traces each
# replica's step in a thread of its own, interleaved at every merge_call (the optimizer's), and
# each replica has its own capture and metric state.
_ACTIVE = threading.local()


def _active_capture():
    return getattr(_ACTIVE, "capture", None)


class _StandIns:
    """The stand-ins on shared objects (the model, its losses, optimizers and metrics) while any
    thread traces a step: set by the first thread that needs one, removed when the last is done
    with it. They find the state of the calling thread's trace themselves (``_active_capture``),
    so replicas traced side by side never see each other's."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held = {}  # (id(obj), name) -> [obj, holders, what obj.__dict__ had before]

    def hold(self, obj, name, make):
        """Puts ``make(current attribute)`` on ``obj`` unless a stand-in is there already."""
        with self._lock:
            entry = self._held.get((id(obj), name))
            if entry is None:
                entry = self._held[(id(obj), name)] = [obj, 0, obj.__dict__.get(name, _ABSENT)]
                setattr(obj, name, make(getattr(obj, name)))
            entry[1] += 1

    def release(self, obj, name):
        with self._lock:
            entry = self._held[(id(obj), name)]
            entry[1] -= 1
            if entry[1] == 0:
                del self._held[(id(obj), name)]
                if entry[2] is _ABSENT:
                    obj.__dict__.pop(name, None)
                else:
                    setattr(obj, name, entry[2])


_STAND_INS = _StandIns()


@contextlib.contextmanager
def _capturing(model, cap, additive_metrics):
    """While the original step is traced: stand-ins on the instances for ``model.compute_loss``,
    the compiled losses' ``call``, the ``apply`` of every optimizer the model holds and the
    ``result`` of every additive metric (``additive_metrics()`` lists them). They are removed as
    soon as the trace of the step ends (whatever happens), so nothing of them is ever left on the
    model."""
    states = cap.states
    held = []

    def hold(obj, name, make):
        _STAND_INS.hold(obj, name, make)
        held.append((obj, name))

    def adopt_built_metrics():
        # Without a strategy Keras builds its compiled metrics and per-output loss trackers in
        # the first step (its first trace, or its first eager run): built here from the same
        # targets and predictions, they start from zeros in this step, so they hold this batch
        # alone, and their results are read through the stand-in too.
        compile_metrics = getattr(model, "_compile_metrics", None)
        if compile_metrics is not None and not compile_metrics.built and cap.y is not None:
            compile_metrics.build(cap.y, cap.y_pred)
        for metric in states.adopt(additive_metrics()):
            hold(metric, "result", lambda original, m=metric: _ResultAfterRestore(m, original))

    cap.after_compute_loss = adopt_built_metrics

    hold(model, "compute_loss", _CaptureComputeLoss)
    for _, loss_fn, _, _ in _flat_losses(model):
        if hasattr(loss_fn, "call"):
            hold(loss_fn, "call", lambda original, f=loss_fn: _CaptureLossCall(f, original))
    for name, optimizer in _optimizers(model):
        hold(optimizer, "apply", lambda original, o=optimizer, n=name: _CaptureApply(o, n, original))
    for metric in states.metrics:
        hold(metric, "result", lambda original, m=metric: _ResultAfterRestore(m, original))
    previous, _ACTIVE.capture = _active_capture(), cap
    try:
        yield
    finally:
        _ACTIVE.capture = previous
        for obj, name in reversed(held):
            _STAND_INS.release(obj, name)


class _CaptureComputeLoss:
    """Stands in for model.compute_loss: records its inputs during tracing, then calls it."""

    def __init__(self, original):
        self.original = original

    def __call__(self, *args, **kwargs):
        cap = _active_capture()
        if cap is not None:
            names = ("x", "y", "y_pred", "sample_weight")
            bound = dict(zip(names, args))
            bound.update({k: v for k, v in kwargs.items() if k in names})
            cap.y, cap.y_pred = bound.get("y"), bound.get("y_pred")
            cap.sample_weight = bound.get("sample_weight")
        loss = self.original(*args, **kwargs)
        if cap is not None and cap.after_compute_loss is not None:
            cap.after_compute_loss()
        return loss


class _CaptureLossCall:
    """Stands in for a compiled Keras Loss's ``call``: keeps the targets and predictions Keras
    paired for it (whatever structure the targets came in) and its unreduced output, so the
    per-sample losses need not be computed a second time."""

    def __init__(self, loss_fn, original):
        self.key = id(loss_fn)
        self.original = original

    def __call__(self, y_true, y_pred):
        losses = self.original(y_true, y_pred)
        cap = _active_capture()
        if cap is not None:
            cap.loss_calls.setdefault(self.key, []).append((y_true, y_pred, losses))
        return losses


class _CaptureApply:
    """Stands in for an optimizer's ``apply`` (which ``apply_gradients`` calls): records the
    gradients (before clipping), the learning rate and the loss scale of every call."""

    def __init__(self, optimizer, name, original):
        self.optimizer = optimizer
        self.name = name
        self.original = original

    def __call__(self, grads, trainable_variables=None):
        cap = _active_capture()
        if cap is None or cap.applying:
            return self.original(grads, trainable_variables)
        grads = list(grads)
        scale = getattr(self.optimizer, "dynamic_scale", None)  # LossScaleOptimizer
        cap.applies.append((self.name, self.optimizer, [g for g in grads if g is not None],
                            tf.cast(self.optimizer.learning_rate, tf.float32),
                            None if scale is None else tf.cast(scale, tf.float32)))
        cap.applying = True
        try:
            return self.original(grads, trainable_variables)
        finally:
            cap.applying = False


class _ResultAfterRestore:
    """Stands in for an additive metric's ``result`` while the step is traced (``_MetricStates``
    of the calling thread's trace; the metric's own result where that does not track it)."""

    def __init__(self, metric, original):
        self.metric = metric
        self.original = original

    def __call__(self):
        cap = _active_capture()
        if cap is None or not cap.states.tracks(self.metric):
            return self.original()
        return cap.states.result(self.metric, self.original)


class _MetricStates:
    """The state of the additive metrics within one traced step.

    Before the original step it is snapshotted and zeroed, so the metrics then hold this batch
    alone. The first time the step reads a metric's result, the result of that batch state is
    kept (with several replicas: of the state summed over them, as Keras reads a metric) and the
    snapshot is added back; the step then gets the result of the restored state. So whatever the
    step returns (Keras' own logs, a custom step's dict of results, arithmetic on them) and the
    state after the step are those of a run without BatchStats. Metrics whose result the step
    does not read are restored after it (``restore_unread``).
    """

    def __init__(self, metrics, replicas):
        self.metrics = []
        self._replicas = replicas  # several replicas: a batch result is of the summed state
        self._state, self._snapshot = {}, {}
        self._batch = {}  # id(metric) -> the result of its batch state
        self._leaves = {}  # id(a result the step got) -> the batch value of it
        self._kept = []  # those results, alive (their ids stay theirs) while the step is traced
        claimed = set()
        for metric in metrics:
            # The tf.Variables under Keras' variables: one op per read, zeroing and restoring
            # each (Keras' own assign_add is a read, an add and an assign).
            state = [v for v in (_tf_variable(v) for v in metric.variables) if id(v) not in claimed]
            claimed.update(id(v) for v in state)
            self.metrics.append(metric)
            self._state[id(metric)] = state
            self._snapshot[id(metric)] = [v.value() for v in state]
        zeros = {}
        for state in self._state.values():
            for v in state:
                if v.shape.is_fully_defined():
                    key = (tuple(v.shape), v.dtype)
                    if key not in zeros:
                        zeros[key] = tf.zeros(v.shape, v.dtype)
                    v.assign(zeros[key], read_value=False)
                else:
                    v.assign(tf.zeros_like(v), read_value=False)

    def result(self, metric, original):
        """The metric's result as the step would get it without BatchStats."""
        key = id(metric)
        if key not in self._batch:
            self._batch[key] = self._batch_result(key, original)
            self._restore(key)
        running = original()
        for leaf, batch in zip(tf.nest.flatten(running), tf.nest.flatten(self._batch[key])):
            self._leaves[id(leaf)] = batch
            self._kept.append(leaf)
        return running

    def tracks(self, metric):
        return id(metric) in self._state

    def batch_value(self, value):
        """This batch's value of something the step returned, if it is a result read through
        ``result``; else None."""
        return self._leaves.get(id(value))

    def adopt(self, metrics):
        """Takes in the metrics among ``metrics`` created in this step (from zeros: they hold
        this batch alone, there is nothing to restore); returns them."""
        new = [m for m in metrics if id(m) not in self._state]
        for metric in new:
            self.metrics.append(metric)
            self._state[id(metric)] = [_tf_variable(v) for v in metric.variables]
            self._snapshot[id(metric)] = [None] * len(self._state[id(metric)])
        return new

    def restore_unread(self):
        for metric in self.metrics:
            if id(metric) not in self._batch:
                self._batch[id(metric)] = None
                self._restore(id(metric))

    def _batch_result(self, key, original):
        if not self._replicas:
            return tf.nest.map_structure(_read, original())
        state = self._state[key]
        local = [v.value() for v in state]
        # The context of the moment: a merge_call (the optimizer's) replaces the replica's.
        replica_ctx = tf.distribute.get_replica_context()
        for v, s in zip(state, replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, local) if state else []):
            v.assign(s, read_value=False)
        result = tf.nest.map_structure(_read, original())
        for v, value in zip(state, local):
            v.assign(value, read_value=False)
        return result

    def _restore(self, key):
        for v, s in zip(self._state[key], self._snapshot[key]):
            if s is not None:
                v.assign_add(s, read_value=False)


class _GuardedFunction:
    """The model's train/test function while BatchStats is installed: Keras' function with our
    step, run under the callback's step lock (the flusher's drain never overlaps a step). Any
    exception but the end of the data restores the model and writes what was recorded before it
    propagates. Python per call of the function, not per step inside it."""

    def __init__(self, callback, function):
        self.callback = callback
        self.function = function

    def __call__(self, *args, **kwargs):
        cb = self.callback
        try:
            with cb._step_lock:
                if cb._reopen_due:
                    with cb._writer_lock:
                        cb._reopen_writers()
                return self.function(*args, **kwargs)
        except (StopIteration, tf.errors.OutOfRangeError):
            raise
        except BaseException:
            cb._abort()
            raise


class _AbortOnException:
    """A CallbackList hook that restores the model (``BatchStats._abort``) on any exception."""

    def __init__(self, callback, hook):
        self.callback = callback
        self.hook = hook

    def __call__(self, *args, **kwargs):
        try:
            return self.hook(*args, **kwargs)
        except BaseException:
            self.callback._abort()
            raise


class _MakeFunctionHook:
    """Stands in for ``model.make_train_function``/``make_test_function`` while BatchStats is
    installed (``BatchStats._before_keras_builds``)."""

    def __init__(self, callback, mode, original):
        self.callback = callback
        self.mode = mode
        self.original = original

    def __call__(self, force=False):
        self.callback._before_keras_builds(self.mode, sys._getframe(1))
        return self.original(force)


_GUARDED_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                  "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
                  "on_train_end")


def _calling_callback_list(callback, depth=8):
    """(the Keras CallbackList that is calling a hook of ``callback``, the frame of the fit or
    evaluate that called it), found on the stack; (None, None) when there is none."""
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList) and any(c is callback for c in owner.callbacks):
            return owner, frame.f_back
        frame = frame.f_back
    return None, None


def _on_stack(frame, top):
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False


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
        self.sample_layout = None  # what the step's samples record (set when it is traced)
        self._compiled = tf.function(self._compiled_step, jit_compile=True, reduce_retracing=True) if jit else None

    def __call__(self, data):
        every = self.callback.every
        if self.jit:  # XLA runs the step and collects the values; summaries are written outside
            logs, scalars, dists, sample_values, step, first = self._compiled(data)
            samples = self._samples(sample_values, _inputs(data), None)  # fingerprints outside XLA
            self._write(scalars, dists, samples, step, _all(_every_nth(step, every), first), first is None)
            return logs
        logs, scalars, cap, replica_ctx, step = self._step(data)
        first = _first_replica(replica_ctx)
        every_nth = _every_nth(step, every)
        if every_nth is None or first is not None:
            # Every step, or several replicas: their collectives (gradient sum, gathering the
            # values) cannot sit in a conditional that only some replicas take.
            scalars, dists, samples = self._values(scalars, cap, replica_ctx)
            self._write(scalars, dists, samples, step, _all(every_nth, first), first is None)
        else:  # every N-th step: nothing is computed on the others
            def record():
                self._write(*self._values(scalars, cap, None), step, None, True)
                return tf.constant(True)

            self._cond(every_nth, record, lambda: tf.constant(False))
        return logs

    def _compiled_step(self, data):
        logs, scalars, cap, replica_ctx, step = self._step(data)
        scalars, dists, _ = self._values(scalars, cap, replica_ctx, samples=False)
        sample_values = self._sample_values(cap) if self.callback.samples else None
        return logs, scalars, dists, sample_values, step, _first_replica(replica_ctx)

    def _step(self, data):
        """Runs the original step between the zeroing of the metric state and its restoration
        (``_MetricStates``).

        Returns Keras' logs (those of a run without BatchStats), this batch's values of them,
        what the step showed us (``_Capture``), the replica context when there are several
        replicas, and the step.
        """
        cb = self.callback
        model = cb.model
        replicas = tf.distribute.get_replica_context()
        states = _MetricStates(cb._metric_partition()[0], replicas is not None and replicas.num_replicas_in_sync > 1)
        built = _metric_variable_count(model)
        cap = _Capture(states)
        cap.data = data
        with _capturing(model, cap, lambda: cb._metric_partition()[0]):
            logs = self.original_step(data)
        states.restore_unread()
        # A trace that creates metric variables is not the one TensorFlow runs (it traces the step
        # again once they exist): no warnings about its logs.
        scalars = self._log_values(logs, states, quiet=_metric_variable_count(model) != built)

        replica_ctx = tf.distribute.get_replica_context()
        if replica_ctx is None or replica_ctx.num_replicas_in_sync < 2:
            replica_ctx = None

        step = self.recorder.step.value()
        self.recorder.step.assign_add(1, read_value=False)
        return logs, scalars, cap, replica_ctx, step

    def _log_values(self, logs, states, quiet=False):
        """{name: this batch's value} of every numeric log the step returned, named as in
        Keras' flattened logs (a vector per component: ``name/0``, ...). A log that is not the
        result of an additive metric is recorded as the step reported it; those are named in
        ``self.reported`` (written with provenance REPORTED) and in a warning, once."""
        cb = self.callback
        if not isinstance(logs, dict):
            cb._warn_once("logs", "BatchStats: the %s step returned %s, not a dict of logs; only "
                          "learning_rate, grad_norm and distributions are recorded" % (self.mode, type(logs)))
            self.reported = frozenset()
            return {}
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
        self.reported = frozenset(reported)
        if quiet:
            return out
        if reported_logs:
            cb._warn_once("reported-%s" % self.mode, (
                "BatchStats: %s recorded as the %s step reports them (provenance 'reported', e.g. "
                "a mean over the epoch so far), not as each batch's own value: they are not results "
                "of metrics with additive state. Pass additive_metrics=[...] for user metrics that "
                "only keep sums.") % (sorted(reported_logs), self.mode))
        if skipped:
            cb._warn_once("skipped-%s" % self.mode, "BatchStats: the logs %s of the %s step are not "
                          "numbers of a known shape; they are not recorded" % (sorted(skipped), self.mode))
        return out

    def _values(self, scalars, cap, replica_ctx, samples=True):
        """All scalars, the raw values of the distributions, and the samples (a SampleLayout and
        the step's columns of it, or None) of the step."""
        if self.mode == TRAIN:
            scalars = {**scalars, **self._optimizer_scalars(cap, replica_ctx)}
        dists = self._distribution_values(cap, replica_ctx) if self.callback.distributions else {}
        if not (samples and self.callback.samples):
            return scalars, dists, None
        return scalars, dists, self._samples(self._sample_values(cap), _inputs(cap.data), replica_ctx)

    def _sample_values(self, cap):
        """What the step's samples are made of: the sample losses, ids, and per output (its own
        loss, y_true, y_pred); None without per-sample losses. Their layout (samples.SampleLayout,
        not a tensor: an XLA-compiled step returns only tensors) is kept in ``sample_layout``."""
        cb = self.callback
        if cap.y_pred is None:
            return None
        outputs, single = _output_losses(cb, cap)
        if not outputs:
            return None
        total, described, per_output = None, [], []
        for name, loss_fn, y_true, y_pred, values, mask, loss_weight in outputs:
            loss = _loss_per_sample(values, mask)
            if loss_weight is not None:
                loss = loss * loss_weight
            total = loss if total is None else total + loss
            kind, classes, from_logits = _output_kind(loss_fn, y_pred)
            described.append(("" if single else "/" + name, kind, classes, from_logits))
            per_output.append((loss, y_true, y_pred))
        ids = None
        if cb.sample_ids is not None:
            x = _inputs(cap.data)
            if isinstance(x, dict) and cb.sample_ids in x:
                ids = tf.reshape(x[cb.sample_ids], [-1])
            else:
                cb._warn_once("sample-ids", "BatchStats: sample_ids=%r is not a key of the model's "
                              "input dict; samples are identified by fingerprints only" % (cb.sample_ids,))
        self.sample_layout = SampleLayout(cb.samples, described, ids is not None, len(outputs) > 1)
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

    def _optimizer_scalars(self, cap, replica_ctx):
        """``learning_rate`` and ``grad_norm`` of the optimizer that applied gradients in the step;
        of several, ``learning_rate/<name>`` and ``grad_norm/<name>`` each (named by the model's
        attribute that holds it; its gradients of all its applies in the step together)."""
        by_optimizer = {}
        for name, optimizer, grads, learning_rate, loss_scale in cap.applies:
            entry = by_optimizer.setdefault(id(optimizer), (name, learning_rate, loss_scale, []))
            entry[3].extend(grads)
        if not by_optimizer:
            self.callback._warn_once("no-apply", "BatchStats: the train step applied no gradients "
                                     "through an optimizer held by the model (model.optimizer or an "
                                     "attribute of it); learning_rate and grad_norm are not recorded")
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

    def _distribution_values(self, cap, replica_ctx):
        cb = self.callback
        out = {}
        if cap.y_pred is None:
            cb._warn_once("no-capture", "BatchStats: the train/test step did not call "
                          "model.compute_loss; per_sample_loss and predictions are not recorded")
            return out
        outputs = _named_outputs(cb.model, cap.y_pred)
        for name, y_pred in outputs:
            key = "predictions" if len(outputs) == 1 else "predictions/%s" % name
            out[key] = flat_float32(_unmasked(y_pred, _get_keras_mask(y_pred)))
        for name, values in _per_sample_losses(cb, cap).items():
            out[name] = values
        if replica_ctx is not None:
            out = {k: replica_ctx.all_gather(v, axis=0) for k, v in out.items()}
        return out

    def _write(self, scalars, dists, samples, step, record, staged):
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
            if (dists or samples) and staged:
                self.stage.append(step, dists, samples)
                return tf.constant(True)
            if dists:
                stats = _summarize(dists, cb)
                histograms = histogram_rows(stats, len(cb.quantile_probs), cb.num_bins)
                for i, name in enumerate(dists):
                    gen_summary_ops.write_summary(resource, step, stats[i], metadata.distribution_tag(name), dist_md)
                    gen_summary_ops.write_summary(resource, step, histograms[i], name, histogram_md)
            if samples:  # a block of one step
                layout, columns = samples
                rows = layout.block_rows([c[tf.newaxis] for c in columns], tf.size(columns[0])[tf.newaxis])
                for tag, (row, row_md) in rows.items():
                    gen_summary_ops.write_summary(resource, step, row[0], tag, row_md)
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


def _output_losses(cb, cap):
    """The compiled loss of each output with no reduction, times the sample weight: a list of
    (output name, Loss, y_true, y_pred, unreduced losses, Keras mask of them or None, loss weight),
    and whether the model has a single compiled loss. The targets of each loss are the ones Keras
    paired with it in the step (arrays, lists, dicts keyed by output name, nested), the predictions
    the model's own output (its Keras mask). Warns (once) for losses that cannot be made
    per-sample."""
    flat = _flat_losses(cb.model)
    if not flat:
        cb._warn_once("no-compile-loss", "BatchStats: no compiled loss; per_sample_loss is not recorded")
        return [], True
    build = getattr(cb.model._compile_loss, "_y_pred_build_structure", None)
    calls_taken = {}
    out = []
    for path, loss_fn, loss_weight, name in flat:
        n = calls_taken[id(loss_fn)] = calls_taken.get(id(loss_fn), -1) + 1
        calls = cap.loss_calls.get(id(loss_fn), ())
        y_t, called_pred, losses = calls[n] if n < len(calls) else (None, None, None)
        y_p = _output(cap.y_pred, path, build, len(flat))
        if y_p is None:
            y_p = called_pred
        if y_t is None and y_p is not None:  # not called in the step: the targets by their path
            y_t = _output(cap.y, path, build, len(flat))
        sw = cap.sample_weight
        try:
            s_w = _resolve(sw, path) if tf.nest.is_nested(sw) else sw
        except (KeyError, IndexError, TypeError):
            s_w = y_t = None
        if y_t is None or y_p is None:
            cb._warn_once("targets-%s" % name,
                          "BatchStats: the targets of the loss %r could not be matched with the "
                          "model's output; its per_sample_loss and samples are not recorded" % (name,))
            continue
        values = _weighted(loss_fn, losses, s_w)
        if values is None:  # not seen in the step: compute it again
            values = _unreduced(loss_fn, y_t, y_p, s_w)
        if values is None or values.shape.rank == 0:
            cb._warn_once("reduce-%s" % name,
                          "BatchStats: the loss %r cannot be made per-sample (it does not support "
                          "reduction=None or returns a scalar); per_sample_loss is not recorded for it"
                          % (getattr(loss_fn, "name", None) or name,))
            continue
        out.append((name, loss_fn, y_t, y_p, values, _loss_mask(y_p, losses), loss_weight))
    return out, len(flat) == 1


def _output(structure, path, build, num_losses):
    """The part of a step's predictions (or targets) that a compiled loss with this path gets,
    as Keras finds it: by the path, in the structure Keras built the losses for when the
    predictions come in another one, the only leaf for a single loss; None if none."""
    if structure is None:
        return None
    try:
        return _resolve(structure, path)
    except (KeyError, IndexError, TypeError):
        pass
    leaves = tf.nest.flatten(structure)
    if build is not None:
        try:
            return _resolve(keras.tree.pack_sequence_as(build, leaves), path)
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return leaves[0] if num_losses == 1 and len(leaves) == 1 else None


def _per_sample_losses(cb, cap):
    """The compiled loss of each output with no reduction, times the sample weight, at the
    positions its Keras mask keeps (all positions without a mask): their mean is the step's loss
    without regularization, as Keras' ``sum_over_batch_size`` averages over unmasked positions."""
    outputs, single = _output_losses(cb, cap)
    out = {}
    for name, _, _, _, values, mask, loss_weight in outputs:
        values = flat_float32(_unmasked(values, mask))
        if loss_weight is not None:
            values = values * loss_weight
        out["per_sample_loss" if single else "per_sample_loss/%s" % name] = values
    return out


def _loss_per_sample(values, mask):
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


def _output_kind(loss_fn, y_pred):
    """(kind, classes, from_logits) of one output for its samples' columns (samples.SampleLayout):
    'sparse', 'categorical' or 'binary' for a classification output with one prediction per sample,
    'regression' for one value per sample, None for others (sequences, several values)."""
    kind, from_logits = _classification(loss_fn)
    rank = y_pred.shape.rank
    last = y_pred.shape[-1] if rank else None
    if kind == "binary" and (rank == 1 or (rank == 2 and last == 1)):
        return kind, 2, from_logits
    if kind in ("sparse", "categorical") and rank == 2 and last is not None:
        return kind, int(last), from_logits
    if kind is None and (rank == 1 or (rank == 2 and last == 1)):
        return "regression", None, False
    return None, None, False


def _classification(loss_fn):
    """('sparse' | 'categorical' | 'binary' | None, from_logits) of a compiled Keras loss."""
    fn = getattr(loss_fn, "fn", None)
    name = getattr(fn, "__name__", None) or getattr(loss_fn, "name", None) or ""
    kwargs = getattr(loss_fn, "_fn_kwargs", None) or {}
    from_logits = bool(getattr(loss_fn, "from_logits", kwargs.get("from_logits", False)))
    if "sparse_categorical" in name:
        return "sparse", from_logits
    if "categorical" in name:
        return "categorical", from_logits
    if "binary" in name:
        return "binary", from_logits
    return None, from_logits


def _inputs(data):
    """The model's inputs x of a step's data (x, (x, y), (x, y, sample_weight))."""
    return keras.utils.unpack_x_y_sample_weight(data)[0]


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


def _named_outputs(model, y_pred):
    """[(name, tensor)] of the model's outputs: a flat dict's keys, else the model's output names,
    else each output's path in a nested structure (``heads/0``)."""
    if isinstance(y_pred, dict) and not any(tf.nest.is_nested(v) for v in y_pred.values()):
        return [(str(k), y_pred[k]) for k in sorted(y_pred)]
    paths = keras.tree.flatten_with_path(y_pred)
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(paths) or len(set(names)) != len(names):
        names = ["/".join(str(p) for p in path) or "0" for path, _ in paths]
    return [(name, value) for name, (_, value) in zip(names, paths)]


def _optimizers(model):
    """[(name, optimizer)]: ``model.optimizer`` and every optimizer held in a public attribute of
    the model (a GAN's ``d_optimizer`` and ``g_optimizer``; also in a list or dict), each once,
    named by the attribute that holds it (``optimizer`` only when no other does)."""
    found = {}

    def add(name, value):
        if isinstance(value, keras.optimizers.Optimizer):
            if id(value) not in found or found[id(value)][0] == "optimizer":
                found[id(value)] = (name, value)

    add("optimizer", getattr(model, "optimizer", None))
    for attr, value in list(vars(model).items()):
        if attr.startswith("_"):
            continue
        add(attr, value)
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add("%s/%d" % (attr, i), item)
        elif isinstance(value, dict):
            for key, item in value.items():
                add("%s/%s" % (attr, key), item)
    return list(found.values())


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


def _flat_logs(logs):
    """A step's logs flattened as Keras flattens them for callbacks and History (keys sorted,
    the entries of nested dicts by their own keys, a later one replacing an earlier namesake)."""
    out = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            out.update(_flat_logs(value))
        else:
            out[key] = value
    return out


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


def _metric_variable_count(model):
    return sum(len(m.variables) for m in _leaf_metrics(model.metrics))


def _read(value):
    """A result as a tensor read now (some metrics' result() is their variable itself)."""
    return value if isinstance(value, tf.Tensor) else tf.identity(value)


def _check_writable(log_dir):
    error = event_writer.write_check(log_dir)
    if error is not None:
        raise OSError("BatchStats: log_dir %r cannot be written: %s" % (log_dir, error))


def _flush_if_alive(ref):
    """At interpreter exit, writes what a fit or evaluate still under way recorded (a
    ``sys.exit`` from another callback); one whose recording ended has written everything, and
    its log_dir may be gone by now (a temporary directory)."""
    callback = ref()
    if callback is not None and callback._flusher is not None:
        try:
            callback._end_recording()
        except Exception:  # interpreter shutdown: nothing left to save it for
            pass
