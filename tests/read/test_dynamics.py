"""Per-sample training dynamics read back (tb_batch_plugin.read.dynamics): every aggregate compared
with numpy computed here, sample by sample, from the raw rows the event files were written from."""

import os

import numpy as np
import pytest
from scipy.stats import rankdata

from helpers import dynamics_files, event_files, fast_writer
from tb_batch_plugin import metadata
from tb_batch_plugin.read import UnknownKey, dynamics, dynamics_stats, index, tfrecord

FLOATS = ("aum", "confidence", "variability", "accuracy", "mean_loss", "last_loss")
INTS = ("presentations", "first_step", "last_step", "forgetting", "learned_step", "label", "predicted")


class Training:
    """Synthetic presentations: `n` samples shuffled every epoch into batches of `batch` (the last
    one partial), a label per sample and predictions that improve over the epochs; `raw` keeps
    every row as written, in time order."""

    def __init__(self, seed, n=203, batch=32, epochs=4, classes=5, ids=False, first_step=0):
        rng = np.random.default_rng(seed)
        self.classes, self.ids = classes, ids
        # distinct ids, negative and beyond 32 bits too
        self.id_values = (rng.permutation(n) - n // 2) * (2**33 + 1) if ids else None
        fingerprints = rng.integers(1, 2**64 - 1, n, dtype=np.uint64)
        labels = rng.integers(0, max(classes, 1), n)
        self.steps, self.batches, raw = [], [], []
        step = first_step
        for epoch in range(epochs):
            order = rng.permutation(n)
            for a in range(0, n, batch):
                s = order[a:a + batch]
                k = len(s)
                right = rng.random(k) < 0.3 + 0.15 * epoch
                predicted = np.where(right, labels[s], (labels[s] + rng.integers(1, max(classes, 2), k))
                                     % max(classes, 1))
                fps = rng.integers(1, 2**64 - 1, k, dtype=np.uint64) if ids else fingerprints[s]
                row = {"step": np.full(k, step), "fingerprint": fps, "id": self.id_values[s] if ids else None,
                       "loss": rng.exponential(size=k).astype(np.float32),
                       "margin": rng.normal(size=k).astype(np.float32),
                       "label_probability": rng.random(k).astype(np.float32),
                       "label": labels[s], "predicted": predicted}
                if epoch == 1 and a == 0:
                    row["loss"][0] = np.nan  # a NaN loss makes that sample's mean loss NaN
                raw.append(row)
                self.batches.append(dynamics_files.pack_rows(
                    fps, row["loss"], row["id"], row["margin"], row["label_probability"], row["label"],
                    row["predicted"], classes))
                self.steps.append(step)
                step += 1
        self.raw = {k: (None if raw[0][k] is None else np.concatenate([r[k] for r in raw])) for k in raw[0]}

    def write(self, path, tag=metadata.DYNAMICS_TAG, lo=0, hi=None):
        """Appends the dynamics events of steps [lo, hi) (by index)."""
        dynamics_files.write_dynamics(path, self.steps[lo:hi], self.batches[lo:hi], self.classes, self.ids, tag)


def expected(raw, classification=True):
    """The aggregates per identity, one sample at a time, in order of first presentation."""
    key = raw["id"] if raw["id"] is not None else raw["fingerprint"]
    _, first = np.unique(key, return_index=True)
    out = {name: [] for name in FLOATS + INTS + ("fingerprint", "id")}
    for k in key[np.sort(first)]:
        rows = np.flatnonzero(key == k)
        steps = raw["step"][rows]
        correct = raw["predicted"][rows] == raw["label"][rows]
        prob = raw["label_probability"][rows].astype(np.float64)
        loss = raw["loss"][rows].astype(np.float64)
        out["fingerprint"].append(raw["fingerprint"][rows[-1]])
        out["id"].append(None if raw["id"] is None else raw["id"][rows[-1]])
        out["presentations"].append(len(rows))
        out["first_step"].append(steps[0])
        out["last_step"].append(steps[-1])
        out["mean_loss"].append(loss.mean())
        out["last_loss"].append(loss[-1])
        if classification:
            out["aum"].append(raw["margin"][rows].astype(np.float64).mean())
            out["forgetting"].append(int(np.sum(correct[:-1] & ~correct[1:])))
            wrong = np.flatnonzero(~correct)
            out["learned_step"].append(-1 if not correct[-1] else steps[wrong[-1] + 1] if wrong.size else steps[0])
            out["confidence"].append(prob.mean())
            out["variability"].append(prob.std())
            out["accuracy"].append(correct.mean())
            out["label"].append(raw["label"][rows[-1]])
            out["predicted"].append(raw["predicted"][rows[-1]])
        else:
            for name in ("aum", "confidence", "variability", "accuracy"):
                out[name].append(np.nan)
            for name in ("forgetting", "learned_step", "label", "predicted"):
                out[name].append(-1)
    return out


def assert_matches(d, want):
    np.testing.assert_array_equal(d.fingerprint, np.array(want["fingerprint"], np.uint64))
    if want["id"][0] is None:
        assert d.id is None
    else:
        np.testing.assert_array_equal(d.id, want["id"])
    for name in INTS:
        np.testing.assert_array_equal(getattr(d, name), want[name], err_msg=name)
    for name in FLOATS:
        np.testing.assert_allclose(getattr(d, name), want[name], rtol=1e-12, atol=1e-15, err_msg=name)


def _rows_before(raw, step):
    keep = raw["step"] < step
    return {k: None if v is None else v[keep] for k, v in raw.items()}


@pytest.mark.parametrize("ids", [False, True])
def test_aggregates_match_numpy(tmp_path, ids):
    t = Training(0, ids=ids)
    p = fast_writer.event_path(str(tmp_path / "train"))
    for epoch in range(4):  # other events between the epochs' dynamics (7 steps each)
        fast_writer.write_scalars(p, "loss", np.arange(epoch * 7, epoch * 7 + 7), np.ones(7))
        t.write(p, lo=epoch * 7, hi=epoch * 7 + 7)
    idx = index.load(str(tmp_path))
    assert idx.tags("train") == {"loss": "scalar"}  # dynamics are not a series
    assert [i.kind for i in idx.series("train")] == ["scalar"]
    assert idx.dynamics_outputs("train") == [""]
    d = idx.dynamics("train")
    assert_matches(d, expected(t.raw))
    assert (d.outputs, d.output, d.classification, d.skipped) == ([""], "", True, 0)
    assert len(d) == 203 and np.isnan(d.mean_loss).sum() == 1
    assert idx.dynamics("train") is d  # memoised while nothing changed
    assert idx.corrupt_records == 0
    # The index holds one locator per step, not the rows.
    assert idx.nbytes() <= 7 * 4 * 20 + len(t.steps) * (16 + 3 * 8)


@pytest.mark.parametrize("n, chunk_bytes", [(203, 1), (20, 700)])
def test_streaming_in_tiny_chunks_equals_one_read(tmp_path, monkeypatch, n, chunk_bytes):
    """1 byte: every record its own read and chunk; 700 bytes: about two records a read, three a
    chunk, where a sample comes back within a chunk and in the next (n=20, batches of 8)."""
    t = Training(1, n=n, batch=8 if n == 20 else 32, epochs=3 if n > 20 else 8, ids=True)
    t.write(fast_writer.event_path(str(tmp_path / "train")))
    whole = index.load(str(tmp_path)).dynamics("train")
    monkeypatch.setattr(dynamics, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(dynamics, "GAP_BYTES", 0)
    small = index.load(str(tmp_path)).dynamics("train")
    for name, a in whole.columns().items():
        if a.dtype.kind == "f":
            np.testing.assert_allclose(getattr(small, name), a, rtol=1e-13, err_msg=name)
        else:
            np.testing.assert_array_equal(getattr(small, name), a, err_msg=name)
    assert_matches(small, expected(t.raw))


def test_resumed_run_counts_the_superseding_steps_only(tmp_path):
    """Steps 0..S-1 of the first file survive; the second file re-records from S on."""
    first, resumed = Training(2, epochs=3), Training(3, epochs=3, first_step=17)
    run = tmp_path / "train"
    os.makedirs(run)
    first.write(str(run / "events.out.tfevents.1000.host"))
    idx = index.load(str(tmp_path))
    assert idx.dynamics("train").presentations.sum() == 3 * 203
    resumed.write(str(run / "events.out.tfevents.2000.host"))
    d = idx.reload().dynamics("train")
    raw = {k: np.concatenate([_rows_before(first.raw, 17)[k], resumed.raw[k]]) for k in ("step", "fingerprint",
           "loss", "margin", "label_probability", "label", "predicted")}
    raw["id"] = None
    assert_matches(d, expected(raw))


def test_corrupt_and_truncated_records_are_skipped_and_counted(tmp_path):
    t = Training(4, epochs=2)
    p = fast_writer.event_path(str(tmp_path / "train"))
    t.write(p)
    spans = event_files.record_spans(p)  # [(offset, data length)]: the file_version event first
    event_files.flip_byte(p, spans[3][0] + 12 + spans[3][1] - 40)  # inside step 2's rows
    idx = index.load(str(tmp_path))
    assert idx.corrupt_records == 1  # found by the index: no locator, nothing to skip later
    d = idx.dynamics("train")
    assert d.skipped == 0
    keep = t.raw["step"] != 2
    assert_matches(d, expected({k: None if v is None else v[keep] for k, v in t.raw.items()}))
    # Changed after the index read it (not reloaded): step 5's record corrupt, the last cut short.
    idx = index.load(str(tmp_path))
    event_files.flip_byte(p, spans[6][0] + 12 + spans[6][1] - 40)
    os.truncate(p, os.path.getsize(p) - 10)
    d = idx.dynamics("train")
    assert d.skipped == 2 and d.skipped_reasons == {"corrupt_records": 2}
    gone = keep & (t.raw["step"] != 5) & (t.raw["step"] != t.steps[-1])
    assert_matches(d, expected({k: None if v is None else v[gone] for k, v in t.raw.items()}))
    # Reloaded: the run is read again (its bytes changed); the index finds the corrupt records
    # and waits for the rest of the cut one.
    d = idx.reload().dynamics("train")
    assert idx.corrupt_records == 2 and d.skipped == 0
    assert_matches(d, expected({k: None if v is None else v[gone] for k, v in t.raw.items()}))


def test_files_changed_or_gone_since_indexed_are_counted(tmp_path):
    t, other = Training(13, epochs=1, first_step=200), Training(14, epochs=1, first_step=300)
    p = str(tmp_path / "train" / "events.out.tfevents.1.h")
    os.makedirs(os.path.dirname(p))
    t.write(p)
    idx = index.load(str(tmp_path))
    os.remove(p)
    other.write(p)  # the same sizes, other steps (the file rewritten, not reloaded yet)
    d = idx.dynamics("train")
    assert (len(d), d.skipped_reasons) == (0, {"not_as_indexed": len(t.steps)})
    idx = index.load(str(tmp_path))
    os.remove(p)
    d = idx.dynamics("train")
    assert (len(d), d.skipped_reasons) == (0, {"unreadable_file": len(other.steps)})


def test_two_outputs_one_without_classes(tmp_path):
    a, b = Training(5, classes=4, epochs=2), Training(6, classes=0, epochs=2)
    p = fast_writer.event_path(str(tmp_path / "train"))
    for i in range(len(a.steps)):  # the outputs' records interleaved, step by step
        a.write(p, metadata.DYNAMICS_TAG + "/a", i, i + 1)
        b.write(p, metadata.DYNAMICS_TAG + "/b", i, i + 1)
    idx = index.load(str(tmp_path))
    assert idx.dynamics_outputs("train") == ["a", "b"]
    with pytest.raises(UnknownKey, match="'a', 'b'"):
        idx.dynamics("train")
    with pytest.raises(UnknownKey, match="'c'"):
        idx.dynamics("train", "c")
    with pytest.raises(UnknownKey):
        idx.dynamics("nope")
    da, db = idx.dynamics("train", "a"), idx.dynamics("train", output="b")
    assert (da.output, da.outputs, da.classification, db.classification) == ("a", ["a", "b"], True, False)
    assert_matches(da, expected(a.raw))
    assert_matches(db, expected(b.raw, classification=False))
    rec = db.records(count=1)[0]
    assert rec["aum"] is None and rec["label"] is None and rec["presentations"] == 2
    with pytest.raises(ValueError, match="no classes"):
        idx.label_issues("train", output="b")
    pr = idx.presentations("train", rec["fingerprint"], output="b")
    assert sorted(pr) == ["loss", "step"]


def test_protobuf_records_and_more_than_65536_classes(tmp_path):
    """Records the fast path leaves to protobuf (a scalar and the dynamics in one event), and the
    layout with separate label and predicted words."""
    rng = np.random.default_rng(7)
    classes, fps = 70000, rng.integers(1, 2**63, 6, dtype=np.uint64)
    events, raw = [], []
    for step in range(5):
        label, predicted = rng.integers(0, classes, 6), rng.integers(0, classes, 6)
        predicted[:3] = label[:3]
        row = {"step": np.full(6, step), "fingerprint": fps, "id": None, "loss": rng.random(6).astype(np.float32),
               "margin": rng.normal(size=6).astype(np.float32),
               "label_probability": rng.random(6).astype(np.float32), "label": label, "predicted": predicted}
        raw.append(row)
        rows = dynamics_files.pack_rows(fps, row["loss"], None, row["margin"], row["label_probability"], label,
                                        predicted, classes)
        scalar = ("x", event_files.tensor_proto(np.float32(step)), metadata.scalar_metadata())
        events.append(dynamics_files.dynamics_event(step, rows, classes, False, extra=[scalar]))
    event_files.write_events(str(tmp_path / "run" / "events.out.tfevents.1.h"), events)
    idx = index.load(str(tmp_path))
    np.testing.assert_array_equal(idx.scalars("run", "x").steps, np.arange(5))
    raw = {k: None if raw[0][k] is None else np.concatenate([r[k] for r in raw]) for k in raw[0]}
    assert_matches(idx.dynamics("run"), expected(raw))


def test_presentations_of_one_sample(tmp_path):
    t = Training(8, ids=True, epochs=3)
    t.write(fast_writer.event_path(str(tmp_path / "train")))
    idx = index.load(str(tmp_path))
    sample = int(t.id_values[11])
    rows = np.flatnonzero(t.raw["id"] == sample)
    for _ in range(2):  # a scan, then what was kept
        pr = idx.presentations("train", sample)
        np.testing.assert_array_equal(pr["step"], t.raw["step"][rows])
        for name in ("loss", "margin", "label_probability", "label", "predicted"):
            np.testing.assert_array_equal(pr[name], t.raw[name][rows], err_msg=name)
        np.testing.assert_array_equal(pr["correct"], t.raw["label"][rows] == t.raw["predicted"][rows])
        idx.dynamics("train")  # the second scan reads only the steps between its first and last
    for row in rows[:2]:  # with ids a fingerprint names one presentation (not the last: a scan)
        by_fingerprint = idx.presentations("train", "%016x" % int(t.raw["fingerprint"][row]))
        np.testing.assert_array_equal(by_fingerprint["step"], [t.raw["step"][row]])
    for unknown in (2**50, 2**70, "not hex", "-5", "1" * 20):
        with pytest.raises(UnknownKey):
            idx.presentations("train", unknown)


def test_label_issues_rank_flipped_labels_first(tmp_path):
    rng = np.random.default_rng(9)
    n, classes, batch = 400, 10, 50
    flipped = rng.choice(n, 12, replace=False)
    fps = rng.integers(1, 2**63, n, dtype=np.uint64)
    steps, batches = [], []
    for epoch in range(6):
        order = rng.permutation(n)
        for a in range(0, n, batch):
            s = order[a:a + batch]
            margin = rng.normal(1.0 + 0.3 * epoch, 1.0, len(s))  # clean samples: learned, some hard
            bad = np.isin(s, flipped)
            margin[bad] = rng.normal(-2.0, 0.5, bad.sum())  # the given label stays below another class
            label = s % classes
            predicted = np.where(margin > 0, label, (label + 1) % classes)
            prob = 1 / (1 + np.exp(-margin))
            batches.append(dynamics_files.pack_rows(fps[s], rng.random(len(s)), None, margin, prob, label,
                                                    predicted, classes))
            steps.append(len(steps))
    dynamics_files.write_dynamics(fast_writer.event_path(str(tmp_path / "train")), steps, batches, classes, False)
    idx = index.load(str(tmp_path))
    issues = idx.label_issues("train", top=12)
    assert {int(i["fingerprint"], 16) for i in issues} == set(fps[flipped].tolist())
    assert [i["score"] for i in issues] == sorted((i["score"] for i in issues), reverse=True)
    assert issues[0]["presentations"] == 6
    assert len(idx.label_issues("train")) == n
    d = idx.dynamics("train")
    # the score: the mean of the ranks of -AUM and of the share of wrong presentations, in [0, 1]
    score = (rankdata(-d.aum) + rankdata(-d.accuracy) - 2) / (2 * (n - 1))
    by_fingerprint = dict(zip(("%016x" % int(f) for f in d.fingerprint), score))
    assert [i["score"] for i in issues] == [by_fingerprint[i["fingerprint"]] for i in issues]
    by_aum = d.records(order="aum", count=12)
    assert [r["fingerprint"] for r in by_aum] == [i["fingerprint"] for i in issues]
    most_forgotten = d.records(order="forgetting", descending=True, start=1, count=3)
    assert [r["forgetting"] for r in most_forgotten] == sorted(d.forgetting, reverse=True)[1:4]
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(d.columns())
    assert len(frame) == n and "id" not in frame and frame["aum"].idxmin() == int(np.argmin(d.aum))


def test_url_logdir_reads_dynamics_through_gfile(tmp_path):
    pytest.importorskip("tensorflow")
    t = Training(10, epochs=2)
    t.write(fast_writer.event_path(str(tmp_path / "train")))
    assert_matches(index.load("file://" + str(tmp_path)).dynamics("train"), expected(t.raw))


def test_crc32c_of_rows_matches_the_writers(tmp_path):
    """tfrecord.crc32c_rows (blocks of 256 bytes chained) against the test writer's byte loop."""
    rng = np.random.default_rng(11)
    for length in (0, 1, 255, 256, 257, 1000, 6190):
        rows = rng.integers(0, 256, (9, length), dtype=np.uint8)
        np.testing.assert_array_equal(tfrecord.mask_crcs(tfrecord.crc32c_rows(rows)),
                                      fast_writer.masked_crc32c_rows(rows))


def test_key_table_maps_keys_as_a_dict_does():
    """The aggregation's hash table, growing from 1,024 places over batches of keys (random,
    consecutive ids, and keys that share their home place), against a dict."""
    rng = np.random.default_rng(12)
    table, expect = dynamics_stats.KeyTable(), {}
    batches = [rng.integers(0, 2**64 - 1, 700, dtype=np.uint64), np.arange(5000, dtype=np.uint64),
               np.array([j * pow(0x9E3779B97F4A7C15, -1, 2**64) % 2**64 for j in range(1, 300)],
                        dtype=np.uint64),  # key * golden ratio < 2**55: all at home place 0
               rng.integers(0, 2**64 - 1, 20000, dtype=np.uint64)]
    for keys in batches:
        keys = np.unique(keys)
        keys = keys[[int(k) not in expect for k in keys]]
        slots = np.arange(len(expect), len(expect) + len(keys))
        table.insert(keys, slots)
        expect.update(zip(keys.tolist(), slots.tolist()))
    everything = np.array(list(expect), dtype=np.uint64)
    probe = np.concatenate([everything, rng.integers(0, 2**64 - 1, 1000, dtype=np.uint64)])
    want = [expect.get(int(k), -1) for k in probe]
    np.testing.assert_array_equal(table.find(probe), want)
    assert table.count == len(expect) and 2 * table.count <= len(table.keys)
