"""The dynamics routes of a real tensorboard (`dynamics`, `label_issues`, `dynamics_sample`) on
runs Keras trained with BatchStats' per-sample dynamics; every expected value is computed here with
numpy from the rows in the event files, decoded by the contract in ``metadata`` (not by the
package's reader); the error contract of the other routes."""

import json
import urllib.parse

import keras
import numpy as np
import pytest
from scipy.stats import rankdata

from helpers import dynamics_files, event_files
import tb_batch_plugin as tbb
from tb_batch_plugin import metadata

N, FEATURES, CLASSES, BATCH, EPOCHS, FLIPPED = 203, 8, 3, 32, 6, 12
BIG = 5100  # more samples than the route sends as points


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("dynamics_http")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = (x[:, :CLASSES] * [1.0, 0.8, 0.6]).argmax(1)
    y[:FLIPPED] = (y[:FLIPPED] + 1) % CLASSES  # mislabelled on purpose
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(CLASSES)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
              callbacks=[tbb.BatchStats(str(d / "clf"), samples=0)])
    # two outputs, one of them a regression (loss only), with ids
    inputs = {"features": keras.Input((FEATURES,), name="features"),
              "row": keras.Input((), dtype="int64", name="row")}
    hidden = keras.layers.Dense(8, activation="relu")(inputs["features"])
    two = keras.Model(inputs, {"digit": keras.layers.Dense(CLASSES, name="digit")(hidden),
                               "value": keras.layers.Dense(1, name="value")(hidden)})
    two.compile(keras.optimizers.SGD(0.05),
                loss={"digit": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "value": "mse"})
    ids = np.arange(N) + 2 ** 40
    two.fit({"features": x, "row": ids}, {"digit": y, "value": x[:, 0]}, batch_size=BATCH, epochs=2,
            verbose=0,
            callbacks=[tbb.BatchStats(str(d / "two"), samples=0, sample_ids="row")])
    big_x = rng.normal(size=(BIG, 2)).astype("float32")
    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    small.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    small.fit(big_x, (big_x[:, 0] > 0).astype(int), batch_size=512, epochs=1, verbose=0,
              callbacks=[tbb.BatchStats(str(d / "big"), samples=0)])
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
              callbacks=[tbb.BatchStats(str(d / "plain"), dynamics=False)])
    tb = event_files.TensorBoardProcess(d, load_fast=False)
    tb.wait_for("/data/plugin/tb_batch/runs", lambda status, body: status == 200 and not json.loads(body)["indexing"],
                timeout=120)  # requests never wait for the first index
    yield tb, d
    tb.close()


def _get(tb, route, **params):
    status, body = tb.get("/data/plugin/tb_batch/%s?%s" % (route, urllib.parse.urlencode(params)))
    assert b"Traceback" not in body
    return status, json.loads(body)


def _rows(run_dir, output=""):
    """Every dynamics row of a run's output in step order: {field: column, "step": column}, read
    from the event files and decoded by the words the metadata names (floats as float64)."""
    parts = dynamics_files.read_events(run_dir)[metadata.DYNAMICS_TAG + ("/" + output if output else "")]
    out = {"step": np.concatenate([np.full(len(rows["fingerprint"]), step) for step, rows in parts])}
    for name in parts[0][1]:
        column = np.concatenate([rows[name] for _, rows in parts])
        out[name] = column.astype(np.float64) if column.dtype == np.float32 else column
    return out


def _expected(rows):
    """Per identity (id where recorded, else fingerprint), in order of first presentation, its
    aggregates computed here."""
    key = rows.get("id", rows["fingerprint"])
    firsts = {}
    for i, k in enumerate(key.tolist()):
        firsts.setdefault(k, []).append(i)
    out = {name: [] for name in ("fingerprint", "id", "presentations", "first_step", "last_step", "aum",
                                 "forgetting", "confidence", "variability", "accuracy", "mean_loss", "label",
                                 "predicted")}
    for k, idx in firsts.items():
        idx = np.array(idx)
        out["fingerprint"].append("%016x" % int(rows["fingerprint"][idx[-1]]))
        out["id"].append(int(k) if "id" in rows else None)
        out["presentations"].append(len(idx))
        out["first_step"].append(int(rows["step"][idx[0]]))
        out["last_step"].append(int(rows["step"][idx[-1]]))
        out["mean_loss"].append(rows["loss"][idx].mean())
        if "margin" in rows:
            correct = rows["label"][idx] == rows["predicted"][idx]
            out["aum"].append(rows["margin"][idx].mean())
            out["forgetting"].append(int(np.sum(correct[:-1] & ~correct[1:])))
            out["confidence"].append(rows["label_probability"][idx].mean())
            out["variability"].append(rows["label_probability"][idx].std())
            out["accuracy"].append(correct.mean())
            out["label"].append(int(rows["label"][idx[-1]]))
            out["predicted"].append(int(rows["predicted"][idx[-1]]))
    return {k: np.array(v) if k not in ("fingerprint", "id") else v for k, v in out.items()}


