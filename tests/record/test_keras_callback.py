"""BatchStats against an independent, hand-written tf.GradientTape loop on the same batches.

Every recorded value is read back with tb_batch_plugin.load (the lossless reader) and compared
with what the reference loop computed itself (never with the callback's own output).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb
from helpers.keras_reference import (BATCH, CLASSES, EPOCHS, N, AllBatchLogs, gradient_tape_reference,
                                     make_data, make_model)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_per_step_values_match_gradient_tape_loop(tmp_path, steps_per_execution, weighted):
    x, y, sw = make_data()
    sw = sw if weighted else None
    val = (x[:70], y[:70])  # 3 validation batches, the last partial
    plain, seen_plain = make_model(steps_per_execution), AllBatchLogs()
    h_plain = plain.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=EPOCHS, shuffle=False,
                        verbose=0, validation_data=val, callbacks=[seen_plain])
    model, seen = make_model(steps_per_execution), AllBatchLogs()
    h = model.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=EPOCHS, shuffle=False,
                  verbose=0, validation_data=val, callbacks=[tbb.BatchStats(tmp_path), seen])

    # The callback changes nothing: History, the logs other callbacks see and the final
    # weights are bit-identical.
    assert h.history == h_plain.history
    assert seen.logs == seen_plain.logs and len(seen.logs) > 0
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)

    ref = gradient_tape_reference(x, y, sw, val=val)
    steps_per_epoch = -(-N // BATCH)
    data = tbb.load(str(tmp_path))
    assert set(data.runs()) == {"train", "validation"}
    tags = data.tags("train")
    assert tags["loss"] == "scalar" and tags["per_sample_loss"] == "distribution"
    assert {"loss", "accuracy", "learning_rate", "grad_norm", "predictions"} <= set(tags)

    loss = data.scalars("train", "loss")
    np.testing.assert_array_equal(loss.steps, np.arange(EPOCHS * steps_per_epoch))  # every step
    np.testing.assert_allclose(loss.values, ref["loss"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data.scalars("train", "accuracy").values, ref["accuracy"], atol=1e-7)
    np.testing.assert_allclose(data.scalars("train", "grad_norm").values, ref["grad_norm"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("train", "learning_rate").values, 0.1, rtol=1e-7)

    # The batch-size-weighted mean of an epoch's per-step losses is History's loss of that epoch.
    sizes = ref["size"].reshape(EPOCHS, steps_per_epoch)
    per_epoch = (loss.values.reshape(EPOCHS, steps_per_epoch) * sizes).sum(1) / sizes.sum(1)
    np.testing.assert_allclose(per_epoch, h.history["loss"], rtol=1e-6)

    # Distributions: exact count, extremes and quantiles of the batch's own values.
    dist = data.distributions("train", "per_sample_loss")
    assert len(dist) == EPOCHS * steps_per_epoch
    for j in (0, steps_per_epoch - 1, len(dist) - 1):  # includes the last partial batch
        values = ref["per_sample_loss"][j].astype(np.float64)
        assert dist.count[j] == len(values)
        np.testing.assert_allclose(dist.min[j], values.min(), rtol=1e-5)
        np.testing.assert_allclose(dist.max[j], values.max(), rtol=1e-5)
        np.testing.assert_allclose(dist.mean[j], values.mean(), rtol=1e-5)
        np.testing.assert_allclose(dist.quantiles[j], np.quantile(values, dist.quantile_probs),
                                   rtol=1e-5, atol=1e-6)
        assert dist.histograms[j].sum() == len(values)
    preds = data.distributions("train", "predictions")
    np.testing.assert_array_equal(preds.count[[0, -1]], [BATCH * CLASSES, (N % BATCH) * CLASSES])
    np.testing.assert_allclose(preds.max[-1], ref["predictions"][-1].max(), rtol=1e-5)

    # Validation batches: their own values, on their own step counter.
    vloss = data.scalars("validation", "loss")
    np.testing.assert_array_equal(vloss.steps, np.arange(EPOCHS * 3))
    np.testing.assert_allclose(vloss.values, ref["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("validation", "accuracy").values, ref["val_accuracy"], atol=1e-7)


class StepsOnDisk(keras.callbacks.Callback):
    """After BatchStats' own epoch end: the steps whose distributions are on disk."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir, self.seen = log_dir, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(len(tbb.load(self.log_dir).distributions("train", "predictions")))


