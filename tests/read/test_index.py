"""The lossless event-file index (tb_batch_plugin.read): values compared with the numpy arrays
the events were written from, and with TensorBoard's own EventFileLoader."""

import glob
import os

import numpy as np
import pytest

from helpers import fast_writer
from helpers import event_files
from tb_batch_plugin import metadata
from tb_batch_plugin.read import index, tfrecord


def _scalars(rng, n):
    v = rng.normal(size=n).astype(np.float32)
    v[[3, n // 2, n - 1]] = [np.nan, np.inf, -np.inf]
    return v


def test_fast_path_bulk_matches_written_values(tmp_path):
    rng = np.random.default_rng(0)
    n = 20000
    steps = np.concatenate([np.arange(0, 150), np.arange(150, n - 150) * 3, [2**35, 2**40 + 7]])
    steps = np.unique(steps)[: n - 1]
    loss = _scalars(rng, steps.size)
    acc = rng.uniform(size=steps.size).astype(np.float32)
    p = fast_writer.event_path(str(tmp_path / "train"))
    fast_writer.write_scalars(p, "loss", steps, loss)
    fast_writer.write_scalars(p, "acc1", steps, acc)  # same name length as "loss": same record length
    samples = rng.normal(size=(40, 32))
    fast_writer.write_distributions(p, "per_sample_loss", np.arange(40) * 10, samples)

    idx = index.load(str(tmp_path))
    assert idx.runs() == ["train"]
    assert idx.tags("train") == {"loss": "scalar", "acc1": "scalar", "per_sample_loss": "distribution"}
    s = idx.scalars("train", "loss")
    assert s.steps.dtype == np.int64 and s.wall_times.dtype == np.float64
    np.testing.assert_array_equal(s.steps, steps)
    np.testing.assert_array_equal(s.values, loss)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(s.wall_times, 1.7e9 + steps * 0.01)
    np.testing.assert_array_equal(idx.scalars("train", "acc1").values, acc)

    d = idx.distributions("train", "per_sample_loss")
    np.testing.assert_array_equal(d.steps, np.arange(40) * 10)
    np.testing.assert_allclose(d.quantile_probs, metadata.DEFAULT_QUANTILE_PROBS)
    np.testing.assert_array_equal(d.count, 32)
    np.testing.assert_allclose(d.min, samples.min(1))
    np.testing.assert_allclose(d.max, samples.max(1))
    np.testing.assert_allclose(d.mean, samples.mean(1))
    np.testing.assert_allclose(d.quantiles, np.quantile(samples, metadata.DEFAULT_QUANTILE_PROBS, axis=1).T)
    assert d.histograms.shape == (40, metadata.DEFAULT_NUM_BINS)
    np.testing.assert_array_equal(d.histograms.sum(1), 32)
    edges = d.bin_edges
    assert edges.shape == (40, metadata.DEFAULT_NUM_BINS + 1)
    np.testing.assert_allclose(edges[:, 0], samples.min(1))
    np.testing.assert_allclose(edges[:, -1], samples.max(1))
    np.testing.assert_allclose(d.step_bin_edges(5), edges[5])
    assert idx.corrupt_records == 0
    # Memory: int64 step + float64 wall time + float32 value.
    assert idx.nbytes() <= 24 * (2 * steps.size) + d.data.nbytes + 16 * 40


def test_tf_summary_files_match_tensorboard_loader(tmp_path):
    """Events written by TensorFlow itself (step 0 has no step field, metadata on every event),
    read by the index and by TensorBoard's EventFileLoader."""
    tf = pytest.importorskip("tensorflow")
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    steps = [0, 1, 2, 127, 128, 129, 16383, 16384, 2**21, 2**35, 2**35 + 1]
    w = tf.summary.create_file_writer(str(tmp_path / "run"))
    with w.as_default():
        for i, s in enumerate(steps):
            tf.summary.write("loss", tf.constant(0.5 * i - 1, tf.float32), step=s,
                             metadata=metadata.scalar_metadata())
            tf.summary.write("lr64", tf.constant(1e-3 / (i + 1), tf.float64), step=s,
                             metadata=metadata.scalar_metadata())
            tf.summary.scalar("plain_scalar", 1.0, step=s)  # another writer's scalar: read too
    w.close()
    expected = {}
    for f in glob.glob(str(tmp_path / "run" / "*tfevents*")):
        for ev in event_file_loader.EventFileLoader(f).Load():
            for v in ev.summary.value:
                expected.setdefault(v.tag, []).append(
                    (ev.step, ev.wall_time, float(tensor_util.make_ndarray(v.tensor))))
    idx = index.load(str(tmp_path))
    assert idx.tags("run") == {"loss": "scalar", "lr64": "scalar", "plain_scalar": "scalar"}
    assert [(i.tag, i.source, i.provenance) for i in idx.series("run")] == [
        ("loss", "tb_batch", "custom"), ("lr64", "tb_batch", "custom"), ("plain_scalar", "scalars", "logged")]
    for tag in ("loss", "lr64", "plain_scalar"):
        s = idx.scalars("run", tag)
        e = np.array(expected[tag])
        np.testing.assert_array_equal(s.steps, e[:, 0].astype(np.int64))
        np.testing.assert_array_equal(s.steps, steps)
        np.testing.assert_array_equal(s.wall_times, e[:, 1])
        np.testing.assert_array_equal(np.asarray(s.values, np.float64), e[:, 2])
    assert idx.scalars("run", "lr64").values.dtype == np.float64
    with pytest.raises(KeyError):
        idx.scalars("run", "plain_scalar", source="tb_batch")


def test_unusual_encodings_take_the_protobuf_path(tmp_path):
    """Several values per summary, float_val / double_val encodings, metadata only on the first
    event, negative steps, other plugins' tags: all read exactly."""
    meta = metadata.scalar_metadata()
    dmeta = metadata.distribution_metadata(quantile_probs=(0.0, 0.5, 1.0), num_bins=2)
    drow = np.array([3, 0, 0, 0, 1.0, 3.0, 2.0, 0.8, 1.0, 2.0, 3.0, 1, 2])
    evs = [event_files.file_version_event()]
    for i, step in enumerate([-5, -1, 0, 7, 300]):
        evs.append(event_files.event(step, 100.0 + i, [
            ("multi_a", event_files.tensor_proto(i * 1.5, encoding="float_val"), meta if i == 0 else None),
            ("multi_b", event_files.tensor_proto(-i, dtype=np.float64, encoding="double_val"), meta if i == 0 else None),
            ("theirs", event_files.tensor_proto(float(i)), event_files.other_plugin_metadata() if i == 0 else None),
        ]))
        evs.append(event_files.event(step, 100.5 + i, [("d", event_files.tensor_proto(drow + i, dtype=np.float64),
                                                dmeta if i == 0 else None)]))
    event_files.write_events(str(tmp_path / "events.out.tfevents.1.x"), evs)
    idx = index.load(str(tmp_path))
    assert idx.runs() == ["."]
    assert idx.tags(".") == {"multi_a": "scalar", "multi_b": "scalar", "d": "distribution", "theirs": "scalar"}
    a = idx.scalars(".", "multi_a")
    np.testing.assert_array_equal(a.steps, [-5, -1, 0, 7, 300])
    np.testing.assert_array_equal(a.values, np.arange(5) * 1.5)
    np.testing.assert_array_equal(a.wall_times, 100.0 + np.arange(5))
    np.testing.assert_array_equal(idx.scalars(".", "multi_b").values, -np.arange(5))
    d = idx.distributions(".", "d")
    np.testing.assert_array_equal(d.data, drow[None, :] + np.arange(5)[:, None])
    np.testing.assert_array_equal(d.quantile_probs, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(d.histograms[0], [1, 2])
    theirs = idx.scalars(".", "theirs", source="scalars")  # metadata on its first event only
    np.testing.assert_array_equal(theirs.values, np.arange(5))
    with pytest.raises(KeyError):
        idx.scalars(".", "theirs", source="tb_batch")
    with pytest.raises(KeyError):
        idx.scalars(".", "d")  # a distribution, not a scalar
    with pytest.raises(KeyError):
        idx.tags("nope")


def test_incremental_reload_and_truncated_tail(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "a" / "b"))
    v = np.arange(3000, dtype=np.float32)
    fast_writer.write_scalars(p, "x", np.arange(1000), v[:1000])
    idx = index.load(str(tmp_path))
    assert idx.runs() == ["a/b"]
    assert len(idx.scalars("a/b", "x").steps) == 1000
    fast_writer.write_scalars(p, "x", np.arange(1000, 2000), v[1000:2000])
    # Half of one more record: invisible until the rest arrives.
    tail = str(tmp_path / "tail")
    fast_writer.write_scalars(tail, "x", [2000], v[2000:2001])
    rec = open(tail, "rb").read()
    last = event_files.record_spans(tail)[-1][0]
    rec = rec[last:]
    with open(p, "ab") as f:
        f.write(rec[:7])
    idx.reload()
    s = idx.scalars("a/b", "x")
    np.testing.assert_array_equal(s.steps, np.arange(2000))
    with open(p, "ab") as f:
        f.write(rec[7:30])
    idx.reload()
    assert len(idx.scalars("a/b", "x").steps) == 2000
    with open(p, "ab") as f:
        f.write(rec[30:])
    idx.reload()
    s = idx.scalars("a/b", "x")
    np.testing.assert_array_equal(s.steps, np.arange(2001))
    np.testing.assert_array_equal(s.values, v[:2001])
    assert idx.corrupt_records == 0
    # A new run appears.
    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "c")), "y", [5], [1.0])
    assert idx.reload().runs() == ["a/b", "c"]


