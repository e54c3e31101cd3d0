"""Serving benchmark: the plugin inside a real `tensorboard` (TensorBoard's threaded werkzeug
server), driven over HTTP from separate client processes, for this tree's code and, with
--baseline REV, the code of a git revision, in the same run on the same files.

Phases (each code version gets a fresh TensorBoard per phase):

* single: one client, one run of 1,000,000 steps (a scalar and a distribution): latency of
  `series` and `distribution` (JSON, then `format=binary` as the tab asks it; its first request
  comes after the JSON ones) at width 2000 over the full range (first request, and repeated),
  and over the same 20 random zoomed ranges (each asked once).
* load: 10 runs x 200,000 steps (two scalars and a distribution each); 32 clients in 4 processes
  for --seconds, each repeating what a tab does: `runs`, every run's series of both scalars at
  full range, two distributions (`format=binary`), ten `step` look-ups (hover), five zooms
  (series of three runs over a random range), a zoomed distribution and one `anomalies`;
  widths 600..2000, bins 32,
  Accept-Encoding gzip as a browser. Anomaly scores are computed once per run before (they are
  cached per series), then 10 s of warm-up, then the timed phase. Then the same with one more
  client downloading a full-resolution CSV export in a loop: the others' p99 with it / without.
* memory: 10 runs x 1,000,000 scalar steps moved into the logdir of a running TensorBoard: its
  RSS (/proc/PID/status VmRSS, what `ps` shows) growth per point after indexing, after the
  anomaly scores of every run, the peak during a load phase on them, and 22 s after it.
* cold: the load phase's mixed load on a TensorBoard just started over the 10 x 200,000 runs
  and the 1,000,000-step run (nothing asked before, no warm-up): the clients start as soon as
  `runs` lists every run with its tags (what a user opening the tab sees first); requests/s and
  p50/p99 per route over the first --seconds, and the time from start until every run was listed.
* many: 1,000 runs of 1,000 steps (two scalars each): TensorBoard started on them; the time
  until the first `runs` answer, the first one listing a run, and the one listing every run
  (no longer `indexing`); the server's RSS per run against TensorBoard on an empty logdir.
* remote: a logdir on S3 (moto's S3 server on 127.0.0.1), 300 runs x 1,000 steps, read without
  TensorFlow: requests, wall time and CPU per reload of the index alone (first, idle, after a
  change), and in a real TensorBoard the requests and CPU of 30 s idle and the time until new
  data is shown (bench/remote_logdir.py).
* files: how long `runs` takes with a 1 GiB zero-filled event file and with a FIFO in the logdir
  (this tree only: the baseline blocks on a FIFO), and the in-process skip rate of zero-filled
  and random stretches (_resync) for both versions.

    .venv/bin/python bench/serve.py [--baseline REV] [--seconds 60] [--data DIR] [--phases ...]

Prints Markdown tables. The machine's load average is printed with them: other work on the
machine moves every figure.
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from helpers import fast_writer  # noqa: E402  (fast writer of real tb_batch event files)
from helpers import event_files  # noqa: E402  (the TensorBoard launcher script)
import remote_logdir  # noqa: E402  (the remote phase)

from serve_load import P, complete_runs, get, run_load, summarize, wait_runs  # noqa: E402  (the clients)

SCALE = 1.0  # --scale: fewer steps for a quick try (the tables are for 1.0)


# ---------------------------------------------------------------------------------------------
# Data


def _write_run(run_dir, steps, dist=True, seed=0):
    rng = np.random.default_rng(seed)
    path = fast_writer.event_path(run_dir)
    loss = (2 + 0.1 * rng.normal(size=steps)).astype(np.float32)
    loss[steps // 3] = 40.0
    fast_writer.write_scalars(path, "loss", np.arange(steps), loss)
    if dist:
        fast_writer.write_scalars(path, "accuracy", np.arange(steps), rng.uniform(size=steps).astype(np.float32))
        chunk = 100_000
        for a in range(0, steps, chunk):
            b = min(steps, a + chunk)
            samples = rng.gamma(2.0, 1.0 + np.arange(a, b)[:, None] * 1e-6, size=(b - a, 16))
            fast_writer.write_distributions(path, "per_sample_loss", np.arange(a, b), samples)


def make_many(root, runs=1000, steps=1000):
    """root/many: `runs` runs of `steps` steps (loss and accuracy); kept between runs (--data)."""
    many = os.path.join(root, "many")
    done = os.path.join(root, "done-many-%d" % runs)
    if not os.path.exists(done):
        shutil.rmtree(many, ignore_errors=True)
        rng = np.random.default_rng(0)
        for r in range(runs):
            path = fast_writer.event_path(os.path.join(many, "run%04d" % r))
            fast_writer.write_scalars(path, "loss", np.arange(steps), rng.normal(size=steps).astype(np.float32))
            fast_writer.write_scalars(path, "accuracy", np.arange(steps), rng.uniform(size=steps).astype(np.float32))
        open(done, "w").write("ok\n")
    return many


def _n(steps):
    return int(steps * SCALE)


def make_data(root):
    """root/single (1 x 1M, with a distribution), root/load (10 x 200k), root/mem (10 x 1M
    scalars); kept between runs (--data)."""
    done = os.path.join(root, "done-%g" % SCALE)
    if os.path.exists(done):
        return
    t = time.time()
    _write_run(os.path.join(root, "single", "run"), _n(1_000_000))
    for r in range(10):
        _write_run(os.path.join(root, "load", "run%02d" % r), _n(200_000), seed=r)
        _write_run(os.path.join(root, "mem", "run%02d" % r), _n(1_000_000), dist=False, seed=r)
    open(done, "w").write("%.0f s\n" % (time.time() - t))


# ---------------------------------------------------------------------------------------------
# A TensorBoard process running a given copy of the code


class Server(event_files.TensorBoardProcess):
    """TensorBoard (--load_fast auto, as a user starts it) with tb_batch from `code_dir`."""

    def __init__(self, logdir, code_dir):
        super().__init__(logdir, "auto", code=code_dir)
        self.host, port = self.url.split("//")[1].split(":")
        self.port = int(port)

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


# ---------------------------------------------------------------------------------------------
# Phases


def phase_single(data, code):
    srv = Server(os.path.join(data, "single"), code)
    try:
        runs = wait_runs(srv.host, srv.port, lambda r: complete_runs(r, _n(1_000_000), 1), 600)
        print("  (the server runs the code of %s: its runs %s 'loading')" % (code, "have" if "loading" in runs else "lack"))
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=600)
        out = {}
        for route, q in (("series", "series?run=run&tag=loss&width=2000"),
                         ("distribution", "distribution?run=run&tag=per_sample_loss&width=2000&bins=32"),
                         ("distribution (format=binary, the tab's)",
                          "distribution?run=run&tag=per_sample_loss&width=2000&bins=32&format=binary")):
            rng = np.random.default_rng(5)  # the same zooms for every route
            status, _, first = get(conn, P + q)
            assert status == 200, status
            again = [get(conn, P + q)[2] for _ in range(10)]
            zooms = []
            for _ in range(20):
                span = int(rng.integers(_n(20_000), _n(900_000)))
                start = int(rng.integers(0, _n(1_000_000) - span))
                status, _, dt = get(conn, P + q + "&start=%d&end=%d" % (start, start + span))
                assert status == 200, status
                zooms.append(dt)
            out[route] = (first * 1e3, np.median(again) * 1e3, np.median(zooms) * 1e3,
                          np.percentile(zooms, 90) * 1e3)
        return out
    finally:
        srv.close()


def score_anomalies(srv, runs):
    """Asks `anomalies` of every run once: the spike scores of a series are computed on first
    use (about 0.3 s per 200,000 points) and cached; the timed phase measures the steady state."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=600)
    for r in runs:
        assert get(conn, P + "anomalies?run=%s" % r["run"])[0] == 200
    conn.close()


