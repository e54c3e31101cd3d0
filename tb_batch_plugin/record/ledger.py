"""Where the steps of a run directory continue (the rules are numbering.py's): what is on disk,
read once per run directory and process, and the optimizer's batch counter. TensorFlow-free, so
the recording on every Keras backend shares it."""

import os
import threading
import warnings

import keras
import numpy as np


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
    if keras.backend.backend() != "tensorflow":  # a Keras Variable's numpy() warns there (numpy 2)
        return int(np.asarray(counter.value))
    return int(counter.numpy())


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


def start_training(run_dir, optimizer):
    """Where a fit with this optimizer starts in the training run ``run_dir``, noted in the
    ledger: (step, the optimizer's batch counter). Warns when that supersedes recorded steps."""
    run_ledger = ledger(run_dir)
    counter = optimizer_batches(optimizer)
    recorded = run_ledger.next_step
    start, supersedes = run_ledger.training_start(counter)
    if supersedes:
        warnings.warn("BatchStats: the model's optimizer is at batch %d, which is step %d of the "
                      "%d steps recorded in %s, so training resumes at step %d: the steps >= %d "
                      "recorded there are superseded by the new ones"
                      % (counter, start, recorded, run_dir, start, start), stacklevel=4)
    run_ledger.advance(start)
    run_ledger.note_counter(start, counter)
    return start, counter


def note_position(run_dir, step, optimizer, started):
    """At an epoch's end and the fit's: the ledger learns where the steps continue and the
    optimizer's batch counter there (once the fit's first step is numbered: ``started``), so a
    later fit in this process continues after the batches that ran, also when the optimizer
    skipped some (loss scaling). Returns the counter."""
    counter = optimizer_batches(optimizer)
    if started:
        run_ledger = ledger(run_dir)
        run_ledger.advance(step)
        run_ledger.note_counter(step, counter)
    return counter


def ledger_dir(log_dir, mode):
    """The run directory of ``mode`` ('train', 'validation') under a BatchStats log_dir."""
    return os.path.join(log_dir, mode)
