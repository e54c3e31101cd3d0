"""Fast writer of tb_batch event files for UI tests and benchmarks (millions of steps in seconds).

Writes exactly what ``tb_batch_plugin.summary.scalar`` / ``distribution`` write through
``tf.summary`` (an Event with wall_time, step and one Summary.Value carrying a tensor and the
tb_batch SummaryMetadata on every event), but without TensorFlow: one Event is serialized as a
template per step-varint length, then the wall times, steps and values of all events are patched
in and every record's masked CRC32C computed with numpy, vectorized across records.
"""

import os
import socket
import struct
import time

import numpy as np
from tensorboard.compat.proto import event_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_batch_plugin import metadata

_CRC_TABLE = None


def _crc_table():
    global _CRC_TABLE
    if _CRC_TABLE is None:
        poly = 0x82F63B78  # CRC-32C (Castagnoli), reflected
        t = np.zeros(256, dtype=np.uint32)
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t[i] = c
        _CRC_TABLE = t
    return _CRC_TABLE


def masked_crc32c_rows(rows):
    """Masked CRC32C (TFRecord framing) of each row of a uint8 matrix (equal-length records)."""
    table = _crc_table()
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        crc = table[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> np.uint32(8))
    crc ^= np.uint32(0xFFFFFFFF)
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)).astype(np.uint32)


def _masked_crc_bytes(data):
    return masked_crc32c_rows(np.frombuffer(data, dtype=np.uint8)[None, :])[0]


def _record(data):
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc_bytes(header)) + data + struct.pack("<I", _masked_crc_bytes(data))


def _varint_rows(steps, nbytes):
    """Varint encodings of steps that all take nbytes bytes: uint8 matrix (len(steps), nbytes)."""
    out = np.zeros((len(steps), nbytes), dtype=np.uint8)
    v = steps.astype(np.uint64)
    for j in range(nbytes):
        b = (v & np.uint64(0x7F)).astype(np.uint8)
        if j < nbytes - 1:
            b |= 0x80
        out[:, j] = b
        v >>= np.uint64(7)
    return out


def _event_template(tag, tensor, meta, step_len):
    """Serialized Event for a step of `step_len` varint bytes; returns bytes and byte offsets of
    the wall time, the step varint and the tensor content."""
    marker = np.random.default_rng(7).integers(1, 256, len(tensor.tensor_content), dtype=np.uint8).tobytes()
    tensor.tensor_content = marker
    ev = event_pb2.Event(wall_time=1.0, step=(1 << (7 * (step_len - 1))) if step_len > 1 else 1)
    ev.summary.value.add(tag=tag, tensor=tensor, metadata=meta)
    data = ev.SerializeToString()
    assert data[0] == 0x09 and data[9] == 0x10 and data.count(marker) == 1
    return bytearray(data), 1, 10, data.index(marker)


def _simple_value_template(tag, step_len):
    """As _event_template, for a legacy simple_value scalar (what tensorboardX and PyTorch's
    SummaryWriter write: no metadata, the float32 value in Summary.Value field 2)."""
    ev = event_pb2.Event(wall_time=1.0, step=(1 << (7 * (step_len - 1))) if step_len > 1 else 1)
    ev.summary.value.add(tag=tag, simple_value=0.0)
    data = ev.SerializeToString()
    assert data[0] == 0x09 and data[9] == 0x10 and data.endswith(b"\x15\x00\x00\x00\x00")
    return bytearray(data), 1, 10, len(data) - 4


def _write_events(path, tag, steps, walls, contents, meta, make_tensor, template=None):
    """contents: uint8 matrix (n, k) with each event's tensor_content bytes; template(step_len)
    makes the event template (default: a tensor summary with `meta`)."""
    steps = np.asarray(steps, dtype=np.int64)
    walls = np.asarray(walls, dtype=np.float64)
    step_lens = np.ones(len(steps), dtype=np.int64)
    for k in range(1, 9):
        step_lens[steps >= (1 << (7 * k))] = k + 1
    with open(path, "ab") as f:
        if f.tell() == 0:
            f.write(_record(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()))
        # runs of equal varint length keep step order in the file
        bounds = np.flatnonzero(np.diff(step_lens)) + 1
        for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(steps)]):
            sl = int(step_lens[a])
            tmpl, wo, so, co = (template(sl) if template is not None
                                else _event_template(tag, make_tensor(), meta, sl))
            n = b - a
            L = len(tmpl)
            rows = np.empty((n, 12 + L + 4), dtype=np.uint8)
            header = struct.pack("<Q", L)
            rows[:, 0:8] = np.frombuffer(header, dtype=np.uint8)
            rows[:, 8:12] = np.frombuffer(struct.pack("<I", _masked_crc_bytes(header)), dtype=np.uint8)
            body = rows[:, 12:12 + L]
            body[:] = np.frombuffer(bytes(tmpl), dtype=np.uint8)
            body[:, wo:wo + 8] = walls[a:b].astype("<f8").view(np.uint8).reshape(n, 8)
            body[:, so:so + sl] = _varint_rows(steps[a:b], sl)
            body[:, co:co + contents.shape[1]] = contents[a:b]
            crc = masked_crc32c_rows(body)
            rows[:, 12 + L:] = crc.astype("<u4").view(np.uint8).reshape(n, 4)
            f.write(rows.tobytes())


