"""The data contract between the writers (BatchStats, summary) and the readers (load, plugin).

Everything tb-batch writes into, or reads from, an event file is defined here. Import-light on
purpose: only protobuf and TensorBoard's summary proto, no TensorFlow, so the plugin entry point
can use it. docs/data_contract.md describes the same contract for users of other tools.

Version 2, per step of a run:

* **Scalars** are standard TensorBoard scalars (plugin ``scalars``, ``DATA_CLASS_SCALAR``, a
  rank-0 float tensor, float32 as computed in the step), so TensorBoard's Scalars, Time Series and
  HParams dashboards and every reader of TensorBoard scalars show them. Where they come from rides
  along: the scalars plugin's content carries a ``BatchPluginData`` (kind scalar, with its
  ``provenance``) in field ``SCALARS_CONTENT_FIELD``, which TensorBoard's ``ScalarPluginData``
  does not define and so keeps as an unknown field and ignores. A scalar without it was written by
  other code ("logged").
* **Distributions** are written twice: the exact statistics as a ``tb_batch`` tensor under the
  tag ``distribution_tag(name)`` (``DATA_CLASS_TENSOR``, the layout below), and a standard
  TensorBoard histogram under ``name`` (plugin ``histograms``, a (B, 3) float64 tensor of
  [left edge, right edge, count] rows: the finite values' equal-width histogram of the layout) for
  TensorBoard's Histograms and Distributions tabs.
* **Markers** (``tb_batch`` tensors with no data class, so TensorBoard's dashboards ignore them)
  place the steps of a run in its training history: ``MARKER_TAGS`` and ``MARKER_FIELDS`` below.

The distribution tensor: a rank-1 float64 tensor of length ``distribution_length(Q, B)``,

    [count, nan_count, posinf_count, neginf_count, min, max, mean, std,
     q_0 .. q_{Q-1}, h_0 .. h_{B-1}]

``count`` counts every value of the batch (finite or not); ``min`` .. ``h_*`` are computed over
the finite values only (NaN when there are none). ``q_i`` is the exact quantile at probability
``quantile_probs[i]`` of the finite values (linear interpolation between closest ranks, numpy's
default ``method="linear"``). ``h_j`` counts the finite values in the j-th of B equal-width bins
spanning [min, max] (the last bin closed; all values in bin 0 when min == max). The probabilities
and B are stored in the plugin data of every summary, so a reader never guesses the layout.

Version 3 adds the per-sample training dynamics (``KIND_DYNAMICS``, layout at ``DYNAMICS_TAG``);
the summaries of the other kinds are still written as version 2 (``KIND_VERSIONS``), so readers
of version 2 read everything else of a run and skip the dynamics as newer.

Version 1 (still read): scalars and distributions both under the plugin name ``tb_batch``, each
distribution under its own name, no histograms, no markers.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "tb_batch"
SCALARS_PLUGIN_NAME = "scalars"  # TensorBoard's scalar plugin
HISTOGRAMS_PLUGIN_NAME = "histograms"  # TensorBoard's histogram plugin

# The newest version this reader reads. Bumped when the meaning of existing fields or a tensor
# layout changes incompatibly, or a kind is added (written with the version that added it).
PROTO_VERSION = 3

# The kinds of summaries tb-batch writes (values of BatchPluginData.kind).
KIND_SCALAR = 1
KIND_DISTRIBUTION = 2
KIND_FIT = 3  # a fit() started at this training step
KIND_EPOCH = 4  # an epoch ended: this is the training step the next batch gets
KIND_EVALUATION = 5  # an evaluation started at this validation step
KIND_SAMPLES = 6  # the samples of a step with the highest losses (layout below)
KIND_PER_CLASS = 7  # each class's mean loss and count in a step's batch (layout below)
KIND_DYNAMICS = 8  # every sample of a training step: identity, loss, margin, label (layout below)
KIND_NAMES = {KIND_SCALAR: "scalar", KIND_DISTRIBUTION: "distribution", KIND_FIT: "fit",
              KIND_EPOCH: "epoch", KIND_EVALUATION: "evaluation", KIND_SAMPLES: "samples",
              KIND_PER_CLASS: "per_class", KIND_DYNAMICS: "dynamics"}
# The version each kind is written with: the one that introduced its layout.
KIND_VERSIONS = {kind: (3 if kind == KIND_DYNAMICS else 2) for kind in KIND_NAMES}
MARKER_KINDS = (KIND_FIT, KIND_EPOCH, KIND_EVALUATION)

# Markers: one int64 vector per event, its fields named here, under a tag of their own.
#   fit:        at the first training step of a fit() call: the optimizer's iteration counter
#               (counting batches, also with gradient accumulation; -1 without an optimizer) and
#               the initial epoch.
#   epoch:      at the step the next training batch gets (= training batches done): the optimizer's
#               iteration counter then, and the 0-based epoch that ended.
#   evaluation: at the first validation step of an evaluation: the training step the next training
#               batch gets (= training batches done when it ran; place it there on the training
#               axis) and the 0-based epoch (-1 for a model.evaluate() outside fit).
MARKER_TAGS = {KIND_FIT: "tb_batch.fit", KIND_EPOCH: "tb_batch.epoch", KIND_EVALUATION: "tb_batch.evaluation"}
MARKER_FIELDS = {KIND_FIT: ("iterations", "initial_epoch"), KIND_EPOCH: ("iterations", "epoch"),
                 KIND_EVALUATION: ("train_step", "epoch")}

# Where a scalar's value comes from (BatchPluginData.provenance).
PROVENANCE_LOGGED = 0  # not written by tb-batch (or unknown): whatever the writer meant
PROVENANCE_EXACT = 1  # BatchStats: the exact value of this batch alone
PROVENANCE_REPORTED = 2  # BatchStats: the value the step reported (e.g. an epoch running mean)
PROVENANCE_CUSTOM = 3  # summary.scalar in a custom loop: the value given for this step
PROVENANCE_NAMES = {PROVENANCE_LOGGED: "logged", PROVENANCE_EXACT: "exact",
                    PROVENANCE_REPORTED: "reported", PROVENANCE_CUSTOM: "custom"}

# The field of the scalars plugin's content that carries a scalar's BatchPluginData.
SCALARS_CONTENT_FIELD = 4242

# Default distribution layout written by BatchStats and summary.distribution.
DEFAULT_QUANTILE_PROBS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DEFAULT_NUM_BINS = 30

# Indices into a distribution tensor.
COUNT, NAN_COUNT, POSINF_COUNT, NEGINF_COUNT, MIN, MAX, MEAN, STD = range(8)
HEADER_FIELDS = ("count", "nan_count", "posinf_count", "neginf_count", "min", "max", "mean", "std")
HEADER_LENGTH = len(HEADER_FIELDS)

DISTRIBUTION_TAG_PREFIX = PLUGIN_NAME + "/"

# Samples: per step a float64 vector of num_samples rows of the fields named in the plugin data
# (row-major), the samples of the batch with the highest loss first; rows of NaN where the batch
# has fewer samples. The fields (SAMPLE_FIELDS first, then per output, "/<output>" appended to
# each name when the model has several):
#   loss            the sample's loss: its per-sample losses (weighted as per_sample_loss; over
#                   the positions of a sequence, their mean over the unmasked ones) summed over
#                   the outputs with their loss weights
#   share           its loss / the sum of the batch's sample losses
#   fingerprint_hi, fingerprint_lo   the high and low 32 bits of the sample's 64-bit fingerprint
#                   (samples.row_fingerprints: farmhash64 of its input row as the model received it)
#   id              the sample's own id (an integer input feature named by BatchStats(sample_ids=));
#                   NaN without one. Exact up to 2**53.
#   position        its index in the batch
#   label, predicted, probability, label_probability   classification: the label's class, the
#                   predicted class, the probability of the predicted class and of the label's
#                   (from logits through softmax/sigmoid where the loss takes logits)
#   label, predicted   regression with one value per sample: the target and the prediction
SAMPLE_FIELDS = ("loss", "share", "fingerprint_hi", "fingerprint_lo", "id", "position")
CLASSIFICATION_FIELDS = ("label", "predicted", "probability", "label_probability")
REGRESSION_FIELDS = ("label", "predicted")
SAMPLES_TAG = PLUGIN_NAME + "/samples"
# Per class: a float64 vector [mean loss of class 0 .. C-1, count of class 0 .. C-1] of the
# batch's per-sample losses by label (NaN means for classes not in the batch), under
# PER_CLASS_TAG (+ "/<output>" for several outputs).
PER_CLASS_TAG = PLUGIN_NAME + "/per_class_loss"
# Dynamics: per training step, a (B, W) int32 tensor, one row per sample of the batch (in batch
# order, every sample), W words per row named in the plugin data's ``fields``:
#   fingerprint_hi, fingerprint_lo   the 32-bit halves of the sample's fingerprint (as samples)
#   id_hi, id_lo    the 32-bit halves of its int64 id (BatchStats(sample_ids=)), when recorded
#   loss            its loss (as samples' loss; of this output with several), float32 bits
#   classification outputs (num_classes C > 0 in the plugin data), then:
#   margin          the given label's logit minus the largest other logit (for an output of
#                   probabilities: of the probabilities; a binary output is the two classes
#                   [1 - p, p], logits [0, z]), float32 bits
#   label_probability   p(given label) (softmax/sigmoid of logits), float32 bits
#   label_predicted     the given label in the low 16 bits, the predicted class (argmax, the
#                   first of ties) in the high 16 bits (C <= 65535; a label outside 0..C-1 is
#                   0xFFFF, with NaN margin and probability); for more classes two words,
#                   ``label`` and ``predicted``. Classified correctly: predicted == label.
# 24 bytes per sample and step for a classifier recorded by fingerprint. Under DYNAMICS_TAG
# (+ "/<output>" per output for several). int32 words, not float64, to keep the files small; the
# float32 words are the bits of the values the step computed (exact).
DYNAMICS_TAG = PLUGIN_NAME + "/dynamics"
DYNAMICS_FIELDS = ("fingerprint_hi", "fingerprint_lo")
DYNAMICS_ID_FIELDS = ("id_hi", "id_lo")
DYNAMICS_CLASSIFICATION_FIELDS = ("margin", "label_probability")
DYNAMICS_FLOAT_FIELDS = ("loss", "margin", "label_probability")  # float32 bits
MAX_PACKED_CLASSES = 0xFFFF  # label_predicted above (0xFFFF: no valid label), else two words


def _build_message_classes():
    """Builds BatchPluginData, and the carrier of it in the scalars plugin's content, from
    descriptors (no protoc step needed).

    Equivalent .proto:

        syntax = "proto3";
        package tb_batch;
        message BatchPluginData {
          int32 version = 1;          // KIND_VERSIONS[kind] of the writer
          int32 kind = 2;             // KIND_*
          repeated double quantile_probs = 3;  // distributions: probabilities of q_0..q_{Q-1}
          int32 num_bins = 4;         // distributions: B
          int32 provenance = 5;       // scalars: PROVENANCE_*
          int32 num_samples = 6;      // samples: rows per step
          repeated string fields = 7; // samples: the fields of a row
          int32 num_classes = 8;      // per class, dynamics: C (0: dynamics without classes)
        }
        // What tb-batch puts in SummaryMetadata.plugin_data.content of a standard scalar
        // (TensorBoard's ScalarPluginData has only field 1, version 0, which is left unset).
        message ScalarsContent {
          BatchPluginData tb_batch = 4242;
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
        (5, "provenance", F.TYPE_INT32, F.LABEL_OPTIONAL),
        (6, "num_samples", F.TYPE_INT32, F.LABEL_OPTIONAL),
        (7, "fields", F.TYPE_STRING, F.LABEL_REPEATED),
        (8, "num_classes", F.TYPE_INT32, F.LABEL_OPTIONAL),
    ):
        msg.field.add(name=name, number=number, type=ftype, label=label)
    carrier = file_proto.message_type.add(name="ScalarsContent")
    carrier.field.add(name="tb_batch", number=SCALARS_CONTENT_FIELD, type=F.TYPE_MESSAGE,
                      label=F.LABEL_OPTIONAL, type_name=".tb_batch.BatchPluginData")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName("tb_batch." + name))
                 for name in ("BatchPluginData", "ScalarsContent"))


