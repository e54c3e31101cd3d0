"""tb-batch in the TensorBoard ecosystem, with real writers and readers on both sides.

BatchStats' scalars and histograms in TensorBoard's own Scalars, Time Series and Histograms
dashboards (a real tensorboard process, both loaders) and in tbparse (a third-party reader); logs
of other writers (tensorboardX's legacy simple_value scalars, keras.callbacks.TensorBoard) read
losslessly by the index and served by the Batches tab's routes.
"""

import json
import urllib.parse

import keras
import numpy as np
import pytest

from helpers import event_files
import tb_batch_plugin as tbb

N, FEATURES, CLASSES, BATCH = 203, 8, 3, 32  # 7 batches per epoch


def _json(resp):
    status, body = resp
    assert status == 200, body[:300]
    return json.loads(body)


def _fit(log_dir, extra_callbacks=()):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, N)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(CLASSES)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_data=(x[:70], y[:70]),
              callbacks=[tbb.BatchStats(log_dir), *extra_callbacks])


@pytest.fixture(scope="module")
def batchstats_logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ecosystem")
    _fit(str(d / "run"))
    return d


@pytest.mark.parametrize("load_fast", [False, True], ids=["load_fast=false", "load_fast=true"])
def test_tensorboards_own_dashboards_show_every_step(batchstats_logdir, load_fast):
    data = tbb.load(str(batchstats_logdir))
    loss = data.scalars("run/train", "loss")
    predictions = data.distributions("run/train", "predictions")
    tb = event_files.TensorBoardProcess(batchstats_logdir, load_fast=load_fast)
    try:
        tags = _json(tb.wait_for("/data/plugin/scalars/tags", lambda s, b: s == 200 and b"grad_norm" in b))
        assert {"loss", "accuracy", "learning_rate", "grad_norm"} <= set(tags["run/train"])
        assert {"loss", "accuracy"} <= set(tags["run/validation"])
        # Every step of the training loss, exactly as the index reads it.
        points = _json(tb.get("/data/plugin/scalars/scalars?run=run%2Ftrain&tag=loss"))
        assert [p[1] for p in points] == loss.steps.tolist() == list(range(14))
        np.testing.assert_array_equal([p[2] for p in points], loss.values.astype(np.float64))
        # Time Series lists the same scalars, and the histograms.
        ts = _json(tb.get("/data/plugin/timeseries/tags"))
        assert "loss" in ts["scalars"]["runTagInfo"]["run/train"]
        assert {"predictions", "per_sample_loss"} <= set(ts["histograms"]["runTagInfo"]["run/train"])
        # Histograms: each step's buckets span the batch's min..max and count every value.
        hist = _json(tb.get("/data/plugin/histograms/histograms?run=run%2Ftrain&tag=predictions"))
        assert [h[1] for h in hist] == predictions.steps.tolist()
        for (_, _, buckets), i in zip(hist, range(len(hist))):
            buckets = np.array(buckets)
            assert buckets[:, 2].sum() == predictions.count[i]
            assert buckets[0, 0] == predictions.min[i] and buckets[-1, 1] == predictions.max[i]
            np.testing.assert_array_equal(buckets[:, 2], predictions.histograms[i])
        # Our own distribution tensors stay out of TensorBoard's dashboards.
        assert not any(t.startswith("tb_batch") for t in ts["histograms"]["runTagInfo"]["run/train"])
    finally:
        tb.close()


def test_tbparse_reads_batchstats_scalars_and_histograms(batchstats_logdir):
    """tbparse reads TensorFlow 2 scalars and histograms (tensor summaries, as tf.summary.scalar
    and tf.summary.histogram write them) under ``tensors``: BatchStats' are there, every step."""
    tbparse = pytest.importorskip("tbparse")
    data = tbb.load(str(batchstats_logdir))
    tensors = tbparse.SummaryReader(str(batchstats_logdir), extra_columns={"dir_name"}).tensors
    train = tensors[tensors.dir_name == "run/train"]
    loss = train[train.tag == "loss"].sort_values("step")
    assert loss.step.tolist() == list(range(14))
    np.testing.assert_array_equal(loss.value.to_numpy(np.float32), data.scalars("run/train", "loss").values)
    predictions = train[train.tag == "predictions"].sort_values("step")
    assert predictions.step.tolist() == list(range(14))
    np.testing.assert_array_equal(np.stack(predictions.value.to_numpy())[:, :, 2],
                                  data.distributions("run/train", "predictions").histograms)


