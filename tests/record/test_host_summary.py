"""tbb.summary for custom loops in any framework: with a writer of create_file_writer as the
default it writes on the host, without TensorFlow, the events the TensorFlow path writes for the
same inputs; a PyTorch loop (in a process of its own, which never imports TensorFlow) read back by
tbb.load with the values the loop computed and the series of a Keras run; the README's loop."""

import os
import re
import subprocess
import sys
import textwrap
import threading

import jax.numpy as jnp
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from tensorboard.backend.event_processing import event_file_loader

import tb_batch_plugin as tbb
from helpers.event_files import REPO
from helpers.host_rows import assert_same_rows
from helpers.numpy_reference import expected_distribution
from tb_batch_plugin import metadata
from tb_batch_plugin.record import summary


def _events(run_dir):
    """[(tag, step, value as numpy, SummaryMetadata)] of the events of a run directory, in order."""
    from tensorboard.util import tensor_util

    out = []
    for name in sorted(os.listdir(run_dir)):
        for e in event_file_loader.LegacyEventFileLoader(os.path.join(run_dir, name)).Load():
            out += [(v.tag, e.step, tensor_util.make_ndarray(v.tensor), v.metadata) for v in e.summary.value]
    return out


def _write_both(tmp_path, write):
    """The events ``write(step)`` makes through TensorFlow's writer and through a tbb writer."""
    with tf.summary.create_file_writer(str(tmp_path / "tf")).as_default():
        write(0)
    writer = summary.create_file_writer(str(tmp_path / "host"))
    with writer.as_default():
        write(0)
    writer.close()
    return _events(str(tmp_path / "host")), _events(str(tmp_path / "tf"))


def assert_same_events(got, want):
    assert [(t, s) for t, s, _, _ in got] == [(t, s) for t, s, _, _ in want]
    for (tag, _, value, meta), (_, _, want_value, want_meta) in zip(got, want):
        assert_same_rows({tag: (value, meta)}, {tag: (want_value, want_meta)})


def _batch(seed=0, n=24, classes=4):
    rng = np.random.default_rng(seed)
    return (rng.gamma(1.0, size=n).astype(np.float32), rng.normal(size=(n, 3, 2)).astype(np.float32),
            rng.integers(0, classes, n), rng.normal(size=(n, classes)).astype(np.float32))


def test_host_path_writes_what_the_tensorflow_path_writes(tmp_path):
    loss, x, labels, logits = _batch()
    values = np.random.default_rng(1).normal(size=(7, 9)).astype(np.float32)
    values[0, :3] = [np.nan, np.inf, -np.inf]

    def write(step):
        summary.scalar("python_float", 0.1, step=step)  # float32, as tf.convert_to_tensor makes it
        summary.scalar("python_int", 3, step=step, description="an int: float64")
        summary.scalar("float64", np.float64(0.1), step=step)
        summary.scalar("float16", np.float16(0.1), step=step)
        summary.scalar("bool", True, step=step)
        summary.distribution("acts", values, step=step)
        summary.distribution("ints", [3, 1, 4, 1, 5], step=step, quantile_probs=(0.5,), num_bins=3)
        summary.distribution("python_floats", [0.1, 0.2, 0.7], step=step)
        summary.samples(loss, x, step=step, num_samples=5, y_true=labels, y_pred=logits, kind="sparse",
                        from_logits=True, ids=np.arange(24) + 100, dynamics=True)
        summary.samples(loss, {"b": x, "a": labels}, step=step, y_true=np.eye(4)[labels], y_pred=tf.nn.softmax(logits).numpy(),
                        kind="categorical")
        summary.samples(loss, x, step=step, y_true=labels.astype(np.float32), y_pred=logits[:, 0], kind="regression")
        summary.dynamics(loss, x, y_true=labels % 2, y_pred=logits[:, :1], kind="binary", from_logits=True, step=step)
        summary.marker(metadata.KIND_EPOCH, [12, 0], step=step)

    got, want = _write_both(tmp_path, write)
    assert len(want) == 19
    assert_same_events(got, want)


