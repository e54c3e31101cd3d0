"""Distribution values staged across steps, then summarized and written in blocks.

Summarizing a step's distributions (sort, exact quantiles, histogram) takes about a hundred
small graph ops. Run inside every training step, their fixed per-op cost was most of what
BatchStats cost a small model. A ``DistributionStage`` keeps the step's part to one enqueue into
a ``PaddingFIFOQueue`` (the step, the size of each name's values, and each name's values as a
component of its own, so a dequeued block is already one padded matrix per name) and a check.
Every ``max_rows`` recorded steps (or once ``max_values`` values are queued, or
``max_delay_secs`` seconds after the last write), one call of a separate, non-inlined function
of a handful of ops (traced once per process and layout, ``_block_writer``) takes all queued
rows, has ``staged_events.block_events`` (numpy, on the host) make their events (per row and
name at the row's own step, the tb_batch tensor and its standard histogram; the samples, per-class
and dynamics rows of a step's samples, which ride in the same queue, a component each) and hands
them to the summary writer. (A queue, not variables of changing shape: those made every call of
a one-step ``train_function`` noticeably slower.)

The steps and statistics are those of summarizing each step on its own with the TensorFlow ops
(``summary_ops``), bit for bit but for a few ulp in sums and exp (``host_stats``); the events'
``wall_time`` is the time of writing, at most ``max_delay_secs`` plus one step after
the step itself. ``drain`` writes what is queued (BatchStats calls it at every epoch end, at the
end of a standalone evaluation, at exit and every ``flush_secs`` from its flusher thread, under
a lock that keeps it apart from the steps, whose own writes dequeue too). Memory is bounded by
``max_values`` plus one step's values.
"""

import collections
import contextlib
import functools

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context
from tensorflow.python.ops import gen_resource_variable_ops, gen_summary_ops

from tb_batch_plugin.record.staged_events import block_events
from tb_batch_plugin.record.summary_ops import step_cond

MAX_ROWS = 64
MAX_VALUES = 1 << 16
MAX_DELAY_SECS = 1.0
CHUNK_EVENTS = 16  # events are written in a loop over chunks of this many, each unrolled, then the rest one by one


class DistributionStage:
    """Staged distribution values of one summary writer (used by one replica only)."""

    def __init__(self, writer, quantile_probs, num_bins, max_rows=MAX_ROWS, max_values=MAX_VALUES,
                 max_delay_secs=MAX_DELAY_SECS, in_loop=False):
        self.writer = writer
        self.quantile_probs = tuple(quantile_probs)
        self.num_bins = int(num_bins)
        self.max_rows = int(max_rows)
        self.max_values = int(max_values)
        self.max_delay_secs = float(max_delay_secs)
        # Written as soon as max_rows are queued: the queue's capacity is never reached.
        self.queued_values = tf.Variable(0, dtype=tf.int64, trainable=False, name="tb_batch_queued_values")
        self.due_at = tf.Variable(tf.timestamp() + self.max_delay_secs, trainable=False,
                                  name="tb_batch_staged_due_at")
        # The step's conditional write (in_loop: the steps run in a loop, as Keras' with
        # steps_per_execution > 1).
        self._cond = step_cond(in_loop)
        self.names = None  # the names of the staged distributions, fixed by the first append traced
        self.samples = None  # the samples.SampleLayout of staged samples, fixed by the first append
        self.queue = None  # made by the first append: one component per name and sample column

    def _write(self, names):
        """Writes the queued rows with the block writer of this layout, traced once per process
        (``_block_writer``): a new stage, model or fit reuses it instead of tracing it again."""
        spec = BlockSpec(tuple(names), self.samples, self.quantile_probs, self.num_bins, self.max_delay_secs,
                         tuple(self.queue.dtypes), _shapes(self.queue))
        with _calls_unoptimized():
            return _block_writer(spec)(self.queue.queue_ref, self.writer._resource,
                                       self.queued_values.handle, self.due_at.handle)

    def append(self, step, dists, samples=None):
        """Stages {name: values} of distributions and, with ``samples`` (a SampleLayout and the
        step's columns of it), the step's samples, at ``step`` (in a traced step); writes when due."""
        names = tuple(dists)
        layout, columns = samples if samples is not None else (None, [])
        if self.names is not None and (self.names, _fields(self.samples)) != (names, _fields(layout)):
            raise ValueError("BatchStats: staged names changed from %s to %s while staged"
                             % (self.names + _fields(self.samples), names + _fields(layout)))
        if self.queue is None:
            with tf.init_scope():  # created once, eagerly, even when first used in a trace
                sample_dtypes = [tf.int64] + layout.dtypes() if layout is not None else []
                self.queue = tf.queue.PaddingFIFOQueue(
                    2 * self.max_rows, [tf.int64, tf.int64] + [tf.float32] * len(names) + sample_dtypes,
                    shapes=[[], [len(names)]] + [[None]] * len(names)
                    + ([[]] + [[None]] * (len(sample_dtypes) - 1) if layout is not None else []),
                    name="tb_batch_staged_distributions")
        self.names, self.samples = names, layout
        flat = [flat_float32(v) for v in dists.values()]
        sizes = [tf.size(v, out_type=tf.int64) for v in flat]
        staged = [tf.cast(step, tf.int64), tf.stack(sizes) if sizes else tf.zeros([0], tf.int64)] + flat
        if layout is not None:  # the batch size, then the columns
            staged += [tf.size(columns[0], out_type=tf.int64)] + list(columns)
        enqueue = self.queue.enqueue(staged)
        with tf.control_dependencies([enqueue]):
            queued = self.queued_values.assign_add(tf.add_n(sizes) if sizes else tf.constant(0, tf.int64))
            count = self.queue.size()
        due = tf.logical_or(tf.logical_or(count >= self.max_rows, queued >= self.max_values),
                            tf.timestamp() >= self.due_at.value())
        return self._cond(due, lambda: self._write(names), lambda: tf.constant(False))

    def has_rows(self):
        """Whether rows are staged and not written yet (eagerly)."""
        return self.queue is not None and int(self.queue.size()) > 0

    def drain(self):
        """Writes whatever is staged (eagerly, between steps)."""
        if self.has_rows():
            self._write(self.names)


