"""The host side of BatchStats on the JAX and PyTorch backends: each step's values, handed over
as the device arrays the step returned, are numbered on the training thread and written by a
thread of their own, a block at a time (converted to numpy there, so the training thread never
waits for the device), with the TensorFlow-free writer and the numpy statistics of ``host_stats``.
A failing write is warned about once and never reaches training.
"""

import queue
import threading
import time

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.record import host_records, host_stats
from tb_batch_plugin.record.host_writer import HostWriter

# Steps are handed over to the writing thread in blocks of this many, or after this long: small
# enough that it works while training runs (not all at the epoch's end), large enough that its
# numpy work is done a block at a time.
_BLOCK_STEPS = 32
_BLOCK_SECS = 1.0


class RunWriter:
    """One run directory (train or validation) of a BatchStats: its step counter and writer."""

    def __init__(self, logdir, callback, warn_once, training, writes=True):
        self.logdir = logdir
        self.training = training
        self.writes = writes  # False in the other processes of a multi-process run: count only
        self.callback = callback
        self._warn_once = warn_once
        self.next_step = 0
        self._pending = []  # steps not handed over yet (the writer takes them after flush_secs idle)
        self._lock = threading.Lock()
        self._handed = self._flushed = time.monotonic()
        self._writer = None
        self._queue = queue.Queue()
        self._thread = None

    def add(self, values, step_values):
        """One step's values (device arrays), with the StepValues that made them."""
        step = self.next_step
        self.next_step += 1
        if self.writes and step % self.callback.every == 0:
            with self._lock:
                self._pending.append((step, time.time(), values, step_values.outputs, step_values.has_ids,
                                      step_values.scalar_names))
            self._start()
        now = time.monotonic()
        if len(self._pending) >= _BLOCK_STEPS or now - self._handed >= _BLOCK_SECS:
            self.hand_over(flush=now - self._flushed >= self.callback.flush_secs)

    def marker(self, kind, step, values):
        if not self.writes:
            return
        self.hand_over()
        self._put(("marker", kind, int(step), [int(v) for v in values]))

    def hand_over(self, flush=False):
        """Passes the pending steps to the writing thread (and asks it to flush the file)."""
        self._handed = time.monotonic()
        if flush:
            self._flushed = self._handed
        if not self.writes:
            return
        block = self._take()
        if block:
            self._put(("steps", block))
        if flush:
            self._put(("flush",))

    def flush(self, wait=True):
        """Writes everything handed over and flushes the event file (waits for the thread, or
        only asks it to)."""
        self.hand_over(flush=True)
        if wait and self._thread is not None:
            self._queue.join()

    def _take(self):
        with self._lock:
            block, self._pending = self._pending, []
        return block

    def _start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="tb_batch-writer", daemon=True)
            self._thread.start()

    def _put(self, item):
        self._start()
        self._queue.put(item)

    def _work(self):
        while True:
            try:
                item = self._queue.get(timeout=self.callback.flush_secs)
            except queue.Empty:  # training pauses (a long step, an evaluation): write what waits
                block = self._take()
                if block:
                    self._guarded_write(("steps", block))
                    self._guarded_write(("flush",))
                continue
            try:
                self._guarded_write(item)
            finally:
                self._queue.task_done()

    def _guarded_write(self, item):
        try:
            self._write(item)
        except Exception as e:  # noqa: BLE001 - never into training: said once, recording goes on
            self._warn_once("write-fault", "BatchStats: writing events to %s failed (%s: %s); "
                            "training goes on. Recording goes on in a new event file as soon as "
                            "writes succeed again; the events that could not be written are lost"
                            % (self.logdir, type(e).__name__, e))

    def _write(self, item):
        if self._writer is None:
            self._writer = HostWriter(self.logdir, flush_secs=self.callback.flush_secs)
        if item[0] == "flush":
            error = self._writer.flush()
            if error is not None:  # the file is left behind: the next write starts a new one
                self._writer = None
                raise error
        elif item[0] == "marker":
            _, kind, step, values = item
            self._writer.write(metadata.MARKER_TAGS[kind], step, np.array(values, np.int64),
                               metadata.marker_metadata(kind))
        else:
            self._write_steps(item[1])

    def _write_steps(self, block):
        """Writes a block of steps: the numpy work of the whole block at once (its distributions
        in one call, the fingerprints of all its input rows in one), the events a column (a tag)
        at a time (``HostWriter.write_block``)."""
        block = _on_host(block)
        columns = host_records.Columns()
        exact = metadata.scalar_metadata(metadata.PROVENANCE_EXACT)
        by_names = {}  # the steps of each list of scalar names (one, unless the step was retraced)
        for i, entry in enumerate(block):
            by_names.setdefault(entry[5], []).append(i)
        for names, rows in by_names.items():
            scalars = np.stack([_numpy(block[i][2]["scalars"]) for i in rows]).astype(np.float32, copy=False)
            for j, name in enumerate(names):
                columns.add_column(name, rows, scalars[:, j], exact)
        self._block_distributions(block, columns)
        self._block_samples(block, columns)
        self._writer.write_block([entry[0] for entry in block], [entry[1] for entry in block], columns.made())

    def _block_distributions(self, block, columns):
        """Adds to ``columns`` the distribution and histogram rows of every step's distributions,
        each name's computed together (padded to that name's longest only)."""
        callback = self.callback
        dist_meta = metadata.distribution_metadata(callback.quantile_probs, callback.num_bins)
        hist_meta = metadata.histogram_metadata()
        by_name = {}  # name -> ([step index], [its values])
        for i, entry in enumerate(block):
            for name, values in (entry[2].get("dists") or {}).items():
                rows, flat = by_name.setdefault(name, ([], []))
                rows.append(i)
                flat.append(_numpy(values))
        for name, (rows, flat) in by_name.items():
            stats = host_stats.distribution_rows(flat, callback.quantile_probs, callback.num_bins)
            columns.add_column(metadata.distribution_tag(name), rows, stats, dist_meta)
            columns.add_column(name, rows, host_stats.histogram_rows(stats, len(callback.quantile_probs),
                                                                     callback.num_bins), hist_meta)

    def _block_samples(self, block, columns):
        """Adds to ``columns`` the samples' rows of every step (per-class losses, hardest
        samples, dynamics), computed together for the steps of one layout of outputs."""
        callback = self.callback
        fingerprints = self._block_fingerprints(block)
        groups = {}  # (outputs, has_ids) -> ([block index], [sample_rows' arguments])
        for i, (_, _, values, outputs, has_ids, _) in enumerate(block):
            samples = values.get("samples")
            if samples is not None and outputs:
                described = [(suffix, kind, classes, from_logits, _numpy(y_t), _numpy(y_p), _numpy(loss))
                             for (suffix, kind, classes, from_logits), (y_t, y_p, loss)
                             in zip(outputs, samples["outputs"])]
                group = groups.setdefault((tuple(outputs), has_ids), ([], []))
                group[0].append(i)
                group[1].append((_numpy(samples["loss"]), fingerprints[i],
                                 _numpy(samples["ids"]) if has_ids else None, described))
        for index, steps in groups.values():
            for tag, rows, values, meta in host_stats.sample_columns(
                    steps, num_samples=callback.samples, dynamics=callback.dynamics and self.training):
                columns.add_column(tag, [index[r] for r in rows], values, meta)

    def _block_fingerprints(self, block):
        """The fingerprints of each step's input rows (None for a step without samples), hashed
        together for the steps whose inputs have the same row shapes."""
        from tb_batch_plugin.fingerprints import row_fingerprints

        out = [None] * len(block)
        groups = {}
        for i, (_, _, values, outputs, _, _) in enumerate(block):
            samples = values.get("samples")
            if samples is not None and outputs:
                leaves = [_numpy(leaf) for leaf in samples["x"]]
                groups.setdefault(tuple((a.shape[1:], a.dtype.str) for a in leaves), []).append((i, leaves))
        for members in groups.values():
            columns = [np.concatenate(parts) for parts in zip(*(leaves for _, leaves in members))]
            fps = row_fingerprints(columns)
            start = 0
            for i, leaves in members:
                out[i] = fps[start:start + len(leaves[0])]
                start += len(leaves[0])
        return out


def _on_host(block):
    """The block with its values copied to the host together: on JAX one ``device_get`` of the
    whole block (it starts every device-to-host copy before waiting for the first); elsewhere
    as they are (``_numpy`` takes each where it is used)."""
    values = [entry[2] for entry in block]
    if not type(values[0]["scalars"]).__module__.startswith("jax"):  # jax.Array's module is jaxlib's
        return block
    import jax

    return [entry[:2] + (host,) + entry[3:] for entry, host in zip(block, jax.device_get(values))]


def _numpy(t):
    if hasattr(t, "detach"):  # a torch tensor
        return t.detach().cpu().numpy()
    return np.asarray(t)
