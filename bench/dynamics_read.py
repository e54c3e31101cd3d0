"""Reading per-sample dynamics at ImageNet size: what the index and ``dynamics()`` cost.

Writes a synthetic run (default 1,280,000 samples x 90 epochs at batch 256: 450,000 dynamics
records, 115M rows, about 2.8 GB) with the tests' fast writer (numpy, no TensorFlow), one scalar
per step beside it, then measures in a fresh process each (so that peaks are the reader's): the
cold index (time, RSS, the index's own bytes), a reload that finds nothing new, ``dynamics()``
(time, peak RSS), the memoised second call, ``label_issues(top=50)`` and ``presentations`` of one
sample; then, as a live run grows, the incremental ``dynamics()``: 20 more steps appended (one
more epoch's first 20 records), a reload, ``dynamics()``; the rest of that epoch, a reload,
``dynamics()`` (time, records and bytes read: only the new ones; with --check its columns are
compared with a fresh full aggregation). Files are read from the page cache (just written).
Prints a Markdown table; deletes the run unless --keep (which cuts the appended epoch off again).

    .venv/bin/python bench/dynamics_read.py [--samples 1280000] [--epochs 90] [--batch 256]
        [--classes 1000] [--ids] [--logdir DIR] [--keep] [--check]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # tests/helpers

from helpers import dynamics_files, fast_writer  # noqa: E402
from tb_batch_plugin import metadata  # noqa: E402


def fingerprints(index):
    """A 64-bit hash of each sample index (splitmix64), standing in for the input's farmhash."""
    z = index.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_batches(rng, epoch, samples, epochs, batch, classes, ids):
    """The dynamics rows of one epoch's steps: every sample once, shuffled, [(B, W) int32]."""
    label = np.arange(samples) % classes
    order = rng.permutation(samples)
    right = rng.random(samples) < min(0.95, 0.1 + epoch / epochs)
    predicted = np.where(right, label[order], rng.integers(0, classes, samples))
    margin = rng.normal(epoch / epochs, 1.0, samples).astype(np.float32)
    rows = dynamics_files.pack_rows(
        fingerprints(order), rng.exponential(size=samples).astype(np.float32), order if ids else None, margin,
        1 / (1 + np.exp(-margin)), label[order], predicted, classes)
    return [rows[a:a + batch] for a in range(0, samples, batch)]


def write_steps(path, first_step, batches, classes, ids):
    """Appends the dynamics of consecutive steps from `first_step`, then their loss scalars."""
    steps = np.arange(first_step, first_step + len(batches))
    dynamics_files.write_dynamics(path, steps, batches, classes, ids)
    fast_writer.write_scalars(path, "loss", steps, np.ones(len(steps), np.float32))


