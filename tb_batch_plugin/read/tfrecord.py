"""TFRecord framing of event files: CRC32C (masked as TFRecord stores it), splitting a buffer into
complete records, and the search for the next valid header after a corrupt one.

Vectorised with numpy so that framing a million records costs no per-record Python on the usual
path. Design and figures: docs/backend.md ("Incremental", "Fast path")."""

import functools
import struct

import numpy as np

# A header (with a valid CRC) claiming more than this is implausible for an event: counted and
# skipped (the reader searches on after it) instead of waiting forever for the bytes to arrive.
MAX_RECORD_BYTES = 256 << 20

# ----------------------------------------------------------------------------------------------
# CRC32C (Castagnoli)


def _crc_table():
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint32(1)) ^ np.uint32(0x82F63B78), table >> np.uint32(1))
    return table.astype(np.uint32)


CRC_TABLE = _crc_table()
_CRC_TABLE_LIST = [int(x) for x in CRC_TABLE]
_U8 = np.uint32(8)
_FF = np.uint32(0xFF)


def crc32c(data):
    """The CRC32C of `data` (bytes), unmasked."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE_LIST
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def mask_crcs(crcs):
    """TFRecord's masking of an array of CRC32Cs (uint32)."""
    crcs = crcs.astype(np.uint32)
    return ((crcs >> np.uint32(15)) | (crcs << np.uint32(17))) + np.uint32(0xA282EAD8)


def masked_crc32c(data):
    """The CRC a TFRecord stores for `data`: its CRC32C, masked."""
    return _mask(crc32c(data))


def crc_contribution_tables(length, positions):
    """For a message of `length` bytes: table[i][b] = linear CRC contribution of byte b at
    position positions[i] (CRC32C is affine in the message for a fixed length). Returns (tables,
    the sorted distinct positions)."""
    positions = sorted(set(int(p) for p in positions))
    want = set(positions)
    out = {}
    p = CRC_TABLE.copy()
    lo = positions[0] if positions else length
    for i in range(length - 1, lo - 1, -1):
        if i in want:
            out[i] = p
        p = CRC_TABLE[p & _FF] ^ (p >> _U8)
    return [out[i] for i in positions], positions


_ROWS_BLOCK = 256  # bytes per block of crc32c_rows: its table index fits in uint16


def _zero_bytes(reg):
    """The (linear, unmasked) CRC register after one more zero byte."""
    return CRC_TABLE[reg & _FF] ^ (reg >> _U8)


@functools.lru_cache(maxsize=1)
def _rows_tables():
    """(contributions, shift): contributions[256 * p + b] is the register contribution of byte b
    at position p of a _ROWS_BLOCK-byte block (0-based from the start of a full block);
    shift[k][v] is the register (v << 8k) after _ROWS_BLOCK zero bytes."""
    tables = np.empty((_ROWS_BLOCK, 256), dtype=np.uint32)
    reg = CRC_TABLE.copy()  # byte b, then no byte after it
    for p in range(_ROWS_BLOCK - 1, -1, -1):
        tables[p] = reg
        reg = _zero_bytes(reg)
    shift = np.empty((4, 256), dtype=np.uint32)
    for k in range(4):
        reg = np.arange(256, dtype=np.uint32) << np.uint32(8 * k)
        for _ in range(_ROWS_BLOCK):
            reg = _zero_bytes(reg)
        shift[k] = reg
    return tables.ravel(), shift


@functools.lru_cache(maxsize=64)
def _zeros_crc32c(length):
    return crc32c(bytes(length))