BatchPluginData, ScalarsContent = _build_message_classes()


def distribution_length(num_quantiles, num_bins):
    """Length of a distribution tensor with Q quantiles and B histogram bins."""
    return HEADER_LENGTH + num_quantiles + num_bins


def distribution_tag(name):
    """The tag of the tb_batch tensor of the distribution ``name`` (``name`` itself is the tag of
    its standard histogram)."""
    return DISTRIBUTION_TAG_PREFIX + name


def distribution_name(tag):
    """The distribution's name from the tag of its tb_batch tensor (version 1 used the name)."""
    return tag[len(DISTRIBUTION_TAG_PREFIX):] if tag.startswith(DISTRIBUTION_TAG_PREFIX) else tag


def _metadata(plugin_name, content, data_class, display_name=None, description=None):
    return summary_pb2.SummaryMetadata(
        display_name=display_name or "",
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name, content=content),
        data_class=data_class,
    )


def scalar_metadata(provenance=PROVENANCE_CUSTOM, display_name=None, description=None):
    """SummaryMetadata of one per-step scalar: a standard TensorBoard scalar that says where its
    value comes from."""
    content = ScalarsContent(tb_batch=BatchPluginData(
        version=KIND_VERSIONS[KIND_SCALAR], kind=KIND_SCALAR, provenance=provenance))
    return _metadata(SCALARS_PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_SCALAR,
                     display_name, description)