def phase_load(data, code, seconds, clients=32):
    srv = Server(os.path.join(data, "load"), code)
    try:
        runs = wait_runs(srv.host, srv.port, lambda r: complete_runs(r, _n(200_000), 10), 900)["runs"]
        score_anomalies(srv, runs)
        plain, _ = run_load(srv, runs, clients, seconds)
        with_export, _ = run_load(srv, runs, clients, seconds, export=True)
        return summarize(plain, seconds), summarize(with_export, seconds)
    finally:
        srv.close()


def phase_cold(data, code, seconds, clients=32):
    """The mixed load from the moment `runs` lists every run of a TensorBoard just started (see
    the module's docstring): (summary, seconds from start until every run was listed)."""
    logdir = tempfile.mkdtemp(prefix="tbb-cold-")
    for name in sorted(os.listdir(os.path.join(data, "load"))):
        os.symlink(os.path.join(data, "load", name), os.path.join(logdir, name))
    os.symlink(os.path.join(data, "single", "run"), os.path.join(logdir, "single"))
    t0 = time.time()
    srv = Server(logdir, code)
    try:
        runs = wait_runs(srv.host, srv.port, lambda r: len(r.get("runs", [])) == 11
                         and all(len(x["tags"]) == 3 for x in r["runs"]), 900)["runs"]
        listed = time.time() - t0
        results, _ = run_load(srv, runs, clients, seconds, warmup=0)
        return summarize(results, seconds), listed
    finally:
        srv.close()
        shutil.rmtree(logdir, ignore_errors=True)