def crc32c_rows(rows):
    """The CRC32C (unmasked) of each row of a (k, L) uint8 array, vectorised across rows.

    Why not a loop over bytes: records of several KB (per-sample dynamics) would take the
    per-byte Python of ``crc32c`` minutes per GB. CRC32C without its initial and final XOR is
    linear in the message, so a row's CRC is the CRC of L zero bytes XOR the contributions of
    its bytes; those are summed per 256-byte block from one 256 KB table (a uint16 gather), and
    the blocks chained by a table-driven shift of 256 zero bytes (~600 MB/s on one core)."""
    contributions, shift = _rows_tables()
    k, length = rows.shape
    out = np.empty(k, dtype=np.uint32)
    head = length % _ROWS_BLOCK
    blocks = ([(0, head)] if head else []) + [(a, a + _ROWS_BLOCK) for a in range(head, length, _ROWS_BLOCK)]
    offsets = np.arange(_ROWS_BLOCK, dtype=np.uint16) * np.uint16(256)
    for r in range(0, k, 256):
        part = rows[r:r + 256]
        reg = np.zeros(part.shape[0], dtype=np.uint32)
        for a, b in blocks:
            index = part[:, a:b].astype(np.uint16)
            index += offsets[_ROWS_BLOCK - (b - a):]
            block = np.bitwise_xor.reduce(np.take(contributions, index), axis=1)
            if a:
                block ^= (shift[0][reg & _FF] ^ shift[1][(reg >> _U8) & _FF]
                          ^ shift[2][(reg >> np.uint32(16)) & _FF] ^ shift[3][reg >> np.uint32(24)])
            reg = block
        out[r:r + 256] = reg
    return out ^ np.uint32(_zeros_crc32c(length))


