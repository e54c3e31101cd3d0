"""record/host_stats.py, the numpy twins of the rows TensorFlow computes: against the TensorFlow ops
they stand in for (summary_ops, samples.SampleLayout), bit for bit except where host_stats says
the float order differs, and against an independent numpy computation (np.quantile,
np.histogram, a float64 softmax)."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from tensorboard.compat.proto import summary_pb2

from helpers.dynamics_files import decode_words
from helpers.host_rows import assert_rows_match_tensorflow, assert_same_rows
from helpers.numpy_reference import expected_distribution
from tb_batch_plugin import metadata
from tb_batch_plugin.record import host_stats, summary_ops
from tb_batch_plugin.record.samples import SampleLayout, row_fingerprints

Q, B = len(metadata.DEFAULT_QUANTILE_PROBS), metadata.DEFAULT_NUM_BINS
def _tf_distribution_rows(values_list):
    return summary_ops.distribution_tensors([tf.constant(v) for v in values_list]).numpy()


SPECIAL = {
    "empty": np.zeros(0, np.float32),
    "all_nan": np.full(5, np.nan, np.float32),
    "nonfinite_only": np.array([np.nan, np.inf, -np.inf, np.inf], np.float64),
    "constant": np.full(7, 2.5, np.float32),
    "huge_constant": np.full(4, 1e20),  # lo + 1/B == lo: TensorFlow's edges put them in the last bin
    "signed_zeros": np.array([0.0, -0.0, 0.0, -0.0]),
    "one": np.array([3.0], np.float32),
    "float16": np.array([1.5, -2.0, 65504.0, np.inf, np.nan], np.float16),
    "int64": np.arange(-20, 40, 3, dtype=np.int64),
    "int32_matrix": np.arange(24, dtype=np.int32).reshape(4, 6),
    "bool": np.array([True, False, True]),
    "overflowing_span": np.array([-1.5e308, 1.6e308, 0.0]),
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_distribution_rows_of_special_values_match_tensorflow_and_numpy(name):
    values = SPECIAL[name]
    got = host_stats.distribution_rows([values])
    assert got.shape == (1, metadata.distribution_length(Q, B)) and got.dtype == np.float64
    assert_rows_match_tensorflow(got, _tf_distribution_rows([values]))
    if name not in ("huge_constant", "overflowing_span"):  # where TensorFlow's edges are its own
        want = expected_distribution(values)
        np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_distribution_rows_of_several_sets_match_tensorflow():
    """Sets of different sizes and dtypes in one call (TensorFlow pads them into one matrix and
    takes the masked path); float32 sets with a float64 one all in float64."""
    rng = np.random.default_rng(0)
    values = [rng.normal(size=s).astype(np.float32) for s in (3, 50, 0, 17, 256)]
    values += [SPECIAL["all_nan"], SPECIAL["constant"], SPECIAL["float16"]]
    got = host_stats.distribution_rows(values)
    assert_rows_match_tensorflow(got, _tf_distribution_rows(values))
    for row, v in zip(got, values):
        np.testing.assert_allclose(row, expected_distribution(v), rtol=1e-6, atol=1e-6, equal_nan=True)
    mixed = [values[1], rng.normal(size=9)]
    assert_rows_match_tensorflow(host_stats.distribution_rows(mixed), _tf_distribution_rows(mixed))


def test_distribution_rows_with_other_layouts_match_tensorflow():
    values = [np.random.default_rng(1).gamma(2.0, size=1000)]
    for probs, bins in (((0.5,), 1), ((0.0, 0.3333, 0.999, 1.0), 7), (metadata.DEFAULT_QUANTILE_PROBS, 100)):
        got = host_stats.distribution_rows(values, probs, bins)
        want = summary_ops.distribution_tensors(values, probs, bins).numpy()
        assert_rows_match_tensorflow(got, want)
        np.testing.assert_allclose(got[0], expected_distribution(values[0], probs, bins), rtol=1e-12)


# TensorFlow flushes subnormal numbers to zero on CPU (as test_summary.py says), float32's too.
NORMAL_FLOATS = st.floats(-1e6, 1e6).filter(lambda v: v == 0 or abs(v) > 1e-30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(hnp.arrays(np.float64, st.integers(0, 300), elements=st.one_of(
    NORMAL_FLOATS, st.sampled_from([np.nan, np.inf, -np.inf]))), st.booleans()), min_size=1, max_size=4))
def test_distribution_rows_match_tensorflow(sets):
    values_list = [v.astype(np.float32) if single else v for v, single in sets]
    assert_rows_match_tensorflow(host_stats.distribution_rows(values_list), _tf_distribution_rows(values_list))


@settings(max_examples=40, deadline=None)
@given(st.lists(hnp.arrays(np.float32, st.integers(0, 40), elements=st.one_of(
    NORMAL_FLOATS, st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]))), min_size=1, max_size=5),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 7.0]))
def test_padded_rows_are_the_rows_of_each_set_whatever_the_padding(sets, padding):
    """A staged block's matrix (each set first in its row, then padding of any value) gives the
    rows TensorFlow computes of the sets (signed zeros in tf.sort's order)."""
    sizes = np.array([len(v) for v in sets])
    padded = np.full((len(sets), sizes.max() + 3), padding, np.float32)
    for r, v in enumerate(sets):
        padded[r, :len(v)] = v
    got = host_stats.padded_distribution_rows(padded, sizes)
    assert_rows_match_tensorflow(got, _tf_distribution_rows(sets))


def test_histogram_rows_match_tensorflow_bit_for_bit():
    rng = np.random.default_rng(2)
    values = [rng.normal(size=40), SPECIAL["empty"].astype(np.float64), SPECIAL["constant"].astype(np.float64),
              SPECIAL["nonfinite_only"], np.array([1e20] * 3), rng.integers(0, 5, 100).astype(np.float64)]
    stats = host_stats.distribution_rows(values)
    got = host_stats.histogram_rows(stats, Q, B)
    want = summary_ops.histogram_rows(tf.constant(stats), Q, B).numpy()
    assert got.shape == (len(values), B, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
    # np.histogram's edges and counts for an ordinary set
    counts, edges = np.histogram(values[0], bins=B)
    np.testing.assert_allclose(got[0, :, 0], edges[:-1], rtol=1e-12)
    np.testing.assert_allclose(got[0, :, 1], edges[1:], rtol=1e-12)
    np.testing.assert_array_equal(got[0, :, 2], counts)
    assert not got[1].any() and not got[3].any()
    assert (got[2, :, :2] == 2.5).all() and got[2, -1, 2] == 7 and got[2, :-1, 2].sum() == 0


# --- samples, per-class losses, dynamics -----------------------------------------------------

N, FEATURES, C = 32, 5, 3
def _batch(seed, n=N, classes=C):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    loss = rng.gamma(1.0, size=n).astype(np.float32)
    loss[[3, 7]] = loss[5]  # ties: batch order
    loss[9] = np.nan  # first, as the highest
    return x, loss, rng.normal(size=(n, classes)).astype(np.float32) * 3, rng.integers(0, classes, n)


def _outputs(kind, from_logits, logits, labels):
    """(kind, classes, from_logits, y_true, y_pred) of one output of the batch."""
    if kind == "sparse":
        y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
        return kind, C, from_logits, labels.astype(np.float32), y_pred
    if kind == "categorical":
        y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
        return kind, C, from_logits, np.eye(C, dtype=np.float32)[labels], y_pred
    if kind == "binary":
        z = logits[:, :1]
        return kind, 2, from_logits, (labels % 2).astype(np.float32)[:, None], z if from_logits else tf.sigmoid(z).numpy()
    if kind == "regression":
        return kind, None, False, labels.astype(np.float32), logits[:, 0]
    return None, None, False, None, None


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=12),
                  elements=st.sampled_from([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan])
                  | st.floats(-1e6, 1e6, width=32)))
