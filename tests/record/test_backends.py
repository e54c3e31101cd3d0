"""BatchStats on every Keras backend (TensorFlow, JAX, PyTorch): the same tags with the same
values, against an independent numpy reference of the same training (forward, backward and SGD by
hand); History unchanged; the same fingerprints; no TensorFlow imported on JAX and PyTorch.

Each backend trains in a subprocess (tests/helpers/backend_fit.py): Keras fixes its backend when
it is imported.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tb_batch_plugin as tbb
from tests.helpers.backend_fit import BATCH, EPOCHS, N, make_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ["tensorflow", "jax", "torch"]


def _fit(backend, logdir, out, *extra):
    if importlib.util.find_spec(backend) is None:
        pytest.skip("the %s backend is not installed (make test installs it)" % backend)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               XLA_FLAGS="--xla_force_host_platform_device_count=1")
    result = subprocess.run([sys.executable, "-m", "tests.helpers.backend_fit", "--logdir", str(logdir),
                             "--out", str(out), *extra], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    with np.load(str(out) + ".npz") as f:
        weights = [f["arr_%d" % i] for i in range(len(f.files))]
    with open(str(out) + ".json") as f:
        info = json.load(f)
    return weights, info, result.stderr


@pytest.fixture(scope="module", params=BACKENDS)
def recorded(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    weights, info, stderr = _fit(request.param, tmp / "logs", tmp / "out")
    _, plain, _ = _fit(request.param, tmp / "plain", tmp / "plain_out", "--without")
    return request.param, tbb.load(str(tmp / "logs")), weights, info, plain, stderr


def numpy_reference(weights):
    """Every step of the fit of backend_fit.py by hand in float64: Dense(16, relu), Dense(3),
    sparse cross-entropy from logits times the sample weight over the batch size, SGD(0.1)."""
    w1, b1, w2, b2 = [np.asarray(w, np.float64) for w in weights]
    x, y, sw, vx, vy = make_data()
    out = {k: [] for k in ("loss", "accuracy", "grad_norm", "per_sample_loss", "predictions",
                           "val_loss", "val_accuracy")}

    def forward(xb):
        h = np.maximum(xb @ w1 + b1, 0.0)
        return h, h @ w2 + b2

    def cross_entropy(logits, yb):
        z = logits - logits.max(1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -log_p[np.arange(len(yb)), yb], np.exp(log_p)

    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):
            xb, yb, wb = x[i:i + BATCH].astype(np.float64), y[i:i + BATCH], sw[i:i + BATCH].astype(np.float64)
            h, logits = forward(xb)
            ce, p = cross_entropy(logits, yb)
            out["loss"].append(np.sum(ce * wb) / len(xb))
            out["accuracy"].append(np.mean(np.argmax(logits, 1) == yb))
            out["per_sample_loss"].append(ce * wb)
            out["predictions"].append(logits.ravel())
            d_logits = (p - np.eye(3)[yb]) * wb[:, None] / len(xb)
            d_h = (d_logits @ w2.T) * (h > 0)
            grads = [xb.T @ d_h, d_h.sum(0), h.T @ d_logits, d_logits.sum(0)]
            out["grad_norm"].append(np.sqrt(sum(np.sum(g * g) for g in grads)))
            w1, b1, w2, b2 = [w - 0.1 * g for w, g in zip((w1, b1, w2, b2), grads)]
        for i in range(0, len(vx), BATCH):
            _, logits = forward(vx[i:i + BATCH].astype(np.float64))
            ce, _ = cross_entropy(logits, vy[i:i + BATCH])
            out["val_loss"].append(ce.mean())
            out["val_accuracy"].append(np.mean(np.argmax(logits, 1) == vy[i:i + BATCH]))
    return out


def test_every_step_is_recorded_with_the_reference_values(recorded):
    backend, data, weights, _, _, _ = recorded
    ref = numpy_reference(weights)
    steps = len(ref["loss"])
    for tag in ("loss", "accuracy", "grad_norm"):
        series = data.scalars("train", tag)
        assert series.steps.tolist() == list(range(steps)), (backend, tag)
        np.testing.assert_allclose(series.values, ref[tag], rtol=2e-5, atol=2e-6, err_msg="%s %s" % (backend, tag))
    np.testing.assert_allclose(data.scalars("train", "learning_rate").values, 0.1, rtol=1e-7)
    losses = data.distributions("train", "per_sample_loss")
    assert losses.steps.tolist() == list(range(steps))
    for i, values in enumerate(ref["per_sample_loss"]):
        stats = losses.data[i]
        assert stats[0] == len(values)
        np.testing.assert_allclose(stats[4:7], [values.min(), values.max(), values.mean()], rtol=2e-5, atol=2e-6)
    predictions = data.distributions("train", "predictions")
    assert [int(s[0]) for s in predictions.data] == [len(p) for p in ref["predictions"]]
    for tag in ("loss", "accuracy"):
        series = data.scalars("validation", tag)
        assert series.steps.tolist() == list(range(len(ref["val_" + tag])))
        np.testing.assert_allclose(series.values, ref["val_" + tag], rtol=2e-5, atol=2e-6, err_msg=backend)


def test_history_is_that_of_a_fit_without_batchstats(recorded):
    backend, _, _, info, plain, _ = recorded
    assert info["history"] == plain["history"], backend


def test_samples_carry_the_fingerprints_numpy_computes(recorded):
    backend, data, weights, _, _, _ = recorded
    x, y, sw, _, _ = make_data()
    dynamics = data.dynamics("train")
    assert sorted(dynamics.fingerprint.tolist()) == sorted(tbb.fingerprint(x).tolist()), backend
    assert (dynamics.presentations == EPOCHS).all()
    ref = numpy_reference(weights)
    per_sample = np.concatenate(ref["per_sample_loss"]).reshape(EPOCHS, N)
    order = tbb.find(x, dynamics.fingerprint)
    np.testing.assert_allclose(dynamics.mean_loss, per_sample.mean(0)[order], rtol=2e-5, atol=2e-6)
    top = data.samples("train")
    assert len(top) == len(ref["loss"])
    assert set(np.asarray(top.fingerprints).ravel().tolist()) <= set(tbb.fingerprint(x).tolist())


def test_no_tensorflow_on_the_other_backends(recorded):
    backend, _, _, info, _, stderr = recorded
    assert info["backend"] == backend
    if backend != "tensorflow":
        assert not info["tensorflow_imported"]
        assert "Traceback" not in stderr
