"""dynamics() of a growing run: the aggregation kept across reloads (dynamics.Kept) reads only
the new records (dynamics.READS) and gives what one aggregation of the whole run gives, each
column compared with numpy computed from the raw rows (test_dynamics.expected)."""

import gc
import os
import shutil
import threading
import time
import weakref

import numpy as np
import pytest

from helpers import event_files, fast_writer
from tb_batch_plugin import metadata
from tb_batch_plugin.read import dynamics, index
from test_dynamics import Training, assert_matches, expected


def _upto(raw, step):
    """The rows of the steps before `step`."""
    keep = raw["step"] < step
    return {k: None if v is None else v[keep] for k, v in raw.items()}


def _reads():
    return dynamics.READS.records, dynamics.READS.bytes


def _straddling(raw, step):
    """(forgotten, learned): identities right at their last presentation before `step` and wrong
    at their first from it on; identities right at every presentation from their last wrong one,
    which is before `step`, to their last one, after it (learned_step before the boundary)."""
    key = raw["id"] if raw["id"] is not None else raw["fingerprint"]
    forgotten, learned = [], []
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        steps, right = raw["step"][rows], raw["predicted"][rows] == raw["label"][rows]
        before, after = steps < step, steps >= step
        if before.any() and after.any():
            if right[before][-1] and not right[after][0]:
                forgotten.append(k)
            wrong = np.flatnonzero(~right)
            if right[after].all() and (not wrong.size or steps[wrong[-1]] < step) and right[before][-1]:
                learned.append(k)
    return forgotten, learned


