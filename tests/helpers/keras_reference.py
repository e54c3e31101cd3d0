"""The Keras side of the recording tests: a small classification model and its data, and the
independent reference, a hand-written tf.GradientTape loop over the same batches that computes
every per-step value with Keras' definitions (never with BatchStats' code)."""

import keras
import numpy as np
import tensorflow as tf

N, FEATURES, CLASSES, BATCH = 203, 8, 3, 32  # 203 = 6 full batches + a partial one of 11
EPOCHS = 2


def make_data(seed=0):
    """(x, y, sample weights) of N samples: FEATURES normal features, CLASSES integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, N)
    sw = rng.uniform(0.1, 2.0, N).astype("float32")
    return x, y, sw


def make_model(steps_per_execution=1, jit_compile=False, metrics=("accuracy",), loss=None):
    """A compiled MLP with fixed initial weights (SGD 0.1, sparse cross-entropy from logits)."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((FEATURES,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(CLASSES),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=list(metrics),
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


def gradient_tape_reference(x, y, sw, epochs=EPOCHS, val=None, batch=BATCH):
    """Per-step values from a plain GradientTape loop, with Keras' definitions:
    loss = sum(per-sample loss * weight) / batch size; accuracy unweighted (a `metrics` entry)."""
    model = make_model()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    opt = model.optimizer
    opt.build(model.trainable_weights)
    out = {"loss": [], "accuracy": [], "grad_norm": [], "size": [], "per_sample_loss": [],
           "predictions": [], "val_loss": [], "val_accuracy": []}
    for _ in range(epochs):
        for i in range(0, N, batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            wb = sw[i:i + batch] if sw is not None else np.ones(len(xb), "float32")
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                per_sample = ce(yb, logits) * wb
                loss = tf.reduce_sum(per_sample) / len(xb)
            grads = tape.gradient(loss, model.trainable_weights)
            out["loss"].append(float(loss))
            out["accuracy"].append(float(np.mean(np.argmax(logits, 1) == yb)))
            out["grad_norm"].append(float(tf.linalg.global_norm(grads)))
            out["size"].append(len(xb))
            out["per_sample_loss"].append(per_sample.numpy())
            out["predictions"].append(logits.numpy().ravel())
            opt.apply(grads, model.trainable_weights)
        if val is not None:
            vx, vy = val
            for i in range(0, len(vx), BATCH):
                logits = model(vx[i:i + BATCH], training=False)
                out["val_loss"].append(float(tf.reduce_mean(ce(vy[i:i + BATCH], logits))))
                out["val_accuracy"].append(float(np.mean(np.argmax(logits, 1) == vy[i:i + BATCH])))
    return {k: (np.array(v) if k not in ("per_sample_loss", "predictions") else v) for k, v in out.items()}


class AllBatchLogs(keras.callbacks.Callback):
    """Every batch's logs as callbacks see them: (\"train\" | \"test\", batch, {name: float})."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(("train", batch, {k: float(v) for k, v in logs.items()}))

    def on_test_batch_end(self, batch, logs=None):
        self.logs.append(("test", batch, {k: float(v) for k, v in logs.items()}))


class WeightsAtEachStep(keras.callbacks.Callback):
    """The model's weights before every training batch (``weights[step]``), to recompute a step's
    per-sample values on a model of its own."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_begin(self, batch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])
