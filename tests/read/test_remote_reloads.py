"""Reloads of a remote logdir cost what changed: an idle reload reads no byte, an appended file is
read from where it was left, a file replaced by other content of the same length is read again.
Through TensorFlow's gfile (its ram:// file system: a walk and a stat per file, the route gs://
takes) in this process, and through TensorBoard's stand-in with fsspec (its memory file system:
one `find` with details) in a process where TensorFlow cannot be imported."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.helpers.fast_writer import write_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _event_bytes(path, start, stop, spike=None):
    """The bytes of `path` after appending float32 `loss` = step/1000 for steps start..stop-1."""
    values = (np.arange(start, stop) / 1000).astype(np.float32)
    if spike is not None and start <= spike < stop:
        values[spike - start] = 50.0
    write_scalars(str(path), "loss", np.arange(start, stop), values)
    return path.read_bytes()


def test_through_tensorflow_gfile_an_idle_reload_reads_nothing_and_an_append_only_the_new_bytes(tmp_path):
    import tensorflow as tf

    from tb_batch_plugin.read import LogdirIndex

    logdir = "ram://reloads-%d" % os.getpid()
    first = _event_bytes(tmp_path / "a", 0, 3000, spike=1234)
    tf.io.gfile.makedirs(logdir + "/train")
    with tf.io.gfile.GFile(logdir + "/train/events.out.tfevents.1.h", "wb") as f:
        f.write(first)
    index = LogdirIndex(logdir).reload()
    loss = index.scalars("train", "loss")
    expected = (np.arange(3000) / 1000).astype(np.float32)
    expected[1234] = 50.0
    assert loss.steps.tolist() == list(range(3000)) and np.array_equal(loss.values, expected)
    assert index.reload().bytes_read == 0
    # TensorFlow's ram:// appends what a new GFile writes: the file grows by exactly `more`.
    more = _event_bytes(tmp_path / "b", 3000, 3500)
    with tf.io.gfile.GFile(logdir + "/train/events.out.tfevents.2.h", "wb") as f:
        f.write(more)
    assert index.reload().bytes_read == len(more)
    assert index.scalars("train", "loss").steps.tolist() == list(range(3500))
    assert index.reload().bytes_read == 0
    assert index.snapshot().problems == []


SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # TensorBoard's stand-in gfile, as without TensorFlow
    import fsspec, time
    from tb_batch_plugin.read import LogdirIndex

    first, longer, other = (open(p, "rb").read() for p in sys.argv[1:4])
    fs = fsspec.filesystem("memory")
    path = "memory://reloads/train/events.out.tfevents.1.host"

    def put(data):
        time.sleep(0.01)  # memory files are versioned by their creation time
        with fs.open(path, "wb") as f:
            f.write(data)

    put(first)
    index = LogdirIndex("memory://reloads").reload()
    print(index.bytes_read, index.reload().bytes_read)
    put(longer)
    print(index.reload().bytes_read, index.scalars("train", "loss").steps.size)
    put(other)  # the same length as `longer`, other values
    print(index.reload().bytes_read, float(index.scalars("train", "loss").values[100]))
""")


def test_through_fsspec_an_idle_reload_reads_nothing_and_a_same_length_replacement_is_read_again(tmp_path):
    first = _event_bytes(tmp_path / "a", 0, 2000)
    longer = _event_bytes(tmp_path / "a", 2000, 2500)
    other = bytearray(longer)
    # Another file of the same length: its own first record (another wall time) and values.
    other[:] = _event_bytes(tmp_path / "c", 0, 2500, spike=100)[:len(longer)]
    assert len(other) == len(longer) and bytes(other) != longer
    paths = []
    for name, data in (("first", first), ("longer", longer), ("other", bytes(other))):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    out = subprocess.run([sys.executable, "-c", SCRIPT, *paths], env=dict(os.environ, PYTHONPATH=ROOT),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split("\n")
    assert lines[0] == "%d 0" % len(first)  # the first reload reads all, an idle one nothing
    assert lines[1] == "%d 2500" % (len(longer) - len(first))  # only the appended bytes
    assert lines[2] == "%d 50.0" % len(longer)  # read again from the start
