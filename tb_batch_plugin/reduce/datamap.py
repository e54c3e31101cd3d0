"""The binned data map of per-sample training dynamics (Swayamdipta et al. 2020, Dataset
Cartography): samples counted on a bins x bins grid of variability (the std of p(label), x) and
confidence (the mean p(label), y), with the mean AUM and the mean number of forgetting events of
the samples of each cell. Pure numpy; the `dynamics` route sends it (docs/http_api.md).
"""

from collections import namedtuple

import numpy as np

CONFIDENCE_SPAN = (0.0, 1.0)  # a mean of probabilities
VARIABILITY_SPAN = (0.0, 0.5)  # the std of values in [0, 1] is at most 0.5

DataMap = namedtuple("DataMap", "variability confidence count aum forgetting")
DataMap.__doc__ = """A binned data map: `variability` and `confidence` the bins + 1 edges of each
axis; `count` (int64), `aum` and `forgetting` (float64, NaN where a cell holds no finite value)
bins x bins arrays indexed [variability bin, confidence bin]."""


def bin_index(values, lo, hi, bins):
    """The bin of each value among `bins` equal bins over [lo, hi] (the last bin closed: hi is in
    it); -1 for values outside [lo, hi] or not finite."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(v) & (v >= lo) & (v <= hi)
        i = np.floor((v - lo) / (hi - lo) * bins)
    out = np.full(v.shape, -1, dtype=np.int64)
    out[inside] = np.minimum(i[inside], bins - 1).astype(np.int64)
    return out


def data_map(variability, confidence, aum, forgetting, bins):
    """The DataMap of samples with these per-sample values (arrays of one length). A sample whose
    variability or confidence is not finite or outside its span is in no cell; the means of a
    cell are over its samples whose value is finite."""
    xi = bin_index(variability, *VARIABILITY_SPAN, bins)
    yi = bin_index(confidence, *CONFIDENCE_SPAN, bins)
    placed = (xi >= 0) & (yi >= 0)
    cell = xi[placed] * bins + yi[placed]
    count = np.bincount(cell, minlength=bins * bins).reshape(bins, bins)
    return DataMap(np.linspace(*VARIABILITY_SPAN, bins + 1), np.linspace(*CONFIDENCE_SPAN, bins + 1), count,
                   _cell_means(cell, np.asarray(aum, dtype=np.float64)[placed], bins),
                   _cell_means(cell, np.asarray(forgetting, dtype=np.float64)[placed], bins))


def _cell_means(cell, values, bins):
    """Per cell, the mean of its finite `values` (NaN where there are none)."""
    finite = np.isfinite(values)
    sums = np.bincount(cell[finite], weights=values[finite], minlength=bins * bins)
    counts = np.bincount(cell[finite], minlength=bins * bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).reshape(bins, bins)
