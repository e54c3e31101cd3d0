"""Fingerprints on the host without TensorFlow (``tb_batch_plugin.fingerprints``), against
``tf.fingerprint`` itself: the numpy farmhash64 must give the recorded fingerprints bit for bit,
for every branch of farmhash (row lengths 0 to 300 bytes and longer), every dtype a model takes,
strings and multi-input structures; ``find`` must lead back to the rows; and a process that
only fingerprints numpy data must never import TensorFlow.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tb_batch_plugin as tbb
from tb_batch_plugin import fingerprints
from tb_batch_plugin.record import samples

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint8, np.bool_, np.complex64]


def tf_rows(x):
    """The reference: the in-graph fingerprints the recorder writes, as uint64."""
    return samples.row_fingerprints(x).numpy().view(np.uint64)


def random_array(rng, dtype, shape):
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.normal(size=shape) * 1e3).astype(dtype)


@pytest.mark.parametrize("length", list(range(0, 301)) + [511, 512, 513, 1000, 3136])
def test_every_row_length_matches_tf_fingerprint(length):
    # 0, 1-3, 4-7, 8-16, 17-32, 33-64 bytes, then the 64-byte loop: whole chunks and remainders
    rows = np.random.default_rng(length).integers(0, 256, (23, length), dtype=np.uint8)
    reference = tf.bitcast(tf.fingerprint(rows), tf.uint64).numpy()
    np.testing.assert_array_equal(fingerprints.hash_rows(rows), reference)
    np.testing.assert_array_equal(fingerprints.row_fingerprints(rows), reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(17, 1), (9, 3), (9, 5), (5, 7, 3), (6, 40), (4, 300), (3, 0)])
def test_every_dtype_matches_tf_fingerprint(dtype, shape):
    x = random_array(np.random.default_rng(sum(shape)), dtype, shape)
    np.testing.assert_array_equal(fingerprints.row_fingerprints(x), tf_rows(x))


def test_layouts_tf_sees_as_the_same_rows():
    # a view with strides, and big-endian values: TensorFlow hashes the values' little-endian bytes
    x = np.random.default_rng(1).normal(size=(12, 30)).astype(np.float32)
    for view in (x[::3, ::2], x.T, x.astype(">f4"), np.arange(40, dtype=">i8").reshape(8, 5)):
        np.testing.assert_array_equal(fingerprints.row_fingerprints(view), tf_rows(np.asarray(view)))
    assert fingerprints.row_fingerprints(np.zeros((0, 6), np.float32)).shape == (0,)


def test_several_inputs_match_tf_fingerprint():
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(size=(11, 4)).astype(np.float32), rng.integers(0, 9, (11, 2)), rng.random((11, 33))
    for x in ([a, b], (a, b, c), {"z": a, "a": b}, {"b": [a, c], "a": {"y": b, "x": c}}):
        np.testing.assert_array_equal(fingerprints.row_fingerprints(x), tf_rows(x))
    with pytest.raises(ValueError, match="numbers of rows"):
        fingerprints.row_fingerprints([a, b[:3]])


def test_strings_match_tf_fingerprint():
    # one string per row: its own fingerprint; several: the fingerprint of their fingerprints
    long = "x" * 70
    for x in (np.array([b"abc", b"", b"a\x00b", long.encode() * 3]), np.array(["héllo", "", "日本語", long]),
              np.array([["a", "bb"], ["ccc", ""], ["d", long]]), np.array([[[b"a"], [b"bb"]], [[b"c"], [b""]]])):
        np.testing.assert_array_equal(fingerprints.row_fingerprints(x), tf_rows(x))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([np.dtype(d) for d in DTYPES]),
                  hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=24)))
def test_generated_arrays_match_tf_fingerprint(x):
    np.testing.assert_array_equal(fingerprints.row_fingerprints(x), tf_rows(x))


def test_fingerprint_takes_inputs_as_keras_hands_them():
    import keras

    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 6))  # float64: Keras hands the model floatx
    ids = rng.integers(0, 100, (20, 1))  # integers stay as they are
    floats = x.astype(keras.backend.floatx())
    np.testing.assert_array_equal(tbb.fingerprint(x), tf_rows(floats))
    np.testing.assert_array_equal(tbb.fingerprint({"x": x, "id": ids}), tf_rows({"x": floats, "id": ids}))
    np.testing.assert_array_equal(tbb.fingerprint(tf.constant(floats)), tf_rows(floats))
    with pytest.raises(TypeError, match="one row per sample"):
        tbb.fingerprint(np.float32(3))


def test_datasets_are_taken_as_they_are():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(23, 5)).astype(np.float32), rng.integers(0, 3, 23)
    words = np.array(["w%d" % i for i in range(23)])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    np.testing.assert_array_equal(tbb.fingerprint(data), tf_rows(x))
    both = tf.data.Dataset.from_tensor_slices({"x": x, "w": words}).batch(4)
    np.testing.assert_array_equal(tbb.fingerprint(both), tf_rows({"x": x, "w": words}))
    assert tbb.fingerprint(data.take(0)).shape == (0,)


def test_jax_arrays_and_torch_tensors_give_numpy_fingerprints():
    import jax.numpy as jnp
    import torch

    rng = np.random.default_rng(6)
    x, ids = rng.normal(size=(15, 9)).astype(np.float32), rng.integers(0, 1000, (15, 2), dtype=np.int32)  # JAX's ints
    expected = tbb.fingerprint(x)
    np.testing.assert_array_equal(tbb.fingerprint(jnp.asarray(x)), expected)
    np.testing.assert_array_equal(tbb.fingerprint(torch.tensor(x, requires_grad=True)), expected)
    np.testing.assert_array_equal(tbb.fingerprint([torch.from_numpy(x), jnp.asarray(ids)]),
                                  tbb.fingerprint([x, ids]))
    half = torch.tensor(x).to(torch.bfloat16)  # no numpy dtype: taken as the floats it holds
    np.testing.assert_array_equal(tbb.fingerprint(half), tbb.fingerprint(half.float().numpy()))
    assert tbb.find(jnp.asarray(x), expected[[4, 2]]).tolist() == [4, 2]


def test_find_leads_back_to_rows():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    x[300] = x[100]  # a duplicate row: find gives the first
    fps = tbb.fingerprint(x)
    picked = rng.permutation(500)[:50]
    expected = np.where(picked == 300, 100, picked)
    np.testing.assert_array_equal(tbb.find(x, fps[picked]), expected)
    np.testing.assert_array_equal(tbb.find(x, [fingerprints.hex_fingerprint(f) for f in fps[picked]]), expected)
    assert tbb.find(x, [0, 2 ** 64 - 1, int(fps[7])]).tolist() == [-1, -1, 7]
    assert tbb.find(x[:0], fps[:3]).tolist() == [-1, -1, -1]
    assert tbb.find(x, []).tolist() == []
    assert samples.find is tbb.find and samples.fingerprint is tbb.fingerprint


def test_find_in_100k_rows_takes_well_under_a_second():
    x = np.random.default_rng(8).normal(size=(100_000, 784)).astype(np.float32)
    fps = fingerprints.row_fingerprints(x[[5, 99_999]])
    start = time.perf_counter()
    assert tbb.find(x, fps).tolist() == [5, 99_999]
    assert time.perf_counter() - start < 3.0  # about 0.3 s on two cores; a loop over rows takes minutes


def run_python(code, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": REPO, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_numpy_fingerprints_never_import_tensorflow():
    x = np.random.default_rng(9).normal(size=(30, 7))
    code = ("import sys, numpy as np, tb_batch_plugin as tbb\n"
            "x = np.random.default_rng(9).normal(size=(30, 7))\n"
            "fps = tbb.fingerprint(x)\n"
            "assert tbb.find(x, fps[[3, 1]]).tolist() == [3, 1]\n"
            "assert tbb.find({'a': x}, list(fps[:2])).tolist() == [0, 1]\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'\n"
            "print(' '.join(map(str, fps)))\n")
    got = np.array(run_python(code).split(), dtype=np.uint64)
    np.testing.assert_array_equal(got, tf_rows(x.astype(np.float32)))


def test_floatx_of_keras_json_before_keras_is_imported(tmp_path):
    # Keras would read floatx from keras.json at import: the fingerprints are the same before and after
    (tmp_path / "keras.json").write_text(json.dumps({"floatx": "float64"}))
    code = ("import sys, numpy as np, tb_batch_plugin as tbb\n"
            "x = np.random.default_rng(10).normal(size=(8, 3)).astype(np.float32)\n"
            "before = tbb.fingerprint(x)\n"
            "assert 'keras' not in sys.modules\n"
            "import keras\n"
            "assert keras.backend.floatx() == 'float64'\n"
            "assert (tbb.fingerprint(x) == before).all()\n"
            "print(' '.join(map(str, before)))\n")
    got = np.array(run_python(code, KERAS_HOME=str(tmp_path), KERAS_BACKEND="numpy").split(), dtype=np.uint64)
    x = np.random.default_rng(10).normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_array_equal(got, tf_rows(x.astype(np.float64)))
