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

import os
import threading
import warnings

import tensorflow as tf
from tensorflow.python.ops import gen_summary_ops

from tb_batch_plugin import metadata


class RunLedger:
    """What is known in this process about the steps of one run directory: the step the next
    batch gets, and the (step, optimizer batch counter) pairs of its fit and epoch markers."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.next_step, self.counters = _read_position(run_dir)
        self.has_data = self.next_step > 0

    def advance(self, next_step):
        """Records that the run's steps now continue at ``next_step``."""
        self.next_step = int(next_step)
        self.has_data = True

    def note_counter(self, step, optimizer_batches):
        """Records a fit or epoch marker's (step, optimizer batch counter)."""
        if optimizer_batches >= 0:
            self.counters = [p for p in self.counters if p[0] < step] + [(int(step), int(optimizer_batches))]

    def training_start(self, optimizer_batches):
        """(the step a fit starts at, True when that supersedes recorded steps)."""
        if optimizer_batches > 0:
            mapped = resume_step(self.counters, optimizer_batches)
            if mapped is None and not self.has_data:
                mapped = optimizer_batches  # as keras.callbacks.TensorBoard numbers it
            if mapped is not None:
                return mapped, mapped < self.next_step
        return self.next_step, False


def resume_step(counters, optimizer_batches):
    """The step of a model whose optimizer has counted ``optimizer_batches`` batches, from the
    latest (by step) of the (step, counter) pairs whose counter is at most that; None if none is."""
    best = None
    for step, counter in counters:
        if counter <= optimizer_batches and (best is None or step >= best[0]):
            best = (step, counter)
    return None if best is None else best[0] + optimizer_batches - best[1]


_LEDGERS = {}
_LEDGERS_LOCK = threading.Lock()


def ledger(run_dir):
    """The process-wide RunLedger of ``run_dir`` (read from disk on first use)."""
    key = run_dir if "://" in run_dir else os.path.realpath(run_dir)
    with _LEDGERS_LOCK:
        found = _LEDGERS.get(key)
        if found is None:
            found = _LEDGERS[key] = RunLedger(run_dir)
        return found


def optimizer_batches(optimizer):
    """The batches an optimizer has counted: its batch counter ``_iterations``, which also counts
    the batches of gradient accumulation (``iterations`` counts updates); -1 without one."""
    if optimizer is None:
        return -1
    inner = getattr(optimizer, "inner_optimizer", None) or optimizer  # LossScaleOptimizer
    counter = getattr(inner, "_iterations", None)
    if counter is None:
        counter = inner.iterations
    return int(counter.numpy())


def start_training(recorder, optimizer, epoch):
    """Sets the training step counter of ``recorder`` (a runs.Recorder) where a fit continues
    with this optimizer, and marks it (a fit marker); warns when that supersedes recorded steps."""
    run_ledger = ledger(recorder.logdir)
    counter = optimizer_batches(optimizer)
    recorded = run_ledger.next_step
    start, supersedes = run_ledger.training_start(counter)
    if supersedes:
        warnings.warn("BatchStats: the model's optimizer is at batch %d, which is step %d of the "
                      "%d steps recorded in %s, so training resumes at step %d: the steps >= %d "
                      "recorded there are superseded by the new ones"
                      % (counter, start, recorded, recorder.logdir, start, start), stacklevel=3)
    recorder.step.assign(start)
    run_ledger.advance(start)
    run_ledger.note_counter(start, counter)
    write_marker(recorder.writer, metadata.KIND_FIT, start, [counter, epoch])


def note_position(recorder, optimizer, started):
    """At an epoch's end and the fit's: the ledger learns where the steps continue and the
    optimizer's batch counter there (once the fit's first step is numbered: ``started``), so a
    later fit in this process continues after the batches that ran, also when the optimizer
    skipped some (loss scaling). Returns (step, counter)."""
    step, counter = int(recorder.step.numpy()), optimizer_batches(optimizer)
    if started:
        run_ledger = ledger(recorder.logdir)
        run_ledger.advance(step)
        run_ledger.note_counter(step, counter)
    return step, counter


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


def _read_position(run_dir):
    """(next step, [(step, optimizer batch counter)] of the fit and epoch markers) of the
    tb-batch data recorded in ``run_dir`` itself (not its subdirectories)."""
    from tb_batch_plugin.read import LogdirIndex

    index = LogdirIndex(run_dir).reload()
    if "." not in index.runs():
        return 0, []
    next_step = max((i.last_step + 1 for i in index.series(".") if i.source == "tb_batch"), default=0)
    counters = []
    for kind in ("fit", "epoch", "evaluation"):
        m = index.markers(".", kind)
        if len(m):
            next_step = max(next_step, int(m.steps[-1]))
            if kind != "evaluation":
                counters += zip(m.steps.tolist(), m.fields["iterations"].tolist())
    return next_step, sorted(p for p in counters if p[1] >= 0)
