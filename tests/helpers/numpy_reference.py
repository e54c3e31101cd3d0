"""The distribution layout of ``metadata`` computed with numpy: the independent reference that
the TensorFlow implementations (``summary``, ``staging``, BatchStats) are compared with."""

import numpy as np

from tb_batch_plugin import metadata


def expected_distribution(values, probs=metadata.DEFAULT_QUANTILE_PROBS, bins=metadata.DEFAULT_NUM_BINS):
    x = np.asarray(values, np.float64).ravel()
    f = x[np.isfinite(x)]
    head = [x.size, np.isnan(x).sum(), np.isposinf(x).sum(), np.isneginf(x).sum()]
    if f.size == 0:
        return np.array(head + [np.nan] * (4 + len(probs)) + [0] * bins, np.float64)
    if f.min() == f.max():  # documented: all values in bin 0
        hist = np.zeros(bins)
        hist[0] = f.size
    else:
        hist = np.histogram(f, bins=bins)[0]
    return np.concatenate([head, [f.min(), f.max(), f.mean(), f.std()], np.quantile(f, probs), hist])
