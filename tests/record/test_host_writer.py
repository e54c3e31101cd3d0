"""record/host_writer.py: event files without TensorFlow that readers cannot tell from
``tf.summary.write``'s (the same Summary.Value bytes, file name and first event), written from
several threads at once, flushed on a schedule and at exit, and write faults returned, not raised."""

import errno
import gc
import glob
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_file_loader

from tb_batch_plugin import metadata
from tb_batch_plugin.record.host_writer import HostWriter

VALUES = [  # (tag, value, metadata): what tb-batch writes, in every dtype it writes
    ("loss", np.float32(1.25), metadata.scalar_metadata(metadata.PROVENANCE_CUSTOM)),
    ("lr", np.float64(1e-3), metadata.scalar_metadata(metadata.PROVENANCE_EXACT, description="why")),
    ("half", np.float16(0.5), metadata.scalar_metadata()),
    (metadata.distribution_tag("acts"), np.linspace(-1, 1, 49), metadata.distribution_metadata()),
    ("acts", np.arange(90, dtype=np.float64).reshape(30, 3), metadata.histogram_metadata()),
    (metadata.MARKER_TAGS[metadata.KIND_FIT], np.array([-1, 2 ** 40], np.int64), metadata.marker_metadata(metadata.KIND_FIT)),
    (metadata.DYNAMICS_TAG, np.arange(-30, 30, dtype=np.int32).reshape(10, 6), metadata.dynamics_metadata(3, False)),
    ("flags", np.array([True, False, True]), metadata.samples_metadata(1, ["flag"])),
]


def _events(run_dir):
    (path,) = glob.glob(os.path.join(str(run_dir), "*tfevents*"))
    return path, list(event_file_loader.LegacyEventFileLoader(path).Load())


def test_the_events_are_those_tf_summary_writes(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path / "tf")).as_default():
        for step, (tag, value, meta) in enumerate(VALUES):
            tf.summary.write(tag, tf.constant(value), step=step, metadata=meta.SerializeToString())
    writer = HostWriter(str(tmp_path / "host"))
    for step, (tag, value, meta) in enumerate(VALUES):
        writer.write(tag, step, value, meta if step % 2 else meta.SerializeToString())
    assert writer.close() is None
    tf_path, tf_events = _events(tmp_path / "tf")
    path, events = _events(tmp_path / "host")
    assert path == writer.path
    for p in (tf_path, path):  # events.out.tfevents.<10-digit time>.<host>.<pid>.<n>.v2
        assert re.fullmatch(r"events\.out\.tfevents\.\d{10}\..+\.%d\.\d+\.v2" % os.getpid(), os.path.basename(p))
    assert events[0].file_version == tf_events[0].file_version == "brain.Event:2"
    assert events[0].wall_time == int(events[0].wall_time)
    assert len(events) == len(tf_events) == len(VALUES) + 1
    for got, want in zip(events[1:], tf_events[1:]):
        assert got.step == want.step and abs(got.wall_time - want.wall_time) < 60
        assert got.summary.SerializeToString() == want.summary.SerializeToString()


def test_writes_from_several_threads_are_all_there_in_order(tmp_path):
    writer = HostWriter(str(tmp_path), flush_secs=0.01, max_pending_bytes=2000)
    meta = metadata.scalar_metadata()

    def write(t):
        for step in range(300):
            writer.write("t%d" % t, step, np.float32(step * t), meta, wall_time=1e9 + step)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    _, events = _events(tmp_path)
    by_tag = {}
    for e in events[1:]:
        v = e.summary.value[0]
        by_tag.setdefault(v.tag, []).append((e.step, e.wall_time, np.frombuffer(v.tensor.tensor_content, np.float32)[0]))
    assert sorted(by_tag) == ["t%d" % t for t in range(8)]
    for t in range(8):
        steps, walls, values = map(np.array, zip(*by_tag["t%d" % t]))
        np.testing.assert_array_equal(steps, np.arange(300))
        np.testing.assert_array_equal(walls, 1e9 + np.arange(300))
        np.testing.assert_array_equal(values, np.arange(300, dtype=np.float32) * t)


def test_events_reach_the_file_every_flush_secs_and_when_collected(tmp_path):
    writer = HostWriter(str(tmp_path / "timed"), flush_secs=0.2)
    writer.write("x", 7, np.float32(1), metadata.scalar_metadata())
    deadline = time.time() + 10
    while len(_events(tmp_path / "timed")[1]) < 2:  # no flush called: the flusher thread's
        assert time.time() < deadline
        time.sleep(0.05)
    writer.close()
    writer.close()  # again: nothing
    try:
        writer.write("x", 8, np.float32(1), metadata.scalar_metadata())
        raise AssertionError("a closed writer took a write")
    except ValueError as e:
        assert "closed" in str(e)

    dropped = HostWriter(str(tmp_path / "dropped"), flush_secs=3600)
    dropped.write("x", 1, np.float32(2), metadata.scalar_metadata())
    del dropped
    gc.collect()
    assert [e.step for e in _events(tmp_path / "dropped")[1]] == [0, 1]


FILE_SIZE_LIMIT_SCRIPT = """
    import json, resource, sys
    import numpy as np
    from tb_batch_plugin import metadata
    from tb_batch_plugin.record.host_writer import FileWriter
    writer = FileWriter(sys.argv[1], flush_secs=3600)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    meta = metadata.distribution_metadata()
    for step in range(3):
        writer.host.write("small", step, np.zeros(10), meta)
    ok = writer.host.flush()
    for step in range(3, 100):
        writer.host.write("large", step, np.zeros(100), meta)  # over the limit: never raises
    error = writer.host.flush()
    try:
        writer.flush()
        raised = None
    except OSError as e:
        raised = e.errno
    print(json.dumps({"ok": ok is None, "errno": getattr(error, "errno", None), "raised": raised,
                      "fault": getattr(writer.host.fault, "errno", None), "modules": "tensorflow" in sys.modules}))
"""


def test_a_write_fault_is_returned_and_kept_not_raised(tmp_path):
    """Event files limited to 4 kB (RLIMIT_FSIZE): the flush that fails returns the error (and the
    writer keeps it), writes go on without raising, FileWriter.flush raises it; what was written
    before stays readable."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(FILE_SIZE_LIMIT_SCRIPT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "logs")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"ok": True, "errno": errno.EFBIG, "raised": errno.EFBIG, "fault": errno.EFBIG,
                      "modules": False}
    _, events = _events(tmp_path / "logs")
    assert [e.step for e in events[1:4]] == [0, 1, 2]
