"""Every sample of every training step, exact: the recorded dynamics rows (identity, loss, margin,
p(label), label, prediction) against a hand computation on the weights the model had before each
step, on the rows ``tbb.find`` returns for the recorded fingerprints.

The rows are decoded from the event files by the contract in ``metadata`` alone
(``helpers.dynamics_files.read_events``, not the package's reader), so these tests pin what is
written.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb
from helpers.dynamics_files import read_events
from helpers.keras_reference import WeightsAtEachStep
from tb_batch_plugin import metadata

N, FEATURES, CLASSES, BATCH, EPOCHS = 203, 8, 3, 32, 2  # 7 batches per epoch, the last of 11
STEPS = 7 * EPOCHS


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, FEATURES)), rng.integers(0, CLASSES, N)


def _model(loss, outputs=CLASSES, activation=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(outputs, activation=activation)])
    model.compile(keras.optimizers.SGD(0.1), loss, metrics=["accuracy"])
    return model


def _reference(logits_or_probs, labels, from_logits):
    """Margin, p(label) and predicted class computed with numpy, as the contract defines them."""
    scores = np.asarray(logits_or_probs, np.float32)  # as the step computes it
    own = scores[np.arange(len(labels)), labels]
    other = np.where(np.eye(scores.shape[1], dtype=bool)[labels], -np.inf, scores).max(1)
    probs = tf.nn.softmax(logits_or_probs).numpy() if from_logits else np.asarray(logits_or_probs)
    return own - other, probs[np.arange(len(labels)), labels], scores.argmax(1)


def _fit(log_dir, model, x, y, **batch_stats):
    weights = WeightsAtEachStep()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0,
              validation_data=(x[:40], y[:40]), callbacks=[tbb.BatchStats(log_dir, **batch_stats), weights])
    return weights.weights


CASES = {
    "sparse logits": (lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True), None, True, False),
    "one-hot softmax": (lambda: keras.losses.CategoricalCrossentropy(), "softmax", False, True),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("samples", [8, 0])
def test_every_sample_of_every_step_is_recorded_exactly(tmp_path, case, samples):
    make_loss, activation, from_logits, one_hot = CASES[case]
    x, y = _data()
    targets = np.eye(CLASSES)[y] if one_hot else y
    weights = _fit(tmp_path, _model(make_loss(), activation=activation), x, targets, samples=samples)
    recorded = read_events(tmp_path / "train")
    assert list(recorded) == [metadata.DYNAMICS_TAG]
    steps = [step for step, _ in recorded[metadata.DYNAMICS_TAG]]
    assert steps == list(range(STEPS))
    assert read_events(tmp_path / "validation") == {}  # training batches only
    reference = _model(make_loss(), activation=activation)
    per_sample = make_loss()
    per_sample.reduction = None
    fingerprints = tbb.fingerprint(x)
    for epoch in range(EPOCHS):
        epoch_rows = [rows for step, rows in recorded[metadata.DYNAMICS_TAG][7 * epoch:7 * (epoch + 1)]]
        seen = np.concatenate([rows["fingerprint"] for rows in epoch_rows])
        np.testing.assert_array_equal(np.sort(seen), np.sort(fingerprints))  # each sample once an epoch
    for step, rows in recorded[metadata.DYNAMICS_TAG]:
        index = tbb.find(x, rows["fingerprint"])
        assert (index >= 0).all() and len(index) == (11 if step % 7 == 6 else BATCH)
        reference.set_weights(weights[step])
        out = reference(x[index].astype("float32"), training=True).numpy()
        margin, label_probability, predicted = _reference(out, y[index], from_logits)
        np.testing.assert_allclose(rows["loss"], per_sample(targets[index], out).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(rows["margin"], margin)  # bit for bit
        np.testing.assert_allclose(rows["label_probability"], label_probability, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(rows["label"], y[index])
        np.testing.assert_array_equal(rows["predicted"], predicted)
        assert rows["margin"].dtype == np.float32


def test_binary_ids_and_loss_only_outputs(tmp_path):
    """A sigmoid output is the classes [1 - p, p] (logits [0, z]); ids ride along; a regression
    output of the same model records each sample's loss only, under a tag of its own."""
    x, y = _data()
    y = (y > 0).astype("float32")
    keras.utils.set_random_seed(2)
    inputs = {"features": keras.Input((FEATURES,)), "row": keras.Input((), dtype="int64")}
    hidden = keras.layers.Dense(8, activation="relu")(inputs["features"])
    model = keras.Model(inputs, {"is_one": keras.layers.Dense(1, name="is_one")(hidden),
                                 "value": keras.layers.Dense(1, name="value")(hidden)})
    model.compile(keras.optimizers.SGD(0.05), loss={"is_one": keras.losses.BinaryCrossentropy(from_logits=True),
                                                    "value": "mse"})
    rows = np.arange(N) * 1000 + 2 ** 40  # ids beyond 32 bits
    feed = {"features": x, "row": rows}
    weights = WeightsAtEachStep()
    model.fit(feed, {"is_one": y, "value": y}, batch_size=BATCH, epochs=1, shuffle=True, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path, sample_ids="row"), weights])
    recorded = read_events(tmp_path / "train")
    assert sorted(recorded) == [metadata.DYNAMICS_TAG + "/is_one", metadata.DYNAMICS_TAG + "/value"]
    for (step, binary), (_, value) in zip(recorded[metadata.DYNAMICS_TAG + "/is_one"],
                                          recorded[metadata.DYNAMICS_TAG + "/value"]):
        assert set(value) == {"fingerprint", "id", "loss"}
        index = binary["id"] // 1000 - 2 ** 40 // 1000
        np.testing.assert_array_equal(rows[index], binary["id"])
        np.testing.assert_array_equal(value["id"], binary["id"])
        np.testing.assert_array_equal(binary["fingerprint"], value["fingerprint"])
        model.set_weights(weights.weights[step])
        out = model({"features": x[index].astype("float32"), "row": rows[index]})
        z = out["is_one"].numpy()[:, 0].astype(np.float64)
        label = y[index].astype(int)
        np.testing.assert_allclose(binary["margin"], np.where(label == 1, z, -z), rtol=1e-5, atol=1e-6)
        p = 1 / (1 + np.exp(-z))
        np.testing.assert_allclose(binary["label_probability"], np.where(label == 1, p, 1 - p), rtol=1e-5)
        np.testing.assert_array_equal(binary["predicted"], (z > 0).astype(int))
        np.testing.assert_array_equal(binary["label"], label)
        np.testing.assert_allclose(value["loss"], (out["value"].numpy()[:, 0] - y[index]) ** 2, rtol=1e-5, atol=1e-6)


