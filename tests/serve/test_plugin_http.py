"""Every HTTP endpoint of the plugin and every class of bad input, through TensorBoard's WSGI
application and werkzeug's test client; expected values come from the numpy arrays written."""

import csv
import io
import json

import numpy as np
import pytest
from tensorboard.plugins import base_plugin

from helpers import fast_writer
from helpers import event_files
from helpers import indexed
from tb_batch_plugin import metadata
from tb_batch_plugin.plugin_loader import BatchesLoader

N = 10_000
SPIKE = 5000
P = "/data/plugin/tb_batch/"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(1)
    loss = (1 + 0.01 * rng.normal(size=N)).astype(np.float32)
    loss[7], loss[20], loss[21], loss[SPIKE] = np.nan, np.inf, -np.inf, 9.0
    acc = rng.uniform(0.5, 1.0, size=N).astype(np.float32)  # accuracy-like: positive, bounded
    p = fast_writer.event_path(str(d / "train"))
    fast_writer.write_scalars(p, "loss", np.arange(N), loss)
    fast_writer.write_scalars(p, "acc", np.arange(0, 2 * N, 2), acc)
    samples = rng.normal(size=(300, 16))
    fast_writer.write_distributions(p, "per_sample_loss", np.arange(300), samples)
    fast_writer.write_scalars(fast_writer.event_path(str(d / "eval" / "sub")), "loss", np.arange(100), np.ones(100, np.float32))
    return {"logdir": str(d), "loss": loss, "acc": acc, "samples": samples,
            "rows": fast_writer.distribution_rows(samples)}


def _client(context):
    return indexed.client(BatchesLoader().load(context))


@pytest.fixture(scope="module")
def client(data):
    return _client(base_plugin.TBContext(logdir=data["logdir"]))


def get(client, path, code=200):
    r = client.get(P + path)
    body = r.get_data()
    assert r.status_code == code, (path, r.status_code, body[:300])
    assert b"Traceback" not in body
    if r.mimetype == "application/json":
        return json.loads(body)
    return body


def _f(x):
    return {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}.get(x, x) if isinstance(x, str) else x


def test_runs(client):
    r = get(client, "runs")
    assert r["corrupt_records"] == 0
    runs = {x["run"]: x for x in r["runs"]}
    assert set(runs) == {"train", "eval/sub"}
    tags = {t["tag"]: t for t in runs["train"]["tags"]}
    assert runs["train"]["source"] == "index"
    assert tags["loss"] == {"tag": "loss", "kind": "scalar", "source": "tb_batch", "provenance": "custom",
                            "count": N, "first_step": 0, "last_step": N - 1}
    assert runs["train"]["role"] == "train" and runs["eval/sub"]["role"] is None
    assert runs["train"]["fits"] == [] and runs["train"]["evaluations"] == [] and runs["train"]["skipped"] == {}
    assert tags["acc"]["last_step"] == 2 * N - 2
    assert tags["per_sample_loss"]["kind"] == "distribution" and tags["per_sample_loss"]["count"] == 300


def test_series_raw(client, data):
    r = get(client, "series?run=train&tag=loss&width=100&start=0&end=30")
    assert r["method"] == "raw" and r["reduced"] is False and r["count"] == 31 and r["sampled"] is None
    assert r["steps"] == list(range(31))
    vals = np.array([_f(v) for v in r["values"]], dtype=np.float64)
    np.testing.assert_array_equal(vals, data["loss"][:31].astype(np.float64))
    assert r["values"][7] == "NaN" and r["values"][20] == "Infinity" and r["values"][21] == "-Infinity"
    np.testing.assert_array_equal(r["wall_times"], 1.7e9 + np.arange(31) * 0.01)


