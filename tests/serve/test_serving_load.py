"""Concurrent clients against a real `tensorboard` while a run grows: every request answers (no
error, no hang), every answer is well formed, and the data served after the writes is exactly
what was written. Not timed (bench/serve.py measures)."""

import gzip
import http.client
import json
import threading
import urllib.parse

import numpy as np
import pytest

from helpers import fast_writer
from helpers import event_files
from helpers import indexed

P = "/data/plugin/tb_batch/"
RUNS = 4
N = 20_000
APPENDS = 8
APPEND = 500
THREADS = 16
REQUESTS = 30


def _loss(run, n):
    return np.random.default_rng(run).normal(size=n).astype(np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("load")
    paths = []
    for r in range(RUNS):
        path = fast_writer.event_path(str(d / ("run%d" % r)))
        fast_writer.write_scalars(path, "loss", np.arange(N), _loss(r, N))
        samples = np.random.default_rng(100 + r).normal(size=(N, 8))
        fast_writer.write_distributions(path, "per_sample_loss", np.arange(N), samples)
        paths.append(path)
    tb = event_files.TensorBoardProcess(d, load_fast=True)
    # requests never wait for the first index: the clients start once every run is indexed
    tb.wait_for(P + "runs", lambda status, body: status == 200 and not json.loads(body)["indexing"], timeout=120)
    yield tb, paths
    tb.close()


def _get(conn, path):
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse()
    body = r.read()
    if r.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return r.status, r.getheader("Content-Type"), body


def _check(route, ctype, body):
    """Well-formed answers: JSON that parses, series in strictly increasing steps."""
    if route == "export":
        assert body.startswith(b"step,wall_time,")
        return
    assert ctype.startswith("application/json")
    obj = json.loads(body)
    if route == "series":
        assert len(obj["steps"]) == len(obj["values"]) == len(obj["wall_times"])
        assert all(a < b for a, b in zip(obj["steps"], obj["steps"][1:]))
    elif route == "distribution":
        assert len(obj["steps"]) == len(obj["heatmap"]["counts"]) == len(obj["min"])


def test_concurrent_clients_while_a_run_grows(server):
    tb, paths = server
    host, port = urllib.parse.urlsplit(tb.url).netloc.split(":")
    failures = []
    done = threading.Event()

    def client(k):
        rng = np.random.default_rng(k)
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            for i in range(REQUESTS):
                run = "run%d" % rng.integers(RUNS)
                a = int(rng.integers(0, N - 1000))
                b = a + int(rng.integers(100, N - a))
                width = int(rng.integers(50, 2000))
                route, q = [
                    ("runs", "runs"),
                    ("series", "series?run=%s&tag=loss&width=%d" % (run, width)),
                    ("series", "series?run=%s&tag=loss&width=%d&start=%d&end=%d" % (run, width, a, b)),
                    ("distribution", "distribution?run=%s&tag=per_sample_loss&width=%d" % (run, width)),
                    ("distribution", "distribution?run=%s&tag=per_sample_loss&width=%d&start=%d&end=%d&bins=%d"
                     % (run, width, a, b, rng.integers(1, 257))),
                    ("step", "step?run=%s&step=%d" % (run, a)),
                    ("anomalies", "anomalies?run=%s" % run),
                    ("export", "export?run=%s&tag=loss&format=csv" % run),
                ][i % 8]
                status, ctype, body = _get(conn, P + q)
                if status != 200:
                    failures.append((q, status, body[:200]))
                    continue
                _check(route, ctype, body)
        except Exception as e:  # reported below: a failed assertion, a timeout, a reset
            failures.append((k, repr(e)[:300]))
        finally:
            conn.close()

    def writer():
        for j in range(APPENDS):
            start = N + j * APPEND
            fast_writer.write_scalars(paths[0], "loss", np.arange(start, start + APPEND), _loss(1000 + j, APPEND))
            done.wait(0.3)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(THREADS)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    done.set()
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert failures == []
    total = N + APPENDS * APPEND
    tb.wait_for(P + "runs", lambda s, b: s == 200 and b'"count":%d' % total in b, timeout=60)
    status, body = tb.get(P + "series?run=run0&tag=loss&width=20000&start=%d" % N)
    s = json.loads(body)
    expected = np.concatenate([_loss(1000 + j, APPEND) for j in range(APPENDS)]).astype(np.float64)
    assert s["steps"] == list(range(N, total)) and s["values"] == expected.tolist()


def test_gzip_for_remote_clients_only(tmp_path):
    """A browser elsewhere gets gzip (as from TensorBoard's own routes), one on this machine the
    plain body; both the same JSON."""
    from tensorboard.plugins import base_plugin

    from tb_batch_plugin.plugin_loader import BatchesLoader

    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "r")), "loss", np.arange(5000), _loss(0, 5000))
    client = indexed.client(BatchesLoader().load(base_plugin.TBContext(logdir=str(tmp_path))))
    bodies = []
    for addr, encoding in (("10.0.0.7", "gzip"), ("127.0.0.1", None), ("::1", None)):
        r = client.get(P + "series?run=r&tag=loss&width=5000", headers={"Accept-Encoding": "gzip"},
                       environ_base={"REMOTE_ADDR": addr})
        assert r.status_code == 200 and r.headers.get("Content-Encoding") == encoding, addr
        assert r.headers["Content-Type"] == "application/json" and r.headers["X-Content-Type-Options"] == "nosniff"
        body = r.get_data()
        bodies.append(gzip.decompress(body) if encoding else body)
    assert bodies[0] == bodies[1] == bodies[2]
    assert json.loads(bodies[0])["values"] == _loss(0, 5000).astype(np.float64).tolist()