def test_dynamics_off_and_custom_loops(tmp_path):
    x, y = _data()
    _fit(tmp_path / "off", _model(keras.losses.SparseCategoricalCrossentropy(from_logits=True)), x, y,
         dynamics=False)
    assert read_events(tmp_path / "off" / "train") == {}
    # summary.dynamics in a custom loop: the same rows from probabilities given by hand.
    probs = tf.nn.softmax(np.random.default_rng(3).normal(size=(N, CLASSES))).numpy().astype("float32")
    loss = -np.log(probs[np.arange(N), y])
    with tf.summary.create_file_writer(str(tmp_path / "loop")).as_default():
        tbb.summary.dynamics(loss, x.astype("float32"), y_true=y, y_pred=probs, kind="sparse", step=5)
    [(step, rows)] = read_events(tmp_path / "loop")[metadata.DYNAMICS_TAG]
    margin, label_probability, predicted = _reference(probs, y, from_logits=False)
    assert step == 5
    np.testing.assert_array_equal(rows["fingerprint"], tbb.fingerprint(x))
    np.testing.assert_array_equal(rows["loss"], loss.astype(np.float32))
    np.testing.assert_array_equal(rows["margin"], margin.astype(np.float32))
    np.testing.assert_array_equal(rows["label_probability"], label_probability)
    np.testing.assert_array_equal(rows["predicted"], predicted)


@pytest.mark.parametrize("compiled", [{"steps_per_execution": 3}, {"jit_compile": True}], ids=["k=3", "xla"])
def test_every_sample_with_steps_per_execution_and_xla(tmp_path, compiled):
    """Several steps per execution (rows staged in Keras' loop) and an XLA-compiled step (the
    rows made outside the cluster): the same rows as a hand computation."""
    x, y = _data()
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(CLASSES)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compiled)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0, callbacks=[tbb.BatchStats(tmp_path)])
    recorded = read_events(tmp_path / "train")[metadata.DYNAMICS_TAG]
    assert [step for step, _ in recorded] == list(range(7))
    seen = np.concatenate([rows["fingerprint"] for _, rows in recorded])
    np.testing.assert_array_equal(np.sort(seen), np.sort(tbb.fingerprint(x)))
    # The weights of each step: replay the recorded batches from the initial weights by hand.
    keras.utils.set_random_seed(1)
    reference = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(CLASSES)])
    optimizer = keras.optimizers.SGD(0.1)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for step, rows in recorded:
        index = tbb.find(x, rows["fingerprint"])
        with tf.GradientTape() as tape:
            out = reference(x[index].astype("float32"), training=True)
            loss = ce(y[index], out)
        margin, label_probability, predicted = _reference(out.numpy(), y[index], True)
        np.testing.assert_allclose(rows["margin"], margin, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rows["label_probability"], label_probability, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(rows["predicted"], predicted)
        optimizer.apply(tape.gradient(loss, reference.trainable_variables), reference.trainable_variables)