def test_the_data_map_and_its_points(server):
    tb, d = server
    e = _expected(_rows(d / "clf" / "train"))
    status, r = _get(tb, "dynamics", run="clf/train", bins=8)
    assert status == 200
    assert (r["run"], r["output"], r["outputs"], r["count"]) == ("clf/train", "", [""], N)
    assert r["classification"] is True
    p = r["points"]
    assert p["fingerprint"] == e["fingerprint"] and p["id"] is None
    np.testing.assert_allclose(p["aum"], e["aum"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p["confidence"], e["confidence"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p["variability"], e["variability"], rtol=1e-6, atol=1e-9)
    assert p["forgetting"] == e["forgetting"].tolist()
    assert p["label"] == e["label"].tolist() and p["predicted"] == e["predicted"].tolist()
    m = r["map"]
    edges = [np.linspace(0, 0.5, 9), np.linspace(0, 1, 9)]
    assert m["variability"] == edges[0].tolist() and m["confidence"] == edges[1].tolist()
    count = np.histogram2d(e["variability"], e["confidence"], edges)[0]
    assert np.array(m["count"]).tolist() == count.astype(int).tolist() and count.sum() == N
    for name in ("aum", "forgetting"):
        sums = np.histogram2d(e["variability"], e["confidence"], edges, weights=e[name])[0]
        got = np.array([[np.nan if v is None else v for v in row] for row in m[name]], dtype=float)
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(got, sums / count, rtol=1e-9, atol=1e-12)
        assert all((v is None) == (c == 0)
                   for row, counts in zip(m[name], m["count"]) for v, c in zip(row, counts))


@pytest.mark.parametrize("order,descending", [("aum", False), ("forgetting", True), ("confidence", False),
                                              ("presentations", True), ("mean_loss", True)])
def test_one_page_of_samples_by_order(server, order, descending):
    tb, d = server
    e = _expected(_rows(d / "clf" / "train"))
    status, r = _get(tb, "dynamics", run="clf/train", order=order, descending=int(descending), offset=5,
                     limit=7)
    assert status == 200
    assert (r["order"], r["descending"], r["offset"], r["limit"]) == (order, descending, 5, 7)
    values = e[order].astype(float)
    ranked = np.lexsort((np.arange(N), -values if descending else values))  # ties: first presentation first
    expected = ranked[5:12]
    assert [row["fingerprint"] for row in r["rows"]] == [e["fingerprint"][i] for i in expected]
    np.testing.assert_allclose([row[order] for row in r["rows"]], values[expected], rtol=1e-9)
    np.testing.assert_allclose([row["aum"] for row in r["rows"]], e["aum"][expected], rtol=1e-9, atol=1e-12)
    assert [row["first_step"] for row in r["rows"]] == e["first_step"][expected].tolist()


def test_label_issues_rank_by_the_label_issue_score(server):
    tb, d = server
    e = _expected(_rows(d / "clf" / "train"))
    status, r = _get(tb, "label_issues", run="clf/train", top=20)
    assert status == 200 and r["output"] == "" and len(r["issues"]) == 20
    # the mean of the ranks of -AUM and of the share of wrong presentations, ties by lower confidence
    score = (rankdata(-e["aum"]) + rankdata(-e["accuracy"]) - 2) / (2 * (len(e["aum"]) - 1))
    lowest = np.lexsort((e["confidence"], -score))[:20]
    assert [i["fingerprint"] for i in r["issues"]] == [e["fingerprint"][i] for i in lowest]
    np.testing.assert_allclose([i["score"] for i in r["issues"]], score[lowest], rtol=1e-12)
    np.testing.assert_allclose([i["aum"] for i in r["issues"]], e["aum"][lowest], rtol=1e-9, atol=1e-12)
    assert [i["label"] for i in r["issues"]] == e["label"][lowest].tolist()
    assert all(i["score"] >= j["score"] for i, j in zip(r["issues"], r["issues"][1:]))
    # flagged: AUM < 0 and wrong in most presentations; counted over every sample
    flagged = (e["aum"] < 0) & (e["accuracy"] < 0.5)
    assert r["count"] == len(e["aum"]) and r["flagged"] == int(flagged.sum()) > 0
    assert [i["flagged"] for i in r["issues"]] == flagged[lowest].tolist()
    assert len(_get(tb, "label_issues", run="clf/train")[1]["issues"]) == 50


def test_presentations_of_one_sample(server):
    tb, d = server
    rows = _rows(d / "clf" / "train")
    e = _expected(rows)
    key = e["fingerprint"][int(np.argmin(e["aum"]))]
    status, r = _get(tb, "dynamics_sample", run="clf/train", key=key)
    assert status == 200 and r["key"] == key and r["output"] == ""
    mine = rows["fingerprint"] == np.uint64(int(key, 16))
    p = r["presentations"]
    assert p["step"] == rows["step"][mine].tolist() and len(p["step"]) == EPOCHS
    assert p["loss"] == rows["loss"][mine].tolist() and p["margin"] == rows["margin"][mine].tolist()
    assert p["label_probability"] == rows["label_probability"][mine].tolist()
    assert p["correct"] == (rows["label"][mine] == rows["predicted"][mine]).tolist()
    assert p["predicted"] == rows["predicted"][mine].tolist()
    upper = _get(tb, "dynamics_sample", run="clf/train", key=key.upper())[1]
    assert upper["presentations"]["step"] == p["step"]


def test_several_outputs_ids_and_a_loss_only_output(server):
    tb, d = server
    status, r = _get(tb, "dynamics", run="two/train")
    assert status == 404 and "output" in r["error"]
    rows = _rows(d / "two" / "train", "digit")
    e = _expected(rows)
    status, r = _get(tb, "dynamics", run="two/train", output="digit")
    assert status == 200 and r["outputs"] == ["digit", "value"] and r["classification"] is True
    assert r["points"]["id"] == e["id"] and r["points"]["fingerprint"] == e["fingerprint"]
    np.testing.assert_allclose(r["points"]["aum"], e["aum"], rtol=1e-9, atol=1e-12)
    sample_id = e["id"][3]
    status, s = _get(tb, "dynamics_sample", run="two/train", output="digit", key=str(sample_id))
    assert status == 200 and s["presentations"]["step"] == rows["step"][rows["id"] == sample_id].tolist()
    status, v = _get(tb, "dynamics", run="two/train", output="value")
    value = _expected(_rows(d / "two" / "train", "value"))
    assert status == 200 and v["classification"] is False and v["count"] == N
    assert v["points"]["label"] is None and sum(map(sum, v["map"]["count"])) == 0
    lowest = _get(tb, "dynamics", run="two/train", output="value", order="mean_loss", limit=3)[1]["rows"]
    np.testing.assert_allclose([row["mean_loss"] for row in lowest], np.sort(value["mean_loss"])[:3], rtol=1e-9)
    assert all(row["aum"] is None and row["label"] is None for row in lowest)
    status, issues = _get(tb, "label_issues", run="two/train", output="value")
    assert status == 404 and "losses only" in issues["error"]
    status, s = _get(tb, "dynamics_sample", run="two/train", output="value", key=str(sample_id))
    assert status == 200 and s["presentations"]["margin"] is None and s["presentations"]["correct"] is None


def test_many_samples_send_the_map_only(server):
    tb, _ = server
    status, r = _get(tb, "dynamics", run="big/train", bins=4, limit=500)
    assert status == 200 and r["count"] == BIG and r["points"] is None
    assert len(r["map"]["count"]) == 4 and sum(map(sum, r["map"]["count"])) == BIG and len(r["rows"]) == 500


@pytest.mark.parametrize("route,params,code,parameter", [
    ("dynamics", {"run": "nope"}, 404, None),
    ("dynamics", {"run": "plain/train"}, 404, None),
    ("dynamics", {"run": "clf/train", "bins": 3}, 400, "bins"),
    ("dynamics", {"run": "clf/train", "bins": 257}, 400, "bins"),
    ("dynamics", {"run": "clf/train", "bins": "1.5"}, 400, "bins"),
    ("dynamics", {"run": "clf/train", "order": "loss"}, 400, "order"),
    ("dynamics", {"run": "clf/train", "descending": 2}, 400, "descending"),
    ("dynamics", {"run": "clf/train", "offset": -1}, 400, "offset"),
    ("dynamics", {"run": "clf/train", "limit": 0}, 400, "limit"),
    ("dynamics", {"run": "clf/train", "limit": 501}, 400, "limit"),
    ("dynamics", {"run": "clf/train", "output": "other"}, 404, None),
    ("label_issues", {"run": "clf/train", "top": 0}, 400, "top"),
    ("label_issues", {"run": "clf/train", "top": 1001}, 400, "top"),
    ("label_issues", {"run": "plain/train"}, 404, None),
    ("dynamics_sample", {"run": "clf/train"}, 400, "key"),
    ("dynamics_sample", {"run": "clf/train", "key": "xyz"}, 400, "key"),
    ("dynamics_sample", {"run": "clf/train", "key": "ffffffffffffffff"}, 404, None),
    ("dynamics_sample", {"run": "clf/train", "key": "12"}, 404, None),
    ("dynamics_sample", {"run": "nope", "key": "12"}, 404, None),
])
def test_errors(server, route, params, code, parameter):
    tb, _ = server
    status, r = _get(tb, route, **params)
    assert status == code and "error" in r
    assert r.get("parameter") == parameter


def test_runs_list_the_outputs_with_dynamics(server):
    tb, _ = server
    runs = {r["run"]: r for r in _get(tb, "runs")[1]["runs"]}
    assert runs["clf/train"]["dynamics"] == [""] and runs["two/train"]["dynamics"] == ["digit", "value"]
    assert runs["plain/train"]["dynamics"] == []
