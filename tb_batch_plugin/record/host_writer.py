"""Event files written without TensorFlow, for values that are already on the host (numpy, a
PyTorch or JAX loop, a recorder's background thread).

``HostWriter`` writes what ``tf.summary.write`` writes for the same tensor: one Event per call
(wall time, step, one Summary.Value with the tag, the SummaryMetadata and the tensor), the tensor
as TensorFlow's writer serializes it (dtype, shape, little-endian ``tensor_content``, also for a
scalar: TensorBoard's ``make_tensor_proto`` would put one value in ``float_val`` instead), in a
file named as TensorFlow names its own (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``) and
opened by the same first event. So readers (``tbb.load``, the tab, TensorBoard) cannot tell the
two apart. Why not TensorBoard's ``EventFileWriter``: it reaches the file system through
``tensorboard.compat.tf``, which imports TensorFlow whenever it is installed.

``write`` only queues the serialized event (no file I/O, safe from any thread); ``write_block``
queues the events of a block of steps, built with numpy a column at a time (``host_records``:
the bytes ``write`` would make). The records are framed (CRC32C) and appended by ``flush``, which a daemon thread calls every ``flush_secs`` (a kill
loses at most that much), which ``write`` calls once ``max_pending_bytes`` are queued, and which
``close`` and the interpreter's exit call. A flush never raises for a write fault: it returns the
error and keeps it in ``fault``, the events it could not write being dropped. Local paths only.

``FileWriter`` is what ``tbb.summary.create_file_writer`` returns: a HostWriter made the default
of ``tbb.summary``'s functions by ``as_default`` (per thread, like ``tf.summary``'s writers).
"""

import contextlib
import itertools
import os
import socket
import threading
import time
import weakref

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.tensorflow_stub import dtypes

from tb_batch_plugin.record import host_records

_SUFFIX = ".v2"  # as tf.summary.create_file_writer's files
_FILE_NUMBERS = itertools.count()  # files of this process, as TensorFlow's per-process writer ids
_CREATE_LOCK = threading.Lock()
_DEFAULTS = threading.local()  # .stack: [(FileWriter, step)] of this thread's as_default contexts


class HostWriter:
    """One event file in ``logdir`` (created if need be), written from numpy values; thread-safe.

    ``path`` is the file; ``fault`` the last write error (None while writes succeed)."""

    def __init__(self, logdir, flush_secs=10.0, max_pending_bytes=1 << 24):
        if not flush_secs > 0:
            raise ValueError("HostWriter: flush_secs must be > 0, got %r" % (flush_secs,))
        self.logdir = os.fspath(logdir)
        self._sink = _Sink(self.logdir)
        self.path = self._sink.path
        self._max_pending = int(max_pending_bytes)
        self._sink.add(event_pb2.Event(
            wall_time=float(int(time.time())), file_version="brain.Event:2",
            source_metadata=event_pb2.SourceMetadata(writer="tb_batch_plugin.record.host_writer")).SerializeToString())
        error = self._sink.flush()
        if error is not None:
            raise error
        stopped = threading.Event()
        thread = threading.Thread(target=_flush_every, args=(self._sink, stopped, float(flush_secs)),
                                  name="tb_batch host flusher", daemon=True)
        thread.start()
        # Closed (flushed) when closed, garbage collected, or at the interpreter's exit.
        self._finalizer = weakref.finalize(self, _shut, self._sink, stopped, thread)

    @property
    def fault(self):
        return self._sink.fault

    def write(self, tag, step, value, summary_metadata, wall_time=None):
        """Queues one event: ``value`` (a numpy array or anything ``np.asarray`` takes; numeric
        or bool) at int ``step`` under ``tag`` with ``summary_metadata`` (a SummaryMetadata or its
        bytes), at ``wall_time`` (seconds; now by default). Raises ValueError once closed."""
        if not isinstance(summary_metadata, summary_pb2.SummaryMetadata):
            summary_metadata = summary_pb2.SummaryMetadata.FromString(bytes(summary_metadata))
        event = event_pb2.Event(wall_time=time.time() if wall_time is None else float(wall_time),
                                step=int(step))
        event.summary.value.add(tag=tag, metadata=summary_metadata, tensor=tensor_proto(value))
        if self._sink.add(event.SerializeToString()) > self._max_pending:
            self._sink.flush()

    def write_block(self, steps, wall_times, columns):
        """Queues the events of a block of steps, as ``write`` would one by one: step by step
        and, in a step, by the columns' ``rank``. ``steps`` (n,) non-negative ints, ``wall_times``
        (n,) nonzero seconds; ``columns``: [(rank, tag, rows, values, summary_metadata)], ``rows``
        (m,) the indices into ``steps`` of its m events, ``values`` (m, *shape) their tensors
        (numbers or bools), ``summary_metadata`` a SummaryMetadata or its bytes."""
        steps = np.asarray(steps, np.int64)
        wall_times = np.asarray(wall_times, np.float64)
        if len(steps) and (steps.min() < 0 or not np.all(wall_times)):
            raise ValueError("HostWriter.write_block: steps must be >= 0 and wall times nonzero")
        made = templates(columns)
        if made and self._sink.add(host_records.block_records(steps, wall_times, made), framed=True) > self._max_pending:
            self._sink.flush()

    def flush(self):
        """Appends the queued events to the file; returns None, or the error that stopped it."""
        return self._sink.flush()

    def close(self):
        """Flushes, stops the flusher thread and closes the file (again: nothing). Returns as
        ``flush``."""
        self._finalizer()
        return self._sink.fault if self._sink.failed_last else None