def distribution_metadata(quantile_probs=DEFAULT_QUANTILE_PROBS, num_bins=DEFAULT_NUM_BINS,
                          display_name=None, description=None):
    """SummaryMetadata of one per-step distribution tensor (layout in the module docstring)."""
    content = BatchPluginData(
        version=KIND_VERSIONS[KIND_DISTRIBUTION], kind=KIND_DISTRIBUTION,
        quantile_probs=list(quantile_probs), num_bins=int(num_bins),
    )
    return _metadata(PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_TENSOR,
                     display_name, description)


def samples_metadata(num_samples, fields):
    """SummaryMetadata of a step's samples (layout at SAMPLES_TAG); no data class, so
    TensorBoard's dashboards do not list it."""
    content = BatchPluginData(version=KIND_VERSIONS[KIND_SAMPLES], kind=KIND_SAMPLES, num_samples=int(num_samples),
                              fields=list(fields))
    return _metadata(PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_UNKNOWN)


def per_class_metadata(num_classes):
    """SummaryMetadata of a step's per-class losses (layout at PER_CLASS_TAG)."""
    content = BatchPluginData(version=KIND_VERSIONS[KIND_PER_CLASS], kind=KIND_PER_CLASS, num_classes=int(num_classes))
    return _metadata(PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_UNKNOWN)


