"""tb_batch_plugin.summary (custom loops) and load(): written by TensorFlow, read back losslessly,
compared with numpy."""

import os

import numpy as np
import tensorflow as tf
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tb_batch_plugin as tbb
from tb_batch_plugin.record import summary
from helpers.numpy_reference import expected_distribution


def test_custom_loop_eager_and_tf_function(tmp_path):
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=(16, 4)).astype("float32") for _ in range(5)]
    batches[2][0, 0] = np.nan
    batches[3][1, 1] = np.inf
    writer = tf.summary.create_file_writer(str(tmp_path / "eager"))
    with writer.as_default():
        for step, b in enumerate(batches):
            summary.scalar("loss", float(b[0, 2]), step=step)
            summary.distribution("acts", b, step=step)
    writer.close()

    graph_writer = tf.summary.create_file_writer(str(tmp_path / "graph"))
    step_var = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train_step(b):
        summary.scalar("loss", b[0, 2], step=step_var)
        summary.distribution("acts", b, step=step_var)
        step_var.assign_add(1)

    with graph_writer.as_default():
        for b in batches:
            train_step(tf.constant(b))
    graph_writer.close()

    data = tbb.load(str(tmp_path))
    assert sorted(data.runs()) == ["eager", "graph"]
    for run in ("eager", "graph"):
        assert data.tags(run) == {"loss": "scalar", "acts": "distribution"}
        s = data.scalars(run, "loss")
        np.testing.assert_array_equal(s.steps, np.arange(5))
        np.testing.assert_array_equal(s.values.astype(np.float32), [b[0, 2] for b in batches])
        assert np.all(np.diff(s.wall_times) >= 0)
        d = data.distributions(run, "acts")
        np.testing.assert_array_equal(d.steps, np.arange(5))
        for j, b in enumerate(batches):
            np.testing.assert_allclose(d.data[j], expected_distribution(b), rtol=1e-12, atol=1e-12,
                                       equal_nan=True)
        assert d.nan_count[2] == 1 and d.posinf_count[3] == 1


def test_scalar_nan_and_inf_are_kept(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        for step, v in enumerate([1.0, np.nan, np.inf, -np.inf, 2.0]):
            summary.scalar("x", v, step=step)
    v = tbb.load(str(tmp_path)).scalars(".", "x").values
    assert v[0] == 1 and np.isnan(v[1]) and v[2] == np.inf and v[3] == -np.inf and v[4] == 2


def test_no_default_writer_writes_nothing():
    assert not bool(summary.scalar("x", 1.0, step=0))


def test_truncated_final_record_is_skipped(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        for step in range(10):
            summary.scalar("x", float(step), step=step)
    (path,) = [os.path.join(tmp_path, f) for f in os.listdir(tmp_path)]
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 7)
    s = tbb.load(str(tmp_path)).scalars(".", "x")
    np.testing.assert_array_equal(s.steps, np.arange(9))
    np.testing.assert_array_equal(s.values, np.arange(9))


# TensorFlow flushes subnormal numbers to zero on CPU: bin widths below ~1e-307 are out of reach.
NORMAL_FLOATS = st.floats(-1e6, 1e6).filter(lambda v: v == 0 or abs(v) > 1e-290)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 300),
                  elements=st.one_of(NORMAL_FLOATS, st.sampled_from([np.nan, np.inf, -np.inf]))))
def test_distribution_tensor_is_exact(values):
    got = summary.distribution_tensor(values).numpy()
    want = expected_distribution(values)
    np.testing.assert_allclose(got[:8 + 11], want[:8 + 11], rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(got[-30:], want[-30:])  # the same bins as np.histogram


def test_cond_as_call_keeps_its_if_op_a_call_and_takes_the_right_branch():
    """Lowered into Switch/Merge, a conditional would put the whole traced step on TensorFlow's
    slower executor path for control flow; both branches must still give their values."""
    @tf.function
    def pick(flag, x):
        return summary.cond_as_call(flag, lambda: x + 1.0, lambda: x - 1.0)

    graph = pick.get_concrete_function(tf.TensorSpec([], tf.bool), tf.TensorSpec([], tf.float32)).graph
    ifs = [op for op in graph.get_operations() if op.type in ("If", "StatelessIf")]
    assert len(ifs) == 1 and ifs[0].get_attr("_lower_using_switch_merge") is False
    assert float(pick(tf.constant(True), tf.constant(2.0))) == 3.0
    assert float(pick(tf.constant(False), tf.constant(2.0))) == 1.0