def templates(columns):
    """[(rank, host_records.EventTemplate, rows, values)] of ``write_block``'s ``columns`` (those
    with events), for ``host_records.block_records``/``block_events``."""
    made = []
    for rank, tag, rows, values, meta in columns:
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            continue
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise TypeError("HostWriter: a tensor of %s cannot be written (numbers or bools only)" % values.dtype)
        if isinstance(meta, summary_pb2.SummaryMetadata):
            meta = meta.SerializeToString()
        made.append((rank, host_records.event_template(tag, values.dtype.newbyteorder("=").str, values.shape[1:],
                                                      bytes(meta), tensor_proto), rows, values))
    return made


def tensor_proto(value):
    """The TensorProto TensorFlow's writer makes of a tensor with these values: dtype, shape and
    the little-endian bytes in ``tensor_content``."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError("HostWriter: a tensor of %s cannot be written (numbers or bools only)" % a.dtype)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)  # tobytes: C order, whatever the strides
    return tensor_pb2.TensorProto(
        dtype=dtypes.as_dtype(a.dtype.newbyteorder("=")).as_datatype_enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in a.shape]),
        tensor_content=a.tobytes())


class _Sink:
    """The file and its queued events: what the writer, its flusher thread and its finalizer
    share (the thread and the finalizer never hold the writer, so it can be collected)."""

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        with _CREATE_LOCK:  # a name of its own: the time, host and pid as TensorFlow's, a counter
            while True:
                self.path = os.path.join(logdir, "events.out.tfevents.%010d.%s.%d.%d%s" % (
                    time.time(), socket.gethostname(), os.getpid(), next(_FILE_NUMBERS), _SUFFIX))
                try:
                    self._file = open(self.path, "xb", buffering=0)
                    break
                except FileExistsError:
                    continue
        self._lock = threading.Lock()  # the queue
        self._io_lock = threading.Lock()  # one flush at a time, in order
        self._queue, self._queued_bytes = [], 0  # (framed?, bytes): events, or records made by write_block
        self._unwritten = b""  # what the last flush could not write: the next one tries it first
        self.fault, self.failed_last, self.closed = None, False, False

    def add(self, data, framed=False):
        """Queues a serialized event (or, ``framed``, TFRecords); returns the bytes queued."""
        with self._lock:
            if self.closed:
                raise ValueError("HostWriter: the writer of %s is closed" % self.path)
            self._queue.append((framed, data))
            self._queued_bytes += len(data)
            return self._queued_bytes

    def flush(self):
        with self._io_lock:
            with self._lock:
                queue, self._queue, self._queued_bytes = self._queue, [], 0
            if self.closed and not queue:
                return None
            data = memoryview(self._unwritten + _records(queue))
            done = 0
            try:
                while done < len(data):
                    done += self._file.write(data[done:])
            except (OSError, ValueError) as e:
                # Kept for the next flush (as a buffered file keeps its buffer): the events queued
                # after it are dropped while the fault lasts.
                kept = len(self._unwritten) if self.failed_last else len(data)
                self._unwritten = bytes(data[done:max(done, kept)])
                self.fault, self.failed_last = e, True
                return e
            self._unwritten, self.failed_last = b"", False
            return None

    def close(self):
        self.flush()
        with self._io_lock:
            with self._lock:
                self.closed = True
            try:
                self._file.close()
            except OSError as e:
                self.fault, self.failed_last = e, True


def _records(queue):
    """The TFRecords of queued (framed?, bytes), in order: the events of each run framed together."""
    out = []
    for framed, run in itertools.groupby(queue, key=lambda item: item[0]):
        datas = [data for _, data in run]
        out.append(b"".join(datas) if framed else host_records.frame(datas))
    return b"".join(out)


def _flush_every(sink, stopped, period):
    due = time.monotonic() + period  # a fixed cadence, however long a flush takes
    while not stopped.wait(max(0.0, due - time.monotonic())):
        sink.flush()
        due = max(due + period, time.monotonic())


def _shut(sink, stopped, thread):
    stopped.set()
    if thread is not threading.current_thread():
        thread.join(60.0)
    sink.close()


class FileWriter:
    """A writer for ``tbb.summary``'s functions (``create_file_writer``): they write through it
    on the host while it is the default (``with writer.as_default(step=...)``)."""

    def __init__(self, logdir, flush_secs=10.0):
        self.host = HostWriter(logdir, flush_secs=flush_secs)

    @contextlib.contextmanager
    def as_default(self, step=None):
        """Makes this the default writer of this thread in the ``with`` block, and ``step`` (an
        int, or anything ``int()`` reads at each write, e.g. a tensor counter) the step of
        writes that give none. Flushes when the block ends, as ``tf.summary`` does."""
        stack = _stack()
        stack.append((self, step))
        try:
            yield self
        finally:
            stack.pop()
            self.flush()

    def flush(self):
        """Writes the queued events; raises the error if that failed."""
        error = self.host.flush()
        if error is not None:
            raise error

    def close(self):
        """Flushes and closes the event file; raises the error if the last write failed."""
        error = self.host.close()
        if error is not None:
            raise error


def default_writer():
    """(FileWriter, default step or None) of this thread's innermost ``as_default``, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def _stack():
    if not hasattr(_DEFAULTS, "stack"):
        _DEFAULTS.stack = []
    return _DEFAULTS.stack
