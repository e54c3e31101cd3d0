"""Per-sample dynamics event files without TensorFlow, for the reader's tests and
bench/dynamics_read.py: rows packed as metadata.DYNAMICS_TAG describes them (independently of the
reader's unpacking), written fast through fast_writer's record templates, or one protobuf Event
at a time (for records the reader's fast path does not take); and the recorded rows read back
from event files by the contract alone (``read_events``), for tests of what the writers wrote."""

import glob

import numpy as np
from tensorboard.compat.proto import event_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from helpers import fast_writer
from tb_batch_plugin import metadata


def pack_rows(fingerprints, loss, ids=None, margin=None, label_probability=None, label=None, predicted=None,
              num_classes=0):
    """(B, W) int32 rows of one batch in the layout of ``metadata.dynamics_fields(num_classes,
    ids is not None)``; the classification words only when num_classes > 0."""
    fingerprints = np.asarray(fingerprints, dtype=np.uint64)
    words = {"fingerprint_hi": fingerprints >> np.uint64(32),
             "fingerprint_lo": fingerprints & np.uint64(0xFFFFFFFF),
             "loss": np.asarray(loss, dtype="<f4").view("<u4")}
    if ids is not None:
        u = np.asarray(ids, dtype=np.int64).view(np.uint64)
        words["id_hi"], words["id_lo"] = u >> np.uint64(32), u & np.uint64(0xFFFFFFFF)
    if num_classes:
        words["margin"] = np.asarray(margin, dtype="<f4").view("<u4")
        words["label_probability"] = np.asarray(label_probability, dtype="<f4").view("<u4")
        label, predicted = np.asarray(label, dtype=np.uint64), np.asarray(predicted, dtype=np.uint64)
        words["label_predicted"] = label | (predicted << np.uint64(16))
        words["label"], words["predicted"] = label, predicted
    fields = metadata.dynamics_fields(num_classes, ids is not None)
    return np.stack([np.asarray(words[f], dtype=np.uint64).astype(np.uint32) for f in fields], 1).view(np.int32)


def _tensor(rows):
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_INT32,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d)
                                                            for d in rows.shape]),
        tensor_content=np.ascontiguousarray(rows, dtype="<i4").tobytes())


def write_dynamics(path, steps, batches, num_classes, ids, tag=metadata.DYNAMICS_TAG, walls=None):
    """Appends one dynamics event per step (as tf.summary.write: the metadata on every event, the
    tensor in tensor_content); `batches`: one (B_i, W) int32 array per step, or a (n, B, W)
    array."""
    steps = np.asarray(steps, dtype=np.int64)
    walls = 1.7e9 + steps * 0.01 if walls is None else np.asarray(walls, dtype=np.float64)
    meta = metadata.dynamics_metadata(num_classes, ids)
    sizes = np.array([len(b) for b in batches])
    bounds = np.flatnonzero(np.diff(sizes)) + 1
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(sizes)]):  # runs of one batch size
        block = np.ascontiguousarray(np.stack(batches[a:b]) if isinstance(batches, list) else batches[a:b],
                                     dtype="<i4")
        contents = block.view(np.uint8).reshape(b - a, -1)
        shape = block.shape[1:]
        fast_writer._write_events(path, tag, steps[a:b], walls[a:b], contents, meta,
                                  lambda: _tensor(np.zeros(shape, np.int32)))


def dynamics_event(step, rows, num_classes, ids, tag=metadata.DYNAMICS_TAG, extra=()):
    """One protobuf Event holding a step's dynamics, and `extra` Summary.Values (tag, tensor,
    metadata) before it: a record only the reader's protobuf path decodes."""
    ev = event_pb2.Event(step=step, wall_time=1.7e9 + step * 0.01)
    for extra_tag, tensor, meta in extra:
        ev.summary.value.add(tag=extra_tag, tensor=tensor, metadata=meta)
    ev.summary.value.add(tag=tag, tensor=_tensor(rows), metadata=metadata.dynamics_metadata(num_classes, ids))
    return ev


def read_events(run_dir):
    """{tag: [(step, {field: column})]} of the dynamics events of a run, read with TensorBoard's own
    loader and decoded by the words the metadata names (never by the package's reader)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    out, fields = {}, {}
    for path in sorted(glob.glob(str(run_dir) + "/events*")):
        for event in event_file_loader.LegacyEventFileLoader(path).Load():
            for value in event.summary.value:
                if not value.tag.startswith(metadata.DYNAMICS_TAG):
                    continue
                if value.HasField("metadata"):
                    data = metadata.parse_plugin_data(value.metadata.plugin_data.content)
                    assert value.metadata.data_class == summary_pb2.DATA_CLASS_UNKNOWN
                    assert data.kind == metadata.KIND_DYNAMICS and data.version == 3
                    fields[value.tag] = tuple(data.fields)
                words = tensor_util.make_ndarray(value.tensor)
                assert words.dtype == np.int32 and words.shape[1] == len(fields[value.tag])
                out.setdefault(value.tag, []).append((event.step, decode_words(words, fields[value.tag])))
    return out


def decode_words(words, fields):
    """{fingerprint, id (when recorded), loss, margin, label_probability (float32), label (-1: none
    valid), predicted} of (B, W) int32 rows with these fields."""
    cols = {name: words[:, j] for j, name in enumerate(fields)}
    u = {name: c.view(np.uint32).astype(np.uint64) for name, c in cols.items()}
    out = {"fingerprint": (u["fingerprint_hi"] << np.uint64(32)) | u["fingerprint_lo"]}
    if "id_hi" in cols:
        out["id"] = ((u["id_hi"] << np.uint64(32)) | u["id_lo"]).view(np.int64)
    for name in metadata.DYNAMICS_FLOAT_FIELDS:
        if name in cols:
            out[name] = cols[name].view(np.float32)
    if "label_predicted" in cols:
        packed = cols["label_predicted"].view(np.uint32)
        label = (packed & 0xFFFF).astype(np.int64)
        out["label"], out["predicted"] = np.where(label == 0xFFFF, -1, label), (packed >> 16).astype(np.int64)
    return out