def test_distributions_of_every_step_across_staged_blocks(tmp_path):
    """More steps than one staged block, epochs ending mid-block: every step is on disk at each
    epoch end, at its own step, with its batch's exact values."""
    x, y, sw = make_data()
    batch = 3  # 68 steps an epoch: staged blocks of staging.MAX_ROWS = 64 rows end mid-epoch
    on_disk = StepsOnDisk(str(tmp_path))
    make_model().fit(x, y, sample_weight=sw, batch_size=batch, epochs=EPOCHS, shuffle=False, verbose=0,
                     callbacks=[tbb.BatchStats(tmp_path), on_disk])
    ref = gradient_tape_reference(x, y, sw, batch=batch)
    steps = EPOCHS * -(-N // batch)
    assert on_disk.seen == [steps // EPOCHS, steps]
    data = tbb.load(str(tmp_path))
    for name in ("per_sample_loss", "predictions"):
        dist = data.distributions("train", name)
        np.testing.assert_array_equal(dist.steps, np.arange(steps))
        np.testing.assert_array_equal(dist.count, [len(v) for v in ref[name]])
        np.testing.assert_allclose(dist.min, [v.min() for v in ref[name]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dist.max, [v.max() for v in ref[name]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dist.quantiles[:, 5], [np.median(v) for v in ref[name]], rtol=1e-5, atol=1e-6)


def test_every_n_and_evaluate_and_resume(tmp_path):
    x, y, _ = make_data()
    model = make_model()
    cb = tbb.BatchStats(tmp_path, every=3, distributions=False)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    model.evaluate(x, y, batch_size=BATCH, verbose=0, callbacks=[cb])
    data = tbb.load(str(tmp_path))
    # Two fits of 7 steps each: the step counter goes on (0..13), every 3rd step is written.
    np.testing.assert_array_equal(data.scalars("train", "loss").steps, np.arange(0, 14, 3))
    assert "per_sample_loss" not in data.tags("train")
    np.testing.assert_array_equal(data.scalars("validation", "loss").steps, [0, 3, 6])
    # After fit the model is as it was: a plain fit writes nothing more.
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert len(tbb.load(str(tmp_path)).scalars("train", "loss")) == 5

    # A new callback on a model that already trained continues from optimizer.iterations.
    other = tmp_path / "resumed"
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[tbb.BatchStats(other)])
    start = int(model.optimizer.iterations.numpy()) - 7
    np.testing.assert_array_equal(tbb.load(str(other)).scalars("train", "loss").steps,
                                  np.arange(start, start + 7))


def test_jit_compile(tmp_path):
    x, y, _ = make_data()
    model = make_model(jit_compile=True)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path)])
    assert model.jit_compile
    ref = gradient_tape_reference(x, y, None, epochs=1)
    data = tbb.load(str(tmp_path))
    # XLA fuses differently: equal to float32 precision, not bit for bit.
    np.testing.assert_allclose(data.scalars("train", "loss").values, ref["loss"], rtol=1e-5)
    np.testing.assert_allclose(data.scalars("train", "grad_norm").values, ref["grad_norm"], rtol=1e-5)
    np.testing.assert_array_equal(data.distributions("train", "per_sample_loss").count[-1], N % BATCH)


class RunningMax(keras.metrics.Metric):
    """A user metric whose state is not additive: the largest prediction seen."""

    def __init__(self, name="running_max", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(tf.maximum(self.value, tf.reduce_max(y_pred)))

    def result(self):
        return tf.identity(self.value)


class LastBatchLogs(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.last = {k: float(v) for k, v in logs.items()}


def test_non_additive_metric_is_left_alone_and_warned(tmp_path):
    x, y, _ = make_data()
    model = make_model(metrics=("accuracy", RunningMax()))
    seen = LastBatchLogs()
    with pytest.warns(UserWarning, match="running_max"):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[tbb.BatchStats(tmp_path), seen])
    data = tbb.load(str(tmp_path))
    # Recorded as Keras reports it (the running max), the additive ones per batch.
    assert data.scalars("train", "running_max").values[-1] == pytest.approx(seen.last["running_max"])
    np.testing.assert_allclose(data.scalars("train", "loss").values,
                               gradient_tape_reference(x, y, None, epochs=1)["loss"], rtol=1e-6)


def test_custom_loss_without_reduction_and_nonfinite(tmp_path):
    x, y, _ = make_data()
    yf = np.eye(CLASSES, dtype="float32")[y]

    def scalar_loss(y_true, y_pred):  # reduces itself: cannot be made per-sample
        return tf.reduce_mean(tf.square(y_true - y_pred)) * 1.0

    model = make_model(metrics=(), loss=scalar_loss)
    with pytest.warns(UserWarning, match="per-sample"):
        model.fit(x, yf, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[tbb.BatchStats(tmp_path)])
    data = tbb.load(str(tmp_path))
    assert "per_sample_loss" not in data.tags("train")
    assert len(data.scalars("train", "loss")) == 7

    # A NaN sample weight in batch 1: from that step on the loss is NaN, and recorded as such.
    bad = tmp_path / "nan"
    sw = np.ones(N, "float32")
    sw[40] = np.nan
    model = make_model()
    with pytest.warns(UserWarning, match="not finite"):
        model.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[tbb.BatchStats(bad)])
    loss = tbb.load(str(bad)).scalars("train", "loss").values
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and len(loss) == 7
    dist = tbb.load(str(bad)).distributions("train", "per_sample_loss")
    assert dist.nan_count[1] >= 1 and dist.nan_count[0] == 0


