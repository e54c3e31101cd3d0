"""The index under change and hostile bytes, in process: snapshots never change under a reader,
the search for the next valid header finds exactly what a plain scan finds, corrupt stretches are
counted once, files that are not regular are never opened, rewritten files are read again, and
the directory walk follows links without loops."""

import os
import struct

import numpy as np
from hypothesis import given, settings, strategies as st

from helpers import fast_writer
from tb_batch_plugin.read import index, tfrecord


def _header(length):
    h = struct.pack("<Q", length)
    return h + struct.pack("<I", tfrecord.masked_crc32c(h))


def _valid_header_at(buf, p):
    return p + 12 <= len(buf) and tfrecord.masked_crc32c(buf[p:p + 8]) == struct.unpack_from("<I", buf, p + 8)[0]


def test_a_snapshot_never_changes_under_its_reader(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "r"))
    fast_writer.write_scalars(p, "x", np.arange(100), np.arange(100, dtype=np.float32))
    idx = index.load(str(tmp_path))
    before = idx.snapshot()
    s0 = before.scalars("r", "x")
    fast_writer.write_scalars(p, "x", np.arange(100, 5000), np.ones(4900, np.float32))  # grows the buffers
    idx.reload()
    fast_writer.write_scalars(p, "x", np.arange(50, 60), np.full(10, -1.0, np.float32))  # a restart cuts them
    idx.reload()
    np.testing.assert_array_equal(s0.steps, np.arange(100))
    np.testing.assert_array_equal(s0.values, np.arange(100, dtype=np.float32))
    np.testing.assert_array_equal(before.scalars("r", "x").steps, np.arange(100))
    now = idx.scalars("r", "x")
    np.testing.assert_array_equal(now.steps, np.arange(60))
    np.testing.assert_array_equal(now.values, np.r_[np.arange(50), np.full(10, -1.0)].astype(np.float32))
    assert idx.snapshot().version > before.version


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["zeros", "random", "header", "bad_header", "text"]), min_size=1, max_size=8),
       st.integers(0, 2**32 - 1), st.integers(1, 40))
def test_resync_finds_the_first_valid_header_as_a_plain_scan_does(parts, seed, start):
    rng = np.random.default_rng(seed)
    chunks = []
    for kind in parts:
        n = int(rng.integers(1, 3000))
        if kind == "zeros":
            chunks.append(bytes(n))
        elif kind == "random":
            chunks.append(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        elif kind == "header":
            chunks.append(_header(int(rng.integers(0, 1 << 20))))
        elif kind == "bad_header":
            h = bytearray(_header(int(rng.integers(0, 1 << 20))))
            h[int(rng.integers(12))] ^= 0x40
            chunks.append(bytes(h))
        else:
            chunks.append(b"loss 0.25 step 1000\n" * int(rng.integers(1, 20)))
    buf = b"".join(chunks)
    arr = np.frombuffer(buf, np.uint8)
    expected = next((p for p in range(start, len(buf)) if _valid_header_at(buf, p)), None)
    assert tfrecord.resync(arr, start) == expected


def test_a_corrupt_stretch_across_read_chunks_is_counted_once(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "r"))
    fast_writer.write_scalars(p, "x", np.arange(10), np.arange(10, dtype=np.float32))
    with open(p, "ab") as f:
        f.write(bytes(100_000) + os.urandom(50_000) + bytes(3))
    fast_writer.write_scalars(p, "x", np.arange(10, 20), np.arange(10, 20, dtype=np.float32))
    idx = index.LogdirIndex(str(tmp_path))
    idx.chunk_bytes = 4096
    idx.reload()
    np.testing.assert_array_equal(idx.scalars("r", "x").steps, np.arange(20))
    assert idx.skipped("r") == {"corrupt_records": 1}


def test_an_implausible_length_is_counted_and_skipped(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "r"))
    fast_writer.write_scalars(p, "x", np.arange(10), np.arange(10, dtype=np.float32))
    with open(p, "ab") as f:
        f.write(_header(tfrecord.MAX_RECORD_BYTES + 1) + b"\x01" * 20)
    idx = index.load(str(tmp_path))
    assert idx.skipped("r") == {"implausible_length": 1}  # not waited for: no such record is coming
    fast_writer.write_scalars(p, "x", np.arange(10, 20), np.arange(10, 20, dtype=np.float32))
    np.testing.assert_array_equal(idx.reload().scalars("r", "x").steps, np.arange(20))
    assert idx.skipped("r") == {"implausible_length": 1}


def test_files_that_are_not_regular_are_reported_not_opened(tmp_path):
    run = tmp_path / "r"
    fast_writer.write_scalars(fast_writer.event_path(str(run)), "x", np.arange(5), np.ones(5, np.float32))
    os.mkfifo(run / "events.out.tfevents.1.fifo")
    os.mkdir(run / "events.out.tfevents.2.dir")  # a directory: not a file of this run
    os.symlink("/dev/null", run / "events.out.tfevents.3.dev")
    os.symlink(str(run / "missing"), run / "events.out.tfevents.4.dangling")
    idx = index.load(str(tmp_path))  # would block forever if the FIFO were opened
    assert idx.runs() == ["r"]
    assert len(idx.scalars("r", "x").steps) == 5
    assert idx.skipped_files("r") == [
        {"file": "events.out.tfevents.1.fifo", "reason": "not_a_regular_file", "error": "FIFO"},
        {"file": "events.out.tfevents.3.dev", "reason": "not_a_regular_file", "error": "character device"},
        {"file": "events.out.tfevents.4.dangling", "reason": "unreadable_file", "error": "No such file or directory"},
    ]
    assert idx.skipped("r") == {"not_a_regular_file": 2, "unreadable_file": 1}
    os.remove(run / "events.out.tfevents.4.dangling")
    assert idx.reload().skipped("r") == {"not_a_regular_file": 2}


def test_a_rewritten_file_is_read_again(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "r"))
    fast_writer.write_scalars(p, "x", np.arange(100), np.zeros(100, np.float32))
    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "other")), "x", np.arange(3), np.zeros(3, np.float32))
    idx = index.load(str(tmp_path))
    old = idx.snapshot()
    with open(p, "r+b") as f:  # truncated in place and written again, longer than before
        f.truncate(0)
    fast_writer.write_scalars(p, "x", np.arange(150), np.ones(150, np.float32))
    idx.reload()
    s = idx.scalars("r", "x")
    np.testing.assert_array_equal(s.steps, np.arange(150))
    assert set(s.values.tolist()) == {1.0}
    assert set(old.scalars("r", "x").values.tolist()) == {0.0}  # the old snapshot is untouched
    os.remove(p)
    assert idx.reload().runs() == ["other"]


def test_the_walk_follows_links_without_loops(tmp_path):
    target = tmp_path / "elsewhere"
    fast_writer.write_scalars(fast_writer.event_path(str(target)), "x", np.arange(3), np.ones(3, np.float32))
    logdir = tmp_path / "logs"
    fast_writer.write_scalars(fast_writer.event_path(str(logdir / "a")), "x", np.arange(3), np.ones(3, np.float32))
    os.symlink(target, logdir / "b")
    os.symlink(target, logdir / "c")  # two names for one directory: two runs, as TensorBoard lists
    os.symlink(logdir, logdir / "a" / "up")  # a loop
    os.symlink(logdir / "a", target / "back")  # not a loop: a's own directory under b and c
    idx = index.load(str(logdir))
    assert idx.runs() == ["a", "b", "b/back", "c", "c/back"]
    np.testing.assert_array_equal(idx.scalars("b/back", "x").steps, np.arange(3))