def test_max_over_the_classes_is_numpys_max(x):
    """The max over the last axis that softmax and the margins take (over the transposed copy,
    for speed) is numpy's max of each row: NaN where the row has one, -inf, signed zeros."""
    np.testing.assert_array_equal(host_stats._max_last_axis(x), x.max(axis=-1))


def _tf_rows(layout, loss, fps, ids, per_output):
    """{tag: (row, SummaryMetadata)} of one step as the TensorFlow staging computes them."""
    columns = layout.step_columns(loss, tf.constant(fps.view(np.int64)), ids, per_output)
    rows = layout.block_rows([c[tf.newaxis] for c in columns], tf.size(columns[0])[tf.newaxis])
    return {tag: (row.numpy()[0], summary_pb2.SummaryMetadata.FromString(meta)) for tag, (row, meta, _) in rows.items()}


CASES = [("sparse", True, True), ("sparse", False, False), ("categorical", True, False),
         ("categorical", False, True), ("binary", True, True), ("binary", False, False),
         ("regression", False, True), (None, False, False)]


@pytest.mark.parametrize("kind, from_logits, with_ids", CASES)
@pytest.mark.parametrize("num_samples, dynamics", [(8, True), (8, False), (0, True), (40, False)])
def test_sample_rows_of_one_output_match_tensorflow(kind, from_logits, with_ids, num_samples, dynamics):
    x, loss, logits, labels = _batch(3)
    kind, classes, from_logits, y_true, y_pred = _outputs(kind, from_logits, logits, labels)
    ids = np.arange(N, dtype=np.int64) * 1_000_003 - 7 if with_ids else None
    fps = row_fingerprints(x).numpy().view(np.uint64)
    layout = SampleLayout(num_samples, [("", kind, classes, from_logits)], with_ids, False, dynamics)
    want = _tf_rows(layout, loss, fps, ids, [(None, y_true, y_pred)])
    got = host_stats.sample_rows(loss, fps, ids, [("", kind, classes, from_logits, y_true, y_pred)],
                                 num_samples, dynamics)
    assert_same_rows(got, want)