@pytest.mark.parametrize("n, batch, epochs, ids, chunk_bytes", [
    (203, 32, 4, False, None),  # one 4 MB chunk a read
    (20, 8, 8, True, 700),  # about three records a chunk: a sample again within a chunk and the next
])
def test_appended_run_equals_one_aggregation(tmp_path, monkeypatch, n, batch, epochs, ids, chunk_bytes):
    if chunk_bytes:
        monkeypatch.setattr(dynamics, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(dynamics, "GAP_BYTES", 0)
    t = Training(30, n=n, batch=batch, epochs=epochs, ids=ids)
    per_epoch = -(-n // batch)
    bounds = [0, per_epoch + per_epoch // 2, 2 * per_epoch + 1, len(t.steps) - 1, len(t.steps)]  # mid-epoch
    p = fast_writer.event_path(str(tmp_path / "train"))
    idx, before = None, None
    for lo, hi in zip(bounds, bounds[1:]):
        size = os.path.getsize(p) if os.path.exists(p) else 0
        t.write(p, lo=lo, hi=hi)
        idx = index.load(str(tmp_path)) if idx is None else idx.reload()
        records, nbytes = _reads()
        d = idx.dynamics("train")
        new = [16 + length for at, length in event_files.record_spans(p) if at >= size and at > 0]
        assert _reads() == (records + hi - lo, nbytes + sum(new))  # the new records (not file_version)
        assert_matches(d, expected(_upto(t.raw, t.steps[hi - 1] + 1)))
        assert before is None or d is not before
        before = d
    straddling = [_straddling(t.raw, t.steps[b]) for b in bounds[1:-1]]
    assert all(f or g for f, g in straddling)  # samples whose signals straddle every boundary
    assert any(f for f, _ in straddling) and any(g for _, g in straddling)
    whole = index.load(str(tmp_path)).dynamics("train")
    for name, a in whole.columns().items():  # sums added in other groupings: equal to rounding
        if a.dtype.kind == "f":
            np.testing.assert_allclose(getattr(d, name), a, rtol=1e-13, err_msg=name)
        else:
            np.testing.assert_array_equal(getattr(d, name), a, err_msg=name)
    assert len(idx.snapshot()._run("train").kept.streams) == 1  # one state per output


def test_restart_falls_back_to_a_full_aggregation(tmp_path):
    """A resumed run re-records steps from 17 on: the store's generation changes, the state starts
    again from every surviving record; appends after it are incremental again."""
    first, resumed = Training(31, epochs=3), Training(32, epochs=3, first_step=17)
    run = tmp_path / "train"
    os.makedirs(run)
    first.write(str(run / "events.out.tfevents.1000.host"))
    idx = index.load(str(tmp_path))
    old = idx.dynamics("train")
    kept = {k: v.copy() for k, v in old.columns().items()}
    second = str(run / "events.out.tfevents.2000.host")
    resumed.write(second, hi=10)
    records = _reads()[0]
    d = idx.reload().dynamics("train")
    assert _reads()[0] - records == 17 + 10
    raw = {k: np.concatenate([_upto(first.raw, 17)[k], _upto(resumed.raw, resumed.steps[10])[k]])
           for k in ("step", "fingerprint", "loss", "margin", "label_probability", "label", "predicted")}
    assert_matches(d, expected({**raw, "id": None}))
    resumed.write(second, lo=10)
    records = _reads()[0]
    d = idx.reload().dynamics("train")
    assert _reads()[0] - records == len(resumed.steps) - 10
    raw = {k: np.concatenate([_upto(first.raw, 17)[k], resumed.raw[k]]) for k in raw}
    assert_matches(d, expected({**raw, "id": None}))
    for name, a in kept.items():  # what was handed out before the restart
        np.testing.assert_array_equal(getattr(old, name), a, err_msg=name)


def test_handed_out_results_never_change(tmp_path):
    t = Training(33, epochs=4)
    p = fast_writer.event_path(str(tmp_path / "train"))
    t.write(p, hi=10)
    idx = index.load(str(tmp_path))
    first_snapshot = idx.snapshot()
    d1 = idx.dynamics("train")
    copies = {k: v.copy() for k, v in d1.columns().items()}
    with pytest.raises(ValueError):
        d1.presentations[0] = 7  # read-only: the state's own arrays stay writable
    t.write(p, lo=10, hi=20)
    idx.reload()
    middle = idx.snapshot()  # never asked for its dynamics
    t.write(p, lo=20)
    d3 = idx.reload().dynamics("train")
    for name, a in copies.items():
        np.testing.assert_array_equal(getattr(d1, name), a, err_msg=name)
    assert_matches(d1, expected(_upto(t.raw, t.steps[10])))
    assert first_snapshot.dynamics("train") is d1  # memoised in its view
    # A view older than the state: aggregated aside, from scratch; the state stays where it is.
    records = _reads()[0]
    d2 = middle.dynamics("train")
    assert _reads()[0] - records == 20
    assert_matches(d2, expected(_upto(t.raw, t.steps[20])))
    assert idx.dynamics("train") is d3 and _reads()[0] - records == 20
    assert_matches(d3, expected(t.raw))
    # A reload that changes other series: the same records, the same object, nothing read.
    fast_writer.write_scalars(p, "loss", np.arange(3), np.ones(3))
    assert idx.reload().scalars("train", "loss").steps.size == 3
    assert idx.dynamics("train") is d3 and _reads()[0] == records + 20


def test_a_new_output_keeps_the_columns(tmp_path):
    a, b = Training(34, epochs=2), Training(35, classes=0, epochs=2)
    p = fast_writer.event_path(str(tmp_path / "train"))
    a.write(p, metadata.DYNAMICS_TAG + "/a")
    idx = index.load(str(tmp_path))
    da = idx.dynamics("train")
    assert da.outputs == ["a"]
    b.write(p, metadata.DYNAMICS_TAG + "/b")
    idx.reload()
    records = _reads()[0]
    again = idx.dynamics("train", "a")
    assert again.outputs == ["a", "b"] and da.outputs == ["a"] and _reads()[0] == records
    assert all(getattr(again, k) is v for k, v in da.columns().items())
    assert_matches(idx.dynamics("train", "b"), expected(b.raw, classification=False))


def test_a_state_that_skipped_records_is_not_kept(tmp_path):
    """The file is gone while the appended records are read: they are skipped, and the next view
    (the file back, more appended) reads everything again instead of keeping the gap."""
    t = Training(38, epochs=3)
    p = fast_writer.event_path(str(tmp_path / "train"))
    t.write(p, hi=10)
    idx = index.load(str(tmp_path))
    idx.dynamics("train")
    t.write(p, lo=10, hi=20)
    idx.reload()
    os.rename(p, p + ".away")
    d = idx.dynamics("train")
    assert d.skipped_reasons == {"unreadable_file": 10}
    assert_matches(d, expected(_upto(t.raw, t.steps[10])))
    os.rename(p + ".away", p)
    t.write(p, lo=20)
    records = _reads()[0]
    d = idx.reload().dynamics("train")
    assert _reads()[0] - records == len(t.steps) and d.skipped == 0
    assert_matches(d, expected(t.raw))


def test_waiters_go_in_order_of_their_records(tmp_path):
    """Three requests hold views of 10, 20 and all records while another aggregation runs: when it
    ends the smallest goes first and each later one adds only its new records."""
    t = Training(36, epochs=3)
    p = fast_writer.event_path(str(tmp_path / "train"))
    idx, snaps = None, []
    for lo, hi in ((0, 10), (10, 20), (20, None)):
        t.write(p, lo=lo, hi=hi)
        idx = index.load(str(tmp_path)) if idx is None else idx.reload()
        snaps.append(idx.snapshot())
    got = {}

    def ask(i):
        got[i] = snaps[i].dynamics("train")

    records = _reads()[0]
    threads = [threading.Thread(target=ask, args=(i,)) for i in (2, 0, 1)]
    with dynamics._TURNS(("another store", 0, 0)):
        for th in threads:
            th.start()
        deadline = time.monotonic() + 30
        while len(dynamics._TURNS._waiting) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    for th in threads:
        th.join(30)
    assert _reads()[0] - records == len(t.steps)  # 10, then 10 more, then the rest: no full re-read
    for i, step in enumerate((t.steps[10], t.steps[20], t.steps[-1] + 1)):
        assert_matches(got[i], expected(_upto(t.raw, step)))
    assert not dynamics._TURNS._waiting and not dynamics._TURNS._busy


def test_state_goes_with_the_run(tmp_path):
    t = Training(37, epochs=1)
    t.write(fast_writer.event_path(str(tmp_path / "train")))
    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "other")), "x", np.arange(2), np.ones(2))
    idx = index.load(str(tmp_path))
    idx.dynamics("train")
    gone = weakref.ref(idx.snapshot()._run("train").kept)
    shutil.rmtree(tmp_path / "train")
    assert idx.reload().runs() == ["other"]
    gc.collect()
    assert gone() is None