def write_run(run_dir, samples, epochs, batch, classes, ids):
    """One event file: per epoch the dynamics of every step, then that epoch's loss scalars."""
    rng = np.random.default_rng(0)
    path = fast_writer.event_path(run_dir)
    step = 0
    for epoch in range(epochs):
        batches = epoch_batches(rng, epoch, samples, epochs, batch, classes, ids)
        write_steps(path, step, batches, classes, ids)
        step += len(batches)
    return path, step


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak():
    """The peak RSS since the process started or reset_peak (VmHWM; ru_maxrss where absent)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak():
    """Makes the peak RSS start again from the current RSS (Linux >= 4.0), so that the peak of
    dynamics() is not the index's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def measure(logdir, args):
    """The figures of one fresh process reading `logdir` (printed as JSON)."""
    from tb_batch_plugin.read import LogdirIndex, release_freed_memory

    out = {"rss_start": rss()}
    t, cpu = time.perf_counter(), time.process_time()
    idx = LogdirIndex(logdir).reload()
    out["index_s"], out["index_cpu"] = time.perf_counter() - t, time.process_time() - cpu
    out["index_peak"] = peak()
    release_freed_memory()
    out.update(index_rss=rss(), index_nbytes=idx.nbytes(), bytes_read=idx.bytes_read)
    reset_peak()
    t = time.perf_counter()
    idx.reload()
    out["reload_s"] = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    d = idx.dynamics("train")
    out["dynamics_s"], out["dynamics_cpu"] = time.perf_counter() - t, time.process_time() - cpu
    out.update(dynamics_peak=peak(), samples=len(d), skipped=d.skipped,
               presentations=int(d.presentations.sum()),
               result_nbytes=sum(a.nbytes for a in d.columns().values()))
    release_freed_memory()
    out["dynamics_rss"] = rss()
    t = time.perf_counter()
    assert idx.dynamics("train") is d
    out["memo_s"] = time.perf_counter() - t
    t = time.perf_counter()
    idx.label_issues("train", top=50)
    out["label_issues_s"] = time.perf_counter() - t
    t = time.perf_counter()
    p = idx.presentations("train", "%016x" % int(d.fingerprint[len(d) // 2]))
    out["presentations_s"] = time.perf_counter() - t
    out["presentations_found"] = len(p["step"])
    del d, p  # the RSS after the increments: the index, the kept state and the latest result
    out.update(grow(idx, logdir, args))
    print(json.dumps(out))


def grow(idx, logdir, args):
    """The incremental dynamics(): 20 steps of one more epoch appended to the run, a reload,
    dynamics(); then the rest of that epoch. With args.check the result is compared with a fresh
    full aggregation of the grown run."""
    from tb_batch_plugin.read import LogdirIndex, dynamics, release_freed_memory

    run_dir = os.path.join(logdir, "train")
    path = os.path.join(run_dir, next(f for f in os.listdir(run_dir) if "tfevents" in f))
    steps = int(idx.dynamics("train").last_step.max()) + 1
    batches = epoch_batches(np.random.default_rng(args.epochs), args.epochs, args.samples, args.epochs,
                            args.batch, args.classes, args.ids)
    out = {}
    for name, lo, hi in (("few", 0, 20), ("epoch", 20, len(batches))):
        write_steps(path, steps + lo, batches[lo:hi], args.classes, args.ids)
        t = time.perf_counter()
        idx.reload()
        out[name + "_reload_s"] = time.perf_counter() - t
        records, nbytes = dynamics.READS.records, dynamics.READS.bytes
        t, cpu = time.perf_counter(), time.process_time()
        d = idx.dynamics("train")
        out[name + "_s"], out[name + "_cpu"] = time.perf_counter() - t, time.process_time() - cpu
        out[name + "_records"], out[name + "_bytes"] = dynamics.READS.records - records, dynamics.READS.bytes - nbytes
        out[name + "_wanted"] = hi - lo
    out["grown_presentations"] = int(d.presentations.sum())
    release_freed_memory()
    out["grown_rss"] = rss()
    if args.check:
        t = time.perf_counter()
        full = LogdirIndex(logdir).reload().dynamics("train")
        out["full_s"] = time.perf_counter() - t
        worst = 0.0
        for name, a in full.columns().items():
            b = getattr(d, name)
            if a.dtype.kind == "f":
                assert np.array_equal(np.isnan(a), np.isnan(b)), name
                ok = ~np.isnan(a)
                worst = max(worst, float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(a[ok]), 1e-300))))
            else:
                assert np.array_equal(a, b), name
        out["check_rel"] = worst
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1_280_000)
    ap.add_argument("--epochs", type=int, default=90)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--ids", action="store_true", help="record sample ids (8 more bytes a row)")
    ap.add_argument("--logdir", help="where to write the run (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the run (and reuse it if present)")
    ap.add_argument("--check", action="store_true", help="compare the incremental result with a full one")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.measure:
        return measure(args.measure, args)
    logdir = args.logdir or tempfile.mkdtemp(prefix="tbb_dynamics_")
    run_dir = os.path.join(logdir, "train")
    try:
        t = time.perf_counter()
        if not (args.keep and os.path.isdir(run_dir)):
            write_run(run_dir, args.samples, args.epochs, args.batch, args.classes, args.ids)
        write_s = time.perf_counter() - t
        path = os.path.join(run_dir, next(f for f in os.listdir(run_dir) if "tfevents" in f))
        size = os.path.getsize(path)
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", logdir] + sys.argv[1:],
                               check=True, capture_output=True, text=True)
        m = json.loads(child.stdout.strip().splitlines()[-1])
        os.truncate(path, size)  # the epoch the child appended (for --keep)
    finally:
        if not args.keep:
            shutil.rmtree(logdir, ignore_errors=True)
    rows = args.samples * args.epochs
    mb = 1 << 20
    print("Run: %d samples x %d epochs at batch %d (%d classes, %s): %d rows, %.0f MB of event file "
          "(written in %.0f s)\n" % (args.samples, args.epochs, args.batch, args.classes,
                                     "ids" if args.ids else "fingerprints", rows, size / mb, write_s))
    print("| measure | value |\n| --- | --- |")
    for name, value in (
            ("cold index (reload of everything): wall (CPU)", "%.1f s (%.1f s), %.0f MB/s" % (
                m["index_s"], m["index_cpu"], size / mb / m["index_s"])),
            ("index's own bytes (nbytes)", "%.1f MB" % (m["index_nbytes"] / mb)),
            ("RSS before / after the index (peak while indexing)", "%.0f / %.0f MB (%.0f MB)" % (
                m["rss_start"] / mb, m["index_rss"] / mb, m["index_peak"] / mb)),
            ("reload, nothing new", "%.3f s" % m["reload_s"]),
            ("dynamics() first call: wall (CPU)", "%.1f s (%.1f s), %.0f MB/s, %.1f M rows/s" % (
                m["dynamics_s"], m["dynamics_cpu"], size / mb / m["dynamics_s"],
                m["presentations"] / m["dynamics_s"] / 1e6)),
            ("peak RSS during dynamics(), from the RSS after the index (RSS after)", "%.0f MB (%.0f MB)" % (
                m["dynamics_peak"] / mb, m["dynamics_rss"] / mb)),
            ("result: samples, presentations, skipped", "%d, %d, %d" % (m["samples"], m["presentations"],
                                                                       m["skipped"])),
            ("result's columns", "%.0f MB" % (m["result_nbytes"] / mb)),
            ("dynamics() again (memoised)", "%.1f us" % (m["memo_s"] * 1e6)),
            ("label_issues(top=50)", "%.2f s" % m["label_issues_s"]),
            ("presentations(one sample): a scan", "%.1f s (%d found)" % (m["presentations_s"],
                                                                         m["presentations_found"])),
            ("20 steps appended: reload; dynamics(): wall (CPU), records (bytes) read",
             "%.3f s; %.3f s (%.3f s), %d (%.2f MB)" % (m["few_reload_s"], m["few_s"], m["few_cpu"],
                                                      m["few_records"], m["few_bytes"] / mb)),
            ("the rest of the epoch appended (%d steps): reload; dynamics()" % m["epoch_wanted"],
             "%.2f s; %.2f s (%.2f s), %d (%.0f MB)" % (m["epoch_reload_s"], m["epoch_s"], m["epoch_cpu"],
                                                      m["epoch_records"], m["epoch_bytes"] / mb)),
            ("RSS after the increments (index, kept state, result)", "%.0f MB" % (m["grown_rss"] / mb))):
        print("| %s | %s |" % (name, value))
    if "full_s" in m:
        print("\nCheck: a full aggregation of the grown run (%d presentations) in %.1f s; the incremental "
              "result's integer columns equal, floats within %.1e relative" % (
                  m["grown_presentations"], m["full_s"], m["check_rel"]))


if __name__ == "__main__":
    main()
