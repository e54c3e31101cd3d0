"""The data contract between the writers (BatchStats, summary) and the readers (load, plugin).

Everything that is written into, or read from, an event file by tb-batch is defined here:
the plugin name, the versioned plugin-data protobuf stored in each summary's metadata, and
the fixed layout of a distribution tensor. Import-light on purpose: only protobuf and
TensorBoard's summary proto, no TensorFlow, so the plugin entry point can use it.

Scalars: a rank-0 float tensor (float32 as computed in the step), data class SCALAR.

Distributions: a rank-1 float64 tensor of length ``distribution_length(Q, B)``, data class
TENSOR, laid out as

    [count, nan_count, posinf_count, neginf_count, min, max, mean, std,
     q_0 .. q_{Q-1}, h_0 .. h_{B-1}]

``count`` counts every value of the batch (finite or not); ``min`` .. ``h_*`` are computed over
the finite values only (NaN when there are none). ``q_i`` is the exact quantile at probability
``quantile_probs[i]`` of the finite values (linear interpolation between closest ranks, numpy's
default ``method="linear"``). ``h_j`` counts the finite values in the j-th of B equal-width bins
spanning [min, max] (the last bin closed; all values in bin 0 when min == max). The probabilities
and B are stored in the plugin data of every summary, so a reader never guesses the layout.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "tb_batch"

# Bumped when the meaning of existing fields or the tensor layout changes incompatibly.
PROTO_VERSION = 1

# The kinds of summaries tb-batch writes (values of BatchPluginData.kind).
KIND_SCALAR = 1
KIND_DISTRIBUTION = 2
KIND_NAMES = {KIND_SCALAR: "scalar", KIND_DISTRIBUTION: "distribution"}

# Default distribution layout written by BatchStats and summary.distribution.
DEFAULT_QUANTILE_PROBS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DEFAULT_NUM_BINS = 30

# Indices into a distribution tensor.
COUNT, NAN_COUNT, POSINF_COUNT, NEGINF_COUNT, MIN, MAX, MEAN, STD = range(8)
HEADER_FIELDS = ("count", "nan_count", "posinf_count", "neginf_count", "min", "max", "mean", "std")
HEADER_LENGTH = len(HEADER_FIELDS)


def _build_plugin_data_class():
    """Builds the BatchPluginData message class from a descriptor (no protoc step needed).

    Equivalent .proto:

        syntax = "proto3";
        package tb_batch;
        message BatchPluginData {
          int32 version = 1;          // PROTO_VERSION of the writer
          int32 kind = 2;             // KIND_SCALAR or KIND_DISTRIBUTION
          repeated double quantile_probs = 3;  // distributions: probabilities of q_0..q_{Q-1}
          int32 num_bins = 4;         // distributions: B
        }
    """
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tb_batch_plugin/plugin_data.proto", package="tb_batch", syntax="proto3"
    )
    msg = file_proto.message_type.add(name="BatchPluginData")
    F = descriptor_pb2.FieldDescriptorProto
    for number, name, ftype, label in (
        (1, "version", F.TYPE_INT32, F.LABEL_OPTIONAL),
        (2, "kind", F.TYPE_INT32, F.LABEL_OPTIONAL),
        (3, "quantile_probs", F.TYPE_DOUBLE, F.LABEL_REPEATED),
        (4, "num_bins", F.TYPE_INT32, F.LABEL_OPTIONAL),
    ):
        msg.field.add(name=name, number=number, type=ftype, label=label)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tb_batch.BatchPluginData"))


BatchPluginData = _build_plugin_data_class()


def distribution_length(num_quantiles, num_bins):
    """Length of a distribution tensor with Q quantiles and B histogram bins."""
    return HEADER_LENGTH + num_quantiles + num_bins


def scalar_metadata(display_name=None, description=None):
    """SummaryMetadata for one per-step scalar."""
    content = BatchPluginData(version=PROTO_VERSION, kind=KIND_SCALAR)
    return summary_pb2.SummaryMetadata(
        display_name=display_name or "",
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        ),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )


def distribution_metadata(quantile_probs=DEFAULT_QUANTILE_PROBS, num_bins=DEFAULT_NUM_BINS,
                          display_name=None, description=None):
    """SummaryMetadata for one per-step distribution tensor (layout in the module docstring)."""
    content = BatchPluginData(
        version=PROTO_VERSION, kind=KIND_DISTRIBUTION,
        quantile_probs=list(quantile_probs), num_bins=int(num_bins),
    )
    return summary_pb2.SummaryMetadata(
        display_name=display_name or "",
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_data(content):
    """Parses the plugin-data bytes of a tb_batch summary; raises ValueError if malformed, of a
    newer version than this reader knows, or with a layout that is not one.

    Readers skip (and count) the summaries for which this raises.
    """
    try:
        data = BatchPluginData.FromString(content)
    except Exception as e:  # protobuf raises DecodeError; keep readers independent of it
        raise ValueError("malformed tb_batch plugin data: %s" % e) from None
    if data.version > PROTO_VERSION:
        raise ValueError("tb_batch plugin data of version %d is newer than this reader (%d)"
                         % (data.version, PROTO_VERSION))
    if data.kind not in KIND_NAMES:
        raise ValueError("unknown tb_batch summary kind %d" % data.kind)
    if data.kind == KIND_DISTRIBUTION and (data.num_bins < 1 or not data.quantile_probs):
        raise ValueError("tb_batch distribution without a layout")
    if not all(0.0 <= p <= 1.0 for p in data.quantile_probs):  # also rejects NaN
        raise ValueError("tb_batch distribution with quantile probabilities outside [0, 1]")
    return data
