"""Event records built with numpy a block at a time, for ``host_writer``: the same bytes as
serializing each Event with protobuf and framing it as a TFRecord one by one, without Python
work per event.

Why: on the JAX and PyTorch backends a step writes about a dozen events, and building each
through protobuf (30-80 µs) and the pure-Python CRC32C of TensorBoard's ``RecordWriter`` (about
50 µs a record) took the writing thread longer than the step took, and the GIL from training.

How: the events of one tag, dtype, shape and metadata differ only in their wall time, step and
tensor bytes. Their Summary is serialized once by protobuf (``event_template``), and where its
tensor bytes lie found by serializing it twice, with two different fillings; every event is
then that template with its own bytes put in, behind the Event's wall time and step fields, as
rows of a uint8 array; the CRC32Cs of all rows are computed together (``tfrecord.crc32c_rows``).
"""

import functools
import struct

import numpy as np
from tensorboard.compat.proto import summary_pb2

from tb_batch_plugin.read.tfrecord import crc32c, crc32c_rows, mask_crcs, masked_crc32c

# Event fields (event.proto): 1 wall_time (double), 2 step (int64 varint), 5 summary (message).
_WALL_TIME_KEY, _STEP_KEY, _SUMMARY_KEY = 0x09, 0x10, 0x2A
_VALUE_KEY = 0x0A  # Summary field 1: value (repeated message)


def varint(n):
    """The protobuf varint of a non-negative int."""
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


_VARINT_STARTS = np.array([1 << (7 * j) for j in range(10)], np.uint64)  # the first int of each varint length


def varint_sizes(steps):
    """(k,) the varint lengths of non-negative int64 ``steps``; 0 for a 0, which proto3 leaves out."""
    return np.searchsorted(_VARINT_STARTS, np.asarray(steps, np.int64).astype(np.uint64), side="right")


@functools.lru_cache(maxsize=256)
def _length_header(length):
    """A TFRecord's first 12 bytes: the length (uint64 LE) and its masked CRC32C."""
    head = struct.pack("<Q", length)
    return head + struct.pack("<I", masked_crc32c(head))


def frame(datas):
    """One bytes of the TFRecords of ``datas`` (a list of bytes), in order: each framed as
    ``RecordWriter`` frames it, the CRCs of the records of each length computed together."""
    if not datas:
        return b""
    lengths = np.fromiter((len(d) for d in datas), np.int64, len(datas))
    crcs = np.empty(len(datas), np.uint32)
    for length in np.unique(lengths):
        where = np.flatnonzero(lengths == length)
        rows = np.frombuffer(b"".join(datas[i] for i in where), np.uint8).reshape(len(where), int(length))
        crcs[where] = crc32c_rows(rows)
    footers = mask_crcs(crcs).astype("<u4").tobytes()
    return b"".join(part for i, d in enumerate(datas)
                    for part in (_length_header(len(d)), d, footers[4 * i:4 * i + 4]))


class EventTemplate:
    """The serialized Summary of one tag, tensor dtype and shape, and metadata, and where in it
    the tensor's bytes go (``start``, ``size``)."""

    def __init__(self, tag, dtype, shape, summary_metadata, tensor_proto):
        dtype = np.dtype(dtype).newbyteorder("<")
        count = int(np.prod(shape, dtype=np.int64))
        size = count * dtype.itemsize

        def serialized(fill):
            value = np.frombuffer(bytes([fill]) * size, dtype).reshape(shape)
            summary = summary_pb2.Summary()
            summary.value.add(tag=tag, metadata=summary_metadata, tensor=tensor_proto(value))
            return np.frombuffer(summary.SerializeToString(), np.uint8)

        zeros, ones = serialized(0x00), serialized(0xFF)
        differ = np.flatnonzero(zeros != ones)
        self.summary = zeros
        self.size = size
        self.start = int(differ[0]) if size else len(zeros)
        if size and (len(differ) != size or differ[-1] != self.start + size - 1):
            raise ValueError("HostWriter: the tensor bytes of %r are not contiguous in its Summary" % tag)
        self.dtype = dtype
        self.summary_head = bytes([_SUMMARY_KEY]) + varint(len(zeros))


@functools.lru_cache(maxsize=1024)
def event_template(tag, dtype_str, shape, metadata_bytes, tensor_proto):
    return EventTemplate(tag, dtype_str, shape, summary_pb2.SummaryMetadata.FromString(metadata_bytes),
                         tensor_proto)


def block_records(steps, wall_times, columns):
    """The bytes of the TFRecords of a block's events, ordered by step, then rank: ``steps`` (n,)
    non-negative int64, ``wall_times`` (n,) nonzero float64, ``columns`` [(rank, EventTemplate,
    rows (m,) indices into steps, values (m, *shape))]. Their CRC32Cs computed together."""
    pieces = _pieces(steps, wall_times, columns)
    _fill_crcs([records for records, _, _ in pieces])
    return in_order(pieces)


def block_events(steps, wall_times, columns):
    """The serialized Events (a list of bytes, not framed) of a block's events, ordered by step,
    then rank, as ``block_records`` frames them (for a writer that frames them itself)."""
    pieces = _pieces(steps, wall_times, columns)
    if not pieces:
        return []
    rows = np.concatenate([rows for _, rows, _ in pieces])
    ranks = np.concatenate([np.full(len(rows), rank, np.int64) for _, rows, rank in pieces])
    events = [event.tobytes() for records, _, _ in pieces for event in records[:, 12:-4]]
    return [events[i] for i in np.lexsort((ranks, rows))]


