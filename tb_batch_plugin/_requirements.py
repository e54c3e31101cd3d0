"""The writer's TensorFlow requirement, checked before the writer imports TensorFlow.

TensorFlow comes in several distributions (``tensorflow``, ``tensorflow-cpu``,
``tensorflow[and-cuda]``, vendor builds), so this package depends on none of them: pip would
otherwise install a second copy over the user's own. Instead ``BatchStats`` and ``summary`` check
here that some TensorFlow >= 2.16 with Keras >= 3.10 is importable, and say how to install one if
not. The TensorBoard plugin and ``load`` never come here: they need TensorBoard and numpy only.

Keras 3.10 is the oldest Keras the writer passes its tests with (on TensorFlow 2.16): before 3.7
Keras keeps its compiled losses where ``per_sample_loss`` cannot find them, and before 3.10
training under ``MirroredStrategy`` with the callback fails.
"""

import importlib.util
import re

MIN_TENSORFLOW = (2, 16)
MIN_KERAS = (3, 10)

_NEEDS = "tb_batch_plugin's writer (BatchStats, summary) needs TensorFlow >= %d.%d with Keras >= %d.%d; " % (
    MIN_TENSORFLOW + MIN_KERAS)
INSTALL_HELP = (
    "Install one TensorFlow distribution into this environment, for example:\n"
    "    pip install 'tensorflow>=2.16'        # CPU, or GPU on Linux with 'tensorflow[and-cuda]>=2.16'\n"
    "    pip install 'tensorflow-cpu>=2.16'    # CPU only, smaller\n"
    "and, if pip kept an older Keras:  pip install 'keras>=3.10,<4'\n"
    "The TensorBoard tab and tb_batch_plugin.load need no TensorFlow."
)

_checked = False


def version_tuple(version):
    """(major, minor) of a version string such as '2.16.0rc0' or '2.19.0.dev20250101'; None if unreadable."""
    m = re.match(r"\s*(\d+)\.(\d+)", str(version))
    return (int(m.group(1)), int(m.group(2))) if m else None


def require_tensorflow():
    """Raise ImportError, saying how to install, unless TensorFlow >= 2.16 with Keras 3 >= 3.10 is there."""
    global _checked
    if _checked:
        return
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(_NEEDS + "TensorFlow is not installed.\n" + INSTALL_HELP)
    import tensorflow as tf

    found = getattr(tf, "__version__", "unknown")
    have = version_tuple(found)
    if have is None or have < MIN_TENSORFLOW:
        raise ImportError(_NEEDS + "found TensorFlow %s.\n%s" % (found, INSTALL_HELP))
    keras_found = "not installed"
    if importlib.util.find_spec("keras") is not None:
        import keras

        keras_found = getattr(keras, "__version__", "unknown")
        have = version_tuple(keras_found)
        if have is not None and have[0] == MIN_KERAS[0] and have >= MIN_KERAS:
            _checked = True
            return
    raise ImportError(_NEEDS + "found TensorFlow %s with Keras %s. Install Keras 3 with: pip install 'keras>=%d.%d,<%d'"
                      % ((found, keras_found) + MIN_KERAS + (MIN_KERAS[0] + 1,)))


def require_keras_backend():
    """For BatchStats: ``require_tensorflow``'s check, except on a Keras >= 3.10 that runs on
    another backend (JAX, PyTorch), which records without TensorFlow."""
    if importlib.util.find_spec("keras") is not None:
        import keras

        have = version_tuple(getattr(keras, "__version__", ""))
        backend = getattr(getattr(keras, "backend", None), "backend", None)
        if (have is not None and have[0] == MIN_KERAS[0] and have >= MIN_KERAS and callable(backend)
                and backend() != "tensorflow"):
            return
    require_tensorflow()
