"""BatchStats' step on the JAX and PyTorch backends: the model's own step with stand-ins that
show us its loss, targets, predictions and gradients, and this batch's values computed beside it
in backend-neutral ``keras.ops``, returned in the step's logs under ``VALUES_KEY``.

On JAX the whole is traced once per signature into the jitted step (the stand-ins are on only
while it is traced); on PyTorch, which runs the step eagerly, they are on for each call. Per-step
metric values are the metrics' results on a state that holds this batch alone: the model's own
``compute_metrics`` again, in a ``StatelessScope`` where every metric was reset, so the metrics
Keras reports and their state are untouched (docs/recording.md).
"""

import contextlib
import itertools

import keras
from keras import ops

from tb_batch_plugin.record.loss_structure import (flat_logs, flat_losses, kind_of_output, named_outputs, output_for, resolve,
                                                  unreduced)

VALUES_KEY = "__tb_batch_values"


class Capture:
    """What the original step showed us (tensors, or tracers while JAX traces)."""

    def __init__(self):
        self.loss = None  # the step's loss, as the loss tracker gets it (unscaled)
        self.x = self.y = self.y_pred = self.sample_weight = None
        self.batch_logs = None  # the metrics' results on this batch alone
        self.applies = []  # (gradients, learning rate, loss scale or None) per optimizer apply


@contextlib.contextmanager
def stand_ins(model, cap, training):
    """While the original step runs (or is traced): instance attributes that record into ``cap``
    in place of the loss tracker's ``update_state``, the model's ``compute_metrics`` and (training)
    the optimizer's ``stateless_apply`` (JAX) or ``apply`` (PyTorch)."""
    held = []

    def put(obj, name, make):
        if obj is None or not hasattr(obj, name):
            return
        held.append((obj, name, obj.__dict__.get(name, _ABSENT)))
        setattr(obj, name, make(getattr(obj, name)))

    put(getattr(model, "_loss_tracker", None), "update_state", lambda f: _tracker_update(cap, f))
    put(model, "compute_metrics", lambda f: _compute_metrics(model, cap, f))
    if training and model.optimizer is not None:
        name = "stateless_apply" if keras.backend.backend() == "jax" else "apply"
        put(model.optimizer, name, lambda f: _optimizer_apply(model.optimizer, cap, f, name))
    try:
        yield cap
    finally:
        for obj, name, before in reversed(held):
            if before is _ABSENT:
                obj.__dict__.pop(name, None)
            else:
                setattr(obj, name, before)


_ABSENT = object()


def _tracker_update(cap, original):
    def update_state(values, sample_weight=None):
        if cap.loss is None:
            cap.loss = barrier(values)
        return original(values, sample_weight=sample_weight)
    return update_state


def _compute_metrics(model, cap, original):
    def compute_metrics(x, y, y_pred, sample_weight=None):
        logs = original(x, y, y_pred, sample_weight)
        if cap.y_pred is None:
            cap.x, cap.y, cap.y_pred, cap.sample_weight = barrier((x, y, y_pred, sample_weight))
            with keras.StatelessScope():  # this batch alone; discarded with the scope
                for metric in model.metrics:
                    metric.reset_state()
                cap.batch_logs = original(cap.x, cap.y, cap.y_pred, cap.sample_weight)
        return logs
    return compute_metrics


def _optimizer_apply(optimizer, cap, original, name):
    def apply(*args, **kwargs):
        if name == "stateless_apply":  # (optimizer_variables, grads, trainable_variables)
            optimizer_variables, grads = args[0], args[1]
            with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_variables))):
                learning_rate = _learning_rate(optimizer)
                scale = _loss_scale(optimizer)
        else:  # (grads, trainable_variables)
            grads = args[0] if args else kwargs.get("grads")
            learning_rate, scale = _learning_rate(optimizer), _loss_scale(optimizer)
        cap.applies.append(barrier(([g for g in grads if g is not None], learning_rate, scale)))
        return original(*args, **kwargs)
    return apply


