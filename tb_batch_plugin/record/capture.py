"""Trace-time stand-ins: what the original train/test step shows BatchStats while it is traced.

Gradients, learning rate, per-sample losses and predictions exist only inside Keras' step. While
the step is traced, stand-ins on the instances of the model (``compute_loss``), its compiled
losses (``call``), its optimizers (``apply``) and its additive metrics (``result``) keep them in
the ``Capture`` of the thread that traces; they are removed as soon as the trace ends.
"""

import contextlib
import threading

import keras
import tensorflow as tf

from tb_batch_plugin.record.losses import flat_losses

_ABSENT = object()


class Capture:
    """What the original step showed us while it was being traced (symbolic tensors)."""

    def __init__(self, states=None):
        self.states = states  # the metric_state.MetricStates of this trace of the step
        self.data = None  # the step's data: (x, y, sample_weight) as the step received it
        self.y = self.y_pred = self.sample_weight = None
        self.applies = []  # per optimizer.apply: (name, optimizer, gradients, learning rate, loss scale)
        self.applying = False  # inside an apply (a LossScaleOptimizer's inner apply is not another)
        self.after_compute_loss = None  # called after model.compute_loss
        self.loss_calls = {}  # id(compiled Loss) -> [(y_true, y_pred, unreduced losses)] per call


# The capture of the step this thread traces now. Per thread: a distribution strategy traces each
# replica's step in a thread of its own, interleaved at every merge_call (the optimizer's), and
# each replica has its own capture and metric state.
_ACTIVE = threading.local()


def _active_capture():
    return getattr(_ACTIVE, "capture", None)