_SPEC_FIELDS = "names samples quantile_probs num_bins max_delay_secs dtypes shapes"


class BlockSpec(collections.namedtuple("BlockSpec", _SPEC_FIELDS)):
    """What a block writer's graph depends on (the stage's names, SampleLayout and settings, its
    queue's components); the queue, writer and variables are its arguments."""


@functools.lru_cache(maxsize=64)
def _block_writer(spec):
    """The function writing a stage's queued rows, for every stage of ``spec`` in this process:
    a separate, non-inlined function called from the steps (and eagerly by ``drain``), traced
    once per process rather than once per stage, model and fit. Its arguments are resource
    handles: the queue, the summary writer, the two variables."""

    def write_staged(queue_ref, resource, queued_values, due_at):
        queue = tf.queue.QueueBase(list(spec.dtypes), list(spec.shapes), None, queue_ref)
        _write_block(spec, queue, resource)
        gen_resource_variable_ops.assign_variable_op(queued_values, tf.constant(0, tf.int64))
        gen_resource_variable_ops.assign_variable_op(
            due_at, tf.timestamp() + tf.constant(spec.max_delay_secs, tf.float64))
        return tf.constant(True)

    return tf.function(write_staged, autograph=False, experimental_attributes={"_noinline": True})


def _write_block(spec, queue, resource):
    """Dequeues every queued row and hands the Events ``staged_events.block_events`` makes of
    them (per row and name at the row's own step, the distribution tensor and its histogram,
    then the samples' rows) to the summary writer, in order."""
    with tf.device("/cpu:0"):
        events = tf.numpy_function(functools.partial(block_events, spec), queue.dequeue_up_to(queue.size()),
                                   tf.string, name="tb_batch_block_events")
        events = tf.ensure_shape(events, [None])
        count = tf.size(events)
        full_chunks = count // CHUNK_EVENTS

        def write_chunk(c):  # CHUNK_EVENTS events, unrolled: fewer loop iterations, a graph still small
            for event in tf.unstack(events[c * CHUNK_EVENTS:(c + 1) * CHUNK_EVENTS], num=CHUNK_EVENTS):
                gen_summary_ops.import_event(resource, event)
            return [c + 1]

        def write_one(i):  # the events after the last whole chunk
            gen_summary_ops.import_event(resource, events[i])
            return [i + 1]

        tf.while_loop(lambda c: c < full_chunks, write_chunk, [tf.constant(0)])
        tf.while_loop(lambda i: i < count, write_one, [full_chunks * CHUNK_EVENTS])


@contextlib.contextmanager
def _calls_unoptimized():
    """Calls made here (in a traced step) run their function without TensorFlow's graph optimizer
    (grappler): it would optimize the block writer again for every new ``train_function`` that
    calls it, for a function that runs once per block of steps."""
    ctx = context.context()
    options = ctx.function_call_options
    config = config_pb2.ConfigProto.FromString(options.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    ctx.function_call_options = context.FunctionCallOptions(options.executor_type, config)
    try:
        yield
    finally:
        ctx.function_call_options = options


def _shapes(queue):
    return tuple(tuple(shape.as_list()) for shape in queue.shapes)


def _fields(layout):
    return () if layout is None else layout.fields


def flat_float32(values):
    """Values as a float32 vector, with no op where they already are one."""
    values = tf.convert_to_tensor(values)
    if values.dtype != tf.float32:
        values = tf.cast(values, tf.float32)
    return values if values.shape.rank == 1 else tf.reshape(values, [-1])
