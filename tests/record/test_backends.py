"""BatchStats on every Keras backend (TensorFlow, JAX, PyTorch): the same tags with the same
values, against an independent numpy reference of the same training (forward, backward and SGD by
hand); History unchanged; the same fingerprints; no TensorFlow imported on JAX and PyTorch.

Each backend trains in a subprocess (tests/helpers/backend_fit.py): Keras fixes its backend when
it is imported.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import tb_batch_plugin as tbb
from tests.helpers.backend_fit import BATCH, EPOCHS, N, VAL, global_order, make_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# (name, backend, devices, backend_fit options): DataParallel over 4 CPU devices feeds each a
# quarter of every batch (so the batches here divide by 4: 200 = 6 x 32 + 8, 44 = 32 + 12).
# Two processes (jax.distributed, 2 CPU devices each) each feed half of every global batch.
SETUPS = [("tensorflow", "tensorflow", 1, 1, ()), ("jax", "jax", 1, 1, ()), ("torch", "torch", 1, 1, ()),
          ("jax-data-parallel-4", "jax", 4, 1, ("--data-parallel", "--n", "200", "--val", "44")),
          ("jax-2-processes", "jax", 2, 2, ("--data-parallel", "--n", "200", "--val", "44")),
          ("jax-steps-per-execution-3", "jax", 1, 1, ("--steps-per-execution", "3"))]


def _fit(backend, devices, processes, logdir, out, *extra):
    """Runs backend_fit.py (in ``processes`` processes at once); what process 0 saved."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip("the %s backend is not installed (make test installs it)" % backend)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               XLA_FLAGS="--xla_force_host_platform_device_count=%d" % devices)
    command = [sys.executable, "-m", "tests.helpers.backend_fit", "--logdir", str(logdir), *extra]
    if processes > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command += ["--processes", str(processes), "--coordinator", "127.0.0.1:%d" % port]
    running = [subprocess.Popen(command + ["--out", str(out) + ("" if i == 0 else "-%d" % i)]
                                + (["--process-id", str(i)] if processes > 1 else []),
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(processes)]
    errors = [p.communicate(timeout=600)[1] for p in running]
    assert all(p.returncode == 0 for p in running), "\n".join(e[-3000:] for e in errors)
    result = errors[0]
    with np.load(str(out) + ".npz") as f:
        weights = [f["arr_%d" % i] for i in range(len(f.files))]
    with open(str(out) + ".json") as f:
        info = json.load(f)
    return weights, info, result


@pytest.fixture(scope="module", params=SETUPS, ids=[s[0] for s in SETUPS])
def recorded(request, tmp_path_factory):
    name, backend, devices, processes, options = request.param
    tmp = tmp_path_factory.mktemp(name)
    weights, info, stderr = _fit(backend, devices, processes, tmp / "logs", tmp / "out", *options)
    _, plain, _ = _fit(backend, devices, processes, tmp / "plain", tmp / "plain_out", "--without", *options)
    n, val = (int(options[2]), int(options[4])) if "--n" in options else (N, VAL)
    return Recorded(backend, tmp / "logs", weights, info, plain, stderr, n, val, processes)


class Recorded:
    """One setup's recording, History with and without BatchStats, and its reference."""

    def __init__(self, backend, logdir, weights, info, plain, stderr, n, val, processes):
        self.backend, self.logdir, self.data = backend, logdir, tbb.load(str(logdir))
        self.weights, self.info, self.plain, self.stderr = weights, info, plain, stderr
        self.n, self.val, self.processes = n, val, processes
        self.order = global_order(n, processes)  # the rows of the global batches, in order
        self.val_order = global_order(val, processes)

    def reference(self):
        return numpy_reference(self.weights, self.n, self.val, self.order, self.val_order)


def numpy_reference(weights, n=N, val=VAL, order=None, val_order=None):
    """Every step of the fit of backend_fit.py by hand in float64: Dense(16, relu), Dense(3),
    sparse cross-entropy from logits times the sample weight over the batch size, SGD(0.1)."""
    w1, b1, w2, b2 = [np.asarray(w, np.float64) for w in weights]
    x, y, sw, vx, vy = make_data(n=n, val=val)
    if order is not None:  # the global batches of several processes
        x, y, sw, vx, vy = x[order], y[order], sw[order], vx[val_order], vy[val_order]
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
        for i in range(0, n, BATCH):
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
    backend, data = recorded.backend, recorded.data
    ref = recorded.reference()
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
    assert recorded.info["history"] == recorded.plain["history"], recorded.backend


def test_samples_carry_the_fingerprints_numpy_computes(recorded):
    backend, data, n = recorded.backend, recorded.data, recorded.n
    x, y, sw, _, _ = make_data(n=n)
    dynamics = data.dynamics("train")
    assert sorted(dynamics.fingerprint.tolist()) == sorted(tbb.fingerprint(x).tolist()), backend
    assert (dynamics.presentations == EPOCHS).all()
    ref = recorded.reference()
    mean_by_row = np.empty(n)
    mean_by_row[recorded.order] = np.concatenate(ref["per_sample_loss"]).reshape(EPOCHS, n).mean(0)
    np.testing.assert_allclose(dynamics.mean_loss, mean_by_row[tbb.find(x, dynamics.fingerprint)],
                               rtol=2e-5, atol=2e-6)
    top = data.samples("train")
    assert len(top) == len(ref["loss"])
    assert set(np.asarray(top.fingerprints).ravel().tolist()) <= set(tbb.fingerprint(x).tolist())


def test_one_process_writes(recorded):
    for run in ("train", "validation"):
        assert len(os.listdir(recorded.logdir / run)) == 1, sorted(os.listdir(recorded.logdir / run))


def test_no_tensorflow_on_the_other_backends(recorded):
    assert recorded.info["backend"] == recorded.backend
    # (keras.distribution.initialize seeds TensorFlow's generator itself where it is installed)
    if recorded.backend != "tensorflow" and recorded.processes == 1:
        assert not recorded.info["tensorflow_imported"]
        assert "Traceback" not in recorded.stderr


def test_tensorboard_serves_the_run_as_recorded(recorded):
    """A real TensorBoard with the plugin serves what the other backends wrote, every step."""
    if recorded.backend == "tensorflow":
        pytest.skip("tests/serve covers runs recorded on TensorFlow")
    from tests.helpers.event_files import TensorBoardProcess

    tb = TensorBoardProcess(recorded.logdir, load_fast=False)
    try:
        status, body = tb.wait_for("/data/plugin/tb_batch/series?run=train&tag=loss&width=500",
                                   lambda status, body: status == 200)
        served = json.loads(body)
        loss = recorded.data.scalars("train", "loss")
        assert served["count"] == len(loss) and served["steps"] == loss.steps.tolist()
        np.testing.assert_array_equal(np.array(served["values"], np.float32), loss.values)
        status, body = tb.get("/data/plugin/tb_batch/dynamics?run=train")
        assert status == 200
    finally:
        tb.close()
