"""The runs BatchStats writes (``train``, ``validation``): each one's writer, step counter and
distribution stage, and their flushing, which never raises.

The write ops in a step only enqueue (``event_writer``). A flush drains the staged distributions
(never while a step runs) and writes the event files; a writer whose flush failed is replaced on
the main thread, between steps, so recording goes on as soon as writes succeed again.
"""

import logging
import os
import threading

import tensorflow as tf

from tb_batch_plugin.record import event_writer

TRAIN, VALIDATION = "train", "validation"
_LOG = logging.getLogger(__name__)
_DRAIN_WAIT_SECS = 0.2  # how long the flusher waits for a call of the model's function to end


class Recorder:
    """The writer and the step counter of one run (train or validation)."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.events = event_writer.RunWriter(logdir)  # flushed by Runs only
        self.writer = self.events.writer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                name="tb_batch_step", synchronization=tf.VariableSynchronization.ON_WRITE,
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.stage = None  # the DistributionStage of the current build of the step


class Runs:
    """The Recorders of one BatchStats by mode, the locks that keep their flushes apart from the
    steps, and the Flusher that flushes them every ``flush_secs`` while a fit or evaluate records.
    ``warn_once(key, message)`` warns about a failing write."""

    def __init__(self, log_dir, flush_secs, warn_once):
        self.log_dir = log_dir
        self.flush_secs = flush_secs
        self._warn_once = warn_once
        self._recorders = {}
        self.step_lock = threading.RLock()  # held while the model's function runs, and by drains
        self._writer_lock = threading.RLock()  # held by flushes and by the replacement of a writer
        self._flusher = None  # the event_writer.Flusher while a fit or evaluate records
        self._reopen_due = False  # a writer failed: replace it on the main thread

    def __contains__(self, mode):
        return mode in self._recorders

    def __getitem__(self, mode):
        return self._recorders[mode]

    def recorder(self, mode, strategy):
        """The Recorder of ``mode``, created (its step counter under ``strategy``) on first use."""
        if mode not in self._recorders:
            with strategy.scope():
                self._recorders[mode] = Recorder(os.path.join(self.log_dir, mode))
        return self._recorders[mode]

    @property
    def flushing(self):
        """Whether the background flusher runs (a fit or evaluate records)."""
        return self._flusher is not None

    def start_flushing(self):
        if self._flusher is None:
            self._flusher = event_writer.Flusher(self._flush_in_background, self.flush_secs)

    def stop_flushing(self):
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None

    def flush(self, reopen=True):
        """Writes the staged distributions and flushes the event files; with ``reopen`` (on the
        main thread) a writer that failed is first replaced where staged rows are to be written."""
        if reopen and self.has_staged():  # a failed writer is replaced before staged rows go to it
            self.reopen_if_due()
        # A drain must not dequeue while a step does: it waits for the call of the model's
        # function under way. The flusher does not wait for a long one (or a trace): it flushes
        # the writers, and the steps write their staged rows when due (staging.MAX_DELAY_SECS).
        if self.step_lock.acquire(timeout=-1 if reopen else _DRAIN_WAIT_SECS):
            try:
                for recorder in list(self._recorders.values()):
                    if recorder.stage is not None:
                        recorder.stage.drain()
            finally:
                self.step_lock.release()
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
        # A failed writer is replaced when something is to be written (the next call of the
        # model's function, marker or drain), never by a new file that stays empty.

    def has_staged(self):
        """Whether any stage holds rows not written yet."""
        return any(r.stage is not None and r.stage.has_rows() for r in list(self._recorders.values()))

    def reopen_if_due(self):
        """Replaces failed writers, if any (on the main thread, with no step running)."""
        if self._reopen_due:
            with self._writer_lock:
                self._reopen_writers()

    def _flush_in_background(self):
        """The Flusher's flush, every flush_secs. A writer to replace is replaced on the main
        thread (at the next call of the model's function, or the next flush there), so that it
        never changes under the markers that thread writes."""
        self.flush(reopen=False)

    def _reopen_writers(self):
        """Replaces failed writers (the caller holds the writer lock)."""
        self._reopen_due = False
        for recorder in self._recorders.values():
            events = recorder.events
            if events.fault is not None or not events.on_disk:
                if events.reopen():
                    _LOG.info("BatchStats: writing to %s again", events.path or events.logdir)