def headers_ok(arr, offs, lengths):
    """Whether each record [offs[i], offs[i] + lengths[i]) of `arr` (uint8; lengths counting the
    16 bytes of framing) is framed so: inside arr, its length field saying so, its header CRC
    right (its data CRC is decode's to check)."""
    offs, lengths = np.asarray(offs, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    ok = (offs >= 0) & (lengths >= 16) & (offs + lengths <= arr.size)
    idx = np.flatnonzero(ok)
    if idx.size:
        fields = arr[offs[idx, None] + np.arange(8)].view("<u8").ravel()
        data_lengths = lengths[idx] - 16
        ok[idx] = (fields == data_lengths.astype(np.uint64)) & _header_crc_ok(arr, offs[idx], data_lengths)
    return ok


def rows_at(arr, starts, width):
    """(len(starts), width) uint8 rows arr[s:s + width]: a strided view when the starts are evenly
    spaced (records of one length in a row), else copied row by row."""
    gaps = np.diff(starts)
    if starts.size > 1 and gaps[0] >= width and (gaps == gaps[0]).all():
        return np.lib.stride_tricks.as_strided(arr[int(starts[0]):], shape=(starts.size, width),
                                               strides=(int(gaps[0]), 1), writeable=False)
    return np.stack([arr[s:s + width] for s in starts.tolist()]) if starts.size else np.zeros((0, width), np.uint8)


# ----------------------------------------------------------------------------------------------
# Framing

_ZERO_LENGTH_CRC = np.uint32(masked_crc32c(bytes(8)))  # a zero length field's header CRC
_RESYNC_WINDOW = 1 << 20


def _u32_at(arr, pos):
    """Little-endian uint32 at each byte position in `pos` (an int64 array)."""
    return (arr[pos].astype(np.uint32) | (arr[pos + 1].astype(np.uint32) << _U8)
            | (arr[pos + 2].astype(np.uint32) << np.uint32(16))
            | (arr[pos + 3].astype(np.uint32) << np.uint32(24)))


def _header_crc_ok(arr, offs, lens):
    """Whether the header CRC of each record at `offs` (with length fields `lens`) is right."""
    if offs.size == 0:
        return np.ones(0, dtype=bool)
    stored = _u32_at(arr, offs + 8)
    top = int(lens.max())
    if top < (1 << 22):  # a lookup table by length (no sort)
        table = np.zeros(top + 1, dtype=np.uint32)
        present = np.zeros(top + 1, dtype=bool)
        present[lens] = True
        for x in np.flatnonzero(present).tolist():
            table[x] = masked_crc32c(struct.pack("<Q", x))
        return stored == table[lens]
    ulens, inv = np.unique(lens, return_inverse=True)
    expected = np.array([masked_crc32c(struct.pack("<Q", int(x))) for x in ulens], dtype=np.uint32)
    return stored == expected[inv]


def resync(arr, start):
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


def _period(lens):
    """The smallest p <= 16 with which the last 2p lengths repeat, or None."""
    for p in range(1, 17):
        if lens[-p:] == lens[-2 * p:-p]:
            return p
    return None


def frame_lengths(buf, pos, arr=None):
    """Follows the length fields from pos while whole records fit in buf (CRCs not checked).
    Returns (offsets, lengths, end).

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
        add_offset, add_length = offs.append, lens.append
        full = False
        while len(offs) < 48:
            if pos + 12 > n:
                full = True
                break
            length = unpack(buf, pos)[0]
            end = pos + 16 + length
            if end > n:
                full = True
                break
            add_offset(pos)
            add_length(length)
            pos = end
        offs_parts.append(np.array(offs, dtype=np.int64))
        lens_parts.append(np.array(lens, dtype=np.int64))
        if full:
            break
        if arr is not None and not _header_crc_ok(arr, offs_parts[-1], lens_parts[-1]).all():
            break
        period = _period(lens)
        if period is None:
            continue
        pattern = np.array(lens[-period:], dtype=np.int64)
        rel = np.concatenate([[0], np.cumsum(pattern + 16)])
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
            bad = np.flatnonzero((got != pattern[None, :]).ravel())
            m = int(bad[0]) if bad.size else k * period
            if m:
                starts = (pos + np.arange(k, dtype=np.int64)[:, None] * cycle + rel[None, :]).ravel()[:m]
                offs_parts.append(starts)
                lens_parts.append(np.tile(pattern, k)[:m])
                pos = int(starts[-1]) + 16 + int(lens_parts[-1][-1])
            if bad.size or k < k_try:
                break
            k_try *= 4
    return np.concatenate(offs_parts), np.concatenate(lens_parts), pos


def frame(buf, arr, lost=False):
    """Splits buf into complete records. Returns (offsets, lengths, end, corrupt_headers,
    implausible_lengths, lost): records [offsets[i], offsets[i]+16+lengths[i]); bytes from `end`
    on are an incomplete record to retry later. A header with a wrong CRC, and one claiming more
    than MAX_RECORD_BYTES, are counted and the search goes on after them (resync); `lost` says
    that the search reached the end of buf, so that the next buffer (passing it back) does not
    count the same corrupt stretch again."""
    n = len(buf)
    unpack = struct.Struct("<Q").unpack_from
    offs_all, lens_all = [], []
    pos = 0
    corrupt = implausible = 0
    while True:
        offs, lens, pos = frame_lengths(buf, pos, arr)
        bad = np.flatnonzero(~_header_crc_ok(arr, offs, lens))
        if bad.size:
            k = int(bad[0])
            offs_all.append(offs[:k])
            lens_all.append(lens[:k])
            pos = int(offs[k])
            lost = lost and k == 0
            corrupt += not (lost and pos == 0)
        else:
            offs_all.append(offs)
            lens_all.append(lens)
            lost = lost and not offs.size
            if pos + 12 > n:
                break
            # An incomplete record, a corrupt header, or a valid one claiming an implausible length?
            length = unpack(buf, pos)[0]
            if masked_crc32c(buf[pos:pos + 8]) != struct.unpack_from("<I", buf, pos + 8)[0]:
                corrupt += not (lost and pos == 0)
            elif length > MAX_RECORD_BYTES:
                implausible += 1
            else:
                lost = False
                break
        found = resync(arr, pos + 1)
        if found is None:
            # Nothing valid after it: skip all but a possible partial header at the very end.
            pos = max(pos + 1, n - 11)
            lost = True
            break
        pos = found
        lost = False
    return np.concatenate(offs_all), np.concatenate(lens_all), pos, corrupt, implausible, lost
