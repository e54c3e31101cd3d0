"""From a step to the samples behind it, exact: the recorded top-k samples of every step against a
hand computation on the same weights, found again in the training data by their fingerprints.

Reference values are recomputed from the weights the model had before each step (saved by a
callback at every batch begin) on the rows that tbb.find returns for the recorded fingerprints,
never taken from the callback's own output.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb
from helpers.keras_reference import WeightsAtEachStep

N, FEATURES, CLASSES, BATCH = 203, 8, 3, 32  # 7 batches per epoch, the last of 11


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, FEATURES)), rng.integers(0, CLASSES, n)  # float64 x: Keras casts


def _model(loss=None, outputs=CLASSES):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(outputs)])
    model.compile(keras.optimizers.SGD(0.1),
                  loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _rows(samples, i):
    """The recorded rows of step i (rows of a batch smaller than k are NaN)."""
    valid = ~np.isnan(samples.field("fingerprint_hi")[i])
    return {name: samples.field(name)[i][valid] for name in samples.fields}, samples.fingerprints[i][valid]


def _shuffled_fit(log_dir, k, epochs):
    """x, y, the weights before every step, and the recorded data of a shuffled fit."""
    x, y = _data()
    weights = WeightsAtEachStep()
    _model().fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0,
                 callbacks=[tbb.BatchStats(log_dir, samples=k), weights])
    return x, y, weights, tbb.load(str(log_dir))


@pytest.mark.parametrize("k", [BATCH, 5], ids=["k=batch", "k=5"])
def test_recorded_samples_are_the_batch_top_k_exactly(tmp_path, k):
    x, y, weights, data = _shuffled_fit(tmp_path, k, epochs=2)
    s = data.samples("train")
    np.testing.assert_array_equal(s.steps, np.arange(14))
    assert s.fields[:6] == ("loss", "share", "fingerprint_hi", "fingerprint_lo", "id", "position")
    assert s.fields[6:] == ("label", "predicted", "probability", "label_probability")
    reference = _model()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    seen = []
    for i in range(14):
        rows, fps = _rows(s, i)
        index = tbb.find(x, fps)
        assert (index >= 0).all()  # every recorded sample found again in the training data
        seen.append(index)
        reference.set_weights(weights.weights[i])
        logits = reference(x[index].astype("float32"), training=True).numpy()
        loss = ce(y[index], logits).numpy()
        np.testing.assert_allclose(rows["loss"], loss, rtol=2e-5, atol=1e-6)
        assert (np.diff(rows["loss"]) <= 0).all()  # highest loss first
        probs = tf.nn.softmax(logits).numpy()
        np.testing.assert_array_equal(rows["label"], y[index])
        np.testing.assert_array_equal(rows["predicted"], probs.argmax(1))
        np.testing.assert_allclose(rows["probability"], probs.max(1), rtol=1e-5)
        np.testing.assert_allclose(rows["label_probability"], probs[np.arange(len(index)), y[index]], rtol=1e-5)
        assert np.isnan(rows["id"]).all()
        if k == BATCH:  # the whole batch: shares add up to 1, the batch loss is their mean
            np.testing.assert_allclose(rows["share"].sum(), 1.0, rtol=1e-6)
            np.testing.assert_allclose(rows["loss"].mean(), data.scalars("train", "loss").values[i], rtol=1e-5)
    if k == BATCH:  # every row of x exactly once per epoch, in Keras' shuffled order
        for epoch in range(2):
            assert sorted(np.concatenate(seen[7 * epoch:7 * epoch + 7]).tolist()) == list(range(N))


def test_per_class_losses_match_numpy(tmp_path):
    x, y, _, data = _shuffled_fit(tmp_path, BATCH, epochs=1)
    s, per_class = data.samples("train"), data.per_class("train")
    np.testing.assert_array_equal(per_class.steps, np.arange(7))
    assert per_class.means.shape == (7, CLASSES)
    for i in range(7):
        rows, fps = _rows(s, i)
        index = tbb.find(x, fps)
        losses = rows["loss"]
        for c in range(CLASSES):
            in_class = y[index] == c
            assert per_class.counts[i, c] == in_class.sum()
            if in_class.any():
                np.testing.assert_allclose(per_class.means[i, c], losses[in_class].mean(), rtol=1e-6)
            else:
                assert np.isnan(per_class.means[i, c])


def test_a_nan_sample_is_listed_first_and_only_its_class_is_nan(tmp_path):
    x, y = _data()
    sw = np.ones(N, "float32")
    sw[40] = np.nan  # batch 1, position 8: its loss is NaN
    weights = WeightsAtEachStep()
    with pytest.warns(UserWarning, match="not finite"):
        _model().fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                     callbacks=[tbb.BatchStats(tmp_path, samples=4), weights])
    data = tbb.load(str(tmp_path))
    rows = data.samples("train").rows(1)
    assert len(rows["loss"]) == 4 and np.isnan(rows["loss"][0]) and rows["position"][0] == 8
    assert tbb.find(x, rows["fingerprint"][:1]).tolist() == [40]

    reference = _model()
    reference.set_weights(weights.weights[1])
    xb, yb = x[32:64].astype("float32"), y[32:64]
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    loss = ce(yb, reference(xb, training=True)).numpy().astype(np.float64)
    loss[8] = np.nan
    np.testing.assert_allclose(rows["loss"][1:], np.sort(loss[~np.isnan(loss)])[::-1][:3], rtol=2e-5)
    per_class = data.per_class("train")
    for c in range(CLASSES):
        in_class = yb == c
        assert per_class.counts[1, c] == in_class.sum()
        if c == y[40]:
            assert np.isnan(per_class.means[1, c])
        else:
            np.testing.assert_allclose(per_class.means[1, c], loss[in_class].mean(), rtol=2e-5)


def test_hardest_aggregates_by_identity(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=True, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path, samples=4)])
    data = tbb.load(str(tmp_path))
    s = data.samples("train")
    hardest = data.hardest("train", top=10)
    assert 0 < len(hardest) <= 10
    counts = {}
    for i in range(len(s.steps)):
        rows, fps = _rows(s, i)
        for fp, loss in zip(fps, rows["loss"]):
            counts.setdefault(int(fp), []).append((int(s.steps[i]), loss))
    for entry in hardest:
        seen = counts[int(entry["fingerprint"], 16)]
        assert entry["count"] == len(seen)
        assert entry["max_loss"] == max(l for _, l in seen)
        assert entry["first_step"] == min(st for st, _ in seen) and entry["last_step"] == max(st for st, _ in seen)
        assert entry["label"] == y[tbb.find(x, [entry["fingerprint"]])[0]]
    assert [e["count"] for e in hardest] == sorted((e["count"] for e in hardest), reverse=True)
    window = data.hardest("train", start=7, end=13, top=1000)
    assert sum(e["count"] for e in window) == 7 * 4


def test_samples_zero_writes_nothing_and_ids_are_recorded(tmp_path):
    x, y = _data()
    _model().fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[tbb.BatchStats(tmp_path / "off", samples=0)])
    data = tbb.load(str(tmp_path / "off"))
    with pytest.raises(KeyError):
        data.samples("train")
    # An integer id feature in a dict input that the model does not consume.
    inputs = keras.Input((FEATURES,), name="features")
    keras.utils.set_random_seed(1)
    model = keras.Model({"features": inputs}, keras.layers.Dense(CLASSES)(inputs))
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.arange(1000, 1000 + N)
    xs = {"features": x.astype("float32"), "id": ids}
    model.fit(xs, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path / "ids", samples=3, sample_ids="id")])
    s = tbb.load(str(tmp_path / "ids")).samples("train")
    for i in range(len(s.steps)):
        rows, fps = _rows(s, i)
        np.testing.assert_array_equal(ids[tbb.find(xs, fps)], rows["id"])


def test_two_outputs_and_a_masked_sequence(tmp_path):
    x, y = _data()
    target = x[:, :1] * 2.0
    inputs = keras.Input((FEATURES,))
    keras.utils.set_random_seed(1)
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, {"cls": keras.layers.Dense(CLASSES, name="cls")(hidden),
                                 "reg": keras.layers.Dense(1, name="reg")(hidden)})
    model.compile(keras.optimizers.SGD(0.05),
                  loss={"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5})
    weights = WeightsAtEachStep()
    model.fit(x, {"cls": y, "reg": target}, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path / "two", samples=BATCH), weights])
    s = tbb.load(str(tmp_path / "two")).samples("train")
    assert s.fields[6:] == ("label/cls", "predicted/cls", "probability/cls", "label_probability/cls",
                            "label/reg", "predicted/reg")
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    for i in range(7):
        rows, fps = _rows(s, i)
        index = tbb.find(x, fps)
        model.set_weights(weights.weights[i])
        out = model(x[index].astype("float32"), training=True)
        expected = ce(y[index], out["cls"]).numpy() + 0.5 * ((out["reg"].numpy()[:, 0] - target[index, 0]) ** 2)
        np.testing.assert_allclose(rows["loss"], expected, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(rows["predicted/reg"], out["reg"].numpy()[:, 0], rtol=1e-5)
        np.testing.assert_allclose(rows["label/reg"], target[index, 0], rtol=1e-6)

    # A masked sequence: a sample's loss is the mean over its unmasked positions.
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 9, 64)
    tokens = np.zeros((64, 8), "int32")
    for r, length in enumerate(lengths):
        tokens[r, :length] = rng.integers(1, 20, length)
    assert len(np.unique(tokens, axis=0)) == 64  # a fingerprint tells rows apart by their input
    labels = rng.integers(0, 4, (64, 8))
    keras.utils.set_random_seed(2)
    seq = keras.Sequential([keras.Input((8,), dtype="int32"), keras.layers.Embedding(20, 8, mask_zero=True),
                            keras.layers.LSTM(8, return_sequences=True), keras.layers.Dense(4)])
    seq.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    weights = WeightsAtEachStep()
    seq.fit(tokens, labels, batch_size=16, epochs=1, shuffle=True, verbose=0,
            callbacks=[tbb.BatchStats(tmp_path / "seq", samples=16), weights])
    s = tbb.load(str(tmp_path / "seq")).samples("train")
    assert s.fields == ("loss", "share", "fingerprint_hi", "fingerprint_lo", "id", "position")
    for i in range(4):
        rows, fps = _rows(s, i)
        index = tbb.find(tokens, fps)
        seq.set_weights(weights.weights[i])
        per_position = ce(labels[index], seq(tokens[index], training=True)).numpy()
        mask = tokens[index] != 0
        np.testing.assert_allclose(rows["loss"], (per_position * mask).sum(1) / mask.sum(1), rtol=2e-5)


def test_custom_loop_writer(tmp_path):
    x, y = _data()
    x = x.astype("float32")
    logits = np.random.default_rng(5).normal(size=(N, CLASSES)).astype("float32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(y, logits).numpy()
    with tf.summary.create_file_writer(str(tmp_path / "loop")).as_default():
        tbb.summary.samples(loss, x, step=3, num_samples=4, y_true=y, y_pred=logits, kind="sparse",
                            from_logits=True)
    data = tbb.load(str(tmp_path))
    s = data.samples("loop")
    rows, fps = _rows(s, 0)
    top = np.argsort(-loss)[:4]
    np.testing.assert_array_equal(tbb.find(x, fps), top)
    np.testing.assert_allclose(rows["loss"], loss[top], rtol=1e-6)
    np.testing.assert_allclose(rows["share"], loss[top] / loss.sum(), rtol=1e-5)
    np.testing.assert_array_equal(rows["position"], top)
    per_class = data.per_class("loop")
    np.testing.assert_allclose(per_class.means[0], [loss[y == c].mean() for c in range(CLASSES)], rtol=1e-5)
    np.testing.assert_array_equal(per_class.counts[0], [(y == c).sum() for c in range(CLASSES)])


def test_find_takes_every_form_of_fingerprint():
    x = np.random.default_rng(3).normal(size=(400, FEATURES))
    fps = tbb.fingerprint(x)
    high, low = np.flatnonzero(fps >= 2 ** 63), np.flatnonzero(fps < 2 ** 63)
    assert len(high) and len(low)  # about half of all fingerprints are above 2**63
    rows = [int(low[0]), int(high[0]), int(low[1]), int(high[1])]
    as_ints = [int(fps[r]) for r in rows]  # Python ints below and above 2**63
    for form in (as_ints, fps[rows], fps[rows].view(np.int64), ["%016x" % f for f in as_ints],
                 [as_ints[0], "%016x" % as_ints[1], np.uint64(as_ints[2]), int(fps[rows].view(np.int64)[3])]):
        assert tbb.find(x, form).tolist() == rows
    assert tbb.find(x, as_ints[1]).tolist() == [rows[1]]
    assert tbb.find(x, [0, 2 ** 64 - 1]).tolist() == [-1, -1]
    with pytest.raises(TypeError, match="cannot hold 64-bit"):
        tbb.find(x, fps[rows].astype(np.float64))
    with pytest.raises(ValueError, match="not a 64-bit"):
        tbb.find(x, [2 ** 64])
    with pytest.raises(ValueError, match="hexadecimal"):
        tbb.find(x, ["not hex"])
    with pytest.raises(TypeError, match="not a fingerprint"):
        tbb.find(x, [1.5])
    with pytest.raises(TypeError, match="one row per sample"):
        tbb.fingerprint(3)
