"""Decoding framed event records into numpy columns per (tag, metadata).

Records that share a layout (same length, same step-varint length, same bytes outside the wall
time, step and value) are decoded as a group with numpy from one representative walked by a small
wire-format reader; anything else goes through protobuf. Design: docs/backend.md ("Fast path").

Per-sample dynamics (an int32 tensor under ``metadata.DYNAMICS_TAG``) are not decoded for the
index: each such record becomes one point whose value is its locator, [file number, file offset
of the record, record length with framing] (``LOCATOR_FIELDS``). Why: a run holds gigabytes of
them, more than an index should hold in memory. ``read/dynamics.py`` decodes them later with the
same code (``decode`` without an origin: their int32 values). Design: docs/backend.md
("Per-sample dynamics")."""

import struct

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.read import tfrecord

# The metadata key of legacy simple_value points (which carry no metadata of their own).
SIMPLE_VALUE = object()
# The value of a point of a per-sample dynamics series: where its record is.
LOCATOR_FIELDS = ("file", "offset", "length")
_DT_INT32 = 3  # TensorProto dtype


def is_dynamics_tag(tag):
    """Whether `tag` is the tag of per-sample dynamics (metadata.DYNAMICS_TAG, or one output's)."""
    return tag == metadata.DYNAMICS_TAG or tag.startswith(metadata.DYNAMICS_TAG + "/")


class Pieces:
    """Decoded points of one read, per (tag, metadata bytes or None or SIMPLE_VALUE), with their
    record index (file order), and the number of records found corrupt while decoding;
    ``origin``: (file number, file offset of the buffer), for the locators of dynamics records
    (None: their int32 values instead)."""

    def __init__(self, origin=(0, 0)):
        self.points = {}  # (tag, meta) -> list of (rec_idx, steps, walls, values2d)
        self.meta = {}  # tag -> (rec_idx, SummaryMetadata bytes) of its first metadata
        self.corrupt = 0
        self.origin = origin

    def locators(self, record_starts, length):
        """(k, 3) locators of the records starting at `record_starts` of the buffer."""
        file_number, base = self.origin
        out = np.empty((len(record_starts), len(LOCATOR_FIELDS)), dtype=np.float64)
        out[:, 0], out[:, 1], out[:, 2] = file_number, base + np.asarray(record_starts), length
        return out

    def add(self, tag, meta, rec, steps, walls, values):
        self.points.setdefault((tag, meta), []).append((rec, steps, walls, values))

    def add_meta(self, tag, rec, meta_bytes):
        current = self.meta.get(tag)
        if current is None or rec < current[0]:
            self.meta[tag] = (rec, meta_bytes)


def decode(buf, arr, offs, lens, origin=(0, 0)):
    """The Pieces of the records [offs[i], offs[i] + 16 + lens[i]) of buf (`arr`: buf as uint8);
    `origin`: (file number, file offset of buf) for the locators of dynamics records, or None to
    decode their int32 values."""
    pieces = Pieces(origin)
    k = offs.size
    rec_idx = np.arange(k)
    data = offs + 12
    # Group key: record length and step varint length (0 when the step field is absent).
    fast = lens >= 20
    step_len = np.zeros(k, dtype=np.int64)
    if fast.any():
        candidates = np.flatnonzero(fast)
        head = _gather(arr, data[candidates], np.arange(0, 20))
        ok = head[:, 0] == 0x09
        has_step = head[:, 9] == 0x10
        cont = head[:, 10:20] >= 0x80
        varint_len = np.argmin(cont, axis=1) + 1
        varint_ends = ~cont.all(axis=1)
        ok &= (~has_step) | varint_ends
        step_len[candidates] = np.where(has_step, varint_len, 0)
        fast[candidates[~ok]] = False
    slow = list(np.flatnonzero(~fast))
    fast_rows = np.flatnonzero(fast)
    if fast_rows.size:
        key = lens[fast_rows] * 16 + step_len[fast_rows]
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        for group in np.split(fast_rows[order], bounds):
            slow.extend(_fast_group(arr, data[group], int(lens[group[0]]), int(step_len[group[0]]),
                                    rec_idx[group], pieces))
    for i in sorted(int(x) for x in slow):
        _slow_record(buf, int(offs[i]), int(lens[i]), i, pieces)
    return pieces


