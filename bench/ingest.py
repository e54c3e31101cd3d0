"""Ingest benchmark: tb_batch's index vs TensorBoard's EventAccumulator keeping every point.

Cases: one run of N per-step scalar events (default 1,000,000), 10 runs of N/10 each, and one run
of N legacy simple_value scalars (as tensorboardX and PyTorch's SummaryWriter write them).
Measured in this process: cold index time, incremental reload of 1,000 appended events,
resident bytes per point (numpy columns, and the process RSS growth), and the latency of the
plugin's `series` route (width 2000) over the full range and a 1% zoom, through TensorBoard's
WSGI application (JSON encoding included). Prints a Markdown table.

    .venv/bin/python bench/ingest.py [--events 1000000] [--no-baseline]
"""

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # tests/helpers

from helpers import fast_writer  # noqa: E402  (fast writer of real tb_batch event files)
from tb_batch_plugin import read  # noqa: E402


def rss():
    """Resident set size, after returning freed heap pages to the OS (glibc keeps them
    otherwise, which would count transient read buffers as if they were held)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def write_logdir(root, runs, per_run, write=fast_writer.write_scalars):
    rng = np.random.default_rng(0)
    paths = []
    for r in range(runs):
        p = fast_writer.event_path(os.path.join(root, "run%02d" % r))
        v = rng.normal(size=per_run).astype(np.float32)
        v[per_run // 3] = 100.0  # one spike
        write(p, "loss", np.arange(per_run), v)
        paths.append(p)
    return paths


def append(path, start, n=1000, write=fast_writer.write_scalars):
    write(path, "loss", np.arange(start, start + n), np.ones(n, np.float32))


def timed(fn, repeat=1):
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best.append(time.perf_counter() - t)
    return out, float(np.median(best))


def bench_index(root, paths, per_run, runs, write):
    gc.collect()
    r0 = rss()
    idx, cold = timed(lambda: read.load(root))
    gc.collect()
    grown = rss() - r0
    points = runs * per_run
    col_bytes = idx.nbytes() / points
    append(paths[0], per_run, write=write)
    _, reload_s = timed(idx.reload)
    assert len(idx.scalars("run00", "loss").steps) == per_run + 1000

    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client
    from tb_batch_plugin.plugin_loader import BatchesLoader

    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=root))
    client = Client(application.TensorBoardWSGI([plugin]))
    client.get("/data/plugin/tb_batch/runs")  # first request indexes (not timed here)
    url = "/data/plugin/tb_batch/series?run=run00&tag=loss&width=2000"
    lo = per_run // 2
    zoom = url + "&start=%d&end=%d" % (lo, lo + per_run // 100 - 1)

    def get(u):
        r = client.get(u)
        assert r.status_code == 200
        return r

    get(url)
    _, full_s = timed(lambda: get(url), repeat=20)
    _, zoom_s = timed(lambda: get(zoom), repeat=20)
    return {"cold": cold, "reload": reload_s, "col_bytes": col_bytes, "rss": grown / points,
            "series_full": full_s, "series_zoom": zoom_s}


def bench_accumulator(root, paths, per_run, runs, write):
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    gc.collect()
    r0 = rss()
    t = time.perf_counter()
    accs = []
    for r in range(runs):
        a = pea.EventAccumulator(os.path.join(root, "run%02d" % r),
                                 size_guidance=pea.STORE_EVERYTHING_SIZE_GUIDANCE)
        a.Reload()
        accs.append(a)
    cold = time.perf_counter() - t
    gc.collect()
    grown = rss() - r0
    n = sum(len(a.Tensors("loss")) for a in accs)
    assert n >= runs * per_run, n
    append(paths[0], per_run + 1000, write=write)
    _, reload_s = timed(accs[0].Reload)
    return {"cold": cold, "reload": reload_s, "col_bytes": None, "rss": grown / (runs * per_run),
            "series_full": None, "series_zoom": None}


def fmt(x, unit):
    if x is None:
        return "n/a"
    if unit == "s":
        return "%.2f s" % x
    if unit == "ms":
        return "%.1f ms" % (x * 1e3)
    return "%.1f B" % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    # Warm-up outside the measurements: imports (TensorBoard's loader pulls in TensorFlow when it
    # is installed) and a tiny index, so RSS growth counts data, not code.
    if not args.no_baseline:
        from tensorboard.compat import tf  # noqa: F401
        from tensorboard.backend.event_processing import plugin_event_accumulator  # noqa: F401
    warm = tempfile.mkdtemp(prefix="tbb-warm-")
    write_logdir(warm, 1, 100)
    read.load(warm).scalars("run00", "loss")
    shutil.rmtree(warm, ignore_errors=True)
    rows = []
    cases = ((1, fast_writer.write_scalars, "scalar"), (10, fast_writer.write_scalars, "scalar"),
             (1, fast_writer.write_simple_values, "simple_value"))
    for runs, write, kind in cases:
        per_run = args.events // runs
        root = tempfile.mkdtemp(prefix="tbb-bench-")
        try:
            paths = write_logdir(root, runs, per_run, write)
            mb = sum(os.path.getsize(p) for p in paths) / 1e6
            case = "%d run%s x %s %s events (%.0f MB)" % (
                runs, "s" if runs > 1 else "", format(per_run, ","), kind, mb)
            rows.append((case, "tb_batch index", bench_index(root, paths, per_run, runs, write)))
            if not args.no_baseline:
                rows.append((case, "EventAccumulator (keep all)",
                             bench_accumulator(root, paths, per_run, runs, write)))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("| case | reader | cold index | reload +1,000 events | column bytes/point | RSS growth/point "
          "| series w=2000 full | series w=2000 1% zoom |")
    print("|---|---|---|---|---|---|---|---|")
    for case, reader, m in rows:
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            case, reader, fmt(m["cold"], "s"), fmt(m["reload"], "ms"), fmt(m["col_bytes"], "B"),
            fmt(m["rss"], "B"), fmt(m["series_full"], "ms"), fmt(m["series_zoom"], "ms")))


if __name__ == "__main__":
    main()
