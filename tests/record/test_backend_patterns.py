"""The usage patterns on the JAX and PyTorch backends (tests/helpers/backend_patterns.py, one
subprocess per backend): an exception from another callback mid-fit, fits and BatchStats
continuing one log_dir, a standalone evaluate, every=N, per-class losses, BackupAndRestore
resuming an interrupted fit. The same rules as on TensorFlow (tests/record/test_step_numbering.py)."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_patterns(backend, tmp_path_factory):
    if importlib.util.find_spec(backend) is None:
        pytest.skip("the %s backend is not installed (make test installs it)" % backend)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "tests.helpers.backend_patterns",
                             str(tmp_path_factory.mktemp(backend))],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


@pytest.fixture(scope="module", params=["jax", "torch"])
def patterns(request, tmp_path_factory):
    return _run_patterns(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def on_tensorflow(tmp_path_factory):
    return _run_patterns("tensorflow", tmp_path_factory)[0]


def test_an_exception_from_another_callback_keeps_the_steps_before_it_and_restores_the_model(patterns):
    out, _ = patterns
    assert out["interrupt_error"] == "stop here"
    assert out["interrupt_steps"] == [0, 1, 2, 3]  # and the fit without BatchStats after it added none
    assert out["interrupt_function_restored"]


def test_fits_and_callbacks_continue_the_log_dir_and_evaluate_is_marked(patterns):
    out, _ = patterns
    assert out["continue_steps"] == list(range(21))
    assert out["continue_fit_markers"] == [0, 7, 14]
    assert out["continue_epoch_markers"] == [7, 14, 21]
    assert out["evaluation_marker"] == [[0], [21]]  # after the 21 training steps
    assert out["evaluation_steps"] == [0, 1]


def test_every_nth_step_and_per_class_losses(patterns):
    out, _ = patterns
    assert out["every_steps"] == [0, 3, 6]
    np.testing.assert_array_equal(out["per_class_counts"], out["per_class_expected"])


def test_backup_and_restore_resumes_where_the_optimizer_is(patterns):
    out, stderr = patterns
    assert out["backup_first"] == "stop here" and out["backup_second"] is None
    assert out["backup_steps"] == list(range(14))
    assert "the steps >= 7 recorded there are superseded" in stderr
    assert not out["tensorflow_imported"]


def test_a_two_output_model_records_the_tags_it_records_on_tensorflow(patterns, on_tensorflow):
    assert patterns[0]["two_outputs_tags"] == on_tensorflow["two_outputs_tags"]
    assert "dynamics:value" in on_tensorflow["two_outputs_tags"]["train"]


def test_a_failing_write_is_one_warning_and_changes_nothing(patterns):
    out, _ = patterns
    assert len(out["write_fault_warnings"]) == 1, out["write_fault_warnings"]
    assert "File too large" in out["write_fault_warnings"][0]
    assert out["write_fault_history"] == out["write_fault_plain_history"]