def _fast_group(arr, starts, length, step_len, recs, pieces):
    """Decodes the records of one (length, step length) group; returns record indices that need
    the slow path."""
    remaining = np.arange(starts.size)
    while remaining.size:
        first = int(starts[int(remaining[0])])
        template = _walk(arr[first:first + length].tobytes(), step_len)
        if template is None:
            return [int(recs[i]) for i in remaining]
        rest = starts[remaining]
        match = np.ones(remaining.size, dtype=bool)
        for a, b in template.const_ranges:
            match &= _range_equal(arr, rest, a, b, template.representative[a:b])
        idx = remaining[match]
        remaining = remaining[~match]
        _decode_group(arr, starts[idx], recs[idx], template, pieces)
    return []


def _decode_group(arr, starts, recs, t, pieces):
    """Decodes records laid out as the _Template `t`, whose data start at `starts`."""
    var = _gather(arr, starts, t.var_positions)  # (k, nvar) uint8
    if t.locate:  # the whole record varies: CRCs of whole rows
        crc = tfrecord.crc32c_rows(tfrecord.rows_at(arr, starts, t.length))
    else:  # representative's CRC XOR each differing byte's contribution
        diff = var ^ t.representative[t.var_positions][None, :]
        crc = np.full(starts.size, t.representative_crc, dtype=np.uint32)
        for j in np.flatnonzero(diff.any(axis=0)):
            crc ^= t.crc_tables[j][diff[:, j]]
    stored = _gather(arr, starts, np.arange(t.length, t.length + 4)).copy().view("<u4").ravel()
    good = tfrecord.mask_crcs(crc) == stored
    if not good.all():
        pieces.corrupt += int((~good).sum())
        var, starts, recs = var[good], starts[good], recs[good]
        if not starts.size:
            return
    pos = {p: j for j, p in enumerate(t.var_positions)}
    walls = np.ascontiguousarray(var[:, pos[1]:pos[1] + 8]).view("<f8").ravel()
    if t.step_len:
        step_bytes = var[:, pos[10]:pos[10] + t.step_len].astype(np.uint64)
        steps = np.zeros(starts.size, dtype=np.uint64)
        for j in range(t.step_len):
            steps |= (step_bytes[:, j] & np.uint64(0x7F)) << np.uint64(7 * j)
        steps = steps.view(np.int64)
    else:
        steps = np.zeros(starts.size, dtype=np.int64)
    if t.locate and pieces.origin is not None:
        vals = pieces.locators(starts - 12, t.length + 16)
    elif t.locate:  # not among the variable positions: read from the records
        vals = np.ascontiguousarray(tfrecord.rows_at(arr, starts + t.value_offset, t.value_length))
        vals = vals.view(t.dtype).reshape(starts.size, t.nelem)
    else:
        value_at = pos[t.value_offset]
        vals = np.ascontiguousarray(var[:, value_at:value_at + t.value_length]).view(t.dtype)
        vals = vals.reshape(starts.size, t.nelem)
    if t.meta is not None:
        pieces.add_meta(t.tag, int(recs[0]), t.meta)
    pieces.add(t.tag, SIMPLE_VALUE if t.simple else t.meta, recs, steps, walls, vals)


