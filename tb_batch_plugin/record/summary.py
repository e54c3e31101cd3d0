"""Writers for per-step values from custom training loops, in any framework (``tbb.summary``).

With a writer of ``create_file_writer`` as the default (``with writer.as_default(step=...)``),
each function takes numpy arrays, Python numbers, PyTorch tensors or JAX arrays, computes the
rows with numpy (``host_stats``) and writes them on the host (``host_writer``): no TensorFlow is
imported. Otherwise each writes through ``tf.summary.write`` to TensorFlow's default writer
(``summary_ops``: eagerly or inside ``tf.function``; TensorFlow is imported then, and asked for
through ``_requirements`` if missing). Either way the events are the same (tags, dtypes, shapes,
metadata of ``metadata``), so the tab shows a custom loop as it shows a Keras run.

``step`` defaults to the step given to ``as_default`` (a tbb writer) or to
``tf.summary.experimental.get_step()``. Each returns whether it wrote: True on the host, the bool
tensor ``tf.summary.write`` returns through TensorFlow (False without a default writer).
"""

import importlib

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.record import host_stats
from tb_batch_plugin.record.host_writer import FileWriter, default_writer

# The graph ops that used to live here, for code that still finds them here (summary_ops now).
_GRAPH_OPS = ("write_distribution_tensor", "histogram_rows", "distribution_tensor", "distribution_tensors",
              "distribution_rows", "cond_as_call", "step_cond")


def create_file_writer(logdir, flush_secs=10.0):
    """A writer of one new event file in ``logdir`` (a run directory, created if need be) for the
    functions below, without TensorFlow: ``with writer.as_default(step=None): ...`` makes it
    their default in this thread; ``writer.flush()``, ``writer.close()``. Events are written at
    least every ``flush_secs`` seconds, when the ``with`` block ends and at ``close``."""
    return FileWriter(logdir, flush_secs=flush_secs)


def scalar(name, value, step=None, description=None):
    """Writes one per-step scalar: a standard TensorBoard scalar, kept exactly as given (float32
    stays float32; a Python float is float32, integers and bools float64), marked as written by
    a custom loop."""
    host = default_writer()
    if host is None:
        return _ops().scalar(name, value, step=step, description=description)
    value = _numpy(value)
    if value.dtype.kind != "f":
        value = value.astype(np.float64)
    return _write(host, name, step, value.reshape(()),
                  metadata.scalar_metadata(metadata.PROVENANCE_CUSTOM, description=description))


def distribution(name, values, step=None, quantile_probs=metadata.DEFAULT_QUANTILE_PROBS,
                 num_bins=metadata.DEFAULT_NUM_BINS, description=None):
    """Writes the distribution of ``values`` (any shape, flattened) at one step: the exact
    statistics (count, non-finite counts, min, max, mean, std, exact quantiles, histogram; layout
    in ``metadata``) and the same histogram as a standard TensorBoard histogram named ``name``.
    """
    host = default_writer()
    if host is None:
        return _ops().distribution(name, values, step=step, quantile_probs=quantile_probs, num_bins=num_bins,
                                   description=description)
    stats = host_stats.distribution_rows([_numpy(values)], quantile_probs, num_bins)
    histogram = host_stats.histogram_rows(stats, len(quantile_probs), num_bins)[0]
    _write(host, metadata.distribution_tag(name), step, stats[0],
           metadata.distribution_metadata(quantile_probs, num_bins, description=description))
    return _write(host, name, step, histogram, metadata.histogram_metadata(description=description))


