"""Lossless, incremental index of the scalars and tb_batch data of event files -> numpy columns.

This is both the plugin's data source and the public reader (``tb_batch_plugin.load``)::

    idx = load("logs")                  # reads everything once
    idx.runs()                          # ['train', 'validation']
    idx.tags("train")                   # {'loss': 'scalar', 'per_sample_loss': 'distribution'}
    idx.series("train")                 # [SeriesInfo(tag, kind, source, provenance, count, ...)]
    s = idx.scalars("train", "loss")    # s.steps (int64), s.values, s.wall_times (float64)
    idx.evaluations("validation")       # where each evaluation sits on the training axis
    idx.reload()                        # reads only the bytes appended since

Design (see docs/backend.md):

* Runs are the directories under the logdir holding files with "tfevents" in their name,
  found following symbolic links as TensorBoard does (a link back to a directory on the way
  down, a loop, is not followed) and named as TensorBoard names them (bytes that are not UTF-8
  become U+FFFD). Only regular files are opened (checked with stat first: a FIFO would block the
  open); files that are not, or cannot be read, are reported per run (``skipped_files``).
* Event files are TFRecord files. Each file keeps a byte offset; a reload reads only the new
  bytes. A record that is not complete yet (truncated tail) is left for the next reload; a
  record whose data CRC is wrong is skipped and counted in ``corrupt_records``; a header whose
  CRC is wrong, or that claims more than MAX_RECORD_BYTES, makes the reader search forward for
  the next valid header (vectorised: zero-filled or random stretches go at memory speed),
  counted once per stretch.
* A run with a file that was deleted, replaced (another inode), truncated or rewritten (its
  first bytes or the bytes before its offset changed) is read again from the start: points are
  never mixed from two versions of a file. Runs whose directory is gone disappear.
* Fast path: records of the same length whose step varint has the same length are mostly the
  same bytes (same tag, same metadata, same tensor shape). One representative per such group is
  decoded with a small wire-format walker that locates the wall time, the step and the tensor
  values; every other record of the group is accepted only if all its other bytes are identical
  to the representative's. Wall times, steps and values are then decoded for the whole group
  with numpy, and the data CRCs are checked vectorised (CRC32C is affine, so a record's CRC is
  the representative's XOR a table lookup per byte that differs). Anything else - a different
  layout, several values per summary, an unknown field - goes through real protobuf parsing.
* What is kept: every scalar (standard TensorBoard scalars, whoever wrote them, and legacy
  ``simple_value`` scalars of PyTorch and tensorboardX) and the tb_batch distributions and
  markers. An event's own metadata says what it holds; an event without metadata takes its tag's
  first metadata (as TensorBoard does). Each series is keyed by (kind, name, source), so a tag
  written by tb-batch and by other code is two series that never hide each other.
* Restarts: within a series, a point whose step is <= a step already stored discards the stored
  points with steps >= it (TensorBoard's out-of-order purge, applied per tag). Steps of a series
  are therefore strictly increasing, each step at most once.
* Storage per scalar point: int64 step + float64 wall time + float32 value (float64 if the
  writer wrote doubles): 20 bytes, in buffers with spare room (untouched, so not resident)
  that appends fill; distributions column-major.
* Snapshots: ``reload`` publishes an immutable IndexSnapshot (views of the published points;
  appends never write into them, a restart copies). Reads never take a lock and never wait for
  a reload; a reload that rereads a run publishes it when complete.
"""

import collections
import itertools
import os
import stat
import struct
import threading

import numpy as np

from tb_batch_plugin import metadata as _md
from tb_batch_plugin.read.sample_series import PerClassSeries, SampleSeries
from tb_batch_plugin.read.sample_series import hardest as hardest_samples

__all__ = ["load", "LogdirIndex", "ScalarSeries", "DistributionSeries", "MarkerSeries", "SeriesInfo"]

# ----------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), as used by TFRecord framing


def _make_crc_table():
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> np.uint32(1)) ^ np.uint32(0x82F63B78), t >> np.uint32(1))
    return t.astype(np.uint32)


_CRC_TABLE = _make_crc_table()
_CRC_TABLE_LIST = [int(x) for x in _CRC_TABLE]
_U8 = np.uint32(8)
_FF = np.uint32(0xFF)


def _crc32c(data):
    crc = 0xFFFFFFFF
    t = _CRC_TABLE_LIST
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _mask_np(crc):
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)


def _masked_crc32c(data):
    return _mask(_crc32c(data))


def _crc_contribution_tables(length, positions):
    """For a message of `length` bytes: table[i][b] = linear CRC contribution of byte b at
    position positions[i] (CRC32C is affine in the message for a fixed length)."""
    positions = sorted(set(int(p) for p in positions))
    want = set(positions)
    out = {}
    p = _CRC_TABLE.copy()
    lo = positions[0] if positions else length
    for i in range(length - 1, lo - 1, -1):
        if i in want:
            out[i] = p
        p = _CRC_TABLE[p & _FF] ^ (p >> _U8)
    return [out[i] for i in positions], positions


# ----------------------------------------------------------------------------------------------
# Series objects returned to callers


class UnknownKey(KeyError):
    """An unknown run or tag (a KeyError, told apart from the KeyErrors of bugs)."""


class ScalarSeries:
    """One scalar tag of one run: numpy ``steps`` (int64, strictly increasing), ``values``
    (float32 or float64 as written), ``wall_times`` (float64 seconds since the epoch)."""

    __slots__ = ("steps", "values", "wall_times")

    def __init__(self, steps, values, wall_times):
        self.steps, self.values, self.wall_times = steps, values, wall_times

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "ScalarSeries(%d points)" % len(self.steps)


# Where a series comes from, in the order a tag written by several writers is looked up.
SOURCES = ("tb_batch", "scalars", "simple_value")

SeriesInfo = collections.namedtuple(
    "SeriesInfo", "tag kind source provenance count first_step last_step")
SeriesInfo.__doc__ = """One series of a run: ``source`` 'tb_batch' (BatchStats, tbb.summary),
'scalars' (a standard TensorBoard scalar of other code), 'simple_value' (a legacy scalar: PyTorch,
tensorboardX); ``provenance`` 'exact', 'reported', 'custom' or 'logged' (see metadata)."""


class MarkerSeries:
    """One marker of one run: ``steps``, ``wall_times`` and ``fields`` {name: int64 array} (the
    names of ``metadata.MARKER_FIELDS``)."""

    __slots__ = ("steps", "wall_times", "fields")

    def __init__(self, steps, wall_times, fields):
        self.steps, self.wall_times, self.fields = steps, wall_times, fields

    def __len__(self):
        return len(self.steps)


