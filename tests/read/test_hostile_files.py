"""Hostile and changing files under a real `tensorboard` process: nothing hangs, nothing is dropped
without being reported, and what the tab is served follows the files (deleted runs disappear, a
rewritten file is read again, symbolic links are followed without loops, every name TensorBoard
lists can be queried). Expected values come from the numpy arrays written."""

import json
import os
import shutil
import stat
import struct
import tempfile
import urllib.parse

import numpy as np
import pytest

from helpers import fast_writer
from helpers import event_files
from tensorboard.compat.proto import summary_pb2

from tb_batch_plugin import metadata as md
from tb_batch_plugin.read.tfrecord import masked_crc32c

P = "/data/plugin/tb_batch/"
N = 1000
NON_UTF8 = b"caf\xe9"  # Latin-1 bytes: not UTF-8
NON_UTF8_NAME = "caf\ufffd"  # how TensorBoard's data server names that directory


def _json(resp):
    status, body = resp
    assert status == 200, body[:300]
    return json.loads(body)


def _values(n, seed):
    return np.random.default_rng(seed).normal(size=n).astype(np.float32)


def _write(run_dir, n=N, seed=0, start=0):
    path = fast_writer.event_path(run_dir)
    fast_writer.write_scalars(path, "loss", np.arange(start, start + n), _values(n, seed))
    return path


def _record(data):
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def _newer_version_events():
    """A scalar and a distribution whose tb_batch plugin data claims contract version 99."""
    newer = md.BatchPluginData(version=99, kind=md.KIND_SCALAR, provenance=md.PROVENANCE_EXACT)
    scalar_meta = md._metadata(md.SCALARS_PLUGIN_NAME, md.ScalarsContent(tb_batch=newer).SerializeToString(),
                               summary_pb2.DATA_CLASS_SCALAR)
    dist = md.BatchPluginData(version=99, kind=md.KIND_DISTRIBUTION, quantile_probs=[0.5], num_bins=1)
    dist_meta = md._metadata(md.PLUGIN_NAME, dist.SerializeToString(), summary_pb2.DATA_CLASS_TENSOR)
    evs = []
    for step in range(7):
        evs.append(event_files.event(step, 1.0, [("future_loss", event_files.tensor_proto(1.0), scalar_meta)]))
        evs.append(event_files.event(step, 1.0, [("tb_batch/future", event_files.tensor_proto(np.zeros(10), np.float64), dist_meta)]))
    evs.append(event_files.event(7, 1.0, [("loss", event_files.tensor_proto(np.float32(3.0)), md.scalar_metadata())]))
    return evs


def _can_enforce_permissions():
    """(prefix for the server command, reason to skip the unreadable-file case or None). Root
    reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv drops them from
    the bounding set, so the server process never has them) it is held to the file's mode."""
    if os.geteuid() != 0:
        return (), None
    if shutil.which("setpriv"):
        return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search"), None
    return (), "running as root without setpriv: file permissions cannot be enforced"