def _slow_record(buf, off, length, rec, pieces):
    """Decodes one record with protobuf."""
    data = buf[off + 12:off + 12 + length]
    if tfrecord.masked_crc32c(data) != struct.unpack_from("<I", buf, off + 12 + length)[0]:
        pieces.corrupt += 1
        return
    from tensorboard.compat.proto import event_pb2
    try:
        ev = event_pb2.Event.FromString(data)
    except Exception:
        pieces.corrupt += 1
        return
    if not ev.HasField("summary"):
        return
    from tensorboard.util import tensor_util
    step, wall = np.array([ev.step], dtype=np.int64), np.array([ev.wall_time], dtype=np.float64)
    for v in ev.summary.value:
        meta = None
        if v.HasField("metadata"):
            meta = v.metadata.SerializeToString()
            pieces.add_meta(v.tag, rec, meta)
        which = v.WhichOneof("value")
        if which == "tensor" and v.tensor.dtype == _DT_INT32 and is_dynamics_tag(v.tag):
            if pieces.origin is not None:
                pieces.add(v.tag, meta, np.array([rec]), step, wall, pieces.locators([off], length + 16))
                continue
            try:
                a = np.asarray(tensor_util.make_ndarray(v.tensor), dtype=np.int32)
            except Exception:
                continue
            pieces.add(v.tag, meta, np.array([rec]), step, wall, a.reshape(1, -1))
            continue
        if which == "simple_value":
            pieces.add(v.tag, SIMPLE_VALUE, np.array([rec]), step, wall,
                       np.array([[v.simple_value]], dtype=np.float32))
            continue
        if which != "tensor":
            continue
        try:
            a = np.asarray(tensor_util.make_ndarray(v.tensor))
        except Exception:
            continue
        if a.dtype.kind not in "fiub" or a.size == 0:
            continue
        pieces.add(v.tag, meta, np.array([rec]), step, wall,
                   a.reshape(1, -1).astype(np.float64 if a.dtype != np.float32 else np.float32))


# ----------------------------------------------------------------------------------------------
# Bytes of many records at once


def _equal_strides(starts):
    """The common distance between consecutive starts (> 0), or None."""
    if starts.size > 1:
        d = np.diff(starts)
        if d[0] > 0 and (d == d[0]).all():
            return int(d[0])
    return None