def test_unwritable_log_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="cannot be written"):
        tbb.BatchStats(blocker / "logs")
    with pytest.raises(ValueError, match="every"):
        tbb.BatchStats(tmp_path, every=0)


TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds helpers/
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[2])
    from helpers import keras_reference
    import tb_batch_plugin as tbb
    x, y, _ = keras_reference.make_data()
    with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
        model = keras_reference.make_model()
    h = model.fit(x, y, batch_size=keras_reference.BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[tbb.BatchStats(sys.argv[1])])
    ref = keras_reference.gradient_tape_reference(x, y, None, epochs=1)
    data = tbb.load(sys.argv[1])
    print(json.dumps({k: [float(v) for v in data.scalars("train", k).values] for k in ("loss", "accuracy", "grad_norm")}
                     | {"ref_" + k: [float(v) for v in ref[k]] for k in ("loss", "accuracy", "grad_norm")}
                     | {"history": h.history["loss"], "count": [float(c) for c in data.distributions("train", "per_sample_loss").count]}))
""")


def test_mirrored_strategy_two_cpus(tmp_path):
    """Two logical CPUs must be configured before TensorFlow starts: run in a subprocess."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "logs"), TESTS_DIR],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # The exact global-batch values (also for the uneven last batch, split 6/5 over replicas).
    np.testing.assert_allclose(out["loss"], out["ref_loss"], rtol=1e-6)
    np.testing.assert_allclose(out["accuracy"], out["ref_accuracy"], atol=1e-7)
    assert out["count"] == [32.0] * 6 + [11.0]
    # Keras sums replica gradients of per-replica means / 2: exact for even splits.
    np.testing.assert_allclose(out["grad_norm"][:6], out["ref_grad_norm"][:6], rtol=1e-5)


def test_mixed_precision_counts_every_step(tmp_path):
    x, y, _ = make_data()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model()
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[tbb.BatchStats(tmp_path)])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    data = tbb.load(str(tmp_path))
    np.testing.assert_array_equal(data.scalars("train", "loss").steps, np.arange(7))
    gn = data.scalars("train", "grad_norm").values
    # Unscaled: a float32 run's gradient norms are of the same size (not 2**15 larger).
    ref = gradient_tape_reference(x, y, None, epochs=1)["grad_norm"]
    np.testing.assert_allclose(gn[np.isfinite(gn)][:3], ref[:3], rtol=0.05)


def test_model_is_restored_after_fit_and_recompile(tmp_path):
    x, y, _ = make_data()
    model = make_model()
    cb = tbb.BatchStats(tmp_path, distributions=False)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    model.evaluate(x, y, batch_size=BATCH, verbose=0, callbacks=[cb])
    # Nothing of the callback is left on the model or its optimizer.
    for name in ("train_step", "test_step", "compute_loss"):
        assert name not in model.__dict__
    assert "apply" not in model.optimizer.__dict__
    for path, loss_fn, weight, name in model._compile_loss._flat_losses:
        assert "call" not in loss_fn.__dict__
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    data = tbb.load(str(tmp_path))
    np.testing.assert_array_equal(data.scalars("train", "loss").steps, np.arange(14))
    np.testing.assert_allclose(data.scalars("train", "learning_rate").values, [0.1] * 7 + [0.05] * 7,
                               rtol=1e-6)
    assert len(data.scalars("validation", "loss")) == 7


def test_two_batchstats_on_one_model_is_a_clear_error_before_anything_starts(tmp_path):
    x, y, _ = make_data()
    model = make_model()
    two = [tbb.BatchStats(tmp_path / "a"), tbb.BatchStats(tmp_path / "b", every=3)]
    with pytest.raises(ValueError, match="one BatchStats records a model at a time"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[two[0], keras.callbacks.History(), two[1]])
    with pytest.raises(ValueError, match="one BatchStats records a model at a time"):
        model.evaluate(x, y, batch_size=BATCH, verbose=0, callbacks=two)
    assert not {"train_step", "test_step", "make_train_function", "make_test_function"} & set(model.__dict__)
    assert int(model.optimizer.iterations.numpy()) == 0  # no step ran
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[two[1]])
    np.testing.assert_array_equal(tbb.load(str(tmp_path / "b")).scalars("train", "loss").steps, [0, 3, 6])