def _first_answers(srv, n_runs, timeout=600):
    """Seconds from now until `runs` first answers 200, first lists a run (polling every 20 ms),
    lists all `n_runs` and no longer says `indexing` or `loading` (then polling every 0.5 s, as
    a tab would: each answer while runs are added lists them all again)."""
    t0 = time.time()
    out = {}
    conn = None
    while time.time() - t0 < timeout:
        try:
            conn = conn or http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
            status, body, _ = get(conn, P + "runs")
        except (OSError, http.client.HTTPException):
            conn = None
            time.sleep(0.02)
            continue
        if status == 200:
            r = json.loads(body)
            n = len(r.get("runs", []))
            out.setdefault("first_answer", time.time() - t0)
            if n:
                out.setdefault("first_run", time.time() - t0)
            if n == n_runs and not r.get("indexing") and not r.get("loading"):
                out["all_runs"] = time.time() - t0
                return out
        time.sleep(0.5 if "first_run" in out else 0.02)
    raise RuntimeError("timed out waiting for %d runs: %r" % (n_runs, out))


def phase_many(data, code, n_runs=1000):
    """TensorBoard started on `n_runs` runs (make_many): when `runs` answers, and RSS per run."""
    many = make_many(data, n_runs)
    empty = tempfile.mkdtemp(prefix="tbb-empty-")
    srv = Server(empty, code)
    try:
        wait_runs(srv.host, srv.port, lambda r: "runs" in r, 120)
        time.sleep(3)
        rss_empty = srv.rss()
    finally:
        srv.close()
        shutil.rmtree(empty, ignore_errors=True)
    srv = Server(many, code)
    try:
        out = _first_answers(srv, n_runs)
        time.sleep(3)
        out["rss_per_run"] = (srv.rss() - rss_empty) / n_runs
        out["rss_empty"] = rss_empty
        return out
    finally:
        srv.close()


def phase_memory(data, code, seconds, clients=32):
    live = tempfile.mkdtemp(prefix="tbb-mem-")
    srv = Server(live, code)
    src = os.path.join(data, "mem")
    moved = []
    try:
        wait_runs(srv.host, srv.port, lambda r: "runs" in r, 120)
        time.sleep(3)
        rss0 = srv.rss()
        for name in sorted(os.listdir(src)):
            os.rename(os.path.join(src, name), os.path.join(live, name))
            moved.append(name)
        t = time.time()
        runs = wait_runs(srv.host, srv.port, lambda r: complete_runs(r, _n(1_000_000), 10), 900)["runs"]
        index_s = time.time() - t
        time.sleep(3)
        rss1 = srv.rss()
        score_anomalies(srv, runs)
        time.sleep(12)
        rss_scored = srv.rss()
        _, peak = run_load(srv, runs, clients, seconds, warmup=0, procs=2)
        time.sleep(2 * 10 + 2)  # idle: what the server keeps
        rss2 = srv.rss()
        n = 10 * _n(1_000_000)
        return {"index_s": index_s, "after_index": (rss1 - rss0) / n, "after_scores": (rss_scored - rss0) / n,
                "peak_load": (peak - rss0) / n, "after_load": (rss2 - rss0) / n, "rss0": rss0}
    finally:
        srv.close()
        for name in moved:
            os.rename(os.path.join(live, name), os.path.join(src, name))
        shutil.rmtree(live, ignore_errors=True)