def test_framework_values_are_taken_as_their_numpy(tmp_path):
    """PyTorch tensors (with grad, bfloat16, ints), JAX arrays: the events of their numpy values."""
    loss, x, labels, logits = _batch(2)
    t_logits = torch.tensor(logits, requires_grad=True)

    def write(step, framework):
        summary.scalar("loss", framework(loss.mean()), step=step)
        summary.scalar("bf16", framework(np.float32(1.5), bfloat16=True), step=step)
        summary.distribution("per_sample", framework(loss), step=step)
        summary.distribution("labels", framework(labels), step=step)
        summary.samples(framework(loss), framework(x), step=step, y_true=framework(labels), y_pred=framework(logits),
                        kind="sparse", from_logits=True, dynamics=True)

    def numpy(a, bfloat16=False):
        return np.asarray(a)

    def pytorch(a, bfloat16=False):
        t = t_logits * 1.0 if a is logits else torch.tensor(np.asarray(a))
        return t.to(torch.bfloat16) if bfloat16 else t

    def jax(a, bfloat16=False):
        return jnp.asarray(a, dtype=jnp.bfloat16 if bfloat16 else None)

    runs = {}
    for framework in (numpy, pytorch, jax):
        with summary.create_file_writer(str(tmp_path / framework.__name__)).as_default():
            write(3, framework)
        runs[framework.__name__] = _events(str(tmp_path / framework.__name__))
    assert len(runs["numpy"]) == 9
    for name in ("pytorch", "jax"):
        assert_same_events(runs[name], runs["numpy"])


def test_default_writer_and_step(tmp_path):
    """as_default's step (read at each write: a tensor counter), the innermost writer, per thread
    (another thread writes through TensorFlow: no default writer there), flushed when the block
    ends; no step or a float step is an error."""
    outer, inner = summary.create_file_writer(str(tmp_path / "outer")), summary.create_file_writer(str(tmp_path / "inner"))
    counter = torch.tensor(5)
    with outer.as_default(step=counter):
        assert summary.scalar("a", 1.0) is True
        counter += 1
        with inner.as_default():
            summary.scalar("b", 2.0, step=np.int64(9))
            with pytest.raises(ValueError, match="no step"):
                summary.scalar("b", 2.0)
            with pytest.raises(TypeError, match="integer"):
                summary.scalar("b", 2.0, step=1.5)
        summary.scalar("a", 3.0)
        other = []
        thread = threading.Thread(target=lambda: other.append(summary.scalar("c", 1.0, step=0)))
        thread.start()
        thread.join()
        assert not bool(other[0])  # TensorFlow's path: False, no default writer of its own
    assert [(t, s, float(v)) for t, s, v, _ in _events(str(tmp_path / "outer"))] == [("a", 5, 1.0), ("a", 6, 3.0)]
    assert [(t, s) for t, s, _, _ in _events(str(tmp_path / "inner"))] == [("b", 9)]
    outer.close()
    inner.close()


def _python(code, *args, env=None):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": REPO, **(env or {})})


def test_summary_imports_no_tensorflow_until_it_writes_through_it():
    out = _python("import sys, tb_batch_plugin as tbb; tbb.summary.create_file_writer; tbb.summary.scalar\n"
                  "print('tensorflow' in sys.modules)\n"
                  "print(bool(tbb.summary.scalar('x', 1.0, step=0)), 'tensorflow' in sys.modules)")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False", "False", "True"]


TORCH_LOOP = """
    import sys
    import numpy as np
    import torch
    import tb_batch_plugin as tbb

    logdir, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    x, y = torch.randn(96, 6), torch.randint(0, 3, (96,))
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = tbb.summary.create_file_writer(logdir + "/train")
    record = {"index": [], "loss": [], "per_sample": [], "logits": []}
    with writer.as_default():
        for step in range(20):
            index = torch.randperm(96)[:16]
            logits = model(x[index])
            per_sample = torch.nn.functional.cross_entropy(logits, y[index], reduction="none")
            loss = per_sample.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tbb.summary.scalar("loss", loss, step=step)
            tbb.summary.distribution("per_sample_loss", per_sample, step=step)
            tbb.summary.samples(per_sample, x[index], step=step, y_true=y[index], y_pred=logits, kind="sparse",
                                from_logits=True)
            for k, v in (("index", index), ("loss", loss), ("per_sample", per_sample), ("logits", logits)):
                record[k].append(v.detach().numpy())
    writer.close()
    assert "tensorflow" not in sys.modules, "the loop imported TensorFlow"
    np.savez(out, x=x.numpy(), y=y.numpy(), **{k: np.stack(v) for k, v in record.items()})
"""


