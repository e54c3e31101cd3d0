"""Step numbering of BatchStats: where the steps of a run directory continue, and the markers
that record it, so that later training in the same ``log_dir`` never erases what is recorded.

The rules (docs/data_contract.md has them for users):

* Training steps count batches. A ``fit`` continues after the last step recorded in
  ``<log_dir>/train``, whichever callback, model or process recorded it: a fresh model or a
  weights-only load appends after it.
* A model whose optimizer has taken steps (restored from a checkpoint with its optimizer state)
  continues at the step its optimizer's counter gives: the latest ``fit`` or ``epoch`` marker
  whose counter is at most the optimizer's, plus the difference. When that step S is not after
  the recorded data, the steps >= S are re-run and supersede the recorded ones (the index keeps
  the last value written for a step, as TensorBoard does); everything before S is kept. The
  optimizer's own batch counter is used (``_iterations``), which counts batches also with
  gradient accumulation, where ``iterations`` counts updates.
* Validation batches have their own counter, continued from ``<log_dir>/validation``; every
  evaluation is marked at its first validation step with the training step it follows (the
  number of training batches done then) and the epoch.

What is on disk is read once per run directory and process (``RunLedger``); later callbacks
in the same process continue from what their predecessors wrote, flushed or not.
"""


import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata
from tb_batch_plugin.record import ledger as ledger_rules
from tb_batch_plugin.record.ledger import ledger, optimizer_batches


def start_training(recorder, optimizer, epoch):
    """Sets the training step counter of ``recorder`` (a runs.Recorder) where a fit continues
    with this optimizer, and marks it (a fit marker); warns when that supersedes recorded steps."""
    start, counter = ledger_rules.start_training(recorder.logdir, optimizer)
    recorder.step.assign(start)
    write_marker(recorder.writer, metadata.KIND_FIT, start, [counter, epoch])


def note_position(recorder, optimizer, started):
    """``ledger.note_position`` of the training run: returns (step, counter)."""
    step = int(recorder.step.numpy())
    return step, ledger_rules.note_position(recorder.logdir, step, optimizer, started)


def next_training_step(run_dir, optimizer):
    """The step where a fit with this optimizer would continue in the training run ``run_dir``."""
    return ledger(run_dir).training_start(optimizer_batches(optimizer))[0]


def start_evaluation(recorder, train_step, epoch):
    """Continues the validation counter of ``recorder`` and marks the evaluation with the
    training step it follows and the epoch (-1 outside a fit)."""
    first = ledger(recorder.logdir).next_step
    recorder.step.assign(first)
    write_marker(recorder.writer, metadata.KIND_EVALUATION, first, [train_step, epoch])


def end_evaluation(recorder):
    """The validation steps continue after those of the evaluation that ends."""
    ledger(recorder.logdir).advance(int(recorder.step.numpy()))


def write_marker(writer, kind, step, values):
    """Writes one marker event (eagerly, between steps) to a summary writer."""
    gen_summary_ops.write_summary(
        writer._resource, tf.constant(step, tf.int64), tf.constant(values, tf.int64),
        metadata.MARKER_TAGS[kind], metadata.marker_metadata(kind).SerializeToString())