def test_sample_rows_of_several_outputs_match_tensorflow():
    """As BatchStats records a model with two outputs: tags and fields per output ("/<name>"),
    each output's own loss for its per-class losses and dynamics; labels outside the classes."""
    x, loss, logits, labels = _batch(4)
    labels[[0, 1]] = [-1, C]  # no class: left out of the per-class losses, label -1 in dynamics
    own = [np.random.default_rng(5).gamma(1.0, size=N).astype(np.float32), loss - 0.25]
    described = [("/a", "sparse", C, True, labels.astype(np.float32), logits),
                 ("/b", "binary", 2, False, (labels % 2)[:, None].astype(np.float32), tf.sigmoid(logits[:, :1]).numpy())]
    fps = row_fingerprints(x).numpy().view(np.uint64)
    ids = np.arange(N, dtype=np.int64)
    layout = SampleLayout(8, [d[:4] for d in described], True, True, True)
    want = _tf_rows(layout, loss, fps, ids, [(o,) + d[4:] for o, d in zip(own, described)])
    got = host_stats.sample_rows(loss, fps, ids, [d + (o,) for d, o in zip(described, own)], 8, True)
    assert_same_rows(got, want)
    assert sorted(got) == sorted([metadata.DYNAMICS_TAG + "/a", metadata.DYNAMICS_TAG + "/b", metadata.SAMPLES_TAG,
                                  metadata.PER_CLASS_TAG + "/a", metadata.PER_CLASS_TAG + "/b"])


def test_sample_rows_match_an_independent_computation():
    """The top samples, their labels and probabilities, per-class losses and dynamics recomputed
    with plain numpy (float64 softmax) from the layout in metadata."""
    x, loss, logits, labels = _batch(6)
    loss[9] = 0.5  # no NaN here: numpy's own sort
    fps = row_fingerprints(x).numpy().view(np.uint64)
    rows = host_stats.sample_rows(loss, fps, None, [("", "sparse", C, True, labels, logits)], 8, True)
    samples, samples_meta = rows[metadata.SAMPLES_TAG]
    fields = list(metadata.parse_plugin_data(samples_meta.plugin_data.content).fields)
    table = {name: samples.reshape(8, -1)[:, j] for j, name in enumerate(fields)}
    order = np.argsort(-loss.astype(np.float64), kind="stable")[:8]
    e = np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True))
    probs = e / e.sum(1, keepdims=True)
    np.testing.assert_array_equal(table["position"], order)
    np.testing.assert_array_equal(table["loss"], loss[order])
    np.testing.assert_allclose(table["share"], loss[order] / loss.astype(np.float64).sum(), rtol=1e-14)
    got_fps = (table["fingerprint_hi"].astype(np.uint64) << np.uint64(32)) | table["fingerprint_lo"].astype(np.uint64)
    np.testing.assert_array_equal(got_fps, fps[order])
    assert np.isnan(table["id"]).all()
    np.testing.assert_array_equal(table["label"], labels[order])
    np.testing.assert_array_equal(table["predicted"], logits[order].argmax(1))
    np.testing.assert_allclose(table["probability"], probs[order].max(1), rtol=1e-6)
    np.testing.assert_allclose(table["label_probability"], probs[order, labels[order]], rtol=1e-6)
    per_class = rows[metadata.PER_CLASS_TAG][0]
    counts = np.bincount(labels, minlength=C)
    np.testing.assert_array_equal(per_class[C:], counts)
    np.testing.assert_allclose(per_class[:C], np.bincount(labels, loss.astype(np.float64), C) / counts, rtol=1e-14)
    words, dyn_meta = rows[metadata.DYNAMICS_TAG]
    assert words.dtype == np.int32 and words.shape == (N, 6)
    d = decode_words(words, metadata.parse_plugin_data(dyn_meta.plugin_data.content).fields)
    np.testing.assert_array_equal(d["fingerprint"], fps)
    np.testing.assert_array_equal(d["loss"], loss)
    np.testing.assert_array_equal(d["label"], labels)
    np.testing.assert_array_equal(d["predicted"], logits.argmax(1))
    own = logits[np.arange(N), labels]
    other = np.where(np.eye(C, dtype=bool)[labels], -np.inf, logits).max(1)
    np.testing.assert_array_equal(d["margin"], own - other)
    np.testing.assert_allclose(d["label_probability"], probs[np.arange(N), labels], rtol=1e-6)


