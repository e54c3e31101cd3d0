"""BatchStats: a Keras callback that records the exact values of every training step.

Keras hands callbacks running means over the epoch, and with ``steps_per_execution > 1`` calls
them only every k steps. So BatchStats records inside the traced step (``step``), which it
installs on the model for the fit or evaluate (``install``); this module holds its Keras hooks
and lifecycle. On the JAX and PyTorch backends ``backend_engine`` does the recording instead, and
nothing here imports TensorFlow. docs/recording.md describes how a step is recorded and what
faults do.
"""

import atexit
import math
import os
import sys
import warnings
import weakref

import keras

from tb_batch_plugin import metadata
from tb_batch_plugin.record.guard import calling_callback_list

TRAIN, VALIDATION = "train", "validation"
_ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
if _ON_TENSORFLOW:
    from tb_batch_plugin.record import event_writer, numbering
    from tb_batch_plugin.record.install import StepInstaller
    from tb_batch_plugin.record.metric_state import shared_state_metrics
    from tb_batch_plugin.record.runs import Runs


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
      dynamics: record, for every sample of every training batch, its fingerprint (and id), loss
        and, for a classification output, its margin, p(label), label and prediction: what
        ``load(log_dir).dynamics`` and ``label_issues`` compute AUM, forgetting and the data map
        from (24 bytes per sample and step on disk; ``metadata.DYNAMICS_TAG``).
      quantile_probs, num_bins: layout of the distribution summaries (see ``metadata``).
    """

    def __init__(self, log_dir, *, every=1, distributions=True, validation=True,
                 flush_secs=10.0, additive_metrics=(), samples=8, sample_ids=None, dynamics=True,
                 quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError("BatchStats: every must be a positive int, got %r" % (every,))
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 0:
            raise ValueError("BatchStats: samples must be an int >= 0, got %r" % (samples,))
        self.samples = samples
        self.sample_ids = sample_ids
        self.dynamics = bool(dynamics)
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
        self._engine = None  # the recording on the JAX and PyTorch backends (backend_engine)
        if _ON_TENSORFLOW:
            self._runs = Runs(self.log_dir, self.flush_secs, self._warn_once)  # writers and flushing
            self._installer = StepInstaller(self, self._runs, self._abort)  # our step on the model
        else:
            from tb_batch_plugin.record.backend_engine import BackendEngine
            self._engine = BackendEngine(self)
        self._in_fit = False
        self._off = False  # this fit or evaluate records nothing (an unsupported strategy)
        self._epoch = -1  # the epoch of the fit under way
        self._training_started = False  # the fit's first step is numbered (at its first epoch)
        self._warned = set()
        # Flush at exit too: an exception in fit() skips on_train_end.
        atexit.register(_flush_if_alive, weakref.ref(self))

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._engine is not None:
            self._check_alone()
            return self._engine.on_train_begin(sys._getframe(1))
        self._check_alone()
        self._off = self._unsupported()
        if self._off:
            return
        self._in_fit = True
        self._training_started = False
        self._recorder(TRAIN)
        self._installer.install(TRAIN)
        self._begin_recording()

    def on_epoch_begin(self, epoch, logs=None):
        if self._engine is not None:
            return self._engine.on_epoch_begin(epoch)
        if self._off:
            return
        self._epoch = epoch
        if not self._training_started:
            # The fit's first step is numbered now, when the training state is final: other
            # callbacks restore it in their on_train_begin (BackupAndRestore: weights, optimizer
            # and epoch), before or after ours.
            self._training_started = True
            self._runs.reopen_if_due()  # a marker is to be written: not to a writer that failed
            numbering.start_training(self._runs[TRAIN], self.model.optimizer, epoch)

    def on_test_begin(self, logs=None):
        if self._engine is not None:
            if not self._engine.in_fit:
                self._check_alone()
            return self._engine.on_test_begin(sys._getframe(1)) if self.validation else None
        if not self._in_fit:  # a standalone evaluate()
            self._check_alone()
            self._off = self._unsupported()
        if self.validation and not self._off:
            self._start_evaluation(self._recorder(VALIDATION))
            self._installer.install(VALIDATION)
            self._begin_recording()

    def on_test_end(self, logs=None):
        if self._engine is not None:
            return self._engine.on_test_end() if self.validation else None
        if self._off:
            return
        if not self._in_fit:  # a standalone evaluate(): leave the model as it was
            self._installer.uninstall(VALIDATION)
        if VALIDATION in self._runs:
            numbering.end_evaluation(self._runs[VALIDATION])
        # in a fit, the epoch's end right after writes and flushes it: no second flush here
        if not self._in_fit:
            self._end_recording()

    def on_epoch_end(self, epoch, logs=None):
        if self._engine is not None:
            self._engine.on_epoch_end(epoch)
        elif self._off:
            return
        else:
            step, counter = self._note_position()
            self._runs.reopen_if_due()
            numbering.write_marker(self._runs[TRAIN].writer, metadata.KIND_EPOCH, step, [counter, epoch])
            self.flush()
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._warn_once("nonfinite-%d" % epoch,
                            "BatchStats: the loss of epoch %d is not finite; the steps with "
                            "NaN/Inf losses are recorded as such under %s"
                            % (epoch, os.path.join(self.log_dir, TRAIN)))

    def on_train_end(self, logs=None):
        if self._engine is not None:
            return self._engine.on_train_end()
        if self._off:
            return
        self._in_fit = False
        self._note_position()
        self._installer.uninstall(TRAIN)
        self._installer.uninstall(VALIDATION)
        self._end_recording()

    def flush(self):
        """Writes the staged distributions and flushes the event files. A failing write never
        raises: it is warned about once, and recording goes on in a new event file as soon as
        writes succeed again (``event_writer``)."""
        if self._engine is not None:
            return self._engine.flush()
        self._runs.flush(reopen=True)

    # Lifecycle: the start and end of recording, and an exception that ends it -----------------

    def _begin_recording(self):
        """At the start of a fit or an evaluate: from now on the event files are flushed every
        flush_secs, and an exception raised anywhere in the fit or evaluate (in its steps, in
        another callback) restores the model and writes what was recorded before it propagates
        (Keras' fit has no try/finally around its callbacks: ``StepInstaller.guard_hooks``)."""
        self._runs.start_flushing()
        self._installer.guard_hooks(sys._getframe(1))

    def _end_recording(self):
        """At the end of a fit or a standalone evaluate, or when an exception ends it: the
        flusher stops and everything recorded is written."""
        self._installer.unguard_hooks()
        self._runs.stop_flushing()
        self.flush()

    def _abort(self):
        """An exception ends the fit or evaluate: the model runs its own steps again right away,
        and what was recorded up to the exception is written (then the exception propagates)."""
        if self._in_fit:
            self._note_position()
        self._in_fit = False
        self._installer.uninstall(TRAIN)
        self._installer.uninstall(VALIDATION)
        self._end_recording()

    # Step numbering (numbering.py) ------------------------------------------------------------

    def _recorder(self, mode):
        return self._runs.recorder(mode, self.model.distribute_strategy)

    def _note_position(self):
        """(step, optimizer batch counter) where the training steps continue, noted in the ledger."""
        return numbering.note_position(self._runs[TRAIN], self.model.optimizer, self._training_started)

    def _start_evaluation(self, recorder):
        """Marks the evaluation with the training step it follows and the epoch."""
        if self._in_fit:
            train_step, epoch = int(self._runs[TRAIN].step.numpy()), self._epoch
        else:  # a model.evaluate(): where a fit of this model would continue
            train_dir = os.path.join(self.log_dir, TRAIN)
            train_step, epoch = numbering.next_training_step(train_dir, self.model.optimizer), -1
        self._runs.reopen_if_due()  # a marker is to be written: not to a writer that failed
        numbering.start_evaluation(recorder, train_step, epoch)

    # Checks -----------------------------------------------------------------------------------

    def _check_alone(self):
        """One BatchStats records a model at a time: with several in one fit or evaluate, each
        would take the step from the one before, so this one stops it before anything starts."""
        owner, _ = calling_callback_list(self, sys._getframe(1))
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
        shared = shared_state_metrics(self.model)
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


def _check_writable(log_dir):
    if not _ON_TENSORFLOW:
        return _check_writable_here(log_dir)
    error = event_writer.write_check(log_dir)
    if error is not None:
        raise OSError("BatchStats: log_dir %r cannot be written: %s" % (log_dir, error))


def _check_writable_here(log_dir):
    """The check of ``_check_writable`` without TensorFlow (a local directory; a probe per process,
    as the processes of a multi-process run check one log_dir at once)."""
    probe = os.path.join(log_dir, ".tb_batch_write_check.%d" % os.getpid())
    try:
        os.makedirs(log_dir, exist_ok=True)
        with open(probe, "w") as f:
            f.write("tb_batch")
        os.remove(probe)
    except OSError as e:
        raise OSError("BatchStats: log_dir %r cannot be written: %s" % (log_dir, e)) from None


def _flush_if_alive(ref):
    """At interpreter exit, writes what a fit or evaluate still under way recorded (a
    ``sys.exit`` from another callback); one whose recording ended has written everything, and
    its log_dir may be gone by now (a temporary directory)."""
    callback = ref()
    if callback is not None and callback._engine is not None:
        try:
            callback._engine.flush()
        except Exception:  # interpreter shutdown
            pass
    elif callback is not None and callback._runs.flushing:
        try:
            callback._end_recording()
        except Exception:  # interpreter shutdown: nothing left to save it for
            pass