def event_path(run_dir):
    os.makedirs(run_dir, exist_ok=True)
    return os.path.join(run_dir, "events.out.tfevents.%d.%s.tbbgen" % (int(time.time()), socket.gethostname()))


def write_scalars(path, tag, steps, values, walls=None):
    """Appends one float32 scalar event per step (as summary.scalar writes a float32 value)."""
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype="<f4")
    if walls is None:
        walls = 1.7e9 + steps * 0.01
    meta = metadata.scalar_metadata()

    def make_tensor():
        return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                      tensor_content=b"\0" * 4)

    _write_events(path, tag, steps, walls, values.view(np.uint8).reshape(-1, 4), meta, make_tensor)


def write_simple_values(path, tag, steps, values, walls=None):
    """Appends one legacy simple_value scalar event per step, as tensorboardX writes them."""
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype="<f4")
    if walls is None:
        walls = 1.7e9 + steps * 0.01
    _write_events(path, tag, steps, walls, values.view(np.uint8).reshape(-1, 4), None, None,
                  template=lambda step_len: _simple_value_template(tag, step_len))


def distribution_rows(samples, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS, num_bins=metadata.DEFAULT_NUM_BINS):
    """The metadata tensor layout for each row of a (steps, batch) matrix (finite values only)."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[1]
    lo, hi = x.min(1), x.max(1)
    q = np.quantile(x, quantile_probs, axis=1).T
    span = np.where(hi > lo, hi - lo, 1.0)
    idx = np.clip(((x - lo[:, None]) / span[:, None] * num_bins).astype(np.int64), 0, num_bins - 1)
    hist = np.zeros((x.shape[0], num_bins))
    np.add.at(hist, (np.repeat(np.arange(x.shape[0]), n), idx.ravel()), 1)
    head = np.stack([np.full(len(x), n, float), np.zeros(len(x)), np.zeros(len(x)), np.zeros(len(x)),
                     lo, hi, x.mean(1), x.std(1)], 1)
    return np.concatenate([head, q, hist], 1)


def write_distributions(path, tag, steps, samples, walls=None,
                        quantile_probs=metadata.DEFAULT_QUANTILE_PROBS, num_bins=metadata.DEFAULT_NUM_BINS):
    """Appends one distribution event per step from a (steps, batch) matrix of values."""
    steps = np.asarray(steps, dtype=np.int64)
    rows = distribution_rows(samples, quantile_probs, num_bins).astype("<f8")
    L = rows.shape[1]
    if walls is None:
        walls = 1.7e9 + steps * 0.01
    meta = metadata.distribution_metadata(quantile_probs, num_bins)

    def make_tensor():
        return tensor_pb2.TensorProto(
            dtype=types_pb2.DT_DOUBLE,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=L)]),
            tensor_content=b"\0" * (8 * L))

    _write_events(path, metadata.distribution_tag(tag), steps, walls, rows.view(np.uint8).reshape(len(steps), 8 * L),
                  meta, make_tensor)


def tensorboard_plugins():
    """TensorBoard's default plugins plus tb_batch, once: default.get_plugins() already holds the
    tb_batch loader when the package is installed (entry point), and a second copy would make
    TensorBoard refuse to start ("Duplicate plugins for name tb_batch")."""
    from tensorboard import default

    from tb_batch_plugin.plugin_loader import BatchesLoader

    plugins = default.get_plugins()
    if not any(isinstance(p, BatchesLoader) or p is BatchesLoader for p in plugins):
        plugins.append(BatchesLoader())
    return plugins


def launch_tensorboard(logdir, reload_interval=None):
    """Starts TensorBoard (with tb_batch) in this process on 127.0.0.1 and an ephemeral port over
    `logdir`; returns its URL without a trailing slash. Its server thread is a daemon: it ends
    with the process."""
    from tensorboard import program

    argv = [None, "--logdir", logdir, "--host", "127.0.0.1", "--port", "0"]
    if reload_interval is not None:
        argv += ["--reload_interval", str(reload_interval)]
    tb = program.TensorBoard(plugins=tensorboard_plugins())
    tb.configure(argv=argv)
    return tb.launch().rstrip("/")