def _skip_rate(code, kind, size):
    """MB/s at which the index reads past a corrupt stretch of `size` zero (or random) bytes
    between two valid records: index.load of the file, in a subprocess running `code`."""
    prog = r"""
import os, sys, tempfile, time, numpy as np
sys.path.insert(0, sys.argv[3])
from helpers import fast_writer
from tb_batch_plugin import read
kind, size = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp(prefix="tbb-skip-")
path = fast_writer.event_path(os.path.join(d, "run"))
fast_writer.write_scalars(path, "loss", np.arange(10), np.ones(10, np.float32))
with open(path, "ab") as f:
    if kind == "zeros":
        f.truncate(os.path.getsize(path) + size)
    else:
        rng = np.random.default_rng(0)
        for _ in range(size >> 24):
            f.write(rng.integers(1, 256, 1 << 24, dtype=np.uint8).tobytes())
fast_writer.write_scalars(path, "loss", np.arange(10, 20), np.ones(10, np.float32))
open(path, "rb").read()  # in the page cache, as a file just written is
t = time.perf_counter()
idx = read.load(d)
dt = time.perf_counter() - t
assert len(idx.scalars("run", "loss").steps) == 20
print(size / dt / 1e6)
os.remove(path)
"""
    out = subprocess.run([sys.executable, "-c", prog, kind, str(size), os.path.join(REPO, "tests")],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=code), timeout=1800,
                         cwd=code)  # `python -c` puts the working directory first on sys.path
    return float(out.stdout.strip()) if out.returncode == 0 else None


def phase_files(code, hostile):
    out = {}
    for kind, size in (("zeros", 1 << 30 if hostile else 64 << 20), ("random", 256 << 20 if hostile else 32 << 20)):
        out[kind] = _skip_rate(code, kind, size)
    if not hostile:
        return out
    for case in ("zeros", "fifo"):
        d = tempfile.mkdtemp(prefix="tbb-files-")
        try:
            fast_writer.write_scalars(fast_writer.event_path(os.path.join(d, "ok")), "loss", np.arange(1000), np.ones(1000, np.float32))
            os.makedirs(os.path.join(d, "bad"))
            path = os.path.join(d, "bad", "events.out.tfevents.1.bad")
            if case == "fifo":
                os.mkfifo(path)
            else:
                with open(path, "wb") as f:
                    f.truncate(1 << 30)
            srv = Server(d, code)
            try:
                t = time.time()
                r = wait_runs(srv.host, srv.port, lambda r: len(r.get("runs", [])) == 2, 120)
                out[case + "_runs_s"] = time.time() - t
                out[case + "_skipped"] = {x["run"]: x.get("skipped") for x in r["runs"]}["bad"]
            finally:
                srv.close()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return out


def extract(rev):
    """The tb_batch_plugin package of git revision `rev`, in a temporary directory."""
    d = tempfile.mkdtemp(prefix="tbb-rev-")
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "tb_batch_plugin"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", d], input=archive.stdout, check=True)
    return d


