"""BatchStats on the shapes of real models: a vector-valued metric per component, a masked
sequence loss at its unmasked positions only, and the predictions of each of several outputs.
Values read back with tb_batch_plugin.load and compared with a hand-written tf.GradientTape loop
and numpy.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb

FEATURES, CLASSES = 8, 3


def _assert_history_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key]):
            np.testing.assert_array_equal(x, y)


def test_f1_score_per_class(tmp_path):
    rng = np.random.default_rng(0)
    n, batch = 96, 24
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, n)]

    def model():
        keras.utils.set_random_seed(2)
        m = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(CLASSES, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy",
                  metrics=[keras.metrics.F1Score(average=None)])
        return m

    fit = dict(batch_size=batch, epochs=2, shuffle=False, verbose=0)
    plain = model().fit(x, y, **fit).history
    recorded = model().fit(x, y, callbacks=[tbb.BatchStats(tmp_path)], **fit).history
    _assert_history_equal(recorded, plain)  # History holds the vectors as Keras gives them

    ref, eps = model(), keras.backend.epsilon()
    expected = []
    for _ in range(2):
        for i in range(0, n, batch):
            with tf.GradientTape() as tape:
                probs = ref(x[i:i + batch], training=True)
                loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y[i:i + batch], probs))
            pred = np.eye(CLASSES)[np.argmax(probs.numpy(), 1)]
            true = y[i:i + batch]
            tp, fp, fn = (pred * true).sum(0), (pred * (1 - true)).sum(0), ((1 - pred) * true).sum(0)
            precision, recall = tp / (tp + fp + eps), tp / (tp + fn + eps)
            expected.append(2 * precision * recall / (precision + recall + eps))
            ref.optimizer.apply(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables)
    expected = np.array(expected)
    data = tbb.load(str(tmp_path))
    for c in range(CLASSES):
        f1 = data.scalars("train", "f1_score/%d" % c)
        np.testing.assert_array_equal(f1.steps, np.arange(len(expected)))
        np.testing.assert_allclose(f1.values, expected[:, c], atol=1e-6)
    assert "f1_score" not in data.tags("train")


VOCAB, LENGTH = 10, 6


def test_masked_sequence_loss_keeps_only_unmasked_positions(tmp_path):
    rng = np.random.default_rng(1)
    n, batch = 64, 16
    lengths = rng.integers(2, LENGTH + 1, n)
    x = np.where(np.arange(LENGTH)[None, :] < lengths[:, None], rng.integers(1, VOCAB, (n, LENGTH)), 0)
    y = rng.integers(1, VOCAB, (n, LENGTH))

    def model():
        keras.utils.set_random_seed(4)
        m = keras.Sequential([keras.Input((LENGTH,), dtype="int32"),
                              keras.layers.Embedding(VOCAB, 4, mask_zero=True),
                              keras.layers.LSTM(8, return_sequences=True), keras.layers.Dense(VOCAB)])
        m.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    model().fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[tbb.BatchStats(tmp_path)])

    ref = model()
    losses, per_position, logits_kept = [], [], []
    for i in range(0, n, batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        keep = xb != 0
        with tf.GradientTape() as tape:
            logits = ref(xb, training=True)
            ce = tf.boolean_mask(keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True), keep)
            loss = tf.reduce_mean(ce)
        ref.optimizer.apply(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables)
        losses.append(float(loss))
        per_position.append(ce.numpy().astype(np.float64))
        logits_kept.append(logits.numpy()[keep])

    data = tbb.load(str(tmp_path))
    loss = data.scalars("train", "loss").values
    np.testing.assert_allclose(loss, losses, rtol=1e-5)
    dist = data.distributions("train", "per_sample_loss")
    np.testing.assert_array_equal(dist.count, [len(v) for v in per_position])
    np.testing.assert_allclose(dist.min, [v.min() for v in per_position], rtol=1e-5)
    np.testing.assert_allclose(dist.max, [v.max() for v in per_position], rtol=1e-5)
    np.testing.assert_allclose(dist.mean, [v.mean() for v in per_position], rtol=1e-5)
    np.testing.assert_allclose(dist.mean, loss, rtol=1e-5)  # no regularization: the step's loss
    preds = data.distributions("train", "predictions")
    np.testing.assert_array_equal(preds.count, [v.size for v in logits_kept])
    np.testing.assert_allclose(preds.max, [v.max() for v in logits_kept], rtol=1e-5)


def test_two_outputs(tmp_path):
    rng = np.random.default_rng(2)
    n, batch = 80, 32  # the last batch of 16
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = {"label": rng.integers(0, CLASSES, n), "value": rng.normal(size=(n, 1)).astype("float32")}

    def model():
        keras.utils.set_random_seed(5)
        inputs = keras.Input((FEATURES,))
        hidden = keras.layers.Dense(16, activation="relu")(inputs)
        m = keras.Model(inputs, {"label": keras.layers.Dense(CLASSES, name="label")(hidden),
                                 "value": keras.layers.Dense(1, name="value")(hidden)})
        m.compile(keras.optimizers.SGD(0.1),
                  loss={"label": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "value": "mse"})
        return m

    model().fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[tbb.BatchStats(tmp_path)])

    ref = model()
    expected = {"label": [], "value": [], "ce": [], "se": []}
    for i in range(0, n, batch):
        with tf.GradientTape() as tape:
            out = ref(x[i:i + batch], training=True)
            ce = keras.losses.sparse_categorical_crossentropy(y["label"][i:i + batch], out["label"], from_logits=True)
            se = tf.reduce_mean(tf.square(out["value"] - y["value"][i:i + batch]), -1)
            loss = tf.reduce_mean(ce) + tf.reduce_mean(se)
        ref.optimizer.apply(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables)
        for name in ("label", "value"):
            expected[name].append(out[name].numpy().ravel())
        expected["ce"].append(ce.numpy())
        expected["se"].append(se.numpy())

    data = tbb.load(str(tmp_path))
    tags = data.tags("train")
    assert "predictions" not in tags and "per_sample_loss" not in tags
    for name, loss_values in (("label", expected["ce"]), ("value", expected["se"])):
        preds = data.distributions("train", "predictions/" + name)
        np.testing.assert_array_equal(preds.count, [v.size for v in expected[name]])
        np.testing.assert_allclose(preds.min, [v.min() for v in expected[name]], rtol=1e-5)
        np.testing.assert_allclose(preds.max, [v.max() for v in expected[name]], rtol=1e-5)
        losses = data.distributions("train", "per_sample_loss/" + name)
        np.testing.assert_array_equal(losses.count, [v.size for v in loss_values])
        np.testing.assert_allclose(losses.mean, [v.mean() for v in loss_values], rtol=1e-5)


def _heads_model(outputs, losses):
    """Two heads, 'label' (3 logits) and 'value' (1), returned as a list, a dict or nested in a
    dict; compiled with the losses as a list or a dict of the same structure."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    label = keras.layers.Dense(CLASSES, name="label")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    ce, mse = keras.losses.SparseCategoricalCrossentropy(from_logits=True), keras.losses.MeanSquaredError()
    structure = {"list": lambda a, b: [a, b], "dict": lambda a, b: {"label": a, "value": b},
                 "nested": lambda a, b: {"heads": [a, b]}}
    m = keras.Model(inputs, structure[outputs](label, value))
    m.compile(keras.optimizers.SGD(0.1), loss=structure[losses](ce, mse))
    return m