class DistributionSeries:
    """One distribution tag of one run. ``data`` is the (N, 8+Q+B) float64 matrix of the tensor
    layout in ``metadata``; the named properties are views into it."""

    __slots__ = ("steps", "wall_times", "data", "quantile_probs", "num_bins")

    def __init__(self, steps, wall_times, data, quantile_probs, num_bins):
        self.steps, self.wall_times, self.data = steps, wall_times, data
        self.quantile_probs = np.asarray(quantile_probs, dtype=np.float64)
        self.num_bins = int(num_bins)

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "DistributionSeries(%d steps, Q=%d, B=%d)" % (
            len(self.steps), len(self.quantile_probs), self.num_bins)

    def _col(i):
        return property(lambda self: self.data[:, i])

    count = _col(_md.COUNT)
    nan_count = _col(_md.NAN_COUNT)
    posinf_count = _col(_md.POSINF_COUNT)
    neginf_count = _col(_md.NEGINF_COUNT)
    min = _col(_md.MIN)
    max = _col(_md.MAX)
    mean = _col(_md.MEAN)
    std = _col(_md.STD)
    del _col

    @property
    def quantiles(self):
        """(N, Q): quantiles[j, i] is the quantile at quantile_probs[i] of step j."""
        h = _md.HEADER_LENGTH
        return self.data[:, h:h + len(self.quantile_probs)]

    @property
    def histograms(self):
        """(N, B) counts of the finite values in B equal-width bins spanning [min, max]."""
        return self.data[:, _md.HEADER_LENGTH + len(self.quantile_probs):]

    @property
    def bin_edges(self):
        """(N, B+1) bin edges of each step's histogram (NaN rows where a step has no finite value)."""
        return np.linspace(self.min, self.max, self.num_bins + 1, axis=1)  # as step_bin_edges

    def step_bin_edges(self, i):
        """Bin edges (B+1,) of the i-th point."""
        return np.linspace(self.data[i, _md.MIN], self.data[i, _md.MAX], self.num_bins + 1)


# ----------------------------------------------------------------------------------------------
# Per-tag storage


_UIDS = itertools.count(1)