def _pieces(steps, wall_times, columns):
    """[(records (k, R) uint8 without their data CRCs, their rows, rank)] of ``block_records``'
    columns, one per column and varint length of its steps."""
    pieces = []
    for rank, template, rows, values in columns:
        chosen = steps[rows]
        sizes = varint_sizes(chosen)
        groups = ([slice(None)] if (sizes == sizes[0]).all()
                  else [np.flatnonzero(sizes == size) for size in np.unique(sizes)])
        for these in groups:
            records = event_records(template, chosen[these], wall_times[rows[these]], values[these], crc=False)
            pieces.append((records, rows[these], rank))
    return pieces


class Columns:
    """The events of a block, a tag's steps at a time, for ``block_records``/``block_events``
    (through ``host_writer.templates``); a tag is ranked where it is first added, so each step's
    events are in that order."""

    def __init__(self):
        self._ranks = {}  # tag -> rank
        self._columns = []  # (rank, tag, step indices, values, metadata)

    def add_column(self, tag, rows, values, summary_metadata):
        """The events of ``rows`` (step indices) at once: ``values`` (len(rows), ...)."""
        rank = self._ranks.setdefault(tag, len(self._ranks))
        self._columns.append((rank, tag, np.asarray(rows), np.asarray(values), summary_metadata))

    def made(self):
        """[(rank, tag, step indices, values, metadata)]."""
        return self._columns


@functools.lru_cache(maxsize=1024)
def _zeros_crc(length):
    return crc32c(bytes(length))


def _fill_crcs(pieces):
    """Puts each record's data CRC into its last 4 bytes; records of similar lengths (the same
    number of 256-byte blocks) in one ``crc32c_rows``: each left-padded with zeros to the longest,
    which leaves the linear part of a CRC32C as it is (the rest is the CRC of its length in zeros)."""
    buckets = {}
    for records in pieces:
        buckets.setdefault((records.shape[1] - 16 + 255) // 256, []).append(records)
    for bucket in buckets.values():
        lengths = [records.shape[1] - 16 for records in bucket]
        longest = max(lengths)
        padded = np.zeros((sum(len(records) for records in bucket), longest), np.uint8)
        at = 0
        for records, length in zip(bucket, lengths):
            padded[at:at + len(records), longest - length:] = records[:, 12:12 + length]
            at += len(records)
        linear = crc32c_rows(padded) ^ np.uint32(_zeros_crc(longest))
        at = 0
        for records, length in zip(bucket, lengths):
            crcs = linear[at:at + len(records)] ^ np.uint32(_zeros_crc(length))
            records[:, -4:] = mask_crcs(crcs).astype("<u4").reshape(-1, 1).view(np.uint8)
            at += len(records)


def event_records(template, steps, wall_times, values, crc=True):
    """(k, R) uint8: the TFRecords of k events of one template, one a row, with their ``steps``
    (k,) non-negative ints all of one varint length (or all 0, which proto3 leaves out),
    ``wall_times`` (k,) nonzero floats and ``values`` (k, *shape) of the template's dtype
    (without ``crc``, the data CRCs, the last 4 bytes, are left for ``_fill_crcs``)."""
    steps = np.asarray(steps, np.int64)
    k = len(steps)
    step_size = 0 if steps[0] == 0 else len(varint(int(steps[0])))
    head = 9 + (1 + step_size if step_size else 0)
    length = head + len(template.summary_head) + len(template.summary)
    rows = np.empty((k, 12 + length + 4), np.uint8)
    rows[:, :12] = np.frombuffer(_length_header(length), np.uint8)
    event = rows[:, 12:12 + length]
    event[:, 0] = _WALL_TIME_KEY
    event[:, 1:9] = np.asarray(wall_times, "<f8").reshape(k, 1).view(np.uint8)
    if step_size:
        event[:, 9] = _STEP_KEY
        shifts = (7 * np.arange(step_size)).astype(np.int64)
        groups = (steps[:, np.newaxis] >> shifts[np.newaxis, :]) & 0x7F
        groups[:, :-1] |= 0x80
        event[:, 10:head] = groups.astype(np.uint8)
    body = event[:, head:]
    body[:, :len(template.summary_head)] = np.frombuffer(template.summary_head, np.uint8)
    summary = body[:, len(template.summary_head):]
    summary[:] = template.summary
    if template.size:
        data = np.ascontiguousarray(values, template.dtype).reshape(k, -1).view(np.uint8)
        summary[:, template.start:template.start + template.size] = data
    if crc:
        rows[:, 12 + length:] = mask_crcs(crc32c_rows(event)).astype("<u4").reshape(k, 1).view(np.uint8)
    return rows


def in_order(pieces):
    """The bytes of the records of ``pieces`` [(records (k, R) uint8, rows (k,), rank)], ordered
    by row, then rank (one gather, no Python per record)."""
    flat = np.concatenate([records.reshape(-1) for records, _, _ in pieces])
    sizes = np.concatenate([np.full(len(records), records.shape[1], np.int64) for records, _, _ in pieces])
    starts = np.cumsum(sizes) - sizes
    rows = np.concatenate([rows for _, rows, _ in pieces])
    ranks = np.concatenate([np.full(len(rows), rank, np.int64) for _, rows, rank in pieces])
    order = np.lexsort((ranks, rows))
    sizes, starts = sizes[order], starts[order]
    out_starts = np.cumsum(sizes) - sizes
    index = np.repeat(starts - out_starts, sizes) + np.arange(int(sizes.sum()))
    return flat[index].tobytes()