def test_corrupt_records_are_skipped_and_counted(tmp_path):
    p = fast_writer.event_path(str(tmp_path / "r"))
    n = 500
    fast_writer.write_scalars(p, "x", np.arange(n), np.arange(n, dtype=np.float32))
    spans = event_files.record_spans(p)  # record 0 is the file_version event
    off, length = spans[101]  # step 100: flip a byte of the data
    event_files.flip_byte(p, off + 12 + length - 3)
    off, _ = spans[301]  # step 300: flip a byte of the length field (header CRC fails)
    event_files.flip_byte(p, off + 1)
    idx = index.load(str(tmp_path))
    s = idx.scalars("r", "x")
    expected = np.setdiff1d(np.arange(n), [100, 300])
    np.testing.assert_array_equal(s.steps, expected)
    np.testing.assert_array_equal(s.values, expected.astype(np.float32))
    assert idx.corrupt_records == 2
    # Corruption is counted once, not on every reload.
    fast_writer.write_scalars(p, "x", [n], [1.0])
    assert idx.reload().corrupt_records == 2
    assert idx.scalars("r", "x").steps[-1] == n


def test_corrupt_record_in_protobuf_path(tmp_path):
    meta = metadata.scalar_metadata()
    evs = [event_files.event(i, 1.0, [("a", event_files.tensor_proto(float(i), encoding="float_val"), meta),
                              ("b", event_files.tensor_proto(float(i), encoding="float_val"), meta)])
           for i in range(5)]
    path = str(tmp_path / "events.out.tfevents.2.y")
    event_files.write_events(path, evs)
    off, length = event_files.record_spans(path)[2]
    event_files.flip_byte(path, off + 12 + length // 2)
    idx = index.load(str(tmp_path))
    np.testing.assert_array_equal(idx.scalars(".", "a").steps, [0, 1, 3, 4])
    assert idx.corrupt_records == 1


def test_restart_discards_later_steps_of_earlier_attempt(tmp_path):
    run = tmp_path / "r"
    p1 = fast_writer.event_path(str(run))
    fast_writer.write_scalars(p1, "x", np.arange(100), np.zeros(100, np.float32))
    fast_writer.write_scalars(p1, "x", np.arange(50, 80), np.ones(30, np.float32))  # restart at 50
    idx = index.load(str(tmp_path))
    s = idx.scalars("r", "x")
    np.testing.assert_array_equal(s.steps, np.arange(80))
    np.testing.assert_array_equal(s.values, np.r_[np.zeros(50), np.ones(30)])
    # A second file (a restarted process) going back to step 70, read on a later reload.
    p2 = str(run / "events.out.tfevents.9999999999.zz")
    fast_writer.write_scalars(p2, "x", np.arange(70, 90), np.full(20, 2, np.float32))
    s = idx.reload().scalars("r", "x")
    np.testing.assert_array_equal(s.steps, np.arange(90))
    np.testing.assert_array_equal(s.values, np.r_[np.zeros(50), np.ones(20), np.full(20, 2)])


def test_missing_logdir_and_unknown_names(tmp_path):
    idx = index.load(str(tmp_path / "missing"))
    assert idx.runs() == []
    with pytest.raises(KeyError):
        idx.scalars("train", "loss")
    os.makedirs(tmp_path / "empty")
    assert index.load(str(tmp_path / "empty")).runs() == []


def _naive_frames(buf):
    import struct
    offs, lens, pos = [], [], 0
    while pos + 12 <= len(buf):
        n = struct.unpack_from("<Q", buf, pos)[0]
        if pos + 16 + n > len(buf):
            break
        offs.append(pos)
        lens.append(n)
        pos += 16 + n
    return offs, lens, pos


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6), st.integers(0, 400),
       st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 60)), max_size=4), st.integers(0, 30))
