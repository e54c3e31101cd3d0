"""Step numbering: later training in the same log_dir never erases what is recorded.

New callbacks, new models, weights-only loads and new processes append; a checkpoint resume with
its optimizer state supersedes exactly the steps it re-runs; validation keeps its own continuing
counter and marks each evaluation with the training step it follows. Values are read back with
tb_batch_plugin.load and compared with what was read before, or with a hand-written loop.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb

N, FEATURES, CLASSES, BATCH = 203, 8, 3, 32  # 7 batches per epoch (the last one of 11)
STEPS = 7
VAL_N = 70  # 3 validation batches


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, FEATURES)).astype("float32"), rng.integers(0, CLASSES, n)


def _model(seed=1, **optimizer_args):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(CLASSES)])
    model.compile(keras.optimizers.SGD(0.1, **optimizer_args),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _fit(model, log_dir, epochs=1, **kwargs):
    x, y = _data()
    vx, vy = _data(1, VAL_N)
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                     validation_data=(vx, vy), callbacks=[tbb.BatchStats(log_dir)], **kwargs)


def _series(log_dir, run, tag="loss"):
    s = tbb.load(str(log_dir)).scalars(run, tag)
    return s.steps, np.asarray(s.values, np.float64)


def test_new_callbacks_and_evaluate_keep_every_point(tmp_path):
    """The README's pattern written inline and run again (a notebook cell), then an evaluate()
    with its own callback: every training and validation point stays, in order."""
    model = _model()
    _fit(model, tmp_path, epochs=2)
    first_train = _series(tmp_path, "train")
    first_val = _series(tmp_path, "validation")
    _fit(model, tmp_path, epochs=2)
    vx, vy = _data(1, VAL_N)
    model.evaluate(vx, vy, batch_size=BATCH, verbose=0, callbacks=[tbb.BatchStats(tmp_path)])

    steps, values = _series(tmp_path, "train")
    np.testing.assert_array_equal(steps, np.arange(4 * STEPS))
    np.testing.assert_array_equal(values[:2 * STEPS], first_train[1])  # untouched
    vsteps, vvalues = _series(tmp_path, "validation")
    np.testing.assert_array_equal(vsteps, np.arange(5 * 3))
    np.testing.assert_array_equal(vvalues[:2 * 3], first_val[1])
    data = tbb.load(str(tmp_path))
    np.testing.assert_array_equal(data.markers("train", "fit").steps, [0, 2 * STEPS])
    np.testing.assert_array_equal(data.markers("train", "epoch").steps, STEPS * np.arange(1, 5))
    assert [(e["first_step"], e["last_step"], e["count"], e["train_step"], e["epoch"])
            for e in data.evaluations("validation")] == [
        (0, 2, 3, 7, 0), (3, 5, 3, 14, 1), (6, 8, 3, 21, 0), (9, 11, 3, 28, 1), (12, 14, 3, 28, None)]


def test_fresh_model_and_weights_only_load_append(tmp_path):
    trained = _model()
    _fit(trained, tmp_path)
    before = _series(tmp_path, "train")
    _fit(_model(seed=2), tmp_path)  # a second, fresh model into the same log_dir
    reloaded = _model(seed=3)
    reloaded.set_weights(trained.get_weights())  # weights only: the optimizer starts at 0
    _fit(reloaded, tmp_path)
    steps, values = _series(tmp_path, "train")
    np.testing.assert_array_equal(steps, np.arange(3 * STEPS))
    np.testing.assert_array_equal(values[:STEPS], before[1])
    np.testing.assert_array_equal(tbb.load(str(tmp_path)).markers("train", "fit").steps, [0, STEPS, 2 * STEPS])


def test_gradient_accumulation_counts_batches(tmp_path):
    """optimizer.iterations counts updates (every 4th batch); steps count batches."""
    model = _model(gradient_accumulation_steps=4)
    for _ in range(3):
        _fit(model, tmp_path)
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS // 4
    np.testing.assert_array_equal(_series(tmp_path, "train")[0], np.arange(3 * STEPS))


_TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    import keras, numpy as np
    import tb_batch_plugin as tbb
    log_dir, ckpt_dir, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(%(n)d, %(f)d)).astype("float32"); y = rng.integers(0, %(c)d, %(n)d)
    vrng = np.random.default_rng(1)
    vx = vrng.normal(size=(%(vn)d, %(f)d)).astype("float32"); vy = vrng.integers(0, %(c)d, %(vn)d)
    if mode == "first":
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((%(f)d,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(%(c)d)])
        model.compile(keras.optimizers.SGD(0.1),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        save = keras.callbacks.ModelCheckpoint(ckpt_dir + "/epoch{epoch}.keras")
        model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0, validation_data=(vx, vy),
                  callbacks=[tbb.BatchStats(log_dir), save])
    else:  # resume from the checkpoint of epoch 2 (optimizer state included), on other data
        model = keras.models.load_model(ckpt_dir + "/epoch2.keras")
        model.fit(2 * x, y, batch_size=32, epochs=3, initial_epoch=2, shuffle=False, verbose=0,
                  validation_data=(vx, vy), callbacks=[tbb.BatchStats(log_dir)])
""" % {"n": N, "f": FEATURES, "c": CLASSES, "vn": VAL_N})


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_checkpoint_resume_in_a_new_process_supersedes_exactly_the_rerun_steps(tmp_path):
    log_dir, ckpt = str(tmp_path / "logs"), str(tmp_path / "ckpt")
    os.makedirs(ckpt)
    _run(_TRAIN_SCRIPT, log_dir, ckpt, "first")
    steps1, values1 = _series(log_dir, "train")
    val1 = _series(log_dir, "validation")
    np.testing.assert_array_equal(steps1, np.arange(3 * STEPS))

    resumed = _run(_TRAIN_SCRIPT, log_dir, ckpt, "resume")
    assert "resumes at step 14" in resumed.stderr

    # Reference for the re-run epoch: the checkpoint, trained by hand on the same batches.
    model = keras.models.load_model(os.path.join(ckpt, "epoch2.keras"))
    x, y = _data()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = []
    for i in range(0, N, BATCH):
        with tf.GradientTape() as tape:
            loss = ce(y[i:i + BATCH], model(2 * x[i:i + BATCH], training=True))
        model.optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
        expected.append(float(loss))

    steps, values = _series(log_dir, "train")
    np.testing.assert_array_equal(steps, np.arange(3 * STEPS))
    np.testing.assert_array_equal(values[:2 * STEPS], values1[:2 * STEPS])  # before S: kept
    np.testing.assert_allclose(values[2 * STEPS:], expected, rtol=1e-5)  # from S on: the new run's
    assert not np.allclose(values[2 * STEPS:], values1[2 * STEPS:])
    # Validation is never erased: the resumed evaluation continues the counter.
    vsteps, vvalues = _series(log_dir, "validation")
    np.testing.assert_array_equal(vsteps, np.arange(4 * 3))
    np.testing.assert_array_equal(vvalues[:9], val1[1])
    data = tbb.load(log_dir)
    assert [(e["train_step"], e["epoch"]) for e in data.evaluations("validation")] == [
        (7, 0), (14, 1), (21, 2), (21, 2)]
    # The markers of the superseded epoch are gone with it; the resumed fit is marked at 14.
    np.testing.assert_array_equal(data.markers("train", "fit").steps, [0, 14])
    np.testing.assert_array_equal(data.markers("train", "epoch").steps, [7, 14, 21])
    np.testing.assert_array_equal(data.markers("train", "epoch").fields["iterations"], [7, 14, 21])


