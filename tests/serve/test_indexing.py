"""Requests never wait for the index: during the first index (and a reload that found new runs)
`runs` answers at once with what is indexed so far and `"indexing": true`, and a run that exists
but is not read yet answers 202 `"indexing": true` (ask again), not 404; once indexed, it answers
its exact points and an unknown run is 404. The slow part is real data: a large event file read
before the small run (runs are read in name order)."""

import json
import os
import time

import numpy as np
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from helpers import fast_writer
from tb_batch_plugin.plugin_loader import BatchesLoader

P = "/data/plugin/tb_batch/"
BIG = 3_000_000  # steps of the run read first: a few seconds of indexing
SMALL = 1_000


def _write(root, big, small):
    fast_writer.write_scalars(fast_writer.event_path(os.path.join(root, big)), "loss", np.arange(BIG),
                              np.ones(BIG, np.float32))
    values = np.random.default_rng(0).normal(size=SMALL).astype(np.float32)
    fast_writer.write_scalars(fast_writer.event_path(os.path.join(root, small)), "loss", np.arange(SMALL), values)
    return values


def _get(client, path):
    r = client.get(P + path)
    return r.status_code, json.loads(r.get_data()), r.headers


def _wait(client, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _get(client, "runs")[1]
        if predicate(body):
            return body
        time.sleep(0.02)
    raise AssertionError("timed out: %r" % (body,))


def _series_of_small(client, run, values):
    status, body, _ = _get(client, "series?run=%s&tag=loss&width=%d" % (run, SMALL))
    assert status == 200, body
    assert body["steps"] == list(range(SMALL))
    assert body["values"] == values.astype(np.float64).tolist()  # exact: float32 as written


def test_a_run_not_indexed_yet_answers_indexing_during_the_first_index(tmp_path):
    values = _write(str(tmp_path), "a_big", "b_small")
    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=str(tmp_path)))
    client = Client(application.TensorBoardWSGI([plugin]))
    start = time.monotonic()
    status, runs, _ = _get(client, "runs")
    status_small, small, headers = _get(client, "series?run=b_small&tag=loss&width=100")
    took = time.monotonic() - start
    first_index_done = plugin._sources.scanned.is_set()
    assert not first_index_done, "the first index ended before the questions: make the big run larger"
    assert status == 200 and runs["indexing"] is True
    assert "b_small" not in [r["run"] for r in runs["runs"]]
    assert status_small == 202, small
    assert small["indexing"] is True and small["run"] == "b_small" and headers["Retry-After"] == "1"
    assert took < 1.0, took  # neither waited for the index

    runs = _wait(client, lambda body: not body["indexing"])
    assert [r["run"] for r in runs["runs"]] == ["a_big", "b_small"]
    _series_of_small(client, "b_small", values)
    status, body, _ = _get(client, "series?run=no_such_run&tag=loss&width=100")
    assert status == 404 and "indexing" not in body


def test_runs_found_by_a_later_reload_answer_indexing_until_read(tmp_path):
    logdir, staging = tmp_path / "logs", tmp_path / "staging"
    fast_writer.write_scalars(fast_writer.event_path(str(logdir / "first")), "loss", np.arange(10),
                              np.ones(10, np.float32))
    values = _write(str(staging), "c_big", "d_small")
    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=str(logdir)))
    client = Client(application.TensorBoardWSGI([plugin]))
    _wait(client, lambda body: not body["indexing"])
    for name in ("c_big", "d_small"):  # both appear at once, complete
        os.rename(staging / name, logdir / name)
    _wait(client, lambda body: body["indexing"], timeout=30)
    status, body, _ = _get(client, "series?run=d_small&tag=loss&width=100")
    after = _get(client, "runs")[1]
    assert after["indexing"] and "c_big" not in [r["run"] for r in after["runs"]], \
        "the big run was read before the questions: make it larger"
    assert status == 202 and body["indexing"] is True, body  # d_small is read after c_big
    status, body, _ = _get(client, "series?run=no_such_run&tag=loss&width=100")
    assert status == 404, body  # the reload's listing is done: unknown runs are unknown
    _wait(client, lambda body: not body["indexing"])
    _series_of_small(client, "d_small", values)
