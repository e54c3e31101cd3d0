"""record/host_records.py and HostWriter.write_block: events built a block at a time with numpy
are the bytes that serializing each Event with protobuf and framing it with TensorBoard's own
RecordWriter make, in the same order, and read back as written."""

import glob
import io
import os

import numpy as np
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_batch_plugin import metadata
from tb_batch_plugin.record import host_records
from tb_batch_plugin.record.host_writer import HostWriter, tensor_proto

RNG = np.random.default_rng(7)
COLUMNS = [  # (tag, values of 5 events, metadata): every dtype and shape tb-batch writes
    ("loss", RNG.standard_normal(5).astype(np.float32), metadata.scalar_metadata(metadata.PROVENANCE_EXACT)),
    ("lr", np.array([1e-3, 0.0, -0.0, np.inf, np.nan]), metadata.scalar_metadata(description="why")),
    ("half", np.arange(5, dtype=np.float16), metadata.scalar_metadata()),
    (metadata.distribution_tag("acts"), RNG.standard_normal((5, 49)), metadata.distribution_metadata()),
    ("acts", RNG.standard_normal((5, 30, 3)), metadata.histogram_metadata()),
    (metadata.MARKER_TAGS[metadata.KIND_FIT], np.array([[-1, 2 ** 40]] * 5, np.int64),
     metadata.marker_metadata(metadata.KIND_FIT)),
    (metadata.DYNAMICS_TAG, RNG.integers(-2 ** 31, 2 ** 31, (5, 10, 6)).astype(np.int32),
     metadata.dynamics_metadata(3, False)),
    ("flags", np.array([[True, False, True]] * 5), metadata.samples_metadata(1, ["flag"])),
    ("empty", np.zeros((5, 0), np.float32), metadata.scalar_metadata()),
]
STEPS = [0, 1, 127, 128, 2 ** 40 + 3]  # varints of 0 (left out), 1, 2 and 6 bytes
WALL_TIMES = [1.5e9, 1.5e9 + 0.25, 1.5e9 + 1, 1.7e9, 1.7e9 + 1e-6]


def _reference(events):
    """The records of [(step index, tag, value, metadata)], one Event at a time through protobuf
    and TensorBoard's RecordWriter (its CRC32C in pure Python)."""
    out = io.BytesIO()
    records = RecordWriter(out)
    for i, tag, value, meta in events:
        event = event_pb2.Event(wall_time=WALL_TIMES[i], step=STEPS[i])
        event.summary.value.add(tag=tag, metadata=meta, tensor=tensor_proto(value))
        records.write(event.SerializeToString())
    return out.getvalue()


def test_a_column_of_events_is_the_bytes_protobuf_and_record_writer_make():
    for c, (tag, values, meta) in enumerate(COLUMNS):
        template = host_records.event_template(tag, values.dtype.str, values.shape[1:], meta.SerializeToString(),
                                               tensor_proto)
        for i in range(len(STEPS)):  # one step at a time: each its own varint length
            rows = host_records.event_records(template, [STEPS[i]], [WALL_TIMES[i]], values[i:i + 1])
            assert rows.tobytes() == _reference([(i, tag, values[i], meta)]), (tag, STEPS[i])
        rows = host_records.event_records(template, [200, 300], WALL_TIMES[:2], values[:2])
        assert len(rows) == 2


def test_frame_is_what_record_writer_writes():
    datas = [b"", b"x", bytes(range(256)) * 3, b"abc", b"x", os.urandom(1000)]
    out = io.BytesIO()
    records = RecordWriter(out)
    for data in datas:
        records.write(data)
    assert host_records.frame(datas) == out.getvalue()
    assert host_records.frame([]) == b""


def test_varint_sizes():
    steps = np.array([0, 1, 127, 128, 2 ** 14 - 1, 2 ** 14, 2 ** 62])
    assert host_records.varint_sizes(steps).tolist() == [0] + [len(host_records.varint(int(s))) for s in steps[1:]]


def test_write_block_writes_what_write_writes_in_the_same_order(tmp_path):
    """A block whose columns cover different steps, and a tag in two columns of two shapes (as a
    partial last batch makes) ranked as one: the file is, byte for byte, the one ``write`` makes
    one event at a time, and its events are the reference's."""
    columns, events = [], []
    for c, (tag, values, meta) in enumerate(COLUMNS):
        rows = np.arange(len(STEPS)) if c % 3 else np.array([0, 2, 3])
        rows = rows[rows != 4] if c == 1 else rows
        columns.append((c, tag, rows, values[rows], meta if c % 2 else meta.SerializeToString()))
        events += [(i, c, tag, values[i], meta) for i in rows]
    rank = 1  # "lr", in another shape at the last step
    other = np.arange(6, dtype=np.float64).reshape(1, 2, 3)
    columns.append((rank, "lr", [4], other, COLUMNS[rank][2]))
    events.append((4, rank, "lr", other[0], COLUMNS[rank][2]))
    events = [(i, tag, value, meta) for i, _, tag, value, meta in sorted(events, key=lambda e: e[:2])]
    block = HostWriter(str(tmp_path / "block"))
    block.write_block(STEPS, WALL_TIMES, columns)
    one = HostWriter(str(tmp_path / "one"))
    for i, tag, value, meta in events:
        one.write(tag, STEPS[i], value, meta, wall_time=WALL_TIMES[i])
    assert block.close() is None and one.close() is None
    contents = {}
    for name in ("block", "one"):
        (path,) = glob.glob(str(tmp_path / name / "*tfevents*"))
        with open(path, "rb") as f:
            contents[name] = f.read()
    reference = _reference(events)
    assert contents["block"].endswith(reference) and contents["one"].endswith(reference)
    assert len(contents["block"]) == len(contents["one"])  # before it: each file's first event
    loaded = list(event_file_loader.LegacyEventFileLoader(glob.glob(str(tmp_path / "block" / "*tfevents*"))[0]).Load())
    assert [(e.step, e.summary.value[0].tag) for e in loaded[1:]] == [(STEPS[i], tag) for i, tag, _, _ in events]