def test_resume_step_takes_the_latest_marker_at_or_below_the_counter():
    from tb_batch_plugin.record.ledger import resume_step

    # One model, then a fresh one appended at 200 (its counter restarting at 0).
    counters = [(0, 0), (100, 100), (200, 200), (200, 0), (300, 100)]
    assert resume_step(counters, 150) == 350
    assert resume_step(counters, 50) == 250
    assert resume_step([(0, 0), (100, 100), (200, 200)], 150) == 150
    assert resume_step([(10, 5)], 3) is None


_BACKUP_SCRIPT = textwrap.dedent("""
    import sys
    import keras, numpy as np
    import tb_batch_plugin as tbb
    log_dir, backup_dir, order, save_freq, interrupt = sys.argv[1:6]
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(%(n)d, %(f)d)).astype("float32"); y = rng.integers(0, %(c)d, %(n)d)
    vrng = np.random.default_rng(1)
    vx = vrng.normal(size=(%(vn)d, %(f)d)).astype("float32"); vy = vrng.integers(0, %(c)d, %(vn)d)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((%(f)d,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(%(c)d)])
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class Preempted(Exception):
        pass

    class Preempt(keras.callbacks.Callback):  # the machine goes away in epoch 1, after batch 3
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (1, 3):
                raise Preempted()

    callbacks = [tbb.BatchStats(log_dir), keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq)]
    if order == "last":
        callbacks.reverse()
    if interrupt == "yes":
        callbacks.append(Preempt())
    try:
        model.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0, validation_data=(vx, vy),
                  callbacks=callbacks)
    except Preempted:
        print("preempted")
""" % {"n": N, "f": FEATURES, "c": CLASSES, "vn": VAL_N})