class _StandIns:
    """The stand-ins on shared objects (the model, its losses, optimizers and metrics) while any
    thread traces a step: set by the first thread that needs one, removed when the last is done
    with it. They find the state of the calling thread's trace themselves (``_active_capture``),
    so replicas traced side by side never see each other's."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held = {}  # (id(obj), name) -> [obj, holders, what obj.__dict__ had before]

    def hold(self, obj, name, make):
        """Puts ``make(current attribute)`` on ``obj`` unless a stand-in is there already."""
        with self._lock:
            entry = self._held.get((id(obj), name))
            if entry is None:
                entry = self._held[(id(obj), name)] = [obj, 0, obj.__dict__.get(name, _ABSENT)]
                setattr(obj, name, make(getattr(obj, name)))
            entry[1] += 1

    def release(self, obj, name):
        with self._lock:
            entry = self._held[(id(obj), name)]
            entry[1] -= 1
            if entry[1] == 0:
                del self._held[(id(obj), name)]
                if entry[2] is _ABSENT:
                    obj.__dict__.pop(name, None)
                else:
                    setattr(obj, name, entry[2])


_STAND_INS = _StandIns()


@contextlib.contextmanager
def capturing(model, cap, additive_metrics):
    """While the original step is traced: stand-ins on the instances for ``model.compute_loss``,
    the compiled losses' ``call``, the ``apply`` of every optimizer the model holds and the
    ``result`` of every additive metric (``additive_metrics()`` lists them). They are removed as
    soon as the trace of the step ends (whatever happens), so nothing of them is ever left on the
    model."""
    states = cap.states
    held = []

    def hold(obj, name, make):
        _STAND_INS.hold(obj, name, make)
        held.append((obj, name))

    def adopt_built_metrics():
        # Without a strategy Keras builds its compiled metrics and per-output loss trackers in
        # the first step (its first trace, or its first eager run): built here from the same
        # targets and predictions, they start from zeros in this step, so they hold this batch
        # alone, and their results are read through the stand-in too.
        compile_metrics = getattr(model, "_compile_metrics", None)
        if compile_metrics is not None and not compile_metrics.built and cap.y is not None:
            compile_metrics.build(cap.y, cap.y_pred)
        for metric in states.adopt(additive_metrics()):
            hold(metric, "result", lambda original, m=metric: _ResultAfterRestore(m, original))

    cap.after_compute_loss = adopt_built_metrics

    hold(model, "compute_loss", _CaptureComputeLoss)
    for _, loss_fn, _, _ in flat_losses(model):
        if hasattr(loss_fn, "call"):
            hold(loss_fn, "call", lambda original, f=loss_fn: _CaptureLossCall(f, original))
    for name, optimizer in _optimizers(model):
        hold(optimizer, "apply", lambda original, o=optimizer, n=name: _CaptureApply(o, n, original))
    for metric in states.metrics:
        hold(metric, "result", lambda original, m=metric: _ResultAfterRestore(m, original))
    previous, _ACTIVE.capture = _active_capture(), cap
    try:
        yield
    finally:
        _ACTIVE.capture = previous
        for obj, name in reversed(held):
            _STAND_INS.release(obj, name)


class _CaptureComputeLoss:
    """Stands in for model.compute_loss: records its inputs during tracing, then calls it."""

    def __init__(self, original):
        self.original = original

    def __call__(self, *args, **kwargs):
        cap = _active_capture()
        if cap is not None:
            names = ("x", "y", "y_pred", "sample_weight")
            bound = dict(zip(names, args))
            bound.update({k: v for k, v in kwargs.items() if k in names})
            cap.y, cap.y_pred = bound.get("y"), bound.get("y_pred")
            cap.sample_weight = bound.get("sample_weight")
        loss = self.original(*args, **kwargs)
        if cap is not None and cap.after_compute_loss is not None:
            cap.after_compute_loss()
        return loss


class _CaptureLossCall:
    """Stands in for a compiled Keras Loss's ``call``: keeps the targets and predictions Keras
    paired for it (whatever structure the targets came in) and its unreduced output, so the
    per-sample losses need not be computed a second time."""

    def __init__(self, loss_fn, original):
        self.key = id(loss_fn)
        self.original = original

    def __call__(self, y_true, y_pred):
        losses = self.original(y_true, y_pred)
        cap = _active_capture()
        if cap is not None:
            cap.loss_calls.setdefault(self.key, []).append((y_true, y_pred, losses))
        return losses


class _CaptureApply:
    """Stands in for an optimizer's ``apply`` (which ``apply_gradients`` calls): records the
    gradients (before clipping), the learning rate and the loss scale of every call."""

    def __init__(self, optimizer, name, original):
        self.optimizer = optimizer
        self.name = name
        self.original = original

    def __call__(self, grads, trainable_variables=None):
        cap = _active_capture()
        if cap is None or cap.applying:
            return self.original(grads, trainable_variables)
        grads = list(grads)
        scale = getattr(self.optimizer, "dynamic_scale", None)  # LossScaleOptimizer
        cap.applies.append((self.name, self.optimizer, [g for g in grads if g is not None],
                            tf.cast(self.optimizer.learning_rate, tf.float32),
                            None if scale is None else tf.cast(scale, tf.float32)))
        cap.applying = True
        try:
            return self.original(grads, trainable_variables)
        finally:
            cap.applying = False


class _ResultAfterRestore:
    """Stands in for an additive metric's ``result`` while the step is traced (``MetricStates``
    of the calling thread's trace; the metric's own result where that does not track it)."""

    def __init__(self, metric, original):
        self.metric = metric
        self.original = original

    def __call__(self):
        cap = _active_capture()
        if cap is None or not cap.states.tracks(self.metric):
            return self.original()
        return cap.states.result(self.metric, self.original)


def _optimizers(model):
    """[(name, optimizer)]: ``model.optimizer`` and every optimizer held in a public attribute of
    the model (a GAN's ``d_optimizer`` and ``g_optimizer``; also in a list or dict), each once,
    named by the attribute that holds it (``optimizer`` only when no other does)."""
    found = {}

    def add(name, value):
        if isinstance(value, keras.optimizers.Optimizer):
            if id(value) not in found or found[id(value)][0] == "optimizer":
                found[id(value)] = (name, value)

    add("optimizer", getattr(model, "optimizer", None))
    for attr, value in list(vars(model).items()):
        if attr.startswith("_"):
            continue
        add(attr, value)
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add("%s/%d" % (attr, i), item)
        elif isinstance(value, dict):
            for key, item in value.items():
                add("%s/%s" % (attr, key), item)
    return list(found.values())