def test_provenance_is_in_the_data(batchstats_logdir):
    info = {(i.tag, i.kind): i for i in tbb.load(str(batchstats_logdir)).series("run/train")}
    assert info[("loss", "scalar")].provenance == "exact"
    assert info[("loss", "scalar")].source == "tb_batch"
    assert info[("predictions", "distribution")].source == "tb_batch"


def test_tensorboardx_simple_values_are_lossless_in_the_tab(tmp_path):
    """200,000 legacy simple_value points written by tensorboardX (as PyTorch's SummaryWriter
    writes them), one spike among them; beside them in the same run, a tb-batch scalar of the
    same name. The spike survives every reduction; the two writers' series never hide each other."""
    tensorboardX = pytest.importorskip("tensorboardX")
    import tensorflow as tf

    n, spike = 200_000, 123_457
    rng = np.random.default_rng(0)
    values = (1 + 0.01 * rng.normal(size=n)).astype(np.float32)
    values[spike] = 9.0
    writer = tensorboardX.SummaryWriter(str(tmp_path / "torchlike"), max_queue=100_000, flush_secs=3600)
    for step, v in enumerate(values.tolist()):
        writer.add_scalar("loss", v, step)
    writer.close()
    with tf.summary.create_file_writer(str(tmp_path / "torchlike")).as_default():
        for step in range(3):
            tbb.summary.scalar("loss", 100.0 + step, step=step)

    data = tbb.load(str(tmp_path))
    infos = {i.source: i for i in data.series("torchlike")}
    assert infos["simple_value"].count == n and infos["simple_value"].provenance == "logged"
    assert infos["tb_batch"].count == 3 and infos["tb_batch"].provenance == "custom"
    s = data.scalars("torchlike", "loss", source="simple_value")
    np.testing.assert_array_equal(s.steps, np.arange(n))
    np.testing.assert_array_equal(s.values, values)

    tb = event_files.TensorBoardProcess(tmp_path, load_fast=False)
    try:
        base = "/data/plugin/tb_batch/"
        runs = _json(tb.wait_for(base + "runs", lambda s, b: s == 200 and b"simple_value" in b))
        tags = {(t["tag"], t["source"]): t for r in runs["runs"] if r["run"] == "torchlike" for t in r["tags"]}
        assert tags[("loss", "simple_value")]["count"] == n
        assert tags[("loss", "tb_batch")]["count"] == 3
        q = urllib.parse.urlencode({"run": "torchlike", "tag": "loss", "source": "simple_value", "width": 300})
        series = _json(tb.get(base + "series?" + q))
        assert series["count"] == n and series["method"] == "m4" and series["source"] == "simple_value"
        assert max(series["values"]) == 9.0 and series["steps"][series["values"].index(9.0)] == spike
        ours = _json(tb.get(base + "series?" + urllib.parse.urlencode({"run": "torchlike", "tag": "loss", "width": 300})))
        assert ours["source"] == "tb_batch" and ours["values"] == [100.0, 101.0, 102.0]
        status, body = tb.get(base + "series?" + q.replace("simple_value", "bogus"))
        assert status == 400 and json.loads(body)["parameter"] == "source"
    finally:
        tb.close()


def test_keras_tensorboard_callback_log_is_read(tmp_path):
    """keras.callbacks.TensorBoard's own scalars, beside BatchStats in the same log_dir: read as
    other code's ("logged"), every point as TensorBoard's EventFileLoader reads it."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    _fit(str(tmp_path), [keras.callbacks.TensorBoard(str(tmp_path), update_freq=1)])
    expected = {}
    for path in sorted((tmp_path / "train").glob("*tfevents*")):
        for ev in event_file_loader.EventFileLoader(str(path)).Load():
            for v in ev.summary.value:
                if v.metadata.plugin_data.plugin_name == "scalars" and v.tag.startswith(("epoch_", "batch_")):
                    expected.setdefault(v.tag, []).append((ev.step, float(tensor_util.make_ndarray(v.tensor))))
    assert "epoch_loss" in expected
    data = tbb.load(str(tmp_path))
    infos = {i.tag: i for i in data.series("train") if i.source == "scalars"}
    assert set(expected) <= set(infos)
    for tag, points in expected.items():
        assert infos[tag].provenance == "logged"
        s = data.scalars("train", tag)
        np.testing.assert_array_equal(s.steps, [p[0] for p in points])
        np.testing.assert_array_equal(np.asarray(s.values, np.float64), [p[1] for p in points])
    assert data.series("train")[0].source in ("tb_batch", "scalars")
    assert {i.source for i in data.series("train") if i.tag == "loss"} == {"tb_batch"}