@pytest.fixture(scope="module")
def tb():
    d = tempfile.mkdtemp(prefix="tbb-hostile-")
    outside = tempfile.mkdtemp(prefix="tbb-outside-")
    os.chmod(d, 0o755)
    os.chmod(outside, 0o755)
    logdir = os.path.join(d, "logs")
    _write(os.path.join(logdir, "good"))
    # A FIFO named like an event file (opening it would block until a writer comes).
    os.makedirs(os.path.join(logdir, "fifo"))
    os.mkfifo(os.path.join(logdir, "fifo", "events.out.tfevents.1.fifo"))
    _write(os.path.join(logdir, "fifo"), n=5)
    # A zero-filled stretch (64 MiB) between two valid parts of one file.
    zpath = _write(os.path.join(logdir, "zeros"), n=10)
    with open(zpath, "ab") as f:
        f.truncate(os.path.getsize(zpath) + (64 << 20))
    fast_writer.write_scalars(zpath, "loss", np.arange(10, 20), _values(10, 1))
    # A record header (with a valid CRC) claiming 1 GiB, then garbage, then valid records.
    hpath = _write(os.path.join(logdir, "big_header"), n=10)
    with open(hpath, "ab") as f:
        header = struct.pack("<Q", 1 << 30)
        f.write(header + struct.pack("<I", masked_crc32c(header)) + os.urandom(1000))
    fast_writer.write_scalars(hpath, "loss", np.arange(10, 20), _values(10, 1))
    # Data of a newer contract version: skipped and counted; the rest of the file is read.
    event_files.write_events(os.path.join(logdir, "newer", "events.out.tfevents.1.newer"), _newer_version_events())
    # An unreadable file next to a readable one.
    _write(os.path.join(logdir, "unreadable"), n=5)
    upath = os.path.join(logdir, "unreadable", "events.out.tfevents.2.secret")
    fast_writer.write_scalars(upath, "loss", np.arange(5, 10), _values(5, 2))
    os.chmod(upath, 0)
    # A run directory that is a symbolic link (to a directory outside the logdir), and a link
    # from inside a run back to the logdir (a loop).
    _write(os.path.join(outside, "target"), seed=3)
    os.symlink(os.path.join(outside, "target"), os.path.join(logdir, "linked"))
    os.symlink(logdir, os.path.join(logdir, "good", "loop"))
    # A directory name that is not UTF-8.
    _write(os.path.join(os.fsencode(logdir), NON_UTF8).decode("utf-8", "surrogateescape"), seed=4)
    # Runs that change while the server runs.
    _write(os.path.join(logdir, "doomed"))
    _write(os.path.join(logdir, "shrinks"), seed=5)
    _write(os.path.join(logdir, "regrows"), seed=6)
    _write(os.path.join(logdir, "replaced"), seed=7)
    prefix, skip_reason = _can_enforce_permissions()
    server = event_files.TensorBoardProcess(logdir, load_fast=True, prefix=prefix)
    try:
        server.wait_for("/data/plugin/tb_batch/runs", lambda status, body: status == 200 and not json.loads(body)["indexing"],
                        timeout=120)  # requests never wait for the first index
        yield server, logdir, skip_reason
    finally:
        server.close()
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def _runs(server):
    return {r["run"]: r for r in _json(server.get(P + "runs", timeout=30))["runs"]}


def _series(server, run, width=5000):
    q = urllib.parse.urlencode({"run": run, "tag": "loss", "width": width})
    return _json(server.get(P + "series?" + q, timeout=30))


def test_fifo_is_skipped_and_reported_not_opened(tb):
    server, _, _ = tb
    fifo = _runs(server)["fifo"]
    assert fifo["skipped"] == {"not_a_regular_file": 1}
    assert fifo["skipped_files"] == [{"file": "events.out.tfevents.1.fifo", "reason": "not_a_regular_file",
                                      "error": "FIFO"}]
    assert fifo["tags"][0]["count"] == 5  # the run's regular file is read
    assert _series(server, "fifo")["values"] == _values(5, 0).astype(np.float64).tolist()


def test_zero_filled_stretch_is_skipped_once(tb):
    server, _, _ = tb
    z = _runs(server)["zeros"]
    assert z["skipped"] == {"corrupt_records": 1}
    s = _series(server, "zeros")
    assert s["steps"] == list(range(20))
    assert s["values"] == np.concatenate([_values(10, 0), _values(10, 1)]).astype(np.float64).tolist()


def test_implausible_length_is_counted_and_reading_goes_on(tb):
    server, _, _ = tb
    r = _runs(server)["big_header"]
    assert r["skipped"] == {"implausible_length": 1}
    assert _series(server, "big_header")["steps"] == list(range(20))


def test_newer_contract_version_is_counted(tb):
    server, _, _ = tb
    r = _runs(server)["newer"]
    assert r["skipped"] == {"newer_version": 14}
    assert [t["tag"] for t in r["tags"]] == ["loss"]


