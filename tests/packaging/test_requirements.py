"""The writer's TensorFlow check (tb_batch_plugin/_requirements.py). A venv without TensorFlow is
tested in test_wheel.py; here: the installed TensorFlow passes, and an older TensorFlow or Keras
(stand-in packages first on the path: installing TensorFlow 2.15 takes minutes) gets an ImportError
that names what was found and how to install."""

import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from helpers import event_files
from tb_batch_plugin import _requirements


def test_installed_tensorflow_passes():
    assert _requirements.version_tuple(tf.__version__) >= (2, 16)
    assert _requirements.MIN_KERAS <= _requirements.version_tuple(keras.__version__) < (4, 0)
    _requirements.require_tensorflow()


@pytest.mark.parametrize("version, expected", [
    ("2.16.0", (2, 16)), ("2.16.0rc0", (2, 16)), ("2.19.0.dev20250101", (2, 19)), ("10.2", (10, 2)),
    ("2", None), ("unknown", None)])
def test_version_tuple(version, expected):
    assert _requirements.version_tuple(version) == expected


@pytest.mark.parametrize("tf_version, keras_version, found", [
    ("2.15.1", "2.15.0", "found TensorFlow 2.15.1"),
    ("2.16.1", "2.15.0", "found TensorFlow 2.16.1 with Keras 2.15.0"),
    ("2.21.0", "3.9.0", "found TensorFlow 2.21.0 with Keras 3.9.0"),
])
def test_old_tensorflow_or_keras_is_an_import_error_saying_how_to_install(tmp_path, tf_version, keras_version, found):
    for name, version in (("tensorflow", tf_version), ("keras", keras_version)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("__version__ = %r\n" % version)
    out = subprocess.run([sys.executable, "-c", "import tb_batch_plugin as t; t.BatchStats"],
                         capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                         env={"PYTHONPATH": "%s:%s" % (tmp_path, event_files.REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "ImportError" in out.stderr
    assert found in out.stderr and "pip install" in out.stderr, out.stderr