def _gather(arr, starts, cols):
    """uint8 matrix (len(starts), len(cols)) of arr[starts[i] + cols[j]]."""
    starts = np.asarray(starts, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    k = starts.size
    if k == 0:
        return np.zeros((0, cols.size), dtype=np.uint8)
    stride = _equal_strides(starts)
    if stride is not None:
        rows = np.lib.stride_tricks.as_strided(
            arr[starts[0]:], shape=(k, int(cols.max()) + 1), strides=(stride, 1), writeable=False)
        return rows[:, cols]
    out = np.empty((k, cols.size), dtype=np.uint8)
    step = max(1, (1 << 22) // max(1, cols.size))
    for a in range(0, k, step):
        b = min(k, a + step)
        out[a:b] = arr[starts[a:b, None] + cols[None, :]]
    return out


def _range_equal(arr, starts, a, b, ref):
    """Rows whose bytes [a, b) after each start equal ref."""
    stride = _equal_strides(starts)
    if stride is not None:
        rows = np.lib.stride_tricks.as_strided(
            arr[starts[0] + a:], shape=(starts.size, b - a), strides=(stride, 1), writeable=False)
        return (rows == ref).all(axis=1)
    return (_gather(arr, starts, np.arange(a, b)) == ref).all(axis=1)


# ----------------------------------------------------------------------------------------------
# Wire-format walker for the fast path


def _varint(b, pos):
    result = shift = 0
    while True:
        if pos >= len(b) or shift > 63:
            raise ValueError("bad varint")
        c = b[pos]
        pos += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, pos
        shift += 7


class _Template:
    """Where the variable fields of a single-value tensor Event sit in its bytes."""

    __slots__ = ("length", "step_len", "tag", "meta", "simple", "locate", "dtype", "nelem", "value_offset",
                 "value_length", "const_ranges", "var_positions", "crc_tables", "representative",
                 "representative_crc")


def _walk(data, step_len):
    """Returns a _Template for an Event `data` with one Summary.Value holding a float tensor or a
    legacy ``simple_value``, or None if the record is anything else (then protobuf parses it)."""
    try:
        size = len(data)
        if size < 12 or data[0] != 0x09:
            return None
        pos = 9
        if step_len:
            if data[9] != 0x10:
                return None
            _, pos = _varint(data, 10)
            if pos != 10 + step_len:
                return None
        if data[pos] != 0x2A:
            return None
        summary_len, pos = _varint(data, pos + 1)
        if pos + summary_len != size or data[pos] != 0x0A:
            return None
        value_len, pos = _varint(data, pos + 1)
        if pos + value_len != size:
            return None
        tag = meta = None
        tensor = simple = None
        while pos < size:
            key, pos = _varint(data, pos)
            if key == 0x15 and simple is None:  # field 2, fixed32: a legacy simple_value
                simple = pos
                pos += 4
                continue
            if key & 7 != 2:
                return None
            ln, p2 = _varint(data, pos)
            end = p2 + ln
            if end > size:
                return None
            field = key >> 3
            if field == 1 and tag is None:
                tag = bytes(data[p2:end]).decode("utf-8")
            elif field == 8 and tensor is None:
                tensor = (p2, end)
            elif field == 9 and meta is None:
                meta = bytes(data[p2:end])
            else:
                return None
            pos = end
        if pos != size or tag is None or (tensor is None) == (simple is None):
            return None
        if simple is not None:
            return _make_template(data, step_len, tag, meta, np.dtype("<f4"), 1, simple, 4, True)
        return _walk_tensor(data, step_len, tag, meta, *tensor)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    except Exception:  # a malformed shape proto, etc.: leave it to the slow path
        return None


def _walk_tensor(data, step_len, tag, meta, pos, tend):
    """The _Template of an event whose one value is the TensorProto at data[pos:tend]."""
    dtype = None
    shape = None
    value = None
    while pos < tend:
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            dtype, pos = _varint(data, pos)
        elif field == 2 and wire == 2:
            ln, p2 = _varint(data, pos)
            shape = bytes(data[p2:p2 + ln])
            pos = p2 + ln
        elif field == 3 and wire == 0:  # version_number
            _, pos = _varint(data, pos)
        elif field in (4, 5, 6) and wire == 2 and value is None:
            ln, p2 = _varint(data, pos)
            value = (field, p2, ln)
            pos = p2 + ln
        elif field == 5 and wire == 5 and value is None:
            value = (5, pos, 4)
            pos += 4
        elif field == 6 and wire == 1 and value is None:
            value = (6, pos, 8)
            pos += 8
        else:
            return None
    if pos != tend or value is None:
        return None
    locate = dtype == _DT_INT32 and is_dynamics_tag(tag)
    if dtype == 1:
        np_dtype = np.dtype("<f4")
    elif dtype == 2:
        np_dtype = np.dtype("<f8")
    elif locate:
        np_dtype = np.dtype("<i4")
    else:
        return None
    field, value_offset, value_length = value
    if (field == 5 and dtype != 1) or (field == 6 and dtype != 2) or (locate and field != 4):
        return None
    from tensorboard.compat.proto import tensor_shape_pb2
    shp = tensor_shape_pb2.TensorShapeProto.FromString(shape or b"")
    if shp.unknown_rank:
        return None
    nelem = 1
    for d in shp.dim:
        if d.size < 0:
            return None
        nelem *= d.size
    if nelem < 1 or value_length != nelem * np_dtype.itemsize:
        return None
    return _make_template(data, step_len, tag, meta, np_dtype, nelem, value_offset, value_length, False,
                          locate)


def _make_template(data, step_len, tag, meta, np_dtype, nelem, value_offset, value_length, simple,
                   locate=False):
    """The _Template of the record `data` whose only value is the `value_length` bytes at
    `value_offset` (`locate`: a dynamics record, whose value is not read, only its place)."""
    t = _Template()
    t.length, t.step_len, t.tag, t.meta, t.simple = len(data), step_len, tag, meta, simple
    t.locate = locate
    t.dtype, t.nelem, t.value_offset, t.value_length = np_dtype, nelem, value_offset, value_length
    var = [(1, 9)]
    if step_len:
        var.append((10, 10 + step_len))
    var.append((value_offset, value_offset + value_length))
    const, prev = [], 0
    for a, b in var:
        if a > prev:
            const.append((prev, a))
        prev = b
    if prev < t.length:
        const.append((prev, t.length))
    t.const_ranges = const
    t.representative = np.frombuffer(bytes(data), dtype=np.uint8)
    if locate:  # its CRC is computed from the whole record (crc32c_rows): no tables
        t.var_positions = [p for a, b in var[:-1] for p in range(a, b)]
        t.crc_tables, t.representative_crc = None, None
        return t
    t.var_positions = [p for a, b in var for p in range(a, b)]
    t.crc_tables, t.var_positions = tfrecord.crc_contribution_tables(t.length, t.var_positions)
    t.representative_crc = tfrecord.crc32c(bytes(data))
    return t