def barrier(values):
    """``values`` (a structure) as our computations get them: on JAX behind an optimization
    barrier, so that XLA compiles the model's own step as it would without them (no fusion or
    reordering across it changes a float of what Keras reports); as they are elsewhere."""
    if keras.backend.backend() != "jax":
        return values
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(values)
    return jax.tree_util.tree_unflatten(treedef, jax.lax.optimization_barrier(leaves)) if leaves else values


def _learning_rate(optimizer):
    inner = getattr(optimizer, "inner_optimizer", None) or optimizer
    return ops.cast(ops.convert_to_tensor(inner.learning_rate), "float32")


def _loss_scale(optimizer):
    scale = getattr(optimizer, "dynamic_scale", None)  # a LossScaleOptimizer's
    return None if scale is None else ops.cast(ops.convert_to_tensor(scale), "float32")


class StepValues:
    """Computes one step's values from a Capture, and keeps what they are (the names and kinds of
    the outputs, set while the step is traced) for the host side that writes them."""

    def __init__(self, model, callback, training):
        self.model = model  # never callback.model in the step: on JAX that syncs the state mid-step
        self.callback = callback
        self.training = training
        self.outputs = None  # [(suffix, kind, classes, from_logits)] of the per-sample outputs
        self.has_ids = False
        self.scalar_names = ()
        self.warnings = []  # (key, message): said once by the host side

    def __call__(self, cap, logs):
        """{"scalars": (S,) float32 named by ``scalar_names``, "dists": {name: flat values}, "samples": {...} or absent}."""
        callback = self.callback
        scalars = {}
        source = cap.batch_logs
        if source is None:
            self.warnings.append(("no-metrics", "BatchStats: the step did not call model.compute_metrics; "
                                  "only the loss, learning_rate and grad_norm are recorded"))
        else:
            for name, value in flat_logs(dict(source)).items():
                scalars.update(_components(name, value))
        if cap.loss is not None:
            scalars["loss"] = ops.cast(ops.reshape(cap.loss, ()), "float32")
        if self.training:
            scalars.update(self._optimizer_scalars(cap))
        # One float32 vector: one array per step to hand over and copy to the host, not one per value.
        self.scalar_names = tuple(scalars)
        out = {"scalars": _stack(list(scalars.values())) if scalars else ops.zeros((0,), "float32")}
        per_output = self._per_sample(cap) if cap.y_pred is not None else None
        if callback.distributions and cap.y_pred is not None:
            dists = {}
            outputs = named_outputs(self.model, cap.y_pred)
            for name, value in outputs:
                dists["predictions" if len(outputs) == 1 else "predictions/" + name] = _flat32(value)
            if per_output:
                single = len(per_output) == 1
                for suffix, loss, _, _ in per_output:
                    dists["per_sample_loss" if single else "per_sample_loss" + suffix] = loss
            out["dists"] = dists
        if per_output and (callback.samples or (callback.dynamics and self.training)):
            out["samples"] = self._samples(cap, per_output)
        return out

    def _optimizer_scalars(self, cap):
        if not cap.applies:
            self.warnings.append(("no-apply", "BatchStats: the train step applied no gradients through "
                                  "model.optimizer; learning_rate and grad_norm are not recorded"))
            return {}
        grads = [g for applied in cap.applies for g in applied[0]]
        learning_rate, scale = cap.applies[0][1], cap.applies[0][2]
        out = {"learning_rate": learning_rate}
        if grads:
            norm = _global_norm(grads)
            out["grad_norm"] = norm if scale is None else norm / scale
        return out

    def _per_sample(self, cap):
        """[(suffix, loss per sample (B,), y_true, y_pred)] of each compiled loss, weighted as
        Keras weighs it; the kinds of the outputs into ``outputs``."""
        model = self.model
        flat = flat_losses(model)
        build = getattr(getattr(model, "_compile_loss", None), "_y_pred_build_structure", None)
        out, described = [], []
        for path, loss_fn, loss_weight, name in flat:
            y_p = output_for(cap.y_pred, path, build, len(flat))
            y_t = output_for(cap.y, path, build, len(flat))
            sw = cap.sample_weight
            try:
                s_w = resolve(sw, path) if keras.tree.is_nested(sw) else sw
            except (KeyError, IndexError, TypeError):
                y_t = None
            if y_t is None or y_p is None or getattr(y_p, "_keras_mask", None) is not None:
                self.warnings.append(("targets-%s" % name, "BatchStats: the loss %r could not be made "
                                      "per-sample on this backend (unmatched targets or a masked output); "
                                      "its per_sample_loss and samples are not recorded" % (name,)))
                continue
            values = unreduced(loss_fn, y_t, y_p, s_w)
            if values is None or len(values.shape) == 0:
                self.warnings.append(("reduce-%s" % name, "BatchStats: the loss %r cannot be made per-sample "
                                      "(no reduction=None); per_sample_loss is not recorded for it" % (name,)))
                continue
            values = ops.cast(values, "float32")
            if len(values.shape) > 1:
                values = ops.mean(values, axis=tuple(range(1, len(values.shape))))
            if loss_weight is not None:
                values = values * loss_weight
            suffix = "" if len(flat) == 1 else "/" + name
            kind, classes, from_logits = kind_of_output(loss_fn, tuple(y_p.shape))
            described.append((suffix, kind, classes, from_logits))
            out.append((suffix, values, y_t, y_p))
        self.outputs = described
        return out

    def _samples(self, cap, per_output):
        callback = self.callback
        total = per_output[0][1]
        for _, loss, _, _ in per_output[1:]:
            total = total + loss
        x = cap.x
        samples = {"loss": total, "x": keras.tree.flatten(x),
                   "outputs": [(y_t, y_p, loss) for _, loss, y_t, y_p in per_output]}
        self.has_ids = False
        if callback.sample_ids is not None:
            if isinstance(x, dict) and callback.sample_ids in x:
                samples["ids"] = ops.reshape(x[callback.sample_ids], (-1,))
                self.has_ids = True
            else:
                self.warnings.append(("sample-ids", "BatchStats: sample_ids=%r is not a key of the model's "
                                      "input dict; samples are identified by fingerprints only"
                                      % (callback.sample_ids,)))
        return samples