@pytest.mark.parametrize("kind, from_logits, with_ids", CASES)
@pytest.mark.parametrize("num_samples, dynamics", [(8, True), (0, True), (40, False)])
def test_sample_columns_of_a_block_are_each_steps_sample_rows(kind, from_logits, with_ids, num_samples, dynamics):
    """Steps made together (as BatchStats' writer does on JAX and PyTorch, a block of steps with
    a partial batch in it) give every step the bytes of its own sample_rows (checked above
    against TensorFlow), per tag in the same order; each batch size a column of its own. The same
    from the steps staged as TensorFlow stages them (padded_sample_columns)."""
    steps, sizes = [], [N, N, 7, N, 1]
    for seed, n in enumerate(sizes):
        x, loss, logits, labels = _batch(seed, n=max(n, 10))
        x, loss, logits, labels = x[:n], loss[:n], logits[:n], labels[:n]
        kind_, classes, from_logits_, y_true, y_pred = _outputs(kind, from_logits, logits, labels)
        own = loss * np.float32(0.5)
        ids = np.arange(n, dtype=np.int64) * 1_000_003 - seed if with_ids else None
        steps.append((loss, row_fingerprints(x).numpy().view(np.uint64), ids,
                      [("", kind_, classes, from_logits_, y_true, y_pred),
                       ("/b", "sparse", C, True, labels.astype(np.float32), logits * 2, own)]))
    want = [host_stats.sample_rows(*step, num_samples=num_samples, dynamics=dynamics) for step in steps]
    # The same steps as TensorFlow stages them (staged_events): padded matrices, padding of junk.
    padded = [_padded([np.asarray(step[c], np.float32 if c == 0 else None) for step in steps])
              for c in range(3 if with_ids else 2)] + ([None] if not with_ids else [])
    def column(o, c):  # output o's c-th part (4: y_true, 5: y_pred, 6: own loss) of every step
        if len(steps[0][3][o]) <= c or steps[0][3][o][c] is None:
            return None
        return _padded([np.asarray(step[3][o][c], np.float32) for step in steps])

    outputs = [described[:4] + (column(o, 4), column(o, 5), column(o, 6)) for o, described in enumerate(steps[0][3])]
    made = {"sample_columns": host_stats.sample_columns(steps, num_samples, dynamics),
            "padded_sample_columns": host_stats.padded_sample_columns(sizes, *padded, outputs, num_samples, dynamics)}
    for source, columns in made.items():
        got = [{} for _ in steps]
        for tag, rows, values, meta in columns:
            assert len(values) == len(rows)
            for i, value in zip(rows, values):
                got[i][tag] = (value, meta)
        for g, w in zip(got, want):
            assert list(g) == list(w), source
            for tag in w:
                assert g[tag][0].dtype == w[tag][0].dtype and g[tag][0].shape == w[tag][0].shape, (source, tag)
                assert g[tag][0].tobytes() == w[tag][0].tobytes(), (source, tag)
                assert g[tag][1].SerializeToString() == w[tag][1].SerializeToString()


def _padded(rows):
    """Each step's vector (its batch's values) first in a row of junk, the rows as wide as the
    longest (a step of the widest batch is among them)."""
    rows = [np.asarray(r).reshape(-1) for r in rows]  # flat, as a step stages them
    out = np.full((len(rows), max(len(r) for r in rows)), 7, rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out
