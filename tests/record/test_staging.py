"""staging.DistributionStage: staged rows are written exactly as numpy summarizes each step, at
their own steps, when a limit is reached and when drained."""

import numpy as np
import pytest
import tensorflow as tf

import tb_batch_plugin as tbb
from tb_batch_plugin import metadata
from tb_batch_plugin.record.staging import DistributionStage
from helpers.numpy_reference import expected_distribution

PROBS, BINS = metadata.DEFAULT_QUANTILE_PROBS, metadata.DEFAULT_NUM_BINS


def _steps(rng, count):
    """Per step: two value sets of different, varying sizes (one empty), some non-finite."""
    out = []
    for i in range(count):
        a = rng.normal(size=rng.integers(1, 9)).astype("float32")
        b = rng.normal(scale=3, size=(0 if i == 4 else rng.integers(5, 40))).astype("float32")
        if i == 2:
            a[0], b[1] = np.nan, -np.inf
        if i == 6:
            a[:] = np.inf  # no finite value at all
        out.append((a, b))
    return out


def _run(tmp_path, steps, **limits):
    writer = tf.summary.create_file_writer(str(tmp_path), max_queue=10_000, flush_millis=600_000)
    stage = DistributionStage(writer, PROBS, BINS, **limits)
    step = tf.Variable(100, dtype=tf.int64)

    @tf.function(reduce_retracing=True)
    def train_step(a, b):
        stage.append(step.read_value(), {"loss": a, "preds": b})
        step.assign_add(1)

    written = []  # distribution rows on disk after each step, before any drain
    for a, b in steps:
        train_step(tf.constant(a), tf.constant(b))
        writer.flush()
        data = tbb.load(str(tmp_path))
        written.append(len(data.distributions(".", "loss").steps) if data.tags(".") else 0)
    stage.drain()
    writer.flush()
    return tbb.load(str(tmp_path)), written


def test_staged_rows_equal_numpy_at_their_steps(tmp_path):
    steps = _steps(np.random.default_rng(0), 11)
    data, written = _run(tmp_path, steps, max_rows=3, max_delay_secs=1e9)
    assert written == [0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9]  # every 3 rows; the rest at drain
    for name, j in (("loss", 0), ("preds", 1)):
        d = data.distributions(".", name)
        np.testing.assert_array_equal(d.steps, 100 + np.arange(len(steps)))
        for i, values in enumerate(steps):
            np.testing.assert_allclose(d.data[i], expected_distribution(values[j], PROBS, BINS),
                                       rtol=1e-12, atol=1e-12, equal_nan=True)


def test_written_when_too_many_values_or_too_old(tmp_path):
    steps = [(np.ones(4, "float32"), np.arange(10, dtype="float32"))] * 5
    _, written = _run(tmp_path / "values", steps, max_rows=100, max_values=30, max_delay_secs=1e9)
    assert written == [0, 0, 3, 3, 3]  # 14 values a step: written once 42 >= 30 are staged
    _, written = _run(tmp_path / "delay", steps, max_rows=100, max_delay_secs=0)
    assert written == [1, 2, 3, 4, 5]


def test_draining_an_empty_stage_writes_nothing(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    DistributionStage(writer, PROBS, BINS).drain()
    writer.flush()
    data = tbb.load(str(tmp_path))
    assert all(not data.tags(run) for run in data.runs())


def test_names_must_not_change_while_staged(tmp_path):
    stage = DistributionStage(tf.summary.create_file_writer(str(tmp_path)), PROBS, BINS)
    stage.append(tf.constant(0, tf.int64), {"a": tf.ones([2])})
    with pytest.raises(ValueError, match="names changed"):
        stage.append(tf.constant(1, tf.int64), {"b": tf.ones([2])})
