"""BatchStats on the custom train_step/test_step patterns of the Keras guide ("Customizing what
happens in fit()"): History and the logs other callbacks see stay bit-identical, every returned
log is recorded per batch, exactly where it is an additive metric's result (checked against a
hand-written tf.GradientTape loop), else as reported (said so).
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb
from helpers.keras_reference import AllBatchLogs

N, FEATURES, BATCH, EPOCHS = 200, 8, 32, 2  # 7 batches an epoch, the last one of 8
STEPS = -(-N // BATCH)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, FEATURES)).astype("float32"), rng.normal(size=(N, 1)).astype("float32")


class GuideModel(keras.Model):
    """The guide's first example: compiled loss and metrics, updated through self.metrics."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self.update_metrics(loss, y, y_pred)

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        return self.update_metrics(self.compute_loss(y=y, y_pred=y_pred), y, y_pred)

    def update_metrics(self, loss, y, y_pred):
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class TrackerModel(keras.Model):
    """The guide's lower-level example: own Mean/MAE trackers, no compiled loss or metrics; the
    step also returns arithmetic on a result and a raw per-batch value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = tf.reduce_mean(tf.square(y_pred - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result(),
                "mae_percent": self.mae_metric.result() * 100.0, "raw_loss": loss}


def _model(cls, compiled_metrics=True):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((FEATURES,))
    outputs = keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(inputs))
    model = cls(inputs, outputs)
    if compiled_metrics:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    else:
        model.compile(optimizer=keras.optimizers.Adam(0.01))
    return model


def _reference(epochs=EPOCHS, val=None):
    """Per-batch loss (MSE) and MAE of the same model trained by a plain GradientTape loop."""
    x, y = _data()
    model = _model(GuideModel)
    opt = model.optimizer
    opt.build(model.trainable_variables)
    out = {"loss": [], "mae": [], "grad_norm": [], "val_loss": [], "val_mae": []}
    for _ in range(epochs):
        for i in range(0, N, BATCH):
            xb, yb = x[i:i + BATCH], y[i:i + BATCH]
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = tf.reduce_mean(tf.square(pred - yb))
            grads = tape.gradient(loss, model.trainable_variables)
            out["loss"].append(float(loss))
            out["mae"].append(float(np.mean(np.abs(pred.numpy() - yb))))
            out["grad_norm"].append(float(tf.linalg.global_norm(grads)))
            opt.apply(grads, model.trainable_variables)
        if val is not None:
            vx, vy = val
            for i in range(0, len(vx), BATCH):
                pred = model(vx[i:i + BATCH], training=False).numpy()
                out["val_loss"].append(float(np.mean(np.square(pred - vy[i:i + BATCH]))))
                out["val_mae"].append(float(np.mean(np.abs(pred - vy[i:i + BATCH]))))
    return {k: np.array(v) for k, v in out.items()}


def _fit(model, callbacks, val=None, epochs=EPOCHS):
    x, y = _data()
    seen = AllBatchLogs()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                        validation_data=val, callbacks=[*callbacks, seen])
    return history.history, seen.logs


def _provenance(log_dir, run):
    return {s.tag: s.provenance for s in tbb.load(str(log_dir)).series(run)}


def test_guide_train_step_with_compiled_metrics(tmp_path):
    val = tuple(a[:70] for a in _data(1))  # 3 validation batches, the last one of 6
    plain = _model(GuideModel)
    h_plain, seen_plain = _fit(plain, [], val)
    model = _model(GuideModel)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h, seen = _fit(model, [tbb.BatchStats(tmp_path)], val)

    # Unchanged: History (mae was the last batch's value), every batch's logs, the weights.
    assert h == h_plain
    assert seen == seen_plain and len(seen) == EPOCHS * (STEPS + 3)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not [w for w in caught if "BatchStats" in str(w.message)]

    # Recorded per batch, exactly: loss and the compiled mae, also in the custom test_step.
    ref = _reference(val=val)
    data = tbb.load(str(tmp_path))
    np.testing.assert_allclose(data.scalars("train", "loss").values, ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "mae").values, ref["mae"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "grad_norm").values, ref["grad_norm"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("validation", "loss").values, ref["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("validation", "mae").values, ref["val_mae"], rtol=1e-6)
    assert _provenance(tmp_path, "train")["mae"] == "exact"
    assert _provenance(tmp_path, "validation")["mae"] == "exact"


def test_own_trackers_arithmetic_and_raw_values(tmp_path):
    x, y = _data()
    plain = _model(TrackerModel, compiled_metrics=False)
    h_plain, seen_plain = _fit(plain, [])
    model = _model(TrackerModel, compiled_metrics=False)
    with pytest.warns(UserWarning, match=r"\['mae_percent', 'raw_loss'\] recorded as the train step reports"):
        h, seen = _fit(model, [tbb.BatchStats(tmp_path)])
    assert h == h_plain and seen == seen_plain
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)

    ref = _reference()
    data = tbb.load(str(tmp_path))
    np.testing.assert_allclose(data.scalars("train", "loss").values, ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "mae").values, ref["mae"], rtol=1e-6)
    # As reported: the raw loss is the batch's own; mae_percent is 100 x the running mean.
    np.testing.assert_allclose(data.scalars("train", "raw_loss").values, ref["loss"], rtol=1e-6)
    running = np.array([s["mae_percent"] for mode, _, s in seen if mode == "train"])
    np.testing.assert_array_equal(data.scalars("train", "mae_percent").values, running.astype(np.float32))
    provenance = _provenance(tmp_path, "train")
    assert provenance["loss"] == provenance["mae"] == "exact"
    assert provenance["mae_percent"] == provenance["raw_loss"] == "reported"


LATENT, IMAGE = 4, 6


class GAN(keras.Model):
    """The guide's GAN, with the latent vectors given in the data (no random draws), and a
    discriminator/generator pair small enough to replay by hand."""

    def __init__(self):
        super().__init__()
        self.discriminator = keras.Sequential([keras.Input((IMAGE,)), keras.layers.Dense(8, activation="relu"),
                                               keras.layers.Dense(1)])
        self.generator = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(IMAGE)])
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, d_optimizer, g_optimizer, optimizer=None):
        if optimizer is None:
            super().compile()
        else:
            super().compile(optimizer=optimizer)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, x):
        return self.generator(x)

    def train_step(self, data):
        real, latent = data
        d_loss, g_loss = gan_losses(self, real, latent, self.d_optimizer, self.g_optimizer)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def gan_losses(gan, real, latent, d_optimizer, g_optimizer, norms=None):
    """One GAN step (shared by the model and the reference): d then g update."""
    fake = gan.generator(latent)
    images = tf.concat([fake, real], 0)
    labels = tf.concat([tf.ones((tf.shape(real)[0], 1)), tf.zeros((tf.shape(real)[0], 1))], 0)
    with tf.GradientTape() as tape:
        d_loss = gan.loss_fn(labels, gan.discriminator(images))
    grads = tape.gradient(d_loss, gan.discriminator.trainable_weights)
    if norms is not None:
        norms["d"].append(float(tf.linalg.global_norm(grads)))
    d_optimizer.apply_gradients(zip(grads, gan.discriminator.trainable_weights))
    with tf.GradientTape() as tape:
        g_loss = gan.loss_fn(tf.zeros((tf.shape(latent)[0], 1)), gan.discriminator(gan.generator(latent)))
    grads = tape.gradient(g_loss, gan.generator.trainable_weights)
    if norms is not None:
        norms["g"].append(float(tf.linalg.global_norm(grads)))
    g_optimizer.apply_gradients(zip(grads, gan.generator.trainable_weights))
    return d_loss, g_loss


def _gan(optimizer=None):
    keras.utils.set_random_seed(3)
    gan = GAN()
    gan.compile(keras.optimizers.Adam(0.003), keras.optimizers.SGD(0.05), optimizer=optimizer)
    return gan


def _gan_data():
    rng = np.random.default_rng(5)
    return rng.normal(size=(96, IMAGE)).astype("float32"), rng.normal(size=(96, LATENT)).astype("float32")


@pytest.mark.parametrize("compiled_optimizer", [None, "sgd"])
def test_gan_with_two_optimizers(tmp_path, compiled_optimizer):
    real, latent = _gan_data()
    batch = 16
    h_plain = _gan(compiled_optimizer).fit(real, latent, batch_size=batch, epochs=2, shuffle=False, verbose=0)
    gan = _gan(compiled_optimizer)
    h = gan.fit(real, latent, batch_size=batch, epochs=2, shuffle=False, verbose=0,
                callbacks=[tbb.BatchStats(tmp_path)])
    assert h.history == h_plain.history

    ref = _gan(compiled_optimizer)
    norms, losses = {"d": [], "g": []}, {"d": [], "g": []}
    for _ in range(2):
        for i in range(0, len(real), batch):
            d_loss, g_loss = gan_losses(ref, real[i:i + batch], latent[i:i + batch],
                                        ref.d_optimizer, ref.g_optimizer, norms)
            losses["d"].append(float(d_loss))
            losses["g"].append(float(g_loss))
    for a, b in zip(gan.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    data = tbb.load(str(tmp_path))
    assert {"learning_rate/d_optimizer", "learning_rate/g_optimizer", "grad_norm/d_optimizer",
            "grad_norm/g_optimizer", "d_loss", "g_loss"} <= set(data.tags("train"))
    assert "learning_rate" not in data.tags("train")  # the compiled optimizer applied nothing
    np.testing.assert_allclose(data.scalars("train", "d_loss").values, losses["d"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "g_loss").values, losses["g"], rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "grad_norm/d_optimizer").values, norms["d"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("train", "grad_norm/g_optimizer").values, norms["g"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("train", "learning_rate/d_optimizer").values, 0.003, rtol=1e-6)
    np.testing.assert_allclose(data.scalars("train", "learning_rate/g_optimizer").values, 0.05, rtol=1e-6)
    for name in ("train_step", "compute_loss"):
        assert name not in gan.__dict__
    assert "apply" not in gan.d_optimizer.__dict__ and "apply" not in gan.g_optimizer.__dict__
