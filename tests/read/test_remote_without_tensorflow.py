"""A remote logdir read through TensorBoard's stand-in file system, as TensorBoard reads one
where TensorFlow is not installed (its S3 and fsspec support): the stand-in's GFile cannot seek,
so ranges are read through its file systems. Here fsspec's memory file system, in a process where
TensorFlow cannot be imported; an appended file is read from where it was left."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.helpers.fast_writer import write_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # TensorBoard's stand-in gfile, as without TensorFlow
    import fsspec, numpy as np
    from tensorboard.compat import tf
    assert not hasattr(tf.io.gfile.GFile("memory://x", "wb"), "seek")
    from tb_batch_plugin.read import LogdirIndex

    first, second = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
    fs = fsspec.filesystem("memory")
    path = "memory://logs/train/events.out.tfevents.1.host"
    with fs.open(path, "wb") as f:
        f.write(first)
    index = LogdirIndex("memory://logs").reload()
    loss = index.scalars("train", "loss")
    print(loss.steps.tolist() == list(range(5000)), float(loss.values[1234]))
    with fs.open(path, "wb") as f:  # the object grows (memory files are rewritten whole)
        f.write(first + second)
    loss = index.reload().scalars("train", "loss")
    print(loss.steps.tolist() == list(range(8000)), float(loss.values[6000]), index.skipped_files("train"))
""")


def test_a_remote_logdir_is_read_without_tensorflow_and_new_bytes_are_seen(tmp_path):
    values = np.sin(np.arange(8000) / 10).astype(np.float32)
    values[1234] = 50.0  # a spike, exact
    write_scalars(str(tmp_path / "first"), "loss", np.arange(5000), values[:5000])
    write_scalars(str(tmp_path / "second"), "loss", np.arange(5000, 8000), values[5000:])
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "first"), str(tmp_path / "second")],
                         env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "True 50.0"
    assert lines[1].startswith("True %r" % float(values[6000])), lines[1]


def test_a_scheme_tensorflow_cannot_read_is_a_problem_of_runs_naming_it():
    """With TensorFlow (2.21 has no s3://), `runs` says why it lists nothing, and what to do."""
    import json

    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    from tb_batch_plugin.plugin_loader import BatchesLoader

    plugin = BatchesLoader().load(base_plugin.TBContext(logdir="s3://bucket/logs"))
    plugin._sources.scanned.wait(60)
    body = json.loads(Client(application.TensorBoardWSGI([plugin])).get("/data/plugin/tb_batch/runs").get_data())
    assert body["runs"] == []
    [problem] = body["problems"]
    assert problem["reason"] == "unsupported_scheme"
    assert "not s3://" in problem["error"] and "TensorFlow is not installed" in problem["error"]


def test_without_tensorflow_an_unknown_scheme_is_a_problem_naming_it():
    script = textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None
        from tb_batch_plugin.read import LogdirIndex
        print(LogdirIndex("nosuch://bucket/logs").reload().snapshot().problems)
    """)
    out = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "unsupported_scheme" in out.stdout and "nosuch://" in out.stdout and "Protocol not known" in out.stdout