def samples(sample_loss, inputs, step=None, num_samples=8, y_true=None, y_pred=None, kind=None,
            from_logits=False, ids=None, dynamics=False):
    """Writes the ``num_samples`` samples of a batch with the highest loss (layout at
    ``metadata.SAMPLES_TAG``): their loss (``sample_loss``, one per sample), share of the batch's
    loss, the fingerprint of their row of ``inputs`` (as ``tbb.fingerprint`` computes it for your
    data) and ``ids`` (integers, optional). With ``kind`` 'sparse', 'categorical' or 'binary' and
    ``y_true``/``y_pred`` (probabilities, or logits with ``from_logits``), also each sample's label,
    predicted class and their probabilities, and each class's mean loss and count
    (``metadata.PER_CLASS_TAG``); with ``kind`` 'regression', each sample's target and prediction.
    With ``dynamics``, also every sample's row of ``dynamics`` below (``num_samples`` may be 0)."""
    if kind not in host_stats.CLASSIFICATION_KINDS + ("regression", None):
        raise ValueError("kind must be 'sparse', 'categorical', 'binary', 'regression' or None, got %r" % (kind,))
    classes = None
    if kind in host_stats.CLASSIFICATION_KINDS:
        classes = 2 if kind == "binary" else int((y_pred.shape if hasattr(y_pred, "shape") else np.shape(y_pred))[-1])
    host = default_writer()
    if host is None:
        return _ops().samples(sample_loss, inputs, step, num_samples, y_true, y_pred, kind, classes, from_logits,
                              ids, dynamics)
    from tb_batch_plugin.fingerprints import row_fingerprints

    outputs = [("", kind, classes, from_logits, _numpy(y_true), _numpy(y_pred))]
    rows = host_stats.sample_rows(_numpy(sample_loss), row_fingerprints(_structure(inputs)),
                                  None if ids is None else _numpy(ids), outputs, num_samples, dynamics)
    wrote = True
    for tag, (row, row_metadata) in rows.items():
        wrote = _write(host, tag, step, row, row_metadata)
    return wrote


def dynamics(sample_loss, inputs, y_true=None, y_pred=None, kind=None, from_logits=False, ids=None,
             step=None):
    """Writes every sample's training dynamics of a batch (layout at ``metadata.DYNAMICS_TAG``):
    the fingerprint of its row of ``inputs``, ``ids`` (integers, optional), its loss
    (``sample_loss``) and, with ``kind`` 'sparse', 'categorical' or 'binary' and ``y_true``/
    ``y_pred`` (probabilities, or logits with ``from_logits``), its margin, p(label), label and
    predicted class: what ``load(logdir).dynamics`` and ``label_issues`` aggregate. Call it on
    training batches, once per step."""
    return samples(sample_loss, inputs, step=step, num_samples=0, y_true=y_true, y_pred=y_pred, kind=kind,
                   from_logits=from_logits, ids=ids, dynamics=True)


def marker(kind, values, step=None):
    """Writes a marker (``metadata.MARKER_TAGS``): an int64 vector of ``metadata.MARKER_FIELDS``."""
    host = default_writer()
    if host is None:
        return _ops().marker(kind, values, step=step)
    return _write(host, metadata.MARKER_TAGS[kind], step, np.asarray(_numpy(values), np.int64),
                  metadata.marker_metadata(kind))


def _write(host, tag, step, value, summary_metadata):
    writer, default_step = host
    writer.host.write(tag, _step(default_step if step is None else step), value, summary_metadata)
    return True


def _step(step):
    """The int of a step (a Python or numpy integer, a one-element integer tensor or array)."""
    if step is None:
        raise ValueError("tbb.summary: no step; pass step=, or as_default(step=...) to the writer")
    a = _numpy(step)
    if a.size != 1 or a.dtype.kind not in "iu":
        raise TypeError("tbb.summary: step must be an integer, got %r" % (step,))
    return int(a.reshape(()))


def _numpy(x):
    """A host value as numpy, as TensorFlow would take it: torch tensors detached and copied to
    the host, JAX arrays and the rest through ``np.asarray`` (bfloat16 as float32), Python floats
    (and lists of them) as float32, as ``tf.convert_to_tensor`` makes them."""
    if x is None:
        return None
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu()
        return (x.float() if str(x.dtype) == "torch.bfloat16" else x).numpy()
    a = np.asarray(x)
    if a.dtype == np.float64 and isinstance(x, (float, list, tuple)) and not isinstance(x, np.generic):
        return a.astype(np.float32)
    if a.dtype.kind == "V" and "float" in a.dtype.name:  # JAX's bfloat16 (ml_dtypes): exact in float32
        return a.astype(np.float32)
    return a


def _structure(inputs):
    """Inputs (one array, a list or dict of them) with every array as numpy."""
    if isinstance(inputs, dict):
        return {k: _structure(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [_structure(v) for v in inputs]
    return _numpy(inputs)


def _ops():
    """``summary_ops`` (TensorFlow), after checking that a recent enough one is installed."""
    from tb_batch_plugin._requirements import require_tensorflow

    require_tensorflow()
    return importlib.import_module("tb_batch_plugin.record.summary_ops")


def __getattr__(name):
    if name in _GRAPH_OPS:
        return getattr(_ops(), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