@pytest.mark.parametrize("start,end,width", [(None, None, 300), (4000, 6000, 50), (0, 9999, 1)])
def test_series_m4_keeps_column_extremes(client, data, start, end, width):
    q = "series?run=train&tag=loss&width=%d" % width
    if start is not None:
        q += "&start=%d&end=%d" % (start, end)
    r = get(client, q)
    s0, s1 = (0, N - 1) if start is None else (start, end)
    assert r["start"] == s0 and r["end"] == s1
    assert r["count"] == s1 - s0 + 1 and r["method"] == "m4" and r["reduced"] is True
    steps = np.array(r["steps"])
    assert np.all(np.diff(steps) > 0)
    assert len(steps) <= 7 * width
    vals = np.array([_f(v) for v in r["values"]], dtype=np.float64)
    np.testing.assert_array_equal(vals, data["loss"][steps].astype(np.float64))
    all_steps = np.arange(s0, s1 + 1)
    all_vals = data["loss"][s0:s1 + 1].astype(np.float64)
    col = (all_steps - s0) * width // (s1 - s0 + 1)
    for c in np.unique(col):
        v = all_vals[col == c]
        fin = v[np.isfinite(v)]
        got = vals[(steps - s0) * width // (s1 - s0 + 1) == c]
        assert fin.max() == np.nanmax(np.where(np.isfinite(got), got, np.nan))
        assert fin.min() == np.nanmin(np.where(np.isfinite(got), got, np.nan))
    if s0 <= SPIKE <= s1:
        assert SPIKE in steps.tolist()
    if s0 == 0:
        assert {7, 20, 21} <= set(steps.tolist())


def test_series_empty_range(client):
    r = get(client, "series?run=train&tag=loss&width=10&start=20000&end=30000")
    assert r["count"] == 0 and r["steps"] == [] and r["method"] == "raw"
    r = get(client, "series?run=train&tag=loss&width=10&start=20000")
    assert (r["start"], r["end"], r["count"]) == (20000, 20000, 0)
    r = get(client, "series?run=train&tag=loss&width=10&end=-5")
    assert (r["start"], r["end"], r["count"]) == (-5, -5, 0)
    r = get(client, "series?run=train&tag=loss&width=10&start=9990")
    assert (r["start"], r["end"], r["count"]) == (9990, 9999, 10)
    r = get(client, "distribution?run=train&tag=per_sample_loss&width=10&start=1000")
    assert r["count"] == 0 and r["steps"] == [] and r["heatmap"]["counts"] == []


def test_distribution_raw_and_bands(client, data):
    rows = data["rows"]
    r = get(client, "distribution?run=train&tag=per_sample_loss&width=400&bins=8")
    assert r["method"] == "raw" and r["count"] == 300 and r["steps"] == list(range(300))
    np.testing.assert_allclose(r["min"], rows[:, metadata.MIN])
    np.testing.assert_allclose(np.array(r["quantiles"]), rows[:, 8:19].T)
    assert r["quantile_probs"] == list(metadata.DEFAULT_QUANTILE_PROBS)
    hm = r["heatmap"]
    assert len(hm["edges"]) == 9 and np.array(hm["counts"]).shape == (300, 8)
    np.testing.assert_allclose(np.array(hm["counts"]).sum(1), 16)
    np.testing.assert_allclose(hm["edges"][0], data["samples"].min())
    np.testing.assert_allclose(hm["edges"][-1], data["samples"].max())

    r = get(client, "distribution?run=train&tag=per_sample_loss&width=10&start=0&end=99")
    assert r["method"] == "bands" and r["reduced"] is True and r["count"] == 100
    assert r["steps"] == list(range(0, 100, 10)) and r["step_ends"] == list(range(9, 100, 10))
    for c in range(10):
        blk = rows[c * 10:(c + 1) * 10]
        assert r["min"][c] == blk[:, metadata.MIN].min()
        assert r["max"][c] == blk[:, metadata.MAX].max()
        assert r["quantiles"][1][c] == blk[:, 9].min()  # p=0.01: column min
        assert r["quantiles"][9][c] == blk[:, 17].max()  # p=0.99: column max
        np.testing.assert_allclose(r["quantiles"][5][c], blk[:, 13].mean())  # median: mean
        np.testing.assert_allclose(r["mean"][c], blk[:, metadata.MEAN].mean())
    np.testing.assert_allclose(np.array(r["heatmap"]["counts"]).sum(1), 160)
    assert len(r["heatmap"]["edges"]) == 33  # default bins



def _decode_binary(body):
    """The format=binary layout, read independently: uint32 n, n bytes of JSON, zeros to a
    multiple of 8, then each array at its offset from there."""
    n = int(np.frombuffer(body[:4], "<u4")[0])
    header = json.loads(body[4:4 + n])
    base = -(-(4 + n) // 8) * 8
    arrays = {}
    for a in header.pop("arrays"):
        dt = np.dtype("<" + a["dtype"])
        count = int(np.prod(a["shape"]))
        assert a["offset"] % 8 == 0
        arrays[a["name"]] = np.frombuffer(body, dt, count, base + a["offset"]).reshape(a["shape"])
    return header, arrays


@pytest.mark.parametrize("query", ["width=400&bins=8", "width=10&start=0&end=99", "width=7&start=40&end=260&bins=5",
                                   "width=10&start=1000"])
def test_distribution_binary_is_the_json_as_typed_arrays(client, query):
    """format=binary carries the same response: the scalars and edges in its JSON header, every
    array's values bit for bit (NaN as NaN), in the shape of the JSON lists."""
    q = "distribution?run=train&tag=per_sample_loss&" + query
    j = get(client, q)
    r = client.get(P + q + "&format=binary")
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    header, arrays = _decode_binary(r.get_data())
    assert header["heatmap"]["edges"] == j["heatmap"]["edges"]
    for k in ("run", "tag", "start", "end", "count", "reduced", "method", "quantile_probs", "sampled"):
        assert header[k] == j[k]
    np.testing.assert_array_equal(arrays["steps"], j["steps"])
    np.testing.assert_array_equal(arrays["step_ends"], j["step_ends"])
    for k in ("min", "max", "mean"):
        np.testing.assert_array_equal(arrays[k], [_f(x) for x in j[k]])
    np.testing.assert_array_equal(arrays["quantiles"], [[_f(x) for x in row] for row in j["quantiles"]])
    assert arrays["heatmap_counts"].dtype == np.float32
    np.testing.assert_array_equal(arrays["heatmap_counts"], np.array(j["heatmap"]["counts"], np.float32).reshape(-1, len(j["heatmap"]["edges"]) - 1))

def test_step(client, data):
    r = get(client, "step?run=train&step=42")
    assert r["found"] is True and r["step"] == 42
    assert r["scalars"]["loss"] == float(data["loss"][42]) and r["scalars"]["acc"] == float(data["acc"][21])
    d = r["distributions"]["per_sample_loss"]
    row = data["rows"][42]
    assert d["count"] == 16 and d["nan_count"] == 0
    np.testing.assert_allclose(d["quantiles"], row[8:19])
    np.testing.assert_allclose(d["histogram"], row[19:])
    np.testing.assert_allclose(d["bin_edges"], np.linspace(row[4], row[5], 31))
    assert r["prev_step"] == 41 and r["next_step"] == 43
    r = get(client, "step?run=train&step=7")
    assert r["scalars"]["loss"] == "NaN"
    r = get(client, "step?run=train&step=15001")  # only acc has steps > 9999, all even
    assert r["found"] is False and r["scalars"] == {} and r["distributions"] == {}
    assert r["prev_step"] == 15000 and r["next_step"] == 15002
    r = get(client, "step?run=train&step=-3")
    assert r["prev_step"] is None and r["next_step"] == 0
    r = get(client, "step?run=eval/sub&step=99")
    assert r["next_step"] is None and r["scalars"] == {"loss": 1.0}


def test_anomalies(client, data):
    r = get(client, "anomalies?run=train")
    assert (r["threshold"], r["min_jump"], r["warmup"], r["window"]) == (6.0, 0.2, 25, 25)
    a = r["anomalies"]
    assert [(x["step"], x["kind"], x["value"]) for x in a[:3]] == [
        (7, "nan", "NaN"), (20, "inf", "Infinity"), (21, "-inf", "-Infinity")]
    spikes = [x for x in a if x["kind"] == "spike"]
    # the one injected spike, and nothing in the noise of `loss` (1% Gaussian) or `acc` (uniform
    # in [0.5, 1]); the run's per_sample_loss covers steps 0..299 only: later steps are scored as
    # plain series (kind spike)
    assert [(x["tag"], x["step"], x["value"]) for x in spikes] == [("loss", SPIKE, 9.0)]
    loss = data["loss"].astype(np.float64)
    after = loss[SPIKE + 1:SPIKE + 26]
    assert spikes[0]["source"] == "tb_batch" and spikes[0]["score"] > 100
    # level and jump: the side nearer to the spike (before or after), as reduce defines them
    before = loss[np.isfinite(loss)][:SPIKE - 3][-25:]
    lv = min((np.median(before), np.median(after)), key=lambda m: abs(9.0 - m))
    assert spikes[0]["level"] == pytest.approx(lv) and spikes[0]["jump"] == pytest.approx(9.0 - lv)
    counts = {c["tag"]: c for c in r["series"]}
    assert {k: counts["loss"][k] for k in ("points", "spike", "nan", "inf", "-inf")} == {
        "points": N, "spike": 1, "nan": 1, "inf": 1, "-inf": 1}
    assert counts["acc"]["spike"] == 0
    fin = loss[np.isfinite(loss)]
    assert counts["loss"]["spread"] == pytest.approx(np.quantile(fin, 0.99) - np.quantile(fin, 0.01))
    # a lower threshold without the minimum jump flags more (the Gaussian tail), sorted by score
    low = get(client, "anomalies?run=train&tag=loss&threshold=3.5&min_jump=0&limit=1000")
    ls = [x for x in low["anomalies"] if x["kind"] == "spike"]
    assert low["threshold"] == 3.5 and len(ls) > 1 and ls[0]["step"] == SPIKE
    assert all(ls[i]["score"] >= ls[i + 1]["score"] >= 3.5 for i in range(len(ls) - 1))
    assert {c["tag"]: c["spike"] for c in low["series"]} == {"loss": len(ls)}
    assert [x for x in get(client, "anomalies?run=train&threshold=1e6")["anomalies"] if x["kind"] == "spike"] == []
    r = get(client, "anomalies?run=train&tag=acc&limit=5")
    assert len(r["anomalies"]) <= 5 and all(x["tag"] == "acc" for x in r["anomalies"])
    assert get(client, "anomalies?run=train&limit=2")["anomalies"][1]["step"] == 20


def test_export(client, data):
    body = get(client, "export?run=train&tag=loss&format=csv").decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["step", "wall_time", "value"]
    assert len(rows) == N + 1
    assert rows[8][2] == "nan" and rows[21][2] == "inf" and rows[22][2] == "-inf"
    np.testing.assert_array_equal(np.array([float(x[2]) for x in rows[1:]]), data["loss"].astype(np.float64))
    np.testing.assert_array_equal(np.array([int(x[0]) for x in rows[1:]]), np.arange(N))
    j = get(client, "export?run=train&tag=acc&format=json")
    np.testing.assert_array_equal(j["steps"], np.arange(0, 2 * N, 2))
    np.testing.assert_array_equal(j["values"], data["acc"].astype(np.float64))
    assert len(j["wall_times"]) == N
    body = get(client, "export?run=train&tag=per_sample_loss").decode()  # csv by default
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:4] == ["step", "wall_time", "count", "nan_count"] and rows[0][10] == "q0" and rows[0][11] == "q0.01"
    # the layout's 8 + 11 + 30 fields, then each step's 31 bin edges: equal-width over min..max
    assert len(rows[0]) == 2 + 8 + 11 + 30 + 31 and len(rows) == 301
    assert rows[0][2 + 8 + 11 + 29] == "h29" and rows[0][-31:] == ["e%d" % j for j in range(31)]
    got = np.array(rows[1:], dtype=float)
    np.testing.assert_allclose(got[:, 2:-31], data["rows"])
    edges = np.linspace(data["rows"][:, metadata.MIN], data["rows"][:, metadata.MAX], 31, axis=1)
    np.testing.assert_allclose(got[:, -31:], edges)
    j = get(client, "export?run=train&tag=per_sample_loss&format=json")
    np.testing.assert_allclose(j["max"], data["rows"][:, metadata.MAX])
    np.testing.assert_allclose(j["h29"], data["rows"][:, -1])
    np.testing.assert_allclose(j["e0"], data["rows"][:, metadata.MIN])
    np.testing.assert_allclose(j["e30"], data["rows"][:, metadata.MAX])


def test_export_content_type(client):
    assert client.get(P + "export?run=train&tag=loss&format=csv").headers["Content-Type"] == "text/csv; charset=utf-8"
    assert client.get(P + "export?run=train&tag=loss&format=json").headers["Content-Type"] == "application/json"


def test_static(client):
    r = client.get(P + "static/index.js")
    assert r.status_code == 200 and "javascript" in r.mimetype
    assert get(client, "static/nope.js", 404)["error"]
    for bad in ("static/../plugin_loader.py", "static/%2e%2e/plugin_loader.py", "static/..%2fplugin_loader.py",
                "static//etc/passwd", "static/"):
        r = client.get(P + bad)
        assert r.status_code == 404 and b"import" not in r.get_data()


def test_frontend_metadata():
    from tb_batch_plugin.serve.plugin import BatchesPlugin
    fm = BatchesPlugin(base_plugin.TBContext(logdir="")).frontend_metadata()
    assert fm.es_module_path == "/static/index.js" and fm.tab_name == "Batches"


BAD = [
    # (query, parameter) -> 400
    ("series?run=train&tag=loss", "width"),
    ("series?run=train&tag=loss&width=", "width"),
    ("series?run=train&tag=loss&width=0", "width"),
    ("series?run=train&tag=loss&width=-3", "width"),
    ("series?run=train&tag=loss&width=20001", "width"),
    ("series?run=train&tag=loss&width=99999999999999999999999", "width"),
    ("series?run=train&tag=loss&width=abc", "width"),
    ("series?run=train&tag=loss&width=1.5", "width"),
    ("series?run=train&tag=loss&width=NaN", "width"),
    ("series?run=train&tag=loss&width=inf", "width"),
    ("series?run=train&tag=loss&width=1e3", "width"),
    ("series?run=train&tag=loss&width=10&start=x", "start"),
    ("series?run=train&tag=loss&width=10&end=NaN", "end"),
    ("series?run=train&tag=loss&width=10&start=5&end=4", "start"),
    ("series?run=train&tag=loss&width=10&start=9223372036854775808", "start"),
    ("series?tag=loss&width=10", "run"),
    ("series?run=train&width=10", "tag"),
    ("distribution?run=train&tag=per_sample_loss&width=10&bins=0", "bins"),
    ("distribution?run=train&tag=per_sample_loss&width=10&bins=257", "bins"),
    ("distribution?run=train&tag=per_sample_loss&width=0", "width"),
    ("distribution?run=train&tag=per_sample_loss&width=10&start=3&end=1", "start"),
    ("step?run=train", "step"),
    ("step?run=train&step=1.0", "step"),
    ("step?run=train&step=%20", "step"),
    ("anomalies?run=train&limit=0", "limit"),
    ("anomalies?run=train&limit=x", "limit"),
    ("anomalies", "run"),
    ("anomalies?run=train&threshold=x", "threshold"),
    ("anomalies?run=train&threshold=nan", "threshold"),
    ("anomalies?run=train&threshold=-1", "threshold"),
    ("anomalies?run=train&threshold=2.5", "threshold"),  # below spikes.SPIKE_MIN_THRESHOLD
    ("anomalies?run=train&min_jump=inf", "min_jump"),
    ("anomalies?run=train&warmup=-1", "warmup"),
    ("anomalies?run=train&warmup=2.5", "warmup"),
    ("export?run=train&tag=loss&format=xml", "format"),
    ("export?run=train", "tag"),
    ("distribution?run=train&tag=per_sample_loss&width=10&format=csv", "format"),
]


@pytest.mark.parametrize("query,parameter", BAD)
def test_bad_input_is_400_naming_the_parameter(client, query, parameter):
    r = get(client, query, 400)
    assert r["parameter"] == parameter and r["error"]


NOT_FOUND = [
    "series?run=nope&tag=loss&width=10",
    "series?run=train&tag=nope&width=10",
    "series?run=train&tag=per_sample_loss&width=10",  # a distribution, not a scalar
    "distribution?run=train&tag=loss&width=10",
    "series?run=..%2F..%2Fetc&tag=loss&width=10",
    "series?run=%2Fetc%2Fpasswd&tag=loss&width=10",
    "series?run=eval%2F..%2Ftrain&tag=loss&width=10",
    "step?run=nope&step=1",
    "anomalies?run=nope",
    "anomalies?run=train&tag=nope",
    "export?run=train&tag=nope",
    "export?run=..&tag=loss",
]


@pytest.mark.parametrize("query", NOT_FOUND)
def test_unknown_run_or_tag_is_404(client, query):
    assert get(client, query, 404)["error"]


def test_sampled_fallback_through_data_provider(data):
    """--logdir_spec: no context.logdir; the plugin asks TensorBoard's data provider."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    mux = plugin_event_multiplexer.EventMultiplexer({"train": data["logdir"] + "/train"})
    mux.Reload()
    ctx = base_plugin.TBContext(logdir="", multiplexer=mux,
                                data_provider=data_provider.MultiplexerDataProvider(mux, ""))
    c = _client(ctx)
    r = get(c, "runs")
    run = r["runs"][0]
    assert run["run"] == "train" and run["source"] == "sampled"
    tags = {t["tag"]: t for t in run["tags"]}
    assert set(tags) == {"loss", "acc", "per_sample_loss"}
    n = tags["loss"]["sampled"]["n"]
    assert tags["loss"]["count"] == n <= N and tags["loss"]["sampled"]["N"] <= N
    s = get(c, "series?run=train&tag=loss&width=2000")
    assert s["sampled"]["n"] == n == s["count"]
    vals = np.array([_f(v) for v in s["values"]], dtype=np.float64)
    np.testing.assert_array_equal(vals, data["loss"][s["steps"]].astype(np.float64))
    d = get(c, "distribution?run=train&tag=per_sample_loss&width=50")
    assert d["count"] == d["sampled"]["n"] > 0
    assert get(c, "step?run=train&step=%d" % s["steps"][1])["found"] is True
    assert get(c, "anomalies?run=train")["run"] == "train"
    assert get(c, "series?run=x&tag=loss&width=3", 404)
    for query in ("samples?run=train&step=1", "hardest?run=train", "per_class?run=train&width=4"):
        assert get(c, query, 404)["error"]  # the provider lists no samples: 404, never a 500


def test_entry_module_imports_nothing_heavy():
    import subprocess
    import sys
    code = ("import sys, tb_batch_plugin.plugin_loader as m; "
            "print(sorted(k for k in ('numpy', 'tensorflow', 'tb_batch_plugin.serve', 'tb_batch_plugin.serve.plugin') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=event_files.REPO, env={"PYTHONPATH": event_files.REPO, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