@pytest.mark.parametrize("order", ["first", "last"])
def test_backup_and_restore_resumes_at_the_epoch_it_restores(tmp_path, order):
    """Keras' BackupAndRestore, interrupted mid-epoch and resumed in a new process, with
    BatchStats before or after it: the resumed fit re-runs the epoch from its backup at the end of
    epoch 0, so every step is recorded once and equals the uninterrupted run's."""
    log_dir, backup = str(tmp_path / "logs"), str(tmp_path / "backup")
    assert "preempted" in _run(_BACKUP_SCRIPT, log_dir, backup, order, "epoch", "yes").stdout
    np.testing.assert_array_equal(_series(log_dir, "train")[0], np.arange(STEPS + 4))
    _run(_BACKUP_SCRIPT, log_dir, backup, order, "epoch", "no")
    reference = str(tmp_path / "uninterrupted")
    _run(_BACKUP_SCRIPT, reference, str(tmp_path / "backup2"), order, "epoch", "no")

    for run in ("train", "validation"):
        steps, values = _series(log_dir, run)
        ref_steps, ref_values = _series(reference, run)
        if run == "train":
            np.testing.assert_array_equal(steps, np.arange(4 * STEPS))
            np.testing.assert_array_equal(steps, ref_steps)
            np.testing.assert_allclose(values, ref_values, rtol=1e-6)
        else:  # validation is never erased: epoch 0's evaluation, then the resumed fit's three
            np.testing.assert_array_equal(steps, np.arange(4 * 3))
            np.testing.assert_allclose(values, ref_values, rtol=1e-6)
    data = tbb.load(log_dir)
    assert [(e["train_step"], e["epoch"]) for e in data.evaluations("validation")] == [
        (7, 0), (14, 1), (21, 2), (28, 3)]
    np.testing.assert_array_equal(data.markers("train", "fit").steps, [0, STEPS])
    np.testing.assert_array_equal(data.markers("train", "epoch").steps, STEPS * np.arange(1, 5))


def test_backup_and_restore_mid_epoch_supersedes_from_its_backup(tmp_path):
    """Backups every 3 batches: the last one before the interruption (after step 11) is after
    step 9 (epoch 1, batch 1). Keras restores it and runs epoch 1 again from its first batch: those batches are
    steps 9.. (the batches that trained the final model, each once), before 9 nothing changes."""
    log_dir, backup = str(tmp_path / "logs"), str(tmp_path / "backup")
    _run(_BACKUP_SCRIPT, log_dir, backup, "first", "3", "yes")
    before = _series(log_dir, "train")
    np.testing.assert_array_equal(before[0], np.arange(STEPS + 4))
    resumed = _run(_BACKUP_SCRIPT, log_dir, backup, "first", "3", "no")
    assert "resumes at step 9" in resumed.stderr
    steps, values = _series(log_dir, "train")
    np.testing.assert_array_equal(steps, np.arange(9 + 3 * STEPS))
    np.testing.assert_array_equal(values[:9], before[1][:9])
    assert not np.allclose(values[9:11], before[1][9:11])  # steps 9-10 now hold epoch 1's first batches
    data = tbb.load(log_dir)
    np.testing.assert_array_equal(data.markers("train", "fit").steps, [0, 9])
    np.testing.assert_array_equal(data.markers("train", "epoch").steps, [7, 16, 23, 30])


def test_skipped_optimizer_steps_never_supersede_in_one_process(tmp_path):
    """Mixed precision: a LossScaleOptimizer skips the update of every step whose gradients
    overflow, without counting it. Two fits in one process (and a new BatchStats) continue after
    the batches that ran."""
    x, y = _data()
    x[32:34] *= 1e6  # overflows float16: batches 1 and 4 of every epoch are skipped
    x[128] *= 1e6
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        for epochs in (2, 1):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                          callbacks=[tbb.BatchStats(tmp_path, distributions=False)])
            assert not [w for w in caught if "superseded" in str(w.message)]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert numbering_batches(model) == 3 * STEPS - 6  # the optimizer skipped 2 steps an epoch
    steps = _series(tmp_path, "train")[0]
    np.testing.assert_array_equal(steps, np.arange(3 * STEPS))
    np.testing.assert_array_equal(tbb.load(str(tmp_path)).markers("train", "fit").steps, [0, 2 * STEPS])


def numbering_batches(model):
    from tb_batch_plugin.record.numbering import optimizer_batches

    return optimizer_batches(model.optimizer)
