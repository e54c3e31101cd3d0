"""Under tf.distribute strategies, History and the logs every other callback sees are
bit-identical with and without BatchStats, for training and validation, and the weights are the
same. Two logical CPUs must be configured before TensorFlow starts, and TensorFlow keeps one set
of collective keys per strategy object, so each strategy runs in a subprocess of its own, with and
without BatchStats under the same strategy object.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, tempfile, warnings
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import tb_batch_plugin as tbb
    from helpers.keras_reference import AllBatchLogs

    strategy, steps_per_execution = eval(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 8)).astype("float32")  # 7 batches, the last one of 11 (split 6/5)
    y = rng.integers(0, 3, 203)

    class Logs(AllBatchLogs):  # and every epoch's
        def on_epoch_end(self, epoch, logs=None):
            self.logs.append(("epoch", epoch, {k: float(v) for k, v in logs.items()}))

    def run(callbacks):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                      keras.layers.Dense(3)])
            model.compile(keras.optimizers.SGD(0.1),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(from_logits=True)],
                          steps_per_execution=steps_per_execution)
        logs = Logs()
        history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                            validation_data=(x[:70], y[:70]), callbacks=callbacks + [logs])
        evaluated = model.evaluate(x[:70], y[:70], batch_size=32, verbose=0, return_dict=True,
                                   callbacks=callbacks)
        left = sorted({name for m in model.metrics for name in m.__dict__ if name == "result"}
                      | {name for name in ("train_step", "test_step", "compute_loss") if name in model.__dict__})
        return history.history, logs.logs, evaluated, [w.tolist() for w in model.get_weights()], left

    log_dir = tempfile.mkdtemp()
    plain = run([])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorded = run([tbb.BatchStats(log_dir)])
    data = tbb.load(log_dir)
    print(json.dumps({
        "plain": plain, "recorded": recorded,
        "warnings": [str(w.message) for w in caught if "BatchStats" in str(w.message)],
        "steps": data.scalars("train", "loss").steps.tolist() if "train" in data.runs() else [],
        "val_steps": data.scalars("validation", "loss").steps.tolist() if "validation" in data.runs() else [],
    }))
""")


def _run(tmp_path, strategy, steps_per_execution=1):
    script = tmp_path / "strategy.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), strategy, str(steps_per_execution)],
                          capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                                "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Keras 3.15 itself fails under MirroredStrategy with several replicas and steps_per_execution > 1
# ("You must feed a value for placeholder tensor"), with or without BatchStats.
@pytest.mark.parametrize("strategy, steps_per_execution", [
    ('tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])', 1),
    ('tf.distribute.MultiWorkerMirroredStrategy()', 3),
    ('tf.distribute.OneDeviceStrategy("/cpu:1")', 3),
])
def test_history_and_logs_are_bit_identical(tmp_path, strategy, steps_per_execution):
    out = _run(tmp_path, strategy, steps_per_execution)
    history, seen, evaluated, weights, left = out["recorded"]
    assert history == out["plain"][0]
    assert seen == out["plain"][1]  # every batch's logs, training and validation, and every epoch's
    assert evaluated == out["plain"][2]
    assert weights == out["plain"][3]
    assert left == [] and out["plain"][4] == []
    assert out["warnings"] == []
    assert out["steps"] == list(range(14)) and out["val_steps"] == list(range(9))


def test_a_strategy_with_one_copy_of_the_metric_state_records_nothing_and_changes_nothing(tmp_path):
    """CentralStorageStrategy keeps one metric state for both replicas: no batch's own value can
    be read there, so BatchStats says so once and leaves the model alone."""
    out = _run(tmp_path, 'tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"])')
    assert out["recorded"][:4] == out["plain"][:4]
    assert len(out["warnings"]) == 1 and "records nothing" in out["warnings"][0]
    assert out["steps"] == [] and out["val_steps"] == []
