"""The events of a block of staged steps (``staging``), made on the host with numpy.

Why: made with TensorFlow ops, a block's statistics, samples' rows and writes were a graph of a
few hundred ops, traced in every new process at its first ``fit`` (0.6-0.9 s) and instantiated
at its first call. Here they are one numpy function (``block_events``), called from a block
writer of a handful of ops that hands its Events to the summary writer one by one (``ImportEvent``).

The values are ``host_stats``', the twins of the TensorFlow ops that write a step unstaged and
the rows BatchStats writes on JAX and PyTorch: the same rows, bit for bit except for sums and
exp (a few ulp, see ``host_stats``); the events are ``host_records``', the same bytes protobuf
makes of them.
"""

import time

import numpy as np

from tb_batch_plugin import metadata
from tb_batch_plugin.record import host_records, host_stats
from tb_batch_plugin.record.host_writer import templates


def block_events(spec, steps, sizes, *staged):
    """(n,) object array of the serialized Events of n staged rows (``staging.BlockSpec``'s
    layout, as dequeued: each component padded to the block's longest), row by row and, in a
    row, each name's distribution and histogram, then the samples' rows."""
    n, k = len(steps), len(spec.names)
    if not n:
        return np.array([], dtype=object)
    columns = host_records.Columns()
    rows = np.arange(n)
    dist_meta = metadata.distribution_metadata(spec.quantile_probs, spec.num_bins)
    hist_meta = metadata.histogram_metadata()
    for j, name in enumerate(spec.names):  # each name's rows at once: (n, padded) values
        stats = host_stats.padded_distribution_rows(staged[j], sizes[:, j], spec.quantile_probs, spec.num_bins)
        columns.add_column(metadata.distribution_tag(name), rows, stats, dist_meta)
        columns.add_column(name, rows, host_stats.histogram_rows(stats, len(spec.quantile_probs), spec.num_bins),
                           hist_meta)
    if spec.samples is not None:
        layout = spec.samples
        for tag, index, values, meta in host_stats.padded_sample_columns(
                staged[k], *_sample_matrices(layout, staged[k + 1:]), layout.num_samples, layout.dynamics):
            columns.add_column(tag, index, values, meta)
    made = templates(columns.made())
    events = host_records.block_events(np.asarray(steps, np.int64), np.full(n, time.time()), made)
    return np.array(events, dtype=object)


def _sample_matrices(layout, columns):
    """(loss, fingerprints, ids, outputs) of staged sample columns (``SampleLayout.step_columns``,
    each (n, padded)), as ``host_stats.padded_sample_columns`` takes them."""
    columns = list(columns)
    loss, fingerprints = columns.pop(0), columns.pop(0)
    ids = columns.pop(0) if layout.ids else None
    outputs = [tuple(described) + (y_true, y_pred, own_loss)
               for _, own_loss, y_true, y_pred, described in layout.staged_outputs(columns, None)]
    return loss, fingerprints, ids, outputs
