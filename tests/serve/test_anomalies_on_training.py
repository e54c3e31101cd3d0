"""The anomaly list on real Keras training (scikit-learn's digits, recorded by BatchStats, read
through TensorBoard's WSGI application): two batches corrupted on purpose are the top two entries,
the healthy twin run lists none, and a validation batch corrupted in every evaluation is listed
with the training step and epoch of each evaluation. The faults are known: the test builds every
batch itself."""

import json

import numpy as np
import pytest
from tensorboard.plugins import base_plugin

from helpers import indexed
from tb_batch_plugin.plugin_loader import BatchesLoader

BATCH, EPOCHS = 32, 16
INPUTS_STEP, LABELS_STEP = 400, 650  # the corrupted training batches
VAL_BATCH, VAL_EPOCHS = 2, (8, 12)  # a validation batch corrupted in the evaluations of two epochs


def _train(log_dir, faults):
    keras = pytest.importorskip("keras")
    import tensorflow as tf
    from sklearn.datasets import load_digits

    import tb_batch_plugin as tbb

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:1440], order[1440:1760]
    per_epoch = len(train) // BATCH
    rng = np.random.default_rng(1)
    rows = np.concatenate([rng.permutation(train).reshape(per_epoch, BATCH) for _ in range(EPOCHS)])
    xs, ys = x[rows], y[rows]
    noise = rng.normal(0, 10 * x.std(), (BATCH, 64)).astype("float32")
    if faults:
        xs[INPUTS_STEP] = noise
        ys[LABELS_STEP] = rng.integers(0, 10, BATCH)

    class Validation(keras.utils.PyDataset):
        """The same validation batches in every evaluation, but one in the evaluations of
        VAL_EPOCHS (the epoch is set by the callback below)."""

        epoch = -1

        def __len__(self):
            return len(val) // BATCH

        def __getitem__(self, i):
            rows = val[i * BATCH:(i + 1) * BATCH]
            corrupt = faults and i == VAL_BATCH and self.epoch in VAL_EPOCHS
            return (noise if corrupt else x[rows]), y[rows]

    validation = Validation()

    class Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            validation.epoch = epoch
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(0.003), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((xs, ys)).repeat()
    model.fit(data, epochs=EPOCHS, steps_per_epoch=per_epoch, validation_data=validation, verbose=0,
              shuffle=False, callbacks=[Epoch(), tbb.BatchStats(log_dir)])
    return per_epoch


def _anomalies(log_dir, run):
    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=log_dir))
    response = indexed.client(plugin).get("/data/plugin/tb_batch/anomalies?run=" + run)
    assert response.status_code == 200
    return json.loads(response.get_data())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomalies")
    per_epoch = _train(str(root / "faulty"), faults=True)
    _train(str(root / "healthy"), faults=False)
    return str(root), per_epoch


def test_corrupted_batches_are_the_top_two_and_the_healthy_twin_lists_none(runs):
    root, _ = runs
    faulty = _anomalies(root, "faulty/train")
    whole = [e for e in faulty["anomalies"] if e["kind"] == "spike"]
    assert [e["step"] for e in whole if e["tag"] == "loss"][:2] in ([INPUTS_STEP, LABELS_STEP], [LABELS_STEP, INPUTS_STEP])
    assert {e["step"] for e in whole} == {INPUTS_STEP, LABELS_STEP}
    assert faulty["counts"]["spike"] == 2
    assert all(e["batch_score"] >= 6 for e in whole)
    healthy = _anomalies(root, "healthy/train")
    assert healthy["batch_scored"] and healthy["counts"]["spike"] == 0 and healthy["counts"]["gradient"] == 0
    assert [e for e in healthy["anomalies"] if e["kind"] == "spike"] == []


def test_validation_anomalies_carry_their_evaluation(runs):
    root, per_epoch = runs
    listing = _anomalies(root, "faulty/validation")
    batches_per_evaluation = 10  # 320 validation rows
    found = [e for e in listing["anomalies"] if e["kind"] == "spike" and e["tag"] == "loss"]
    assert [e["evaluation"] for e in sorted(found, key=lambda e: e["step"])] == [
        {"train_step": (epoch + 1) * per_epoch, "epoch": epoch, "batch": VAL_BATCH} for epoch in VAL_EPOCHS]
    assert sorted(e["step"] for e in found) == [epoch * batches_per_evaluation + VAL_BATCH for epoch in VAL_EPOCHS]
    assert listing["counts"]["spike"] == len(VAL_EPOCHS)
    assert _anomalies(root, "healthy/validation")["counts"]["spike"] == 0