def load_average():
    return " / ".join(open("/proc/loadavg").read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="git revision whose code to measure too (e.g. the code before a change)")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--data", help="directory for the generated logs (kept, reused)")
    ap.add_argument("--phases", nargs="*", default=["single", "load", "memory", "files"])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the steps (a quick try)")
    args = ap.parse_args()
    global SCALE
    SCALE = args.scale
    data = args.data or tempfile.mkdtemp(prefix="tbb-serve-")
    make_data(data)
    versions = [("this tree", REPO)]
    if args.baseline:
        versions.insert(0, ("baseline %s" % args.baseline, extract(args.baseline)))
    print("load average at start: %s" % load_average(), flush=True)
    results = {name: {} for name, _ in versions}
    phases = {"single": lambda code: phase_single(data, code),
              "load": lambda code: phase_load(data, code, args.seconds),
              "memory": lambda code: phase_memory(data, code, max(20, args.seconds // 2)),
              "cold": lambda code: phase_cold(data, code, args.seconds),
              "many": lambda code: phase_many(data, code),
              "remote": lambda code: remote_logdir.phase_remote(code),
              "files": lambda code: phase_files(code, hostile=code == REPO)}
    for phase in (p for p in phases if p in args.phases):  # versions interleaved per phase
        for name, code in versions:
            results[name][phase] = phases[phase](code)
            print(name, phase, results[name][phase], "load average %s" % load_average(), flush=True)
    print("load average at end: %s\n" % load_average())
    report(results)
    if not args.data:
        shutil.rmtree(data, ignore_errors=True)


def _table(*columns):
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def report(results):
    names = list(results)
    if all("single" in results[n] for n in names):
        _table("code", "route (width 2000, 1M steps)", "first request", "repeated (median)", "20 zooms median",
               "zooms p90")
        for n in names:
            for route, (first, again, zm, z90) in results[n]["single"].items():
                print("| %s | %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (n, route, first, again, zm, z90))
        print()
    if all("load" in results[n] for n in names):
        _table("code", "export running", "requests/s", "errors", "runs p50/p99", "series p50/p99", "step p50/p99",
               "distribution p50/p99", "anomalies p50/p99")
        for n in names:
            for label, s in zip(("no", "yes"), results[n]["load"]):
                cells = []
                for route in ("runs", "series", "step", "distribution", "anomalies"):
                    cells.append("%.0f / %.0f ms" % s[route][1:] if route in s else "n/a")
                print("| %s | %s | %.1f | %d | %s |" % (n, label, s["total"], s["errors"], " | ".join(cells)))
            plain, exp = results[n]["load"]
            ratios = ["%s %.2fx" % (r, exp[r][2] / plain[r][2]) for r in ("runs", "series", "step")
                      if r in plain and r in exp]
            print("| %s | p99 with export / without | %s | | | | | | |" % (n, ", ".join(ratios)))
        print()
    if all("cold" in results[n] for n in names):
        _table("code", "every run listed after", "requests/s", "errors", "runs p50/p99", "series p50/p99",
               "step p50/p99", "distribution p50/p99", "anomalies p50/p99")
        for n in names:
            s, listed = results[n]["cold"]
            cells = ["%.0f / %.0f ms" % s[route][1:] if route in s else "n/a"
                     for route in ("runs", "series", "step", "distribution", "anomalies")]
            print("| %s | %.1f s | %.1f | %d | %s |" % (n, listed, s["total"], s["errors"], " | ".join(cells)))
        print()
    if all("many" in results[n] for n in names):
        _table("code", "first `runs` answer", "first run listed", "every run listed", "RSS per run")
        for n in names:
            m = results[n]["many"]
            print("| %s | %.2f s | %.2f s | %.1f s | %.0f KiB |" % (
                n, m["first_answer"], m.get("first_run", float("nan")), m["all_runs"], m["rss_per_run"] / 1024))
        print()
    if all("memory" in results[n] for n in names):
        _table("code", "index 10 x 1M", "RSS growth/point after indexing", "after anomaly scores",
               "peak under load", "after load")
        for n in names:
            m = results[n]["memory"]
            print("| %s | %.1f s | %.1f B | %.1f B | %.1f B | %.1f B |" % (
                n, m["index_s"], m["after_index"], m["after_scores"], m["peak_load"], m["after_load"]))
        print()
    if all("remote" in results[n] for n in names):
        remote_logdir.report({n: results[n]["remote"] for n in names})
    if all("files" in results[n] for n in names):
        _table("code", "skip zeros", "skip random bytes", "`runs` with a 1 GiB zero file", "`runs` with a FIFO")
        for n in names:
            f = results[n]["files"]
            rate = lambda k: "%.0f MB/s" % f[k] if f.get(k) else "n/a"  # noqa: E731
            secs = lambda k: "%.1f s (%s)" % (f[k], f[k.replace("_runs_s", "_skipped")]) if k in f else "not run"  # noqa: E731
            print("| %s | %s | %s | %s | %s |" % (n, rate("zeros"), rate("random"), secs("zeros_runs_s"),
                                                 secs("fifo_runs_s")))


if __name__ == "__main__":
    main()