def test_a_pytorch_loop_without_tensorflow_reads_back_as_it_computed(tmp_path):
    out = _python(textwrap.dedent(TORCH_LOOP), tmp_path / "logs", tmp_path / "loop.npz")
    assert out.returncode == 0, out.stderr[-3000:]
    r = np.load(tmp_path / "loop.npz")
    data = tbb.load(str(tmp_path / "logs"))
    s = data.scalars("train", "loss")
    np.testing.assert_array_equal(s.steps, np.arange(20))
    assert s.values.dtype == np.float32 or np.array_equal(s.values, s.values.astype(np.float32))
    np.testing.assert_array_equal(s.values, r["loss"])
    d = data.distributions("train", "per_sample_loss")
    np.testing.assert_array_equal(d.steps, np.arange(20))
    for j in range(20):
        np.testing.assert_allclose(d.data[j], expected_distribution(r["per_sample"][j]), rtol=1e-12, atol=1e-12)
    samples = data.samples("train")
    np.testing.assert_array_equal(samples.steps, np.arange(20))
    for j in range(20):
        order = np.argsort(-r["per_sample"][j].astype(np.float64), kind="stable")[:8]
        rows = r["index"][j][order]
        np.testing.assert_array_equal(samples.field("loss")[j], r["per_sample"][j][order])
        np.testing.assert_array_equal(tbb.find(r["x"], samples.fingerprints[j]), rows)  # back to the data's rows
        np.testing.assert_array_equal(samples.field("label")[j], r["y"][rows])
        np.testing.assert_array_equal(samples.field("predicted")[j], r["logits"][j][order].argmax(1))
        p = torch.softmax(torch.tensor(r["logits"][j][order], dtype=torch.float64), 1).numpy()
        np.testing.assert_allclose(samples.field("label_probability")[j], p[np.arange(8), r["y"][rows]], rtol=1e-5)
    per_class = data.per_class("train")
    labels = r["y"][r["index"]]
    for j in range(20):
        np.testing.assert_array_equal(per_class.counts[j], np.bincount(labels[j], minlength=3))
        np.testing.assert_allclose(per_class.means[j], np.bincount(labels[j], r["per_sample"][j].astype(np.float64), 3)
                                   / np.bincount(labels[j], minlength=3), rtol=1e-12)

    # The series of a Keras run with BatchStats: the tab shows the loop's as it shows those.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(r["x"], r["y"], batch_size=16, epochs=1, verbose=0, callbacks=[tbb.BatchStats(str(tmp_path / "keras"))])
    fit = tbb.load(str(tmp_path / "keras"))
    fit_series = {(i.tag, i.kind, i.source) for i in fit.series("train")}
    assert {(i.tag, i.kind, i.source) for i in data.series("train")} <= fit_series
    assert samples.fields == fit.samples("train").fields
    assert data.per_class_outputs("train") == fit.per_class_outputs("train") == [None]


def test_the_readme_pytorch_loop_runs_without_tensorflow(tmp_path):
    with open(os.path.join(REPO, "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    (code,) = [b for b in blocks if "import torch" in b and "create_file_writer" in b]
    assert len(code.strip().splitlines()) <= 20
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; assert 'tensorflow' not in sys.modules\n"],
                         capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    data = tbb.load(str(tmp_path / "logs"))
    (run,) = data.runs()
    assert data.tags(run) == {"loss": "scalar", "per_sample_loss": "distribution"}
    assert len(data.samples(run).steps) == len(data.scalars(run, "loss").steps) > 0
