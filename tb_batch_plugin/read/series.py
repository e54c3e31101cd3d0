"""The series objects the reader returns: numpy columns of one tag of one run, as written.

What each column holds: docs/backend.md ("Storage") and ``metadata`` (the tensor layouts)."""

import collections

import numpy as np

from tb_batch_plugin import metadata


class UnknownKey(KeyError):
    """An unknown run or tag (a KeyError, told apart from the KeyErrors of bugs)."""


class ScalarSeries:
    """One scalar tag of one run: numpy ``steps`` (int64, strictly increasing), ``values``
    (float32 or float64 as written), ``wall_times`` (float64 seconds since the epoch)."""

    __slots__ = ("steps", "values", "wall_times")

    def __init__(self, steps, values, wall_times):
        self.steps, self.values, self.wall_times = steps, values, wall_times

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "ScalarSeries(%d points)" % len(self.steps)


# Where a series comes from, in the order a tag written by several writers is looked up.
SOURCES = ("tb_batch", "scalars", "simple_value")

SeriesInfo = collections.namedtuple(
    "SeriesInfo", "tag kind source provenance count first_step last_step")
SeriesInfo.__doc__ = """One series of a run: ``source`` 'tb_batch' (BatchStats, tbb.summary),
'scalars' (a standard TensorBoard scalar of other code), 'simple_value' (a legacy scalar: PyTorch,
tensorboardX); ``provenance`` 'exact', 'reported', 'custom' or 'logged' (see metadata)."""


class MarkerSeries:
    """One marker of one run: ``steps``, ``wall_times`` and ``fields`` {name: int64 array} (the
    names of ``metadata.MARKER_FIELDS``)."""

    __slots__ = ("steps", "wall_times", "fields")

    def __init__(self, steps, wall_times, fields):
        self.steps, self.wall_times, self.fields = steps, wall_times, fields

    def __len__(self):
        return len(self.steps)


class DistributionSeries:
    """One distribution tag of one run. ``data`` is the (N, 8+Q+B) float64 matrix of the tensor
    layout in ``metadata``; the named properties are views into it."""

    __slots__ = ("steps", "wall_times", "data", "quantile_probs", "num_bins")

    def __init__(self, steps, wall_times, data, quantile_probs, num_bins):
        self.steps, self.wall_times, self.data = steps, wall_times, data
        self.quantile_probs = np.asarray(quantile_probs, dtype=np.float64)
        self.num_bins = int(num_bins)

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "DistributionSeries(%d steps, Q=%d, B=%d)" % (
            len(self.steps), len(self.quantile_probs), self.num_bins)

    def _col(i):
        return property(lambda self: self.data[:, i])

    count = _col(metadata.COUNT)
    nan_count = _col(metadata.NAN_COUNT)
    posinf_count = _col(metadata.POSINF_COUNT)
    neginf_count = _col(metadata.NEGINF_COUNT)
    min = _col(metadata.MIN)
    max = _col(metadata.MAX)
    mean = _col(metadata.MEAN)
    std = _col(metadata.STD)
    del _col

    @property
    def quantiles(self):
        """(N, Q): quantiles[j, i] is the quantile at quantile_probs[i] of step j."""
        header = metadata.HEADER_LENGTH
        return self.data[:, header:header + len(self.quantile_probs)]

    @property
    def histograms(self):
        """(N, B) counts of the finite values in B equal-width bins spanning [min, max]."""
        return self.data[:, metadata.HEADER_LENGTH + len(self.quantile_probs):]

    @property
    def bin_edges(self):
        """(N, B+1) bin edges of each step's histogram (NaN rows where a step has no finite value)."""
        return np.linspace(self.min, self.max, self.num_bins + 1, axis=1)  # as step_bin_edges

    def step_bin_edges(self, i):
        """Bin edges (B+1,) of the i-th point."""
        return np.linspace(self.data[i, metadata.MIN], self.data[i, metadata.MAX], self.num_bins + 1)
