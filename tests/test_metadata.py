"""The data contract: plugin data round trip and what a reader must refuse."""

import pytest

from tb_batch_plugin import metadata as md


def test_round_trip_and_layout():
    m = md.distribution_metadata((0.0, 0.5, 1.0), 7)
    pd = md.parse_plugin_data(m.plugin_data.content)
    assert m.plugin_data.plugin_name == "tb_batch"
    assert (pd.version, pd.kind, list(pd.quantile_probs), pd.num_bins) == (2, 2, [0.0, 0.5, 1.0], 7)
    assert md.distribution_length(3, 7) == 8 + 3 + 7


def test_scalars_are_standard_tensorboard_scalars_that_say_where_they_come_from():
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.scalar import metadata as tb_scalar_metadata

    m = md.scalar_metadata(md.PROVENANCE_REPORTED)
    assert m.plugin_data.plugin_name == "scalars" and m.data_class == summary_pb2.DATA_CLASS_SCALAR
    # TensorBoard's own parser reads it as its version-0 ScalarPluginData and ignores our field.
    assert tb_scalar_metadata.parse_plugin_metadata(m.plugin_data.content).version == 0
    pd = md.parse_scalars_content(m.plugin_data.content)
    assert (pd.version, pd.kind, pd.provenance) == (2, md.KIND_SCALAR, md.PROVENANCE_REPORTED)
    # A scalar written by TensorBoard's own summary op carries nothing of ours.
    plain = tb_scalar_metadata.create_summary_metadata("", "")
    assert md.parse_scalars_content(plain.plugin_data.content) is None


def test_histograms_and_markers_metadata():
    from tensorboard.compat.proto import summary_pb2

    h = md.histogram_metadata()
    assert (h.plugin_data.plugin_name, h.plugin_data.content, h.data_class) == (
        "histograms", b"", summary_pb2.DATA_CLASS_TENSOR)
    for kind in md.MARKER_KINDS:
        m = md.marker_metadata(kind)
        assert m.data_class == summary_pb2.DATA_CLASS_UNKNOWN  # invisible to TensorBoard's dashboards
        assert md.parse_plugin_data(m.plugin_data.content).kind == kind
    assert md.distribution_name(md.distribution_tag("per_sample_loss/out")) == "per_sample_loss/out"
    assert md.distribution_name("predictions") == "predictions"  # version 1 tags


@pytest.mark.parametrize("content", [
    md.BatchPluginData(version=md.PROTO_VERSION + 1, kind=md.KIND_SCALAR).SerializeToString(),
    md.BatchPluginData(version=1, kind=9).SerializeToString(),
    md.BatchPluginData(version=2, kind=md.KIND_SCALAR, provenance=7).SerializeToString(),
    md.BatchPluginData(version=1, kind=md.KIND_DISTRIBUTION, num_bins=3).SerializeToString(),
    md.BatchPluginData(version=1, kind=md.KIND_DISTRIBUTION, num_bins=3,
                       quantile_probs=[0.5, float("nan")]).SerializeToString(),
    md.BatchPluginData(version=1, kind=md.KIND_DISTRIBUTION, num_bins=3,
                       quantile_probs=[1.5]).SerializeToString(),
    b"\xff\xff\xff",
])
def test_refuses_what_it_cannot_read(content):
    with pytest.raises(ValueError):
        md.parse_plugin_data(content)