def _stack(scalars):
    """ops.stack of float32 scalars; on PyTorch torch.stack (the same values, without keras.ops'
    conversion of each argument, which costs more than the stack, every step)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.stack(scalars)
    return ops.stack(scalars)


def _global_norm(grads):
    """sqrt(sum of every gradient's sum of squares), in float32. On PyTorch, which runs it eagerly
    every step, with torch's own functions: the same kernels in the same order as the keras.ops
    (so the same bits), without keras.ops' conversions of each argument (a tenth of the time)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.sqrt(torch.sum(torch.stack([torch.sum(torch.square(g.to(torch.float32))) for g in grads])))
    squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]
    return ops.sqrt(ops.sum(ops.stack(squares)))


def _flat32(value):
    return ops.reshape(ops.cast(value, "float32"), (-1,))


def _components(name, value):
    """{name: float32 scalar} of a numeric log; a vector or array gives one entry per component
    (``f1_score/0``, ...), as the TensorFlow step names them. Non-numeric logs are left out."""
    try:
        value = ops.convert_to_tensor(value)
    except (TypeError, ValueError):
        return {}
    dtype = keras.backend.standardize_dtype(value.dtype)
    if not (dtype.startswith("float") or dtype.startswith("int") or dtype.startswith("uint")):
        return {}
    value = ops.cast(value, "float32")
    shape = tuple(value.shape)
    if not shape:
        return {name: value}
    if any(d is None for d in shape):
        return {}
    flat = ops.reshape(value, (-1,))
    out = {}
    for i, index in enumerate(itertools.product(*(range(d) for d in shape))):
        out["/".join([name] + [str(j) for j in index])] = flat[i]
    return out
