"""The load clients of bench/serve.py: HTTP requests on keep-alive connections, a tab's session
of requests in a loop (runs, series, distributions, step look-ups, zooms, anomalies), an exporter,
the client processes that run them, and the summary of their latencies."""

import gzip
import http.client
import json
import multiprocessing as mp
import threading
import time

import numpy as np

P = "/data/plugin/tb_batch/"
HEADERS = {"Accept-Encoding": "gzip, deflate"}
DIST_FORMAT = "&format=binary"  # as the tab asks (code that predates it ignores the parameter: JSON)


def get(conn, path, timeout=None):
    """(status, body bytes decompressed, seconds) of one GET on a keep-alive connection."""
    t = time.perf_counter()
    conn.request("GET", path, headers=HEADERS)
    r = conn.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    if r.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return r.status, body, dt


def wait_runs(host, port, predicate, timeout):
    """Polls `runs` until predicate(json) holds; returns the json."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            status, body, _ = get(conn, P + "runs")
            conn.close()
            if status == 200:
                last = json.loads(body)
                if predicate(last):
                    return last
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("timed out waiting for runs: %r" % (str(last)[:300],))


def complete_runs(runs, count, n_runs):
    rs = runs.get("runs", [])
    return (len(rs) == n_runs and not runs.get("loading", False)
            and all(t["count"] == count for r in rs for t in r["tags"]) and all(r["tags"] for r in rs))


# ---------------------------------------------------------------------------------------------
# The load client (a separate process with threads)


def _session(conn, rng, runs, record, stop):
    """What one tab does once: runs, full views, hovers, zooms, anomalies."""
    def go(route, path):
        if stop():
            return None
        try:
            status, body, dt = get(conn, P + path)
        except (OSError, http.client.HTTPException) as e:
            record(route, None, repr(e)[:100])
            raise
        record(route, dt, None if status == 200 else "%d %s" % (status, body[:100]))
        return body

    names = [r["run"] for r in runs]
    first = runs[0]["tags"]
    scalars = [t["tag"] for t in first if t["kind"] == "scalar"]
    dists = [t["tag"] for t in first if t["kind"] == "distribution"]
    last = first[0]["last_step"]
    go("runs", "runs")
    width = int(rng.integers(600, 2001))
    for tag in scalars:
        for run in names:
            go("series", "series?run=%s&tag=%s&width=%d" % (run, tag, width))
    for tag in dists:
        for run in rng.choice(names, 2, replace=False):
            go("distribution", "distribution?run=%s&tag=%s&width=%d&bins=32%s" % (run, tag, width, DIST_FORMAT))
    for _ in range(10):
        run = names[int(rng.integers(len(names)))]
        go("step", "step?run=%s&step=%d" % (run, int(rng.integers(0, last + 1))))
    for _ in range(5):
        run0 = int(rng.integers(len(names)))
        span = int(rng.integers(1000, last // 2))
        start = int(rng.integers(0, last - span))
        tag = scalars[int(rng.integers(len(scalars)))]
        for k in range(3):
            run = names[(run0 + k) % len(names)]
            go("series", "series?run=%s&tag=%s&width=%d&start=%d&end=%d" % (run, tag, width, start, start + span))
    for tag in dists:
        run = names[int(rng.integers(len(names)))]
        go("distribution", "distribution?run=%s&tag=%s&width=%d&bins=32&start=%d&end=%d%s" % (
            run, tag, width, start, start + span, DIST_FORMAT))
    go("anomalies", "anomalies?run=%s" % names[int(rng.integers(len(names)))])


def _exporter(conn, runs, record, stop):
    names = [r["run"] for r in runs]
    i = 0
    while not stop():
        try:
            status, body, dt = get(conn, P + "export?run=%s&tag=loss&format=csv" % names[i % len(names)])
            record("export", dt, None if status == 200 and body.count(b"\n") > 1000 else "%d" % status)
        except (OSError, http.client.HTTPException) as e:
            record("export", None, repr(e)[:100])
            conn.close()
        i += 1


def client_process(host, port, threads, seconds, warmup, seed, runs, export, out):
    """Runs `threads` tab sessions in a loop for warmup + seconds; puts (route, latency, error)
    of the requests that started after the warm-up into `out`."""
    t0 = time.time()
    t_start, t_end = t0 + warmup, t0 + warmup + seconds
    results = []
    lock = threading.Lock()

    def stop():
        return time.time() >= t_end

    def record(route, dt, err):
        if time.time() - (dt or 0) >= t_start:
            with lock:
                results.append((route, dt, err))

    def worker(k):
        rng = np.random.default_rng(seed * 1000 + k)
        conn = http.client.HTTPConnection(host, port, timeout=300)
        if export and k == 0:
            return _exporter(conn, runs, record, stop)
        while not stop():
            try:
                _session(conn, rng, runs, record, stop)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=300)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(results)


def run_load(server, runs, clients, seconds, warmup=10, export=False, procs=4):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    if export:
        per[0] += 1
    ps = [ctx.Process(target=client_process,
                      args=(server.host, server.port, per[k], seconds, warmup, k + 1, runs, export and k == 0, q))
          for k in range(procs)]
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.5):
            peak[0] = max(peak[0], server.rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    for p in ps:
        p.start()
    results = []
    for _ in ps:
        results += q.get()
    for p in ps:
        p.join()
    done.set()
    sampler.join()
    return results, peak[0]


def summarize(results, seconds):
    out = {"total": sum(1 for r in results if r[0] != "export") / seconds,
           "errors": sum(1 for r in results if r[2] is not None),
           "error_examples": sorted({r[2] for r in results if r[2] is not None})[:3]}
    for route in ("runs", "series", "distribution", "step", "anomalies", "export"):
        lat = np.array([r[1] for r in results if r[0] == route and r[1] is not None])
        if lat.size:
            out[route] = (lat.size, np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3)
    return out