class _Store:
    """Columns of one series of a run (a _Class), in buffers with spare capacity.

    Readers get views of the first ``n`` points (``view``). An append writes only after them and
    then publishes a longer view; a restart that cuts published points, or a dtype change, copies
    the kept points into new buffers. So a view handed out never changes under its reader while
    the reload thread appends (copy-on-write), and appends cost O(new points). Multi-column
    values (distributions, markers) are stored column-major, so one field of a range is a
    contiguous array."""

    def __init__(self, c):
        self.kind, self.name, self.source = c.kind, c.name, c.source
        self.provenance, self.plugin_data = c.provenance, c.plugin_data
        self.width = 1 if c.kind == "scalar" else _md.data_length(c.plugin_data)
        self.uid = next(_UIDS)  # identity of this store's content, with `generation`
        self.generation = 0  # +1 whenever published points are cut (a restart)
        self.n = 0
        self._steps = np.zeros(0, np.int64)
        self._walls = np.zeros(0, np.float64)
        self._vals = np.zeros((self.width, 0)) if self.width > 1 else np.zeros(0, np.float32)
        self.first_step = None
        self.last_step = None

    def view(self):
        """(steps, wall_times, values) of the published points; values are (n,) for scalars, an
        (n, width) view of column-major storage otherwise."""
        n = self.n
        vals = self._vals[:, :n].T if self.width > 1 else self._vals[:n]
        return self._steps[:n], self._walls[:n], vals

    def _realloc(self, capacity, keep, dtype):
        """New buffers of `capacity` points holding the first `keep` points."""
        steps = np.empty(capacity, np.int64)
        walls = np.empty(capacity, np.float64)
        steps[:keep] = self._steps[:keep]
        walls[:keep] = self._walls[:keep]
        if self.width > 1:
            vals = np.empty((self.width, capacity), np.float64)
            vals[:, :keep] = self._vals[:, :keep]
        else:
            vals = np.empty(capacity, dtype)
            vals[:keep] = self._vals[:keep]
        self._steps, self._walls, self._vals = steps, walls, vals

    def append(self, steps, walls, values):
        """Points in file order (values (k,) or (k, width)). Applies the restart rule, keeps steps
        strictly increasing."""
        if steps.size == 0:
            return
        # Point i survives the batch iff every later point of the batch has a larger step.
        sufmin = np.minimum.accumulate(steps[::-1])[::-1]
        keep = np.empty(steps.size, dtype=bool)
        keep[-1] = True
        np.less(steps[:-1], sufmin[1:], out=keep[:-1])
        if not keep.all():
            steps, walls, values = steps[keep], walls[keep], values[keep]
        first = int(steps[0])
        kept = self.n
        if self.n and first <= self.last_step:
            kept = int(np.searchsorted(self._steps[:self.n], first, side="left"))
        k = int(steps.size)
        need = kept + k
        dtype = self._vals.dtype if self.width > 1 else np.result_type(self._vals.dtype, values.dtype)
        if kept < self.n or need > self._steps.size or dtype != self._vals.dtype:
            # The first append is sized exactly (a cold index holds no spare room); later growth
            # is geometric. Untouched spare room of a large buffer is not resident memory.
            capacity = need if self.n == 0 else max(need, self.n + self.n // 2 + 1024)
            if kept < self.n:
                self.generation += 1
            self._realloc(capacity, kept, dtype)
        self._steps[kept:need] = steps
        self._walls[kept:need] = walls
        if self.width > 1:
            self._vals[:, kept:need] = values.T
        else:
            self._vals[kept:need] = values
        self.n = need
        if kept == 0:
            self.first_step = first
        self.last_step = int(steps[-1])

    def nbytes(self):
        """Bytes of the published points."""
        return self.n * (16 + self._vals.dtype.itemsize * self.width)


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

    __slots__ = ("length", "step_len", "tag", "meta", "simple", "dtype", "nelem", "voff", "vlen",
                 "const_ranges", "var_positions", "crc_tables", "rep", "rep_crc")


def _walk(data, step_len):
    """Returns a _Template for an Event `data` with one Summary.Value holding a float tensor or a
    legacy ``simple_value``, or None if the record is anything else (then protobuf parses it)."""
    try:
        L = len(data)
        if L < 12 or data[0] != 0x09:
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
        slen, pos = _varint(data, pos + 1)
        if pos + slen != L or data[pos] != 0x0A:
            return None
        vlen_, pos = _varint(data, pos + 1)
        if pos + vlen_ != L:
            return None
        tag = meta = None
        tensor = simple = None
        while pos < L:
            key, pos = _varint(data, pos)
            if key == 0x15 and simple is None:  # field 2, fixed32: a legacy simple_value
                simple = pos
                pos += 4
                continue
            if key & 7 != 2:
                return None
            ln, p2 = _varint(data, pos)
            end = p2 + ln
            if end > L:
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
        if pos != L or tag is None or (tensor is None) == (simple is None):
            return None
        if simple is not None:
            return _template(data, L, step_len, tag, meta, np.dtype("<f4"), 1, simple, 4, True)
        pos, tend = tensor
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
        if dtype == 1:
            np_dtype = np.dtype("<f4")
        elif dtype == 2:
            np_dtype = np.dtype("<f8")
        else:
            return None
        field, voff, vlen = value
        if (field == 5 and dtype != 1) or (field == 6 and dtype != 2):
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
        if nelem < 1 or vlen != nelem * np_dtype.itemsize:
            return None
        return _template(data, L, step_len, tag, meta, np_dtype, nelem, voff, vlen, False)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    except Exception:  # a malformed shape proto, etc.: leave it to the slow path
        return None


def _template(data, L, step_len, tag, meta, np_dtype, nelem, voff, vlen, simple):
    """The _Template of the record `data` whose only value is at [voff, voff + vlen)."""
    t = _Template()
    t.length, t.step_len, t.tag, t.meta, t.simple = L, step_len, tag, meta, simple
    t.dtype, t.nelem, t.voff, t.vlen = np_dtype, nelem, voff, vlen
    var = [(1, 9)]
    if step_len:
        var.append((10, 10 + step_len))
    var.append((voff, voff + vlen))
    const, prev = [], 0
    for a, b in var:
        if a > prev:
            const.append((prev, a))
        prev = b
    if prev < L:
        const.append((prev, L))
    t.const_ranges = const
    t.var_positions = [p for a, b in var for p in range(a, b)]
    t.crc_tables, t.var_positions = _crc_contribution_tables(L, t.var_positions)
    t.rep = np.frombuffer(bytes(data), dtype=np.uint8)
    t.rep_crc = _crc32c(bytes(data))
    return t


# ----------------------------------------------------------------------------------------------
# Framing


_MAX_RECORD = 1 << 31
# A header (with a valid CRC) claiming more than this is implausible for an event: counted and
# skipped (the reader searches on after it) instead of waiting forever for the bytes to arrive.
MAX_RECORD_BYTES = 256 << 20
_ZERO_LENGTH_CRC = np.uint32(_masked_crc32c(bytes(8)))  # a zero length field's header CRC
_RESYNC_WINDOW = 1 << 20


def _header_crc_ok(arr, offs, lens):
    if offs.size == 0:
        return np.ones(0, dtype=bool)
    stored = (arr[offs + 8].astype(np.uint32) | (arr[offs + 9].astype(np.uint32) << _U8)
              | (arr[offs + 10].astype(np.uint32) << np.uint32(16))
              | (arr[offs + 11].astype(np.uint32) << np.uint32(24)))
    top = int(lens.max())
    if top < (1 << 22):  # a lookup table by length (no sort)
        table = np.zeros(top + 1, dtype=np.uint32)
        present = np.zeros(top + 1, dtype=bool)
        present[lens] = True
        for x in np.flatnonzero(present).tolist():
            table[x] = _masked_crc32c(struct.pack("<Q", x))
        return stored == table[lens]
    ulens, inv = np.unique(lens, return_inverse=True)
    exp = np.array([_masked_crc32c(struct.pack("<Q", int(x))) for x in ulens], dtype=np.uint32)
    return stored == exp[inv]


def _u32_at(arr, pos):
    """Little-endian uint32 at each byte position in `pos` (an int64 array)."""
    return (arr[pos].astype(np.uint32) | (arr[pos + 1].astype(np.uint32) << _U8)
            | (arr[pos + 2].astype(np.uint32) << np.uint32(16))
            | (arr[pos + 3].astype(np.uint32) << np.uint32(24)))


def _resync(arr, start):
    """First position >= start holding a record header with a valid CRC, or None.

    Vectorised per 1 MiB window: a window of zero bytes is skipped with one count; elsewhere
    only positions whose length field is < 2**32 (its high four bytes zero) are candidates, of
    those the ones that are twelve zero bytes are dropped (a zero length has a non-zero CRC),
    and only the rest get their header CRC computed. Random bytes leave about one candidate in
    2**32 positions, so a corrupt or zero-filled stretch is skipped at memory speed."""
    n = arr.size
    p = start
    while p + 12 <= n:
        hi = min(n - 12, p + _RESYNC_WINDOW - 1)  # candidate positions p..hi
        m = hi - p + 1
        if not np.count_nonzero(arr[p:hi + 12]):
            p = hi + 1
            continue
        cand = np.flatnonzero(arr[p + 7:p + 7 + m] == 0)  # the length's top byte (1 in 256)
        if cand.size:
            cand += p
            cand = cand[_u32_at(arr, cand + 4) == 0]  # its high four bytes
        if cand.size:
            lens = _u32_at(arr, cand)
            ok = (lens != 0) | (_u32_at(arr, cand + 8) == _ZERO_LENGTH_CRC)
            cand, lens = cand[ok], lens[ok]
            if cand.size:
                hit = np.flatnonzero(_header_crc_ok(arr, cand, lens.astype(np.int64)))
                if hit.size:
                    return int(cand[hit[0]])
        p = hi + 1
    return None


def _frame_lengths(buf, pos, arr=None):
    """Follows the length fields from pos while whole records fit in buf (CRCs not checked).

    Equivalent to the plain loop `while fits: record at pos; pos += 16 + length`, but when the
    last records repeat with a period of p lengths (interleaved tags), the next cycles are
    checked in bulk: the length fields at the positions the loop would visit if the pattern held
    are read with strided numpy views, and the records up to the first deviation accepted. By
    induction those are exactly the positions the loop would have visited. With `arr` (buf as
    uint8), it stops before a bulk step when a header of the last plain batch has a wrong CRC:
    the caller resyncs there anyway (and a zero-filled stretch, which repeats 16-byte "records",
    is not framed in bulk)."""
    n = len(buf)
    unpack = struct.Struct("<Q").unpack_from
    offs_parts, lens_parts = [], []
    while True:
        offs, lens = [], []
        oa, la = offs.append, lens.append
        full = False
        while len(offs) < 48:
            if pos + 12 > n:
                full = True
                break
            L = unpack(buf, pos)[0]
            end = pos + 16 + L
            if end > n:
                full = True
                break
            oa(pos)
            la(L)
            pos = end
        offs_parts.append(np.array(offs, dtype=np.int64))
        lens_parts.append(np.array(lens, dtype=np.int64))
        if full:
            break
        if arr is not None and not _header_crc_ok(arr, offs_parts[-1], lens_parts[-1]).all():
            break
        period = None
        for p in range(1, 17):
            if lens[-p:] == lens[-2 * p:-p]:
                period = p
                break
        if period is None:
            continue
        pat = np.array(lens[-period:], dtype=np.int64)
        rel = np.concatenate([[0], np.cumsum(pat + 16)])
        cycle = int(rel[-1])
        rel = rel[:-1]
        k_try = 64
        while True:
            k = min(k_try, (n - pos) // cycle)
            if k < 1:
                break
            got = np.empty((k, period), dtype=np.int64)
            for j in range(period):
                got[:, j] = np.ndarray((k,), dtype="<u8", buffer=buf, offset=pos + int(rel[j]),
                                       strides=(cycle,))
            bad = np.flatnonzero((got != pat[None, :]).ravel())
            m = int(bad[0]) if bad.size else k * period
            if m:
                starts = (pos + np.arange(k, dtype=np.int64)[:, None] * cycle + rel[None, :]).ravel()[:m]
                offs_parts.append(starts)
                lens_parts.append(np.tile(pat, k)[:m])
                pos = int(starts[-1]) + 16 + int(lens_parts[-1][-1])
            if bad.size or k < k_try:
                break
            k_try *= 4
    return np.concatenate(offs_parts), np.concatenate(lens_parts), pos


def _frame(buf, arr, lost=False):
    """Splits buf into complete records. Returns (offsets, lengths, end, corrupt_headers,
    implausible_lengths, lost): records [offsets[i], offsets[i]+16+lengths[i]); bytes from `end`
    on are an incomplete record to retry later. A header with a wrong CRC, and one claiming more
    than MAX_RECORD_BYTES, are counted and the search goes on after them (_resync); `lost` says
    that the search reached the end of buf, so that the next buffer (passing it back) does not
    count the same corrupt stretch again."""
    n = len(buf)
    unpack = struct.Struct("<Q").unpack_from
    offs_all, lens_all = [], []
    pos = 0
    corrupt = implausible = 0
    while True:
        o, ln, pos = _frame_lengths(buf, pos, arr)
        ok = _header_crc_ok(arr, o, ln)
        bad = np.flatnonzero(~ok)
        if bad.size:
            k = int(bad[0])
            offs_all.append(o[:k])
            lens_all.append(ln[:k])
            pos = int(o[k])
            lost = lost and k == 0
            corrupt += not (lost and pos == 0)
        else:
            offs_all.append(o)
            lens_all.append(ln)
            lost = lost and not o.size
            if pos + 12 > n:
                break
            # An incomplete record, a corrupt header, or a valid one claiming an implausible length?
            L = unpack(buf, pos)[0]
            if _masked_crc32c(buf[pos:pos + 8]) != struct.unpack_from("<I", buf, pos + 8)[0]:
                corrupt += not (lost and pos == 0)
            elif L > MAX_RECORD_BYTES:
                implausible += 1
            else:
                lost = False
                break
        q = _resync(arr, pos + 1)
        if q is None:
            # Nothing valid after it: skip all but a possible partial header at the very end.
            pos = max(pos + 1, n - 11)
            lost = True
            break
        pos = q
        lost = False
    return np.concatenate(offs_all), np.concatenate(lens_all), pos, corrupt, implausible, lost


def _gather(arr, starts, cols):
    """uint8 matrix (len(starts), len(cols)) of arr[starts[i] + cols[j]]."""
    starts = np.asarray(starts, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    k = starts.size
    if k == 0:
        return np.zeros((0, cols.size), dtype=np.uint8)
    if k > 1:
        d = np.diff(starts)
        if d[0] > 0 and (d == d[0]).all():
            v = np.lib.stride_tricks.as_strided(
                arr[starts[0]:], shape=(k, int(cols.max()) + 1), strides=(int(d[0]), 1),
                writeable=False)
            return v[:, cols]
    out = np.empty((k, cols.size), dtype=np.uint8)
    step = max(1, (1 << 22) // max(1, cols.size))
    for a in range(0, k, step):
        b = min(k, a + step)
        out[a:b] = arr[starts[a:b, None] + cols[None, :]]
    return out


def _range_equal(arr, starts, a, b, ref):
    """Rows whose bytes [a, b) after each start equal ref."""
    k = starts.size
    if k > 1:
        d = np.diff(starts)
        if d[0] > 0 and (d == d[0]).all():
            v = np.lib.stride_tricks.as_strided(
                arr[starts[0] + a:], shape=(k, b - a), strides=(int(d[0]), 1), writeable=False)
            return (v == ref).all(axis=1)
    return (_gather(arr, starts, np.arange(a, b)) == ref).all(axis=1)


# ----------------------------------------------------------------------------------------------
# The index


class _File:
    """One event file of a run: where reading goes on (``offset``), and what tells that the file
    was replaced or rewritten since (device and inode, size and mtime seen at the last read, its
    first bytes and the 16 bytes before ``offset``)."""

    __slots__ = ("offset", "dev", "ino", "size", "mtime", "head", "tail", "lost")

    def __init__(self, dev=None, ino=None):
        self.offset, self.dev, self.ino = 0, dev, ino
        self.lost = False  # reading stopped inside a corrupt stretch (see _frame)
        self.size, self.mtime = -1, None
        self.head = self.tail = b""


class _Run:
    """What the reload side knows of one run (a directory holding event files)."""

    def __init__(self, path):
        self.path = path
        self.files = {}  # file name -> _File
        self.tag_class = {}  # tag -> _Class of its first metadata (for events without metadata)
        self.stores = {}  # (kind, name, source) -> _Store
        self.corrupt = 0
        self.skipped = {}  # reason -> number of values (or headers) skipped for it
        self.problems = {}  # file name -> (reason, error) of a file not read now
        self.changed = True  # something not published yet

    def count(self, reason, n=1):
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n
            self.changed = True

    def problem(self, name, reason, error):
        if self.problems.get(name) != (reason, error):
            self.problems[name] = (reason, error)
            self.changed = True

    def clear_problem(self, name):
        if self.problems.pop(name, None) is not None:
            self.changed = True


class _Class:
    """What the summaries of one metadata hold: kind ('scalar', 'distribution' or 'marker'), the
    series name, source ('tb_batch', 'scalars' or 'simple_value'), provenance, plugin data."""

    __slots__ = ("kind", "name", "source", "provenance", "plugin_data")

    def __init__(self, kind, name, source, provenance=_md.PROVENANCE_LOGGED, plugin_data=None):
        self.kind, self.name, self.source = kind, name, source
        self.provenance, self.plugin_data = provenance, plugin_data

    @property
    def key(self):
        return (self.kind, self.name, self.source)


class _Skip:
    """Why the values of one metadata are skipped (counted per run under ``reason``)."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


def _classify(tag, meta_bytes):
    """The _Class of the values of `tag` written with SummaryMetadata `meta_bytes`; None for
    summaries that hold no scalar or tb_batch data (images, histograms, text, ...); a _Skip for
    tb_batch data this reader cannot read."""
    from tensorboard.compat.proto import summary_pb2
    try:
        m = summary_pb2.SummaryMetadata.FromString(meta_bytes)
    except Exception:
        return _Skip("malformed_metadata")
    plugin = m.plugin_data.plugin_name
    try:
        if plugin == _md.PLUGIN_NAME:
            pd = _md.parse_plugin_data(m.plugin_data.content)
            kind = _md.KIND_NAMES[pd.kind]
            if pd.kind == _md.KIND_SCALAR:  # version 1: every value tb-batch wrote
                return _Class("scalar", tag, "tb_batch", _md.PROVENANCE_EXACT, pd)
            if pd.kind == _md.KIND_DISTRIBUTION:
                return _Class("distribution", _md.distribution_name(tag), "tb_batch", plugin_data=pd)
            if pd.kind in (_md.KIND_SAMPLES, _md.KIND_PER_CLASS):  # named by tag: per output
                return _Class(kind, tag, "tb_batch", plugin_data=pd)
            return _Class("marker", kind, "tb_batch", plugin_data=pd)
        if plugin == _md.SCALARS_PLUGIN_NAME:
            pd = _md.parse_scalars_content(m.plugin_data.content)
            if pd is None:
                return _Class("scalar", tag, "scalars")
            return _Class("scalar", tag, "tb_batch", pd.provenance, pd)
    except ValueError as e:
        return _Skip("newer_version" if "newer" in str(e) else "malformed_metadata")
    return None


_SIMPLE_VALUE = object()  # the metadata key of legacy simple_value points


class _Pieces:
    """Decoded points of one read, per (tag, metadata bytes or None or _SIMPLE_VALUE), with
    their record index (file order)."""

    def __init__(self):
        self.points = {}  # (tag, meta) -> list of (rec_idx, steps, walls, values2d)
        self.meta = {}  # tag -> (rec_idx, SummaryMetadata bytes) of its first metadata

    def add(self, tag, meta, rec, steps, walls, values):
        self.points.setdefault((tag, meta), []).append((rec, steps, walls, values))

    def add_meta(self, tag, rec, meta_bytes):
        cur = self.meta.get(tag)
        if cur is None or rec < cur[0]:
            self.meta[tag] = (rec, meta_bytes)


def _is_remote(path):
    return "://" in path


def _gfile():
    from tensorboard.compat import tf
    return tf.io.gfile


def _display_name(name):
    """A file or directory name as TensorBoard shows it: bytes that are not UTF-8 (kept by
    os.scandir as surrogate escapes) become U+FFFD, as TensorBoard's data server names them."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_FILE_TYPES = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory"))


def _file_type(mode):
    return next((name for test, name in _FILE_TYPES if test(mode)), "not a regular file")


def _os_error(e):
    return e.strerror or type(e).__name__


def release_freed_memory():
    """Gives heap pages freed by a large read back to the OS (glibc keeps them otherwise, and
    the process would stay at its peak size); no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass

class _NotRegular(OSError):
    """Raised by _open_regular for a path that is not a regular file (message: its type)."""


def _open_regular(path):
    """A read-only descriptor of the regular file at `path`. Opened non-blocking (a FIFO put in
    place after the caller's stat must not block the open) and checked with fstat."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _NotRegular(_file_type(mode))
    return fd


class _SeriesView:
    """One series as published: immutable numpy views and what identifies their content."""

    __slots__ = ("kind", "name", "source", "provenance", "plugin_data", "steps", "walls", "values", "key")

    def __init__(self, st):
        self.kind, self.name, self.source = st.kind, st.name, st.source
        self.provenance, self.plugin_data = st.provenance, st.plugin_data
        self.steps, self.walls, self.values = st.view()
        self.key = (st.uid, st.generation, st.n)  # appends only grow n


class _RunView:
    """One run as published (see IndexSnapshot)."""

    __slots__ = ("series", "skipped", "files", "corrupt", "version", "memo")

    def __init__(self, series, skipped, files, corrupt, version):
        self.series, self.skipped, self.files = series, skipped, files
        self.corrupt, self.version = corrupt, version
        self.memo = {}  # derived values (series list, evaluations), computed on first use


class IndexSnapshot:
    """The index at one moment: what all reads of one request see. Never changes; the reload
    publishes a new snapshot (``LogdirIndex.snapshot()``), so readers need no lock and are
    never blocked by reading."""

    def __init__(self, runs, problems, loading, version):
        self._runs = runs  # name -> _RunView
        self.problems = problems  # [{path, reason, error}] of the logdir, not of a run
        self.loading = loading  # True until the first reload has read every file
        self.version = version  # changes whenever anything published changes

    def runs(self):
        """Run names (directories holding event files, relative to the logdir; '.' for it)."""
        return sorted(self._runs)

    def _run(self, run):
        r = self._runs.get(run) if isinstance(run, str) else None
        if r is None:
            raise UnknownKey("unknown run %r" % (run,))
        return r

    def run_version(self, run):
        """A number that changes whenever anything of the run changes."""
        return self._run(run).version

    def _view(self, run, tag, kind, source=None):
        r = self._run(run)
        for src in (source,) if source is not None else SOURCES:
            v = r.series.get((kind, tag, src))
            if v is not None:
                return v
        raise UnknownKey("unknown %s tag %r in run %r" % (kind, tag, run))

    def series_key(self, run, tag, kind, source=None):
        """(store id, generation, count): identifies the content of a series; a longer count with
        the same id and generation is the same points plus appended ones."""
        return self._view(run, tag, kind, source).key

    def series(self, run):
        """[SeriesInfo] of a run's scalar and distribution series with at least one point, by tag
        (the same tag from two writers is two series, told apart by ``source``)."""
        r = self._run(run)
        out = r.memo.get("series")
        if out is None:
            views = sorted((v for (kind, _, _), v in r.series.items() if kind in ("scalar", "distribution")),
                           key=lambda v: (v.name, v.kind, SOURCES.index(v.source)))
            out = r.memo["series"] = [
                SeriesInfo(v.name, v.kind, v.source, _md.PROVENANCE_NAMES[v.provenance], len(v.steps),
                           int(v.steps[0]), int(v.steps[-1])) for v in views]
        return list(out)

    def tags(self, run):
        """{tag: 'scalar' | 'distribution'} of a run's series (for a tag that two writers wrote,
        the kind of the one ``scalars``/``distributions`` return without a ``source``)."""
        out = {}
        for info in self.series(run):
            out.setdefault(info.tag, info.kind)
        return out

    def scalars(self, run, tag, source=None):
        """The ScalarSeries of `tag`: tb-batch's if it wrote one, else the one other writer's
        (``source`` picks one: 'tb_batch', 'scalars' or 'simple_value')."""
        v = self._view(run, tag, "scalar", source)
        return ScalarSeries(v.steps, v.values, v.walls)

    def distributions(self, run, tag):
        v = self._view(run, tag, "distribution")
        pd = v.plugin_data
        return DistributionSeries(v.steps, v.walls, v.values, list(pd.quantile_probs), pd.num_bins)

    def samples(self, run):
        """The SampleSeries of a run: the highest-loss samples of each recorded step."""
        v = self._view(run, _md.SAMPLES_TAG, "samples")
        return SampleSeries(v.steps, v.walls, v.values, v.plugin_data.fields, v.plugin_data.num_samples)

    def per_class(self, run, output=None):
        """The PerClassSeries of a run (of one output's classes, for a model with several)."""
        tag = _md.PER_CLASS_TAG + ("" if output is None else "/" + output)
        v = self._view(run, tag, "per_class")
        return PerClassSeries(v.steps, v.walls, v.values, v.plugin_data.num_classes)

    def per_class_outputs(self, run):
        """The outputs with per-class losses in a run (None for a model's single output)."""
        tags = sorted(tag for (kind, tag, _) in self._run(run).series if kind == "per_class")
        return [None if t == _md.PER_CLASS_TAG else t[len(_md.PER_CLASS_TAG) + 1:] for t in tags]

    def hardest(self, run, start=None, end=None, top=50):
        """The samples most often among their batch's highest losses in steps [start, end] (see
        ``sample_series.hardest``)."""
        return hardest_samples(self.samples(run), start, end, top)

    def markers(self, run, kind):
        """The MarkerSeries of marker `kind` ('fit', 'epoch' or 'evaluation'; see metadata),
        empty when the run has none."""
        code = {name: k for k, name in _md.KIND_NAMES.items()}[kind]
        v = self._run(run).series.get(("marker", kind, "tb_batch"))
        if v is None:
            steps, walls, vals = np.zeros(0, np.int64), np.zeros(0), np.zeros((0, len(_md.MARKER_FIELDS[code])))
        else:
            steps, walls, vals = v.steps, v.walls, v.values
        return MarkerSeries(steps, walls, dict(zip(_md.MARKER_FIELDS[code], vals.astype(np.int64).T)))

    def evaluations(self, run):
        """The evaluations of a validation run, from its evaluation markers: a list of
        {first_step, last_step, count, train_step, epoch} (epoch None outside fit; last_step None
        when no step of it was recorded). Each evaluation holds the run's steps from its marker
        up to the next marker."""
        r = self._run(run)
        out = r.memo.get("evaluations")
        if out is None:
            out = r.memo["evaluations"] = self._evaluations(run, r)
        return [dict(e) for e in out]

    def _evaluations(self, run, r):
        m = self.markers(run, "evaluation")
        if not len(m.steps):
            return []
        parts = [v.steps for (kind, _, source), v in r.series.items() if kind != "marker" and source == "tb_batch"]
        steps = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        bounds = np.searchsorted(steps, np.append(m.steps, np.iinfo(np.int64).max))
        out = []
        for i, first in enumerate(m.steps.tolist()):
            inside = steps[bounds[i]:bounds[i + 1]]
            epoch = int(m.fields["epoch"][i])
            out.append({"first_step": first, "last_step": int(inside[-1]) if inside.size else None,
                        "count": int(inside.size), "train_step": int(m.fields["train_step"][i]),
                        "epoch": epoch if epoch >= 0 else None})
        return out

    def skipped(self, run):
        """{reason: count} of what was skipped in a run: 'corrupt_records' (bad CRC or framing,
        or not parseable), 'implausible_length' (a record header claiming more than
        MAX_RECORD_BYTES; reading goes on after it), 'newer_version' (tb_batch data of a newer
        contract), 'malformed_metadata', 'bad_shape' (a value whose shape does not fit its
        series), and files not read now: 'unreadable_file', 'not_a_regular_file' (see
        ``skipped_files``)."""
        return dict(self._run(run).skipped)

    def skipped_files(self, run):
        """[{file, reason, error}] of the run's event files not read now: reason 'unreadable_file'
        (error: the OS error, e.g. 'Permission denied') or 'not_a_regular_file' (error: 'FIFO',
        'socket', 'character device', ...; such files are never opened)."""
        return [dict(f) for f in self._run(run).files]

    @property
    def corrupt_records(self):
        """Records skipped because their CRC (or framing) was wrong, or they did not parse."""
        return sum(r.corrupt for r in self._runs.values())

    @property
    def skipped_values(self):
        """Values skipped because they did not fit their series or could not be read."""
        return sum(n for r in self._runs.values() for k, n in r.skipped.items()
                   if k in ("newer_version", "malformed_metadata", "bad_shape"))

    def nbytes(self):
        """Bytes held by the numpy columns of the published points."""
        return sum(len(v.steps) * (16 + v.values.dtype.itemsize * (v.values.shape[1] if v.values.ndim > 1 else 1))
                   for r in self._runs.values() for v in r.series.values())


class LogdirIndex:
    """Index of every scalar and tb_batch summary under a log directory (see module docstring).

    ``reload()`` reads what is new and publishes a new IndexSnapshot; the query methods read
    the latest snapshot (``snapshot()`` gives one to hold for several consistent reads). Reads
    never wait for a reload; one reload runs at a time."""

    # Read at most this many new bytes of one file at a time.
    chunk_bytes = 256 << 20
    # After a reload that read this many bytes, give freed heap pages back to the OS.
    trim_after_bytes = 32 << 20

    def __init__(self, logdir):
        self.logdir = logdir
        self._runs = {}  # name -> _Run (reload side)
        self._classes = {}  # (tag, metadata bytes) -> _classify result
        self._reload_lock = threading.Lock()
        self._version = 0
        self._snap = IndexSnapshot({}, [], True, 0)
        self.bytes_read = 0  # by the last reload

    # -- public API: the latest snapshot (see IndexSnapshot for what each method returns) ------

    def snapshot(self):
        """The latest published IndexSnapshot."""
        return self._snap

    def runs(self):
        return self._snap.runs()

    def series(self, run):
        return self._snap.series(run)

    def tags(self, run):
        return self._snap.tags(run)

    def scalars(self, run, tag, source=None):
        return self._snap.scalars(run, tag, source)

    def distributions(self, run, tag):
        return self._snap.distributions(run, tag)

    def markers(self, run, kind):
        return self._snap.markers(run, kind)

    def samples(self, run):
        return self._snap.samples(run)

    def per_class(self, run, output=None):
        return self._snap.per_class(run, output)

    def per_class_outputs(self, run):
        return self._snap.per_class_outputs(run)

    def hardest(self, run, start=None, end=None, top=50):
        return self._snap.hardest(run, start, end, top)

    def evaluations(self, run):
        return self._snap.evaluations(run)

    def skipped(self, run):
        return self._snap.skipped(run)

    def skipped_files(self, run):
        return self._snap.skipped_files(run)

    @property
    def corrupt_records(self):
        return self._snap.corrupt_records

    @property
    def skipped_values(self):
        return self._snap.skipped_values

    def nbytes(self):
        return self._snap.nbytes()

    def reload(self):
        """Finds new, deleted and changed runs and files, reads the bytes appended since the last
        reload, and publishes each run as soon as it is read. A run with a file that was deleted,
        replaced (another inode), truncated or rewritten is read again from the start, and
        published when complete (until then the previous snapshot of it is served)."""
        with self._reload_lock:
            self.bytes_read = 0
            found, problems = self._discover()
            views = dict(self._snap._runs)
            for name, path, files in found:
                r = self._runs.get(name)
                if r is None or r.path != path or self._rewritten(r, files):
                    r = self._runs[name] = _Run(path)
                for f in files:
                    self._read_file(r, f)
                for gone in [f for f in r.problems if f not in files]:
                    r.clear_problem(gone)
                if r.changed or name not in views:
                    views[name] = self._run_view(r)
                    r.changed = False
                    self._publish(views, self._snap.problems, self._snap.loading)
            names = {name for name, _, _ in found}
            for name in [n for n in self._runs if n not in names]:
                del self._runs[name]
                views.pop(name, None)
            if (len(views) != len(self._snap._runs) or problems != self._snap.problems
                    or self._snap.loading):
                self._publish(views, problems, False)
            if self.bytes_read >= self.trim_after_bytes:
                release_freed_memory()
        return self

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self, views, problems, loading):
        self._version += 1
        self._snap = IndexSnapshot(dict(views), problems, loading, self._version)

    def _run_view(self, r):
        series = {key: _SeriesView(st) for key, st in r.stores.items() if st.n}
        skipped = dict(r.skipped)
        if r.corrupt:
            skipped["corrupt_records"] = r.corrupt
        files = []
        for name, (reason, error) in sorted(r.problems.items()):
            skipped[reason] = skipped.get(reason, 0) + 1
            files.append({"file": _display_name(name), "reason": reason, "error": error})
        self._version += 1
        return _RunView(series, skipped, files, r.corrupt, self._version)

    # -- discovery -----------------------------------------------------------------------------

    def _discover(self):
        """([(run name, directory, [event file names])], [logdir problems])."""
        if _is_remote(self.logdir):
            return self._discover_remote(), []
        return self._discover_local()

    def _discover_remote(self):
        logdir = self.logdir
        gf = _gfile()
        if not gf.isdir(logdir):
            return []
        found = []
        for dirpath, _dirs, files in gf.walk(logdir):
            ev = sorted(f for f in files if "tfevents" in f)
            if ev:
                found.append((dirpath[len(logdir):].strip("/") or ".", dirpath, ev))
        found.sort()
        return found

    def _discover_local(self):
        """Walks the logdir following symbolic links to directories, as TensorBoard's loader
        does, except a link back to a directory on the way down (a loop)."""
        root = self.logdir
        try:
            st = os.stat(root)
        except OSError:
            return [], []
        if not stat.S_ISDIR(st.st_mode):
            return [], []
        found, problems, names = [], [], set()
        stack = [(root, "", frozenset([(st.st_dev, st.st_ino)]))]
        while stack:
            path, rel, ancestors = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = list(it)
            except OSError as e:
                problems.append({"path": _display_name(rel) or ".", "reason": "unreadable_directory",
                                 "error": _os_error(e)})
                continue
            files, subdirs = [], []
            for e in entries:
                try:
                    is_dir = e.is_dir()  # follows a symbolic link
                    ident = e.stat() if is_dir else None
                except OSError:
                    is_dir = False
                if is_dir:
                    key = (ident.st_dev, ident.st_ino)
                    if key not in ancestors:
                        subdirs.append((e.path, rel + "/" + e.name if rel else e.name, ancestors | {key}))
                elif "tfevents" in e.name:
                    files.append(e.name)
            if files:
                name = _display_name(rel) if rel else "."
                if name in names:  # two names that differ only in bytes that are not UTF-8
                    problems.append({"path": name, "reason": "duplicate_name",
                                     "error": "another directory has the same name once decoded"})
                else:
                    names.add(name)
                    found.append((name, path, sorted(files)))
            stack.extend(sorted(subdirs, key=lambda s: s[1], reverse=True))
        found.sort()
        return found, problems

    # -- reading files -------------------------------------------------------------------------

    def _rewritten(self, r, files):
        """Whether a file of the run was deleted, replaced, truncated or rewritten since it was
        read (its points cannot be told apart from the others': the run is read again)."""
        if any(name not in files for name in r.files):
            return True
        if _is_remote(r.path):
            gf = _gfile()
            for name, f in r.files.items():
                try:
                    if gf.stat(r.path.rstrip("/") + "/" + name).length < f.offset:
                        return True
                except Exception:
                    return True
            return False
        for name, f in r.files.items():
            full = os.path.join(r.path, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                return True
            except OSError:
                continue  # cannot tell: keep what was read
            if (not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (f.dev, f.ino)
                    or st.st_size < f.offset):
                return True
            if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime) and not self._same_bytes(full, f):
                return True
        return False

    @staticmethod
    def _same_bytes(full, f):
        """Whether the file still starts with, and still has before ``offset``, the bytes read."""
        try:
            fd = _open_regular(full)
        except OSError:
            return True
        try:
            return (os.pread(fd, len(f.head), 0) == f.head
                    and os.pread(fd, len(f.tail), f.offset - len(f.tail)) == f.tail)
        except OSError:
            return True
        finally:
            os.close(fd)

    def _read_file(self, r, name):
        if _is_remote(r.path):
            return self._read_remote(r, name)
        full = os.path.join(r.path, name)
        try:
            st = os.stat(full)
        except OSError as e:
            return r.problem(name, "unreadable_file", _os_error(e))
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open: never open one
            return r.problem(name, "not_a_regular_file", _file_type(st.st_mode))
        f = r.files.get(name)
        if f is not None and (st.st_size, st.st_mtime_ns) == (f.size, f.mtime):
            return r.clear_problem(name)
        try:
            fd = _open_regular(full)
        except _NotRegular as e:
            return r.problem(name, "not_a_regular_file", str(e))
        except OSError as e:
            return r.problem(name, "unreadable_file", _os_error(e))
        try:
            fst = os.fstat(fd)
            if f is None:
                f = r.files[name] = _File(fst.st_dev, fst.st_ino)
            elif (fst.st_dev, fst.st_ino) != (f.dev, f.ino):
                return  # replaced since the check: the next reload reads the run again
            r.clear_problem(name)
            self._read_new(r, f, lambda n, at: os.pread(fd, n, at), fst.st_size)
            f.size, f.mtime = fst.st_size, fst.st_mtime_ns
        except OSError as e:
            r.problem(name, "unreadable_file", _os_error(e))
        finally:
            os.close(fd)

    def _read_remote(self, r, name):
        path = r.path.rstrip("/") + "/" + name
        gf = _gfile()
        try:
            size = gf.stat(path).length
        except Exception as e:
            return r.problem(name, "unreadable_file", str(e) or type(e).__name__)
        f = r.files.get(name)
        if f is None:
            f = r.files[name] = _File()
        if size <= f.offset:
            return

        def read(n, at):
            with gf.GFile(path, "rb") as fh:
                fh.seek(at)
                return fh.read(n)

        try:
            self._read_new(r, f, read, size)
            r.clear_problem(name)
        except Exception as e:
            r.problem(name, "unreadable_file", str(e) or type(e).__name__)

    def _read_new(self, r, f, read, size):
        """Reads and indexes the complete records between f.offset and `size`."""
        offset = f.offset
        want = self.chunk_bytes
        while offset < size:
            buf = read(min(want, size - offset), offset)
            if not buf:
                break
            self.bytes_read += len(buf)
            if offset == 0:
                f.head = bytes(buf[:16])
            arr = np.frombuffer(buf, dtype=np.uint8)
            offs, lens, end, bad, implausible, f.lost = _frame(buf, arr, f.lost)
            r.corrupt += bad
            r.count("implausible_length", implausible)
            if offs.size:
                self._ingest(r, buf, arr, offs, lens)
            if end or bad:
                r.changed = True
                f.tail = (f.tail + bytes(buf[max(0, end - 16):end]))[-16:]
            offset += end
            f.offset = offset
            if offset >= size:
                break
            if end == 0 or (offs.size == 0 and not bad and not implausible):
                if len(buf) < want or want >= size:
                    break  # an incomplete record at the end of the file: retry next reload
                want *= 2  # a record larger than the chunk
            else:
                want = self.chunk_bytes

    # -- decoding ------------------------------------------------------------------------------

    def _ingest(self, r, buf, arr, offs, lens):
        pieces = _Pieces()
        k = offs.size
        rec_idx = np.arange(k)
        data = offs + 12
        # Group key: record length and step varint length (0 when the step field is absent).
        fast = lens >= 20
        step_len = np.zeros(k, dtype=np.int64)
        if fast.any():
            fi = np.flatnonzero(fast)
            head = _gather(arr, data[fi], np.arange(0, 20))
            ok = head[:, 0] == 0x09
            has_step = head[:, 9] == 0x10
            cont = head[:, 10:20] >= 0x80
            sl = np.argmin(cont, axis=1) + 1
            sl_ok = ~cont.all(axis=1)
            ok &= (~has_step) | sl_ok
            step_len[fi] = np.where(has_step, sl, 0)
            fast[fi[~ok]] = False
        slow = list(np.flatnonzero(~fast))
        fidx = np.flatnonzero(fast)
        if fidx.size:
            key = lens[fidx] * 16 + step_len[fidx]
            order = np.argsort(key, kind="stable")
            skey = key[order]
            bounds = np.flatnonzero(np.diff(skey)) + 1
            for grp in np.split(fidx[order], bounds):
                slow.extend(self._fast_group(r, arr, data[grp], int(lens[grp[0]]),
                                             int(step_len[grp[0]]), rec_idx[grp], pieces))
        for i in sorted(int(x) for x in slow):
            self._slow_record(r, buf, int(offs[i]), int(lens[i]), i, pieces)
        self._commit(r, pieces)

    def _fast_group(self, r, arr, starts, L, step_len, recs, pieces):
        """Decodes the records of one (length, step length) group; returns record indices that
        need the slow path."""
        remaining = np.arange(starts.size)
        while remaining.size:
            i0 = int(remaining[0])
            s0 = int(starts[i0])
            t = _walk(arr[s0:s0 + L].tobytes(), step_len)
            if t is None:
                return [int(recs[i]) for i in remaining]
            st = starts[remaining]
            match = np.ones(remaining.size, dtype=bool)
            for a, b in t.const_ranges:
                match &= _range_equal(arr, st, a, b, t.rep[a:b])
            idx = remaining[match]
            remaining = remaining[~match]
            self._decode_group(r, arr, starts[idx], recs[idx], t, pieces)
        return []

    def _decode_group(self, r, arr, starts, recs, t, pieces):
        L = t.length
        var = _gather(arr, starts, t.var_positions)  # (k, nvar) uint8
        # Data CRC: representative's CRC XOR each differing byte's contribution.
        x = var ^ t.rep[t.var_positions][None, :]
        crc = np.full(starts.size, t.rep_crc, dtype=np.uint32)
        nz = np.flatnonzero(x.any(axis=0))
        for j in nz:
            crc ^= t.crc_tables[j][x[:, j]]
        stored = _gather(arr, starts, np.arange(L, L + 4)).copy().view("<u4").ravel()
        good = _mask_np(crc) == stored
        if not good.all():
            r.corrupt += int((~good).sum())
            var, starts, recs = var[good], starts[good], recs[good]
            if not starts.size:
                return
        pos = {p: j for j, p in enumerate(t.var_positions)}
        walls = np.ascontiguousarray(var[:, pos[1]:pos[1] + 8]).view("<f8").ravel()
        if t.step_len:
            sb = var[:, pos[10]:pos[10] + t.step_len].astype(np.uint64)
            steps = np.zeros(starts.size, dtype=np.uint64)
            for j in range(t.step_len):
                steps |= (sb[:, j] & np.uint64(0x7F)) << np.uint64(7 * j)
            steps = steps.view(np.int64)
        else:
            steps = np.zeros(starts.size, dtype=np.int64)
        vals = np.ascontiguousarray(var[:, pos[t.voff]:pos[t.voff] + t.vlen]).view(t.dtype)
        vals = vals.reshape(starts.size, t.nelem)
        if t.meta is not None:
            pieces.add_meta(t.tag, int(recs[0]), t.meta)
        pieces.add(t.tag, _SIMPLE_VALUE if t.simple else t.meta, recs, steps, walls, vals)

    def _slow_record(self, r, buf, off, L, rec, pieces):
        data = buf[off + 12:off + 12 + L]
        if _masked_crc32c(data) != struct.unpack_from("<I", buf, off + 12 + L)[0]:
            r.corrupt += 1
            return
        from tensorboard.compat.proto import event_pb2
        try:
            ev = event_pb2.Event.FromString(data)
        except Exception:
            r.corrupt += 1
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
            if which == "simple_value":
                pieces.add(v.tag, _SIMPLE_VALUE, np.array([rec]), step, wall,
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

    def _commit(self, r, pieces):
        for tag, (_rec, meta_bytes) in pieces.meta.items():
            if tag not in r.tag_class:
                r.tag_class[tag] = self._class_of(tag, meta_bytes)
        by_store = {}
        for (tag, meta), plist in pieces.points.items():
            if meta is _SIMPLE_VALUE:
                c = _Class("scalar", tag, "simple_value")
            elif meta is not None:
                c = self._class_of(tag, meta)
            else:  # TensorBoard's rule: the tag's first metadata says what it is
                c = r.tag_class.get(tag)
            if isinstance(c, _Skip):
                r.skipped[c.reason] = r.skipped.get(c.reason, 0) + sum(len(p[0]) for p in plist)
            elif c is not None:
                by_store.setdefault(c.key, (c, []))[1].extend(plist)
        for key, (c, plist) in by_store.items():
            s = r.stores.get(key)
            if s is None:
                s = r.stores[key] = _Store(c)
            good = [p for p in plist if p[3].shape[1] == s.width]
            bad = sum(len(p[0]) for p in plist if p[3].shape[1] != s.width)
            if bad:
                r.skipped["bad_shape"] = r.skipped.get("bad_shape", 0) + bad
            if not good:
                continue
            recs = np.concatenate([p[0] for p in good])
            steps = np.concatenate([p[1] for p in good])
            walls = np.concatenate([p[2] for p in good])
            if s.kind == "scalar":
                dt = np.result_type(*[p[3].dtype for p in good])
                vals = np.concatenate([p[3][:, 0].astype(dt, copy=False) for p in good])
            else:
                vals = np.concatenate([p[3].astype(np.float64, copy=False) for p in good])
            if len(good) > 1:
                order = np.argsort(recs, kind="stable")
                steps, walls, vals = steps[order], walls[order], vals[order]
            s.append(steps, walls, vals)

    def _class_of(self, tag, meta_bytes):
        """_classify, remembered per (tag, metadata bytes): tf.summary writes the same metadata
        with every event."""
        key = (tag, meta_bytes)
        c = self._classes.get(key, self)
        if c is self:
            if len(self._classes) >= 4096:  # a bound against files with ever-new metadata
                self._classes.clear()
            c = self._classes[key] = _classify(tag, meta_bytes)
        return c


def load(logdir):
    """Indexes every tb_batch summary under `logdir` (local path or a URL TensorBoard's gfile
    supports) and returns the LogdirIndex; call ``.reload()`` later to read what was appended."""
    return LogdirIndex(logdir).reload()
