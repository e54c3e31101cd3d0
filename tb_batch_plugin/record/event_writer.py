"""BatchStats' event files: no file I/O inside a training step, no write fault that stops training.

TensorFlow's summary writer does its file I/O when it flushes, and it flushes inside whichever
write op finds its queue longer than ``max_queue`` or its last flush older than ``flush_millis``:
inside a traced training step, a full disk would fail the step, and steps written just before a
pause in training would stay in memory for as long as the pause lasts. Here both limits are set
out of reach, so the write ops in a step only enqueue, and a ``Flusher`` (a daemon thread) flushes
every ``flush_secs``, pauses included: after a kill at any moment, at most ``flush_secs`` of steps
are missing. The flush is the only place that touches the disk, and its errors are returned, not
raised.

After a failed flush (disk full, quota, file-size limit) or once the event file is gone (its
directory removed), ``RunWriter.reopen`` replaces the writer, under the same resource handle the
traced steps hold, by one writing a new event file (the old one may end in a torn record, which
TensorBoard's reader would not read past), or, while the directory cannot be written, by one
writing into memory (``ram://``) that is dropped at every reopen. So recording resumes by itself
when writes succeed again; the events of the failed flushes, and of the time in memory, are lost.
"""

import itertools
import os
import threading
import time
import weakref

import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

# int32's largest value: the writer's own flush conditions are never met (flush_millis: 24 days).
NEVER = 2 ** 31 - 1
_SUFFIX = ".v2"
_MEMORY_ROOT = "ram://tb_batch_plugin"
_CREATE_LOCK = threading.Lock()  # one writer created at a time: its new file is the one that appears
_MEMORY_IDS = itertools.count()


class RunWriter:
    """The summary writer of one run directory, flushed only by ``flush``.

    ``writer`` is a ``tf.summary`` writer; traced steps capture ``writer._resource``, which stays
    valid across ``reopen``. ``fault`` is the last write error (None while writes succeed);
    ``on_disk`` is False while the events go to memory.
    """

    def __init__(self, logdir):
        self.logdir = logdir
        self.path = None  # the event file written now (None when unknown or in memory)
        self.fault = None
        self.on_disk = True
        self._memory_dir = None
        try:
            self.writer, self.path = _create(logdir)
        except (tf.errors.OpError, OSError) as e:
            self.fault = e
            self.writer = tf.summary.create_file_writer(
                self._new_memory_dir(), max_queue=NEVER, flush_millis=NEVER, filename_suffix=_SUFFIX)
            self.on_disk = False

    def flush(self):
        """Writes the queued events to the file; returns the error (and keeps it in ``fault``)
        if that failed or the file is gone, else None. Never raises for a write fault."""
        try:
            self.writer.flush()
            if self.on_disk and self.path is not None and not tf.io.gfile.exists(self.path):
                raise FileNotFoundError("the event file or its directory was removed")
        except (tf.errors.OpError, OSError) as e:
            self.fault = e
            return e
        return None

    def reopen(self):
        """Closes the writer (its queued events are dropped if they cannot be written) and opens
        one under the same handle: a new event file if ``logdir`` can be written, else memory.
        No write op may run meanwhile (BatchStats calls it on its main thread, between steps).
        Returns True when the events go to disk again."""
        resource = self.writer._resource
        try:
            gen_summary_ops.close_summary_writer(resource)
        except (tf.errors.OpError, OSError):
            pass
        self._drop_memory()
        try:
            error = write_check(self.logdir)
            if error is not None:
                raise error
            self.path = _create_in(resource, self.logdir)
            self.on_disk, self.fault = True, None
        except (tf.errors.OpError, OSError) as e:
            self.fault = self.fault or e
            _create_in(resource, self._new_memory_dir())
            self.path, self.on_disk = None, False
        return self.on_disk

    def _new_memory_dir(self):
        self._memory_dir = "%s/%d-%d" % (_MEMORY_ROOT, os.getpid(), next(_MEMORY_IDS))
        return self._memory_dir

    def _drop_memory(self):
        if self._memory_dir is not None:
            for path in tf.io.gfile.glob(self._memory_dir + "/*"):
                tf.io.gfile.remove(path)
            self._memory_dir = None


class Flusher:
    """Calls ``flush()`` (a bound method) every ``period`` seconds on a daemon thread until
    ``stop``. It holds only a weak reference to its object (and ends when that is gone)."""

    def __init__(self, flush, period):
        self._flush = weakref.WeakMethod(flush)
        self._period = period
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tb_batch flusher", daemon=True)
        self._thread.start()

    def _run(self):
        due = time.monotonic() + self._period  # a fixed cadence, however long a flush takes
        while not self._stopped.wait(max(0.0, due - time.monotonic())):
            flush = self._flush()
            if flush is None:
                return
            flush()
            del flush
            due = max(due + self._period, time.monotonic())

    def stop(self, timeout=60.0):
        """Stops the thread, after the flush under way if any."""
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


def describe(error):
    """The cause of a write error in a few words (the OS's message where there is one)."""
    if isinstance(error, tf.errors.OpError):
        lines = [line.strip() for line in (error.message or "").splitlines() if line.strip()]
        first = lines[0] if lines else type(error).__name__
        return first.rsplit("; ", 1)[-1].split("}} ")[-1]
    return str(error) or type(error).__name__


def _create(logdir):
    """A new writer with an event file of its own in ``logdir``: (writer, path or None)."""
    with _CREATE_LOCK:
        before = _event_files(logdir)
        writer = tf.summary.create_file_writer(logdir, max_queue=NEVER, flush_millis=NEVER,
                                               filename_suffix=_SUFFIX)
        return writer, _new_file(logdir, before)


def _create_in(resource, logdir):
    """Creates a writer under an existing (closed) handle; returns its event file (or None)."""
    with _CREATE_LOCK:
        before = _event_files(logdir)
        with tf.device("cpu:0"):
            gen_summary_ops.create_summary_file_writer(resource, logdir, NEVER, NEVER, _SUFFIX)
        return _new_file(logdir, before)


def _event_files(logdir):
    try:
        return set(tf.io.gfile.glob(os.path.join(logdir, "*tfevents*")))
    except (tf.errors.OpError, OSError):
        return set()


def _new_file(logdir, before):
    new = _event_files(logdir) - before
    return new.pop() if len(new) == 1 else None


def write_check(logdir):
    """None if a small file can be written and removed in ``logdir`` (created if need be), else
    the error."""
    probe = os.path.join(logdir, ".tb_batch_write_check")
    error = None
    try:
        tf.io.gfile.makedirs(logdir)
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("tb_batch")
    except (tf.errors.OpError, OSError) as e:
        error = e
    try:
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError):
        pass
    return error
