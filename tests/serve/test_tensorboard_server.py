"""A real `tensorboard` process on 127.0.0.1 (ephemeral port), both --load_fast modes: every step
comes back (100k steps, one spike), appended steps appear after a reload, broken files are
counted, not fatal."""

import json
import struct

import numpy as np
import pytest

from helpers import fast_writer
from helpers import event_files

N = 100_000
SPIKE = 61_234


def _json(resp):
    status, body = resp
    assert status == 200, body[:300]
    return json.loads(body)


@pytest.fixture(scope="module", params=[False, True], ids=["load_fast=false", "load_fast=true"])
def server(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("tb")
    rng = np.random.default_rng(0)
    loss = (2 + 0.05 * rng.normal(size=N)).astype(np.float32)
    loss[SPIKE] = 50.0
    path = fast_writer.event_path(str(d / "train"))
    fast_writer.write_scalars(path, "loss", np.arange(N), loss)
    # A broken run: one corrupted record and a truncated last record.
    bpath = fast_writer.event_path(str(d / "broken"))
    fast_writer.write_scalars(bpath, "x", np.arange(200), np.arange(200, dtype=np.float32))
    off, length = event_files.record_spans(bpath)[51]  # step 50
    event_files.flip_byte(bpath, off + 12 + length // 2)
    with open(bpath, "ab") as f:
        f.write(struct.pack("<Q", 60) + b"\x01\x02")  # a record that is still being written
    tb = event_files.TensorBoardProcess(d, load_fast=request.param)
    yield tb, path, loss
    tb.close()


def test_plugin_is_listed(server):
    tb, _, _ = server
    listing = _json(tb.wait_for("/data/plugins_listing",
                                lambda s, b: s == 200 and b'"tb_batch"' in b))
    meta = listing["tb_batch"]
    assert meta["tab_name"] == "Batches"
    assert meta["enabled"] is True
    assert meta["loading_mechanism"] == {"type": "IFRAME",
                                         "module_path": "/data/plugin/tb_batch/static/index.js"}
    status, body = tb.get("/data/plugin/tb_batch/static/index.js")
    assert status == 200 and body


def test_every_step_and_the_spike_come_back(server):
    tb, _, loss = server
    runs = _json(tb.get("/data/plugin/tb_batch/runs"))
    train = {r["run"]: r for r in runs["runs"]}["train"]
    assert train["source"] == "index"
    assert train["tags"] == [{"tag": "loss", "kind": "scalar", "source": "tb_batch", "provenance": "custom",
                              "count": N, "first_step": 0, "last_step": N - 1}]
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=500"))
    assert s["count"] == N and s["method"] == "m4"
    i = s["steps"].index(SPIKE)
    assert s["values"][i] == 50.0
    assert max(s["values"]) == 50.0 and min(s["values"]) == float(loss.min())
    a = _json(tb.get("/data/plugin/tb_batch/anomalies?run=train"))
    assert a["anomalies"][0]["step"] == SPIKE and a["anomalies"][0]["kind"] == "spike"
    st = _json(tb.get("/data/plugin/tb_batch/step?run=train&step=%d" % SPIKE))
    assert st["scalars"] == {"loss": 50.0}
    status, body = tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=0")
    assert status == 400 and json.loads(body)["parameter"] == "width"
    status, body = tb.get("/data/plugin/tb_batch/series?run=..%2Ftrain&tag=loss&width=5")
    assert status == 404 and b"Traceback" not in body


def test_broken_file_is_counted_not_fatal(server):
    tb, _, _ = server
    runs = _json(tb.get("/data/plugin/tb_batch/runs"))
    assert runs["corrupt_records"] == 1
    broken = {r["run"]: r for r in runs["runs"]}["broken"]
    assert broken["tags"][0]["count"] == 199  # 200 written, step 50 corrupted
    s = _json(tb.get("/data/plugin/tb_batch/series?run=broken&tag=x&width=1000"))
    assert s["steps"] == [k for k in range(200) if k != 50]


def test_appended_steps_appear_after_reload(server):
    tb, path, _ = server
    fast_writer.write_scalars(path, "loss", np.arange(N, N + 1000), np.full(1000, 3.0, np.float32))
    tb.wait_for("/data/plugin/tb_batch/runs",
                lambda s, b: s == 200 and b'"count":%d' % (N + 1000) in b, timeout=30)
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=2000&start=%d" % N))
    assert s["count"] == 1000 and s["steps"] == list(range(N, N + 1000)) and set(s["values"]) == {3.0}


def test_logdir_spec_falls_back_to_sampled_data(tmp_path):
    """--logdir_spec gives the plugin no logdir: it reads TensorBoard's (sampled) data provider
    and says how many points it got out of the step range."""
    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "a")), "loss", np.arange(5000),
                     np.arange(5000, dtype=np.float32))
    tb = event_files.TensorBoardProcess(None, load_fast=False, logdir_spec="exp:%s" % (tmp_path / "a"))
    try:
        runs = _json(tb.wait_for("/data/plugin/tb_batch/runs",
                                 lambda s, b: s == 200 and b'"loss"' in b))
        run = runs["runs"][0]
        name = run["run"]  # TensorBoard's name for it ("exp/.")
        assert name.startswith("exp") and run["source"] == "sampled"
        tag = run["tags"][0]
        assert tag["sampled"]["N"] == tag["last_step"] - tag["first_step"] + 1
        assert 0 < tag["sampled"]["n"] == tag["count"] <= 5000
        s = _json(tb.get("/data/plugin/tb_batch/series?run=%s&tag=loss&width=100" % name))
        assert s["sampled"] == tag["sampled"] and s["count"] == tag["count"]
        assert all(v == float(k) for k, v in zip(s["steps"], s["values"]))
    finally:
        tb.close()