@pytest.mark.parametrize("outputs, losses, targets", [
    ("list", "list", "dict"), ("list", "dict", "dict"), ("dict", "list", "list"),
    ("dict", "dict", "tuple"), ("nested", "nested", "list")])
def test_every_target_structure_keras_accepts(tmp_path, outputs, losses, targets):
    """Keras pairs targets given as a list, tuple, dict keyed by output name or nested structure
    with the outputs; the per-sample losses and samples of each output are recorded for all."""
    rng = np.random.default_rng(2)
    n, batch = 80, 32
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    label, value = rng.integers(0, CLASSES, n), rng.normal(size=(n, 1)).astype("float32")
    y = {"list": [label, value], "tuple": (label, value), "dict": {"label": label, "value": value}}[targets]
    fit = dict(batch_size=batch, epochs=1, shuffle=False, verbose=0)
    plain = _heads_model(outputs, losses).fit(x, y, **fit).history
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorded = _heads_model(outputs, losses).fit(x, y, callbacks=[tbb.BatchStats(tmp_path)], **fit).history
    assert not [w for w in caught if "BatchStats" in str(w.message)]
    _assert_history_equal(recorded, plain)

    ref = _heads_model(outputs, losses)
    ce_ref, se_ref = [], []
    for i in range(0, n, batch):
        with tf.GradientTape() as tape:
            out = tf.nest.flatten(ref(x[i:i + batch], training=True))
            ce = keras.losses.sparse_categorical_crossentropy(label[i:i + batch], out[0], from_logits=True)
            se = tf.reduce_mean(tf.square(out[1] - value[i:i + batch]), -1)
            loss = tf.reduce_mean(ce) + tf.reduce_mean(se)
        ref.optimizer.apply(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables)
        ce_ref.append(ce.numpy())
        se_ref.append(se.numpy())

    data = tbb.load(str(tmp_path))
    prefix = "heads/" if outputs == "nested" else ""
    for name, expected in (("label", ce_ref), ("value", se_ref)):
        losses_ = data.distributions("train", "per_sample_loss/" + prefix + name)
        np.testing.assert_array_equal(losses_.count, [len(v) for v in expected])
        np.testing.assert_allclose(losses_.mean, [v.mean() for v in expected], rtol=1e-5)
    samples = data.samples("train")
    rows = samples.rows(0)
    order = np.argsort(-(ce_ref[0] + se_ref[0]))[:8]  # the highest total losses of the first batch
    np.testing.assert_allclose(rows["loss"], (ce_ref[0] + se_ref[0])[order], rtol=1e-5)
    np.testing.assert_array_equal(rows["label/" + prefix + "label"], label[order])
    assert data.per_class("train", prefix + "label").counts.sum() == n
