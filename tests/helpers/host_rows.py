"""Comparing rows that host_stats (numpy) computed with those of TensorFlow: bit for bit but for
the values host_stats says TensorFlow's kernels compute in their own float order."""

import numpy as np

from helpers.dynamics_files import decode_words
from tb_batch_plugin import metadata

SUMMED = [metadata.MEAN, metadata.STD]  # summed in another order than TensorFlow's: last bits only


def assert_rows_match_tensorflow(got, want):
    """Bit for bit, but for the mean and std: their rounding errors, a few ulp of the largest value."""
    exact = [j for j in range(got.shape[1]) if j not in SUMMED]
    np.testing.assert_array_equal(got[:, exact].view(np.int64), want[:, exact].view(np.int64))
    scale = np.abs(want[:, [metadata.MIN, metadata.MAX]]).max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        close = (got[:, SUMMED] == want[:, SUMMED]) | (np.abs(got[:, SUMMED] - want[:, SUMMED]) <= 1e-14 * scale)
    assert (close | (np.isnan(got[:, SUMMED]) & np.isnan(want[:, SUMMED]))).all(), (got[:, SUMMED], want[:, SUMMED])


# Where TensorFlow's kernels compute their own way (host_stats says why): a few ulp.
APPROXIMATE = {"share": 1e-15, "probability": 2e-6, "label_probability": 2e-6}


def assert_same_rows(got, want):
    """{tag: (row, SummaryMetadata)} of host_stats and of TensorFlow: the same tags in the same
    order, metadata, dtypes and shapes, and values (bit for bit but where APPROXIMATE or SUMMED)."""
    assert list(got) == list(want)  # the same tags, in the order they are written
    for tag, (row, meta) in want.items():
        got_row, got_meta = got[tag]
        assert got_meta == meta, tag
        assert got_row.dtype == row.dtype and got_row.shape == row.shape, tag
        if meta.plugin_data.plugin_name == metadata.PLUGIN_NAME and metadata.parse_plugin_data(
                meta.plugin_data.content).kind == metadata.KIND_DISTRIBUTION:
            assert_rows_match_tensorflow(got_row[np.newaxis], row[np.newaxis])
        elif tag.startswith(metadata.SAMPLES_TAG):
            fields = metadata.parse_plugin_data(meta.plugin_data.content).fields
            got_row, row = got_row.reshape(-1, len(fields)), row.reshape(-1, len(fields))
            for j, name in enumerate(fields):
                tolerance = APPROXIMATE.get(name.split("/")[0])
                if tolerance is None:
                    np.testing.assert_array_equal(got_row[:, j], row[:, j], err_msg=name)
                else:
                    np.testing.assert_allclose(got_row[:, j], row[:, j], rtol=tolerance, atol=0, err_msg=name)
        elif tag.startswith(metadata.DYNAMICS_TAG):
            fields = metadata.parse_plugin_data(meta.plugin_data.content).fields
            g, w = decode_words(got_row, fields), decode_words(row, fields)
            for name in w:
                if name == "label_probability":
                    np.testing.assert_allclose(g[name], w[name], rtol=2e-6, atol=0)
                else:
                    np.testing.assert_array_equal(g[name], w[name], err_msg=name)
        else:
            np.testing.assert_array_equal(got_row, row, err_msg=tag)
