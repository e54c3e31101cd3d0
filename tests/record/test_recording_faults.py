"""Faults never stop training and never lose what was recorded before them: an exception or a
KeyboardInterrupt in fit (from a callback, from the data) restores the model at once and leaves
every recorded step on disk; a failing write (a file-size limit, a removed log directory) is
one warning while fit and ModelCheckpoint go on; after a SIGKILL during a pause in training, every
step before the pause is on disk. Real Keras, real event files, read back with tb_batch_plugin.load
and TensorBoard's EventFileLoader; recorded values compared with a hand-written GradientTape loop.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

import tb_batch_plugin as tbb
from helpers.keras_reference import BATCH, N, gradient_tape_reference, make_data, make_model

STEPS = -(-N // BATCH)  # 7
HOOKS_OF_BATCHSTATS = {"train_step", "test_step", "make_train_function", "make_test_function"}


class RaiseAt(keras.callbacks.Callback):
    """Raises ``error`` in ``hook`` at (epoch, batch) (batch None: in an epoch hook)."""

    def __init__(self, hook, epoch, batch, error):
        super().__init__()
        self.hook, self.at, self.error, self.epoch = hook, (epoch, batch), error, None
        setattr(self, hook, self._maybe_raise)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _maybe_raise(self, *args, logs=None):
        batch = args[0] if self.hook.endswith("batch_end") else None
        if (self.epoch, batch) == self.at:
            raise self.error


def _fit(model, callbacks=(), x=None, epochs=2, **kwargs):
    if x is None:
        x, y, _ = make_data()
        kwargs.update(y=y, batch_size=BATCH)
    return model.fit(x, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks), **kwargs)


def _file_sizes(log_dir):
    return {p: os.path.getsize(p) for p in glob.glob(os.path.join(str(log_dir), "*", "*tfevents*"))}


def _assert_restored_and_silent(model, log_dir, plain, at_once=True, **fit_kwargs):
    """Nothing of BatchStats is left on the model (``at_once``: already now; else once the next
    fit starts): a later fit without it writes nothing, and its History and weights equal those
    of a model that went through the same without BatchStats."""
    assert not at_once or not HOOKS_OF_BATCHSTATS & set(model.__dict__)
    sizes = _file_sizes(log_dir)
    history = _fit(model, epochs=1, **fit_kwargs).history
    model.evaluate(*make_data()[:2], batch_size=BATCH, verbose=0)
    assert not HOOKS_OF_BATCHSTATS & set(model.__dict__)
    assert _file_sizes(log_dir) == sizes
    assert history == _fit(plain, epochs=1, **fit_kwargs).history
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("hook, batch, error", [("on_train_batch_end", 3, KeyboardInterrupt),
                                                ("on_epoch_end", None, RuntimeError("from a callback"))])
def test_exception_in_another_callback(tmp_path, hook, batch, error):
    x, y, _ = make_data()
    val = (x[:70], y[:70])
    expected = error if isinstance(error, type) else type(error)
    model, plain = make_model(), make_model()
    # flush_secs of an hour: what is on disk right after the exception was written for it.
    for m, callbacks in ((model, [tbb.BatchStats(tmp_path, flush_secs=3600)]), (plain, [])):
        with pytest.raises(expected):
            _fit(m, [*callbacks, RaiseAt(hook, 1, batch, error)], validation_data=val)

    done = STEPS + (batch + 1 if batch is not None else STEPS)
    data = tbb.load(str(tmp_path))
    loss = data.scalars("train", "loss")
    np.testing.assert_array_equal(loss.steps, np.arange(done))
    np.testing.assert_allclose(loss.values, gradient_tape_reference(x, y, None)["loss"][:done], rtol=1e-6)
    np.testing.assert_array_equal(data.distributions("train", "per_sample_loss").steps, np.arange(done))
    assert len(data.scalars("validation", "loss")) == 3 * (2 if batch is None else 1)
    _assert_restored_and_silent(model, tmp_path, plain)


def _batches(x, y, interrupt_at):
    for i, start in enumerate(range(0, len(x), BATCH)):
        if i == interrupt_at:
            raise KeyboardInterrupt
        yield x[start:start + BATCH], y[start:start + BATCH]


def test_keyboard_interrupt_in_the_data(tmp_path):
    """A KeyboardInterrupt in a generator reaches fit inside the model's train function (as
    TensorFlow's error for the data pipeline)."""
    x, y, _ = make_data()
    model, plain = make_model(), make_model()
    for m, callbacks in ((model, [tbb.BatchStats(tmp_path, flush_secs=3600)]), (plain, [])):
        with pytest.raises((KeyboardInterrupt, tf.errors.OpError)):
            _fit(m, callbacks, x=_batches(x, y, interrupt_at=5), epochs=1)
    data = tbb.load(str(tmp_path))
    np.testing.assert_array_equal(data.scalars("train", "loss").steps, np.arange(5))
    np.testing.assert_allclose(data.scalars("train", "loss").values,
                               gradient_tape_reference(x, y, None)["loss"][:5], rtol=1e-6)
    np.testing.assert_array_equal(data.distributions("train", "predictions").steps, np.arange(5))
    _assert_restored_and_silent(model, tmp_path, plain)


class RemoveDirAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, path, epoch):
        super().__init__()
        self.path, self.epoch = path, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            shutil.rmtree(self.path)


def test_removed_log_dir(tmp_path):
    """The log directory is removed after epoch 0: one warning naming it, fit and ModelCheckpoint
    go on, and recording goes on in a new event file (epoch 1's events, written to the removed
    file, are lost)."""
    x, y, _ = make_data()
    log_dir, checkpoints = tmp_path / "logs", tmp_path / "checkpoints"
    model = make_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(model, [tbb.BatchStats(log_dir), RemoveDirAtEpochEnd(log_dir, 0),
                               keras.callbacks.ModelCheckpoint(str(checkpoints / "e{epoch}.weights.h5"),
                                                               save_weights_only=True)],
                       epochs=3, validation_data=(x[:70], y[:70]))
    assert len(history.history["loss"]) == 3
    assert sorted(os.listdir(checkpoints)) == ["e1.weights.h5", "e2.weights.h5", "e3.weights.h5"]
    ours = [str(w.message) for w in caught if "BatchStats" in str(w.message)]
    assert len(ours) == 1 and "removed" in ours[0] and str(log_dir) in ours[0]
    loss = tbb.load(str(log_dir)).scalars("train", "loss")
    np.testing.assert_array_equal(loss.steps, np.arange(2 * STEPS, 3 * STEPS))
    np.testing.assert_allclose(loss.values, gradient_tape_reference(x, y, None, epochs=3)["loss"][2 * STEPS:],
                               rtol=1e-6)


def _run_script(tmp_path, script, *args, timeout=300):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, str(path), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


FILE_SIZE_LIMIT_SCRIPT = """
    import json, resource, sys, warnings
    import keras
    import tb_batch_plugin as tbb
    from helpers.keras_reference import make_data, make_model
    log_dir, checkpoints, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x, y, _ = make_data()
    model = make_model()
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                            validation_data=(x[:70], y[:70]),
                            callbacks=[tbb.BatchStats(log_dir, flush_secs=0.5),
                                       keras.callbacks.ModelCheckpoint(checkpoints + "/e{epoch}.weights.h5",
                                                                       save_weights_only=True)])
    print(json.dumps({"epochs": len(history.history["loss"]),
                      "warnings": [str(w.message) for w in caught if "BatchStats" in str(w.message)]}))
"""


def test_file_size_limit(tmp_path):
    """Event files limited to 48 kB (RLIMIT_FSIZE; a checkpoint is smaller): fit finishes, every
    epoch's checkpoint is saved, one warning names the cause and the file, and recording goes on
    in new event files, each readable by TensorBoard's loader up to its torn end."""
    log_dir, checkpoints = tmp_path / "logs", tmp_path / "checkpoints"
    checkpoints.mkdir()
    proc = _run_script(tmp_path, FILE_SIZE_LIMIT_SCRIPT, log_dir, checkpoints, 48 * 1024)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["epochs"] == 3
    assert sorted(os.listdir(checkpoints)) == ["e1.weights.h5", "e2.weights.h5", "e3.weights.h5"]
    model = make_model()
    model.load_weights(str(checkpoints / "e3.weights.h5"))
    assert len(result["warnings"]) == 1, result["warnings"]
    assert "File too large" in result["warnings"][0] and str(log_dir / "train") in result["warnings"][0]

    files = sorted(glob.glob(str(log_dir / "train" / "*tfevents*")))
    assert len(files) > 1 and max(os.path.getsize(f) for f in files) <= 48 * 1024
    steps = tbb.load(str(log_dir)).scalars("train", "loss").steps
    per_epoch = -(-N // 8)
    assert steps[0] == 0 and steps[-1] >= 2 * per_epoch  # recording resumed in the last epoch
    for path in files:  # every file reads as a TensorBoard file (a torn end is a truncated record)
        assert sum(1 for _ in EventFileLoader(path).Load()) > 1


SIGKILL_SCRIPT = """
    import pathlib, sys, time
    import keras
    import tb_batch_plugin as tbb
    from helpers.keras_reference import make_data, make_model
    log_dir, marker = sys.argv[1], pathlib.Path(sys.argv[2])

    class Pause(keras.callbacks.Callback):  # a data stall, a long checkpoint
        def on_train_batch_end(self, batch, logs=None):
            if batch == 20:
                marker.write_text("paused")
                time.sleep(600)

    x, y, _ = make_data()
    make_model().fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                 callbacks=[tbb.BatchStats(log_dir, flush_secs=1.0), Pause()])
"""


def test_sigkill_after_a_pause_loses_no_step_before_it(tmp_path):
    log_dir, marker = tmp_path / "logs", tmp_path / "paused"
    proc = _run_script(tmp_path, SIGKILL_SCRIPT, log_dir, marker)
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.1)
        time.sleep(3.0)  # three flush periods into the pause
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    x, y, _ = make_data()
    ref = gradient_tape_reference(x, y, None, epochs=1, batch=8)
    data = tbb.load(str(log_dir))
    loss = data.scalars("train", "loss")
    np.testing.assert_array_equal(loss.steps, np.arange(21))
    np.testing.assert_allclose(loss.values, ref["loss"][:21], rtol=1e-6)
    dist = data.distributions("train", "per_sample_loss")
    np.testing.assert_array_equal(dist.steps, np.arange(21))
    np.testing.assert_array_equal(dist.count, ref["size"][:21])


class FailsToStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("a callback after BatchStats fails in on_train_begin")


def test_exception_before_the_hooks_are_guarded(tmp_path):
    """An exception while fit's callbacks start, after BatchStats installed its step (outside
    the hooks it guards): the next fit or evaluate without BatchStats finds the model restored
    (the safety net in make_train_function/make_test_function) and records nothing."""
    model, plain = make_model(), make_model()
    for m, callbacks in ((model, [tbb.BatchStats(tmp_path, flush_secs=3600)]), (plain, [])):
        with pytest.raises(RuntimeError):
            _fit(m, [*callbacks, FailsToStart()])
    _assert_restored_and_silent(model, tmp_path, plain, at_once=False)


class EvaluatesAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, data):
        super().__init__()
        self.data, self.results = data, []

    def on_epoch_end(self, epoch, logs=None):
        self.results.append(self.model.evaluate(*self.data, batch_size=BATCH, verbose=0))


def test_evaluate_from_another_callback_inside_fit(tmp_path):
    """Another callback's model.evaluate() inside the fit runs Keras' own step (it is not
    recorded) and returns what it returns without BatchStats; the fit goes on recording."""
    x, y, _ = make_data()
    val, extra = (x[:70], y[:70]), (x[70:134], y[70:134])
    results = []
    for callbacks in ([tbb.BatchStats(tmp_path)], []):
        evaluates = EvaluatesAtEpochEnd(extra)
        history = _fit(make_model(), [*callbacks, evaluates], validation_data=val).history
        results.append((history, evaluates.results))
    assert results[0] == results[1]
    data = tbb.load(str(tmp_path))
    np.testing.assert_array_equal(data.scalars("train", "loss").steps, np.arange(2 * STEPS))
    assert len(data.scalars("validation", "loss")) == 2 * 3  # the fit's validation only


EXIT_SCRIPT = """
    import shutil, sys
    import keras
    import tb_batch_plugin as tbb
    from helpers.keras_reference import make_data, make_model
    log_dir, how = sys.argv[1], sys.argv[2]

    class Exit(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if how == "exit" and batch == 20:
                sys.exit(3)

    x, y, _ = make_data()
    callback = tbb.BatchStats(log_dir)  # alive until the interpreter exits
    make_model().fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[callback, Exit()])
    shutil.rmtree(log_dir)  # a temporary log_dir, removed once training is done
"""


@pytest.mark.parametrize("how", ["done", "exit"])
def test_interpreter_exit(tmp_path, how):
    """A log_dir removed after fit: nothing is written and nothing warned at exit. sys.exit from
    another callback mid-fit: the steps before it are on disk."""
    log_dir = tmp_path / "logs"
    proc = _run_script(tmp_path, EXIT_SCRIPT, log_dir, how)
    out, err = proc.communicate(timeout=300)
    if how == "done":
        assert proc.returncode == 0, err[-3000:]
        assert "BatchStats" not in err and not log_dir.exists(), err[-3000:]
    else:
        assert proc.returncode == 3, err[-3000:]
        assert list(tbb.load(str(log_dir)).scalars("train", "loss").steps) == list(range(21))
