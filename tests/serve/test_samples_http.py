"""The samples routes of a real tensorboard: the recorded samples of a step, the hardest samples of
a step range, per-class losses per pixel column; the error contract of the other routes."""

import json
import urllib.parse

import keras
import numpy as np
import pytest

from helpers import event_files
import tb_batch_plugin as tbb

N, FEATURES, CLASSES, BATCH = 203, 8, 3, 32


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("samples_http")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, N)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(CLASSES)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[tbb.BatchStats(str(d / "run"), samples=4)])
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[tbb.BatchStats(str(d / "plain"), samples=0)])
    tb = event_files.TensorBoardProcess(d, load_fast=False)
    tb.wait_for("/data/plugin/tb_batch/runs", lambda status, body: status == 200 and not json.loads(body)["indexing"],
                timeout=120)  # requests never wait for the first index
    yield tb, tbb.load(str(d))
    tb.close()


def _get(tb, route, **params):
    status, body = tb.get("/data/plugin/tb_batch/%s?%s" % (route, urllib.parse.urlencode(params)))
    return status, json.loads(body)


def test_runs_say_which_runs_have_samples(server):
    tb, _ = server
    runs = {r["run"]: r for r in _get(tb, "runs")[1]["runs"]}
    assert runs["run/train"]["samples"] is True and runs["run/train"]["per_class"] == [None]
    assert runs["plain/train"]["samples"] is False and runs["plain/train"]["per_class"] == []


def test_samples_of_a_step(server):
    tb, data = server
    status, r = _get(tb, "samples", run="run/train", step=9)
    assert status == 200 and r["found"] is True and r["num_samples"] == 4
    expected = data.samples("run/train").rows(9)
    assert [s["fingerprint"] for s in r["samples"]] == expected["fingerprint"]
    np.testing.assert_array_equal([s["loss"] for s in r["samples"]], expected["loss"])
    np.testing.assert_array_equal([s["label"] for s in r["samples"]], expected["label"])
    assert r["share"] == pytest.approx(float(expected["share"].sum()))
    assert all(sample["id"] is None for sample in r["samples"])
    assert _get(tb, "samples", run="run/train", step=10**6)[1]["found"] is False


def test_steps_of_one_sample(server):
    tb, data = server
    series = data.samples("run/train")
    fingerprint = data.hardest("run/train", top=1)[0]["fingerprint"]
    expected = [int(st) for i, st in enumerate(series.steps) if fingerprint in series.rows(i)["fingerprint"]]
    status, r = _get(tb, "samples", run="run/train", fingerprint=fingerprint)
    assert status == 200 and r["steps"] == expected and len(expected) == data.hardest("run/train", top=1)[0]["count"]
    losses = []
    for st in expected:
        rows = series.rows(series.steps.tolist().index(st))
        losses.append(float(rows["loss"][rows["fingerprint"].index(fingerprint)]))
    assert r["loss"] == losses
    window = _get(tb, "samples", run="run/train", fingerprint=fingerprint, start=expected[-1], end=expected[-1])[1]
    assert window["steps"] == [expected[-1]]


def test_hardest_and_per_class(server):
    tb, data = server
    status, r = _get(tb, "hardest", run="run/train", start=0, end=13, top=5)
    assert status == 200 and len(r["samples"]) == 5
    assert r["samples"] == json.loads(json.dumps(data.hardest("run/train", 0, 13, 5)))
    per_class = data.per_class("run/train")
    status, r = _get(tb, "per_class", run="run/train", width=5)
    assert status == 200 and r["reduced"] is True and r["classes"] == CLASSES
    for c, (first, last) in enumerate(zip(r["steps"], r["step_ends"])):
        inside = (per_class.steps >= first) & (per_class.steps <= last)
        counts = per_class.counts[inside]
        np.testing.assert_array_equal(r["counts"][c], counts.sum(0))
        with np.errstate(invalid="ignore"):
            expected = np.nansum(per_class.means[inside] * counts, 0) / counts.sum(0)
        np.testing.assert_allclose([float(v) for v in r["means"][c]], expected, rtol=1e-12)
    raw = _get(tb, "per_class", run="run/train", width=1000)[1]
    assert raw["reduced"] is False and raw["steps"] == per_class.steps.tolist()


@pytest.mark.parametrize("route,params,code,parameter", [
    ("samples", {"run": "run/train"}, 400, "step"),
    ("samples", {"run": "run/train", "step": "1.5"}, 400, "step"),
    ("samples", {"run": "nope", "step": 1}, 404, None),
    ("samples", {"run": "plain/train", "step": 1}, 404, None),
    ("samples", {"run": "run/train", "fingerprint": "xyz"}, 400, "fingerprint"),
    ("hardest", {"run": "run/train", "top": 0}, 400, "top"),
    ("hardest", {"run": "run/train", "start": 9, "end": 3}, 400, "start"),
    ("per_class", {"run": "run/train"}, 400, "width"),
    ("per_class", {"run": "run/train", "width": 5, "output": "other"}, 404, None),
])
def test_errors(server, route, params, code, parameter):
    tb, _ = server
    status, r = _get(tb, route, **params)
    assert status == code and "error" in r
    assert r.get("parameter") == parameter
