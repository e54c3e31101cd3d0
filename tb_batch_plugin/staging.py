"""Distribution values staged across steps, then summarized and written in blocks.

Summarizing a step's distributions (sort, exact quantiles, histogram) takes about a hundred
small graph ops. Run inside every training step, their fixed per-op cost was most of what
BatchStats cost a small model. A ``DistributionStage`` keeps the step's part to appending the
raw values to two variables; every ``max_rows`` recorded steps (or once ``max_values`` values or
``max_delay_secs`` seconds after the last write), one call of a separate, non-inlined function summarizes
all staged rows at once with ``summary.distribution_rows`` and writes one summary per row and
name, at the row's own step.

The values, steps and statistics are exactly those of summarizing each step on its own; only
the events' ``wall_time`` is the time of writing, at most ``max_delay_secs`` plus one step after
the step itself. ``drain`` writes what is staged (BatchStats calls it at every epoch end, at the
end of evaluation and at exit). Memory is bounded by ``max_values`` plus one step's values.
"""

import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata
from tb_batch_plugin.summary import distribution_rows

MAX_ROWS = 64
MAX_VALUES = 1 << 16
MAX_DELAY_SECS = 1.0


class DistributionStage:
    """Staged distribution values of one summary writer (used by one replica only)."""

    def __init__(self, writer, quantile_probs, num_bins, max_rows=MAX_ROWS, max_values=MAX_VALUES,
                 max_delay_secs=MAX_DELAY_SECS):
        self.writer = writer
        self.quantile_probs = tuple(quantile_probs)
        self.num_bins = int(num_bins)
        self.max_rows = int(max_rows)
        self.max_values = int(max_values)
        self.max_delay_secs = float(max_delay_secs)
        # Flat and growing between writes: the values of each staged row and name, in order, and
        # per row [step, size of each name's values]; the time of the last write.
        self.values = tf.Variable(tf.zeros([0], tf.float32), shape=tf.TensorShape([None]),
                                  trainable=False, name="tb_batch_staged_values")
        self.rows = tf.Variable(tf.zeros([0], tf.int64), shape=tf.TensorShape([None]),
                                trainable=False, name="tb_batch_staged_rows")
        self.written_at = tf.Variable(tf.timestamp(), trainable=False, name="tb_batch_written_at")
        self.names = None  # the names of the staged rows, fixed by the first append traced
        self._write = tf.function(self._write_staged, autograph=False,
                                  experimental_attributes={"_noinline": True})

    def append(self, step, dists):
        """Stages {name: 1-D float32 values} at ``step`` (in a traced step); writes when due."""
        names = tuple(dists)
        if self.names is not None and self.names != names:
            raise ValueError("BatchStats: distribution names changed from %s to %s while staged"
                             % (self.names, names))
        self.names = names
        values = [tf.cast(tf.reshape(v, [-1]), tf.float32) for v in dists.values()]
        sizes = [tf.size(v, out_type=tf.int64) for v in values]
        values = self.values.assign(tf.concat([self.values.read_value()] + values, 0))
        rows = self.rows.assign(tf.concat([self.rows.read_value(), [tf.cast(step, tf.int64)], sizes], 0))
        due = tf.logical_or(
            tf.logical_or(tf.size(rows) >= self.max_rows * (len(names) + 1),
                          tf.size(values) >= self.max_values),
            tf.timestamp() - self.written_at.read_value() >= self.max_delay_secs)
        return tf.cond(due, lambda: self._write(names), lambda: tf.constant(False))

    def drain(self):
        """Writes whatever is staged (eagerly, between steps)."""
        if self.names is not None and int(tf.size(self.rows)) > 0:
            self._write(self.names)

    def _write_staged(self, names):
        k = len(names)
        rows = tf.reshape(self.rows.read_value(), [-1, k + 1])
        steps = rows[:, 0]
        sizes = rows[:, 1:]
        padded = tf.RaggedTensor.from_row_lengths(
            self.values.read_value(), tf.reshape(sizes, [-1])).to_tensor()
        padded = tf.reshape(padded, [tf.shape(rows)[0], k, -1])
        # Each name's rows are summarized apart, cut to their own widest row: sorting costs
        # most, and the padding would be sorted too.
        stats = tf.stack([
            distribution_rows(padded[:, j, :tf.reduce_max(sizes[:, j])], sizes[:, j],
                              self.quantile_probs, self.num_bins)
            for j in range(k)], axis=1)
        md = metadata.distribution_metadata(self.quantile_probs, self.num_bins).SerializeToString()
        resource = self.writer._resource

        def write_row(i):  # few ops: this runs once per staged row
            step, row = tf.gather(steps, i), tf.unstack(tf.gather(stats, i), num=k)
            with tf.device("/cpu:0"):
                for name, tensor in zip(names, row):
                    gen_summary_ops.write_summary(resource, step, tensor, name, md)
            return [i + 1]

        tf.while_loop(lambda i: i < tf.shape(steps)[0], write_row, [tf.constant(0)])
        self.values.assign(tf.zeros([0], tf.float32))
        self.rows.assign(tf.zeros([0], tf.int64))
        self.written_at.assign(tf.timestamp())
        return tf.constant(True)