def test_unreadable_file_is_reported_with_the_os_error(tb):
    server, _, skip_reason = tb
    if skip_reason:
        pytest.skip(skip_reason)
    r = _runs(server)["unreadable"]
    assert r["skipped"] == {"unreadable_file": 1}
    assert r["skipped_files"] == [{"file": "events.out.tfevents.2.secret", "reason": "unreadable_file",
                                   "error": "Permission denied"}]
    assert _series(server, "unreadable")["steps"] == list(range(5))


def test_symlinked_run_is_followed_without_loops(tb):
    server, _, _ = tb
    runs = _runs(server)
    assert "linked" in runs and not any("loop" in name for name in runs)
    assert _series(server, "linked")["values"] == _values(N, 3).astype(np.float64).tolist()


def test_a_name_that_is_not_utf8_is_listed_as_tensorboard_does_and_can_be_queried(tb):
    server, _, _ = tb
    assert NON_UTF8_NAME in _runs(server)
    # TensorBoard's own name for it (its data server lists runs as it loads them)
    server.wait_for("/data/runs", lambda s, b: s == 200 and NON_UTF8_NAME in json.loads(b), timeout=60)
    assert _series(server, NON_UTF8_NAME)["values"] == _values(N, 4).astype(np.float64).tolist()


def test_deleted_run_disappears(tb):
    server, logdir, _ = tb
    assert "doomed" in _runs(server)
    shutil.rmtree(os.path.join(logdir, "doomed"))
    server.wait_for(P + "runs", lambda s, b: s == 200 and b'"doomed"' not in b, timeout=30)
    status, body = server.get(P + "series?run=doomed&tag=loss&width=10")
    assert status == 404 and b"Traceback" not in body


def _rewrite_in_place(path, steps, values):
    """Truncates the file (same inode) and writes new events into it."""
    with open(path, "r+b") as f:
        f.truncate(0)
    fast_writer.write_scalars(path, "loss", steps, values)


def test_file_rewritten_shorter_or_regrown_or_replaced_is_read_again(tb):
    server, logdir, _ = tb
    before = _runs(server)
    assert all(before[r]["tags"][0]["count"] == N for r in ("shrinks", "regrows", "replaced"))
    # Shorter than what was read: only the new points.
    (p,) = [os.path.join(logdir, "shrinks", f) for f in os.listdir(os.path.join(logdir, "shrinks"))]
    _rewrite_in_place(p, np.arange(10), np.full(10, 7.0, np.float32))
    # Truncated and regrown past the old length (the size alone cannot tell): only the new points.
    (p,) = [os.path.join(logdir, "regrows", f) for f in os.listdir(os.path.join(logdir, "regrows"))]
    _rewrite_in_place(p, np.arange(N + 500), np.full(N + 500, 8.0, np.float32))
    # Replaced by another file of the same name (another inode).
    (p,) = [os.path.join(logdir, "replaced", f) for f in os.listdir(os.path.join(logdir, "replaced"))]
    fast_writer.write_scalars(p + ".new", "loss", np.arange(20), np.full(20, 9.0, np.float32))
    os.replace(p + ".new", p)

    def settled(status, body):
        if status != 200:
            return False
        runs = {r["run"]: r["tags"][0]["count"] for r in json.loads(body)["runs"] if r["tags"]}
        return (runs.get("shrinks"), runs.get("regrows"), runs.get("replaced")) == (10, N + 500, 20)

    server.wait_for(P + "runs", settled, timeout=30)
    for run, n, v in (("shrinks", 10, 7.0), ("regrows", N + 500, 8.0), ("replaced", 20, 9.0)):
        s = _series(server, run, width=20000)
        assert s["steps"] == list(range(n)) and set(s["values"]) == {v}, run


def test_every_route_answers_while_hostile_files_are_present(tb):
    server, _, _ = tb
    runs = _runs(server)
    for run in runs:
        q = urllib.parse.quote(run)
        for path in ("step?run=%s&step=3" % q, "anomalies?run=%s" % q, "export?run=%s&tag=loss" % q):
            status, body = server.get(P + path, timeout=30)
            assert status in (200, 404) and b"Traceback" not in body, (path, status)