def dynamics_fields(num_classes, ids):
    """The words of a dynamics row (layout at DYNAMICS_TAG) of an output with ``num_classes``
    classes (0: not a classification output), with or without ids."""
    fields = DYNAMICS_FIELDS + (DYNAMICS_ID_FIELDS if ids else ()) + ("loss",)
    if num_classes:
        fields += DYNAMICS_CLASSIFICATION_FIELDS + (
            ("label_predicted",) if num_classes <= MAX_PACKED_CLASSES else ("label", "predicted"))
    return fields


def dynamics_metadata(num_classes, ids):
    """SummaryMetadata of a step's dynamics (layout at DYNAMICS_TAG)."""
    content = BatchPluginData(version=KIND_VERSIONS[KIND_DYNAMICS], kind=KIND_DYNAMICS,
                              num_classes=int(num_classes), fields=list(dynamics_fields(num_classes, ids)))
    return _metadata(PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_UNKNOWN)


def data_length(plugin_data):
    """The length of the tensor of a summary with this plugin data (distributions, samples, per
    class and markers; 1 for scalars; a dynamics row's width, its tensor being rows of it)."""
    kind = plugin_data.kind
    if kind == KIND_DISTRIBUTION:
        return distribution_length(len(plugin_data.quantile_probs), plugin_data.num_bins)
    if kind == KIND_SAMPLES:
        return plugin_data.num_samples * len(plugin_data.fields)
    if kind == KIND_PER_CLASS:
        return 2 * plugin_data.num_classes
    if kind in MARKER_KINDS:
        return len(MARKER_FIELDS[kind])
    if kind == KIND_DYNAMICS:
        return len(plugin_data.fields)
    return 1


def histogram_metadata(display_name=None, description=None):
    """SummaryMetadata of a standard TensorBoard histogram (what ``tf.summary.histogram`` writes:
    TensorBoard's HistogramPluginData of version 0 serializes to no bytes)."""
    return _metadata(HISTOGRAMS_PLUGIN_NAME, b"", summary_pb2.DATA_CLASS_TENSOR,
                     display_name, description)


def marker_metadata(kind):
    """SummaryMetadata of a marker (no data class: TensorBoard's dashboards do not list it)."""
    if kind not in MARKER_KINDS:
        raise ValueError("not a marker kind: %r" % (kind,))
    content = BatchPluginData(version=KIND_VERSIONS[kind], kind=kind)
    return _metadata(PLUGIN_NAME, content.SerializeToString(), summary_pb2.DATA_CLASS_UNKNOWN)


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
    if data.provenance not in PROVENANCE_NAMES:
        raise ValueError("unknown tb_batch provenance %d" % data.provenance)
    if data.kind == KIND_SAMPLES and (data.num_samples < 1 or not data.fields):
        raise ValueError("tb_batch samples without a layout")
    if data.kind == KIND_PER_CLASS and data.num_classes < 1:
        raise ValueError("tb_batch per-class losses without a number of classes")
    if data.kind == KIND_DYNAMICS and (data.num_classes < 0 or tuple(data.fields) not in (
            dynamics_fields(data.num_classes, False), dynamics_fields(data.num_classes, True))):
        raise ValueError("tb_batch dynamics with an unknown layout")
    return data


def parse_scalars_content(content):
    """The BatchPluginData a tb-batch writer put in a standard scalar's plugin content, or None
    for a scalar written by other code. Raises ValueError as ``parse_plugin_data``."""
    try:
        carrier = ScalarsContent.FromString(content)
    except Exception as e:
        raise ValueError("malformed scalars plugin content: %s" % e) from None
    if not carrier.HasField("tb_batch"):
        return None
    data = parse_plugin_data(carrier.tb_batch.SerializeToString())
    if data.kind != KIND_SCALAR:
        raise ValueError("tb_batch data of kind %d in a scalar" % data.kind)
    return data
