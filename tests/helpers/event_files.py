"""Test helpers for the backend: hand-built tb_batch events (protobuf + TensorBoard's own record
writer, independent of the reader under test), record surgery and a real TensorBoard process."""

import os
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tensor_proto(values, dtype=np.float32, encoding="content", shape=None):
    a = np.asarray(values, dtype=dtype)
    dims = list(a.shape if shape is None else shape)
    t = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT if a.dtype == np.float32 else types_pb2.DT_DOUBLE,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
    if encoding == "content":
        t.tensor_content = a.astype(a.dtype.newbyteorder("<")).tobytes()
    elif a.dtype == np.float32:
        t.float_val.extend(a.ravel().tolist())
    else:
        t.double_val.extend(a.ravel().tolist())
    return t


def event(step, wall, values):
    """Event with one Summary.Value per (tag, tensor, metadata-or-None) in values."""
    ev = event_pb2.Event(step=step, wall_time=wall)
    for tag, tensor, meta in values:
        v = ev.summary.value.add(tag=tag, tensor=tensor)
        if meta is not None:
            v.metadata.CopyFrom(meta)
    return ev


def write_events(path, events, mode="ab"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        w = RecordWriter(f)
        for ev in events:
            w.write(ev.SerializeToString())
        w.flush()


def file_version_event():
    return event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")


def record_spans(path):
    """[(offset, data_length)] of every record in a TFRecord file."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 12 <= len(data):
        n = struct.unpack_from("<Q", data, pos)[0]
        out.append((pos, n))
        pos += 16 + n
    return out


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def other_plugin_metadata():
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR)


# ---------------------------------------------------------------------------------------------
# A real TensorBoard process

_SERVER = r"""
import sys
from tensorboard import program
from helpers.fast_writer import tensorboard_plugins
tb = program.TensorBoard(plugins=tensorboard_plugins())
tb.configure(argv=[None, sys.argv[3], sys.argv[1], "--host", "127.0.0.1", "--port", "0",
                   "--load_fast", sys.argv[2], "--reload_interval", "1"])
print(tb.launch(), flush=True)
sys.stdin.read()
"""


class TensorBoardProcess:
    def __init__(self, logdir, load_fast, logdir_spec=None, prefix=(), code=REPO):
        """load_fast: True, False or "auto"; logdir_spec: e.g. "name:/path" to start with
        --logdir_spec instead of --logdir; prefix: a command the server runs under (e.g. setpriv
        dropping capabilities); code: the directory tb_batch_plugin is imported from."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([code, os.path.join(REPO, "tests"),
                                                            os.environ.get("PYTHONPATH", "")]),
                   CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        fast = load_fast if isinstance(load_fast, str) else "true" if load_fast else "false"
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", _SERVER, logdir_spec or str(logdir), fast,
             "--logdir_spec" if logdir_spec else "--logdir"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
            cwd=code)  # `python -c` puts the working directory first on sys.path
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.close()
            raise RuntimeError("tensorboard did not start: %r" % line)
        self.url = line.rstrip("/")

    def get(self, path, timeout=60):
        """(status, body bytes) of GET url + path."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_for(self, path, predicate, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.get(path)
            if predicate(*last):
                return last
            time.sleep(0.3)
        raise AssertionError("timed out waiting for %s: last %r" % (path, last[:1] if last else None))

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
