"""The data contract: plugin data round trip and what a reader must refuse."""

import pytest

from tb_batch_plugin import metadata as md


def test_round_trip_and_layout():
    m = md.distribution_metadata((0.0, 0.5, 1.0), 7)
    pd = md.parse_plugin_data(m.plugin_data.content)
    assert m.plugin_data.plugin_name == "tb_batch"
    assert (pd.version, pd.kind, list(pd.quantile_probs), pd.num_bins) == (1, 2, [0.0, 0.5, 1.0], 7)
    assert md.distribution_length(3, 7) == 8 + 3 + 7
    assert md.parse_plugin_data(md.scalar_metadata().plugin_data.content).kind == md.KIND_SCALAR


@pytest.mark.parametrize("content", [
    md.BatchPluginData(version=md.PROTO_VERSION + 1, kind=md.KIND_SCALAR).SerializeToString(),
    md.BatchPluginData(version=1, kind=9).SerializeToString(),
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
