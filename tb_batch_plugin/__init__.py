"""tb-batch: exact per-step training statistics for Keras/TensorFlow, and a TensorBoard tab for them.

Public API: ``BatchStats`` (Keras callback), ``summary`` (writers for custom loops),
``load`` (lossless reader), ``fingerprint`` and ``find`` (from a recorded sample back to the row
of your data). Attributes are imported lazily so that TensorBoard, which imports
this package to find the plugin, never pays for (or fails on) TensorFlow; the writer's attributes
first check for TensorFlow >= 2.16 with Keras >= 3.10 (``_requirements``).
"""

__version__ = "0.1.0"
__all__ = ["BatchStats", "summary", "load", "metadata", "fingerprint", "find"]


def __getattr__(name):
    if name == "BatchStats":  # Keras 3; TensorFlow only on Keras' TensorFlow backend
        from tb_batch_plugin._requirements import require_keras_backend
        require_keras_backend()
        from tb_batch_plugin.record.callback import BatchStats
        return BatchStats
    if name in ("fingerprint", "find"):  # numpy alone, as tf.fingerprint computes them
        from tb_batch_plugin import fingerprints
        return getattr(fingerprints, name)
    if name == "load":
        from tb_batch_plugin.read import load
        return load
    if name in ("summary", "metadata"):  # summary: TensorFlow only where it writes through it
        import importlib
        return importlib.import_module("tb_batch_plugin.record.summary" if name == "summary" else
                                       "tb_batch_plugin.metadata")
    raise AttributeError("module 'tb_batch_plugin' has no attribute %r" % name)
