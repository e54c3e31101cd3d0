"""Which compiled loss goes with which output, and what kind of output it is: the structure of a
model's losses as Keras pairs them, with no tensor arithmetic (TensorFlow-free, shared by the
recording on every Keras backend)."""

import keras
from keras import ops


def flat_losses(model):
    """Keras' compiled losses: (path, Loss, weight, name) per output (empty before Keras built them)."""
    return getattr(getattr(model, "_compile_loss", None), "_flat_losses", None) or ()


def classification(loss_fn):
    """('sparse' | 'categorical' | 'binary' | None, from_logits) of a compiled Keras loss."""
    fn = getattr(loss_fn, "fn", None)
    name = getattr(fn, "__name__", None) or getattr(loss_fn, "name", None) or ""
    kwargs = getattr(loss_fn, "_fn_kwargs", None) or {}
    from_logits = bool(getattr(loss_fn, "from_logits", kwargs.get("from_logits", False)))
    if "sparse_categorical" in name:
        return "sparse", from_logits
    if "categorical" in name:
        return "categorical", from_logits
    if "binary" in name:
        return "binary", from_logits
    return None, from_logits


def kind_of_output(loss_fn, shape):
    """(kind, classes, from_logits) of an output of this shape (a tuple; None for an unknown
    rank): 'sparse', 'categorical' or 'binary' for a classification output with one prediction
    per sample, 'regression' for one value per sample, None for others (sequences, several values)."""
    kind, from_logits = classification(loss_fn)
    rank = None if shape is None else len(shape)
    last = shape[-1] if rank else None
    if kind == "binary" and (rank == 1 or (rank == 2 and last == 1)):
        return kind, 2, from_logits
    if kind in ("sparse", "categorical") and rank == 2 and last is not None:
        return kind, int(last), from_logits
    if kind is None and (rank == 1 or (rank == 2 and last == 1)):
        return "regression", None, False
    return None, None, False


def output_for(structure, path, build, num_losses):
    """The part of a step's predictions (or targets) that a compiled loss with this path gets,
    as Keras finds it: by the path, in the structure Keras built the losses for when the
    predictions come in another one, the only leaf for a single loss; None if none."""
    if structure is None:
        return None
    try:
        return resolve(structure, path)
    except (KeyError, IndexError, TypeError):
        pass
    leaves = keras.tree.flatten(structure)
    if build is not None:
        try:
            return resolve(keras.tree.pack_sequence_as(build, leaves), path)
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return leaves[0] if num_losses == 1 and len(leaves) == 1 else None


def named_outputs(model, y_pred):
    """[(name, tensor)] of the model's outputs: a flat dict's keys, else the model's output names,
    else each output's path in a nested structure (``heads/0``)."""
    if isinstance(y_pred, dict) and not any(keras.tree.is_nested(v) for v in y_pred.values()):
        return [(str(k), y_pred[k]) for k in sorted(y_pred)]
    paths = keras.tree.flatten_with_path(y_pred)
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(paths) or len(set(names)) != len(names):
        names = ["/".join(str(p) for p in path) or "0" for path, _ in paths]
    return [(name, value) for name, (_, value) in zip(names, paths)]


def resolve(structure, path):
    for key in path:
        structure = structure[key]
    return structure


def flat_logs(logs):
    """A step's logs flattened as Keras flattens them for callbacks and History (keys sorted,
    the entries of nested dicts by their own keys, a later one replacing an earlier namesake)."""
    out = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            out.update(flat_logs(value))
        else:
            out[key] = value
    return out


def unreduced(loss_fn, y_true, y_pred, sample_weight):
    """A Keras Loss called with reduction None (temporarily, while the step is traced or run);
    None for a loss that does not support it."""
    if not hasattr(loss_fn, "reduction"):
        return None
    saved = loss_fn.reduction
    loss_fn.reduction = None
    try:
        return ops.convert_to_tensor(loss_fn(y_true, y_pred, sample_weight))
    except Exception:  # a custom loss that does not support it: warned by the caller
        return None
    finally:
        loss_fn.reduction = saved