def test_bulk_framing_equals_the_plain_loop(pattern, repeats, changes, cut):
    """Framing with periodic jumps visits exactly the records the plain loop visits."""
    import struct
    lengths = (pattern * (repeats + 1))
    for at, ln in changes:  # break the period here and there
        if at < len(lengths):
            lengths[at] = ln
    rng = np.random.default_rng(len(lengths))
    parts = []
    for ln in lengths:
        parts.append(struct.pack("<Q", ln) + rng.integers(0, 256, 8 + ln, dtype=np.uint8).tobytes())
    buf = b"".join(parts)
    buf = buf[:max(0, len(buf) - cut)]
    o, ln, pos = tfrecord.frame_lengths(buf, 0)
    no, nl, npos = _naive_frames(buf)
    assert o.tolist() == no and ln.tolist() == nl and pos == npos


def test_interleaved_tags_with_a_corrupt_record_and_a_pattern_break(tmp_path):
    meta, dmeta = metadata.scalar_metadata(), metadata.distribution_metadata(num_bins=3)
    row = np.arange(metadata.distribution_length(len(metadata.DEFAULT_QUANTILE_PROBS), 3), dtype=np.float64)
    evs = [event_files.file_version_event()]
    for step in range(600):
        evs.append(event_files.event(step, 1.0 + step, [("a", event_files.tensor_proto(np.float32(step)), meta)]))
        evs.append(event_files.event(step, 1.0 + step, [("bb", event_files.tensor_proto(np.float32(-step)), meta)]))
        if step % 3 == 0:
            evs.append(event_files.event(step, 1.0 + step, [("d", event_files.tensor_proto(row + step, dtype=np.float64), dmeta)]))
        if step == 300:
            evs.append(event_files.event(step, 2.0, [("other", event_files.tensor_proto(np.float32(1)), meta)]))
    path = str(tmp_path / "events.out.tfevents.5.z")
    event_files.write_events(path, evs)
    spans = event_files.record_spans(path)
    off, length = spans[1000]
    event_files.flip_byte(path, off + 12 + length - 1)
    idx = index.load(str(tmp_path))
    assert idx.corrupt_records == 1
    a, b = idx.scalars(".", "a"), idx.scalars(".", "bb")
    assert len(a.steps) + len(b.steps) == 1199
    np.testing.assert_array_equal(a.values, a.steps.astype(np.float32))
    np.testing.assert_array_equal(b.values, -b.steps.astype(np.float32))
    np.testing.assert_array_equal(a.wall_times, 1.0 + a.steps)
    d = idx.distributions(".", "d")
    np.testing.assert_array_equal(d.steps, np.arange(0, 600, 3))
    np.testing.assert_array_equal(d.data, row[None, :] + d.steps[:, None])
    np.testing.assert_array_equal(idx.scalars(".", "other").steps, [300])


def test_url_logdir_goes_through_gfile(tmp_path):
    """A logdir given as a URL is read with TensorBoard's gfile (here file://, as gs:// would be)."""
    pytest.importorskip("tensorflow")
    p = fast_writer.event_path(str(tmp_path / "run"))
    fast_writer.write_scalars(p, "x", np.arange(300), np.arange(300, dtype=np.float32))
    idx = index.load("file://" + str(tmp_path))
    assert idx.runs() == ["run"]
    np.testing.assert_array_equal(idx.scalars("run", "x").steps, np.arange(300))
    fast_writer.write_scalars(p, "x", [300], [1.0])
    assert len(idx.reload().scalars("run", "x").steps) == 301
