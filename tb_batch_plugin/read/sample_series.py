"""The recorded samples and per-class losses of a run as numpy columns, and the hardest samples
over a range of steps: which samples keep coming back with the highest losses.

Numpy only (the TensorBoard plugin uses it). The layouts are in ``metadata`` (SAMPLES_TAG,
PER_CLASS_TAG).
"""

import numpy as np


class SampleSeries:
    """The top-k samples of every recorded step of a run: ``steps`` (N,), ``wall_times`` (N,),
    ``fields`` (the names of ``metadata``'s layout), ``field(name)`` (N, k) float64 (NaN rows
    where a batch had fewer than k samples), ``fingerprints`` (N, k) uint64 (0 where no sample)."""

    __slots__ = ("steps", "wall_times", "fields", "data", "num_samples")

    def __init__(self, steps, wall_times, data, fields, num_samples):
        self.steps, self.wall_times = steps, wall_times
        self.fields, self.num_samples = tuple(fields), int(num_samples)
        self.data = data  # (N, k * F), row-major rows of the fields

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "SampleSeries(%d steps, %d samples each, fields %s)" % (len(self.steps), self.num_samples,
                                                                       ", ".join(self.fields))

    def field(self, name):
        j = self.fields.index(name)
        return self.data.reshape(len(self.steps), self.num_samples, len(self.fields))[:, :, j]

    @property
    def fingerprints(self):
        hi, lo = self.field("fingerprint_hi"), self.field("fingerprint_lo")
        valid = ~np.isnan(hi)
        out = np.zeros(hi.shape, np.uint64)
        out[valid] = (hi[valid].astype(np.uint64) << np.uint64(32)) | lo[valid].astype(np.uint64)
        return out

    def rows(self, i):
        """The recorded samples of the i-th step: {field: values} of its non-empty rows (a sample
        with a NaN loss too: highest first), with 'fingerprint' as 16-digit hexadecimal strings."""
        valid = ~np.isnan(self.field("fingerprint_hi")[i])
        out = {name: self.field(name)[i][valid] for name in self.fields
               if name not in ("fingerprint_hi", "fingerprint_lo")}
        out["fingerprint"] = ["%016x" % int(f) for f in self.fingerprints[i][valid]]
        return out


class PerClassSeries:
    """Each class's mean per-sample loss and count per recorded step: ``steps``, ``wall_times``,
    ``means`` (N, C; NaN where a class was not in the batch), ``counts`` (N, C)."""

    __slots__ = ("steps", "wall_times", "means", "counts")

    def __init__(self, steps, wall_times, data, num_classes):
        self.steps, self.wall_times = steps, wall_times
        self.means, self.counts = data[:, :num_classes], data[:, num_classes:]

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return "PerClassSeries(%d steps, %d classes)" % (len(self.steps), self.means.shape[1])


def hardest(samples, start=None, end=None, top=50):
    """The samples that were most often among the highest-loss samples of their batch in the steps
    [start, end]: a list of dicts {fingerprint, id, count, max_loss, mean_loss, first_step,
    last_step, label, predicted} (label and predicted of its last recorded step, when recorded),
    by count, then mean loss, then max loss, highest first; at most ``top``. Samples are told
    apart by their id when recorded, else by fingerprint."""
    steps = samples.steps
    a = 0 if start is None else int(np.searchsorted(steps, start, side="left"))
    b = len(steps) if end is None else int(np.searchsorted(steps, end, side="right"))
    valid = ~np.isnan(samples.field("fingerprint_hi")[a:b].ravel())  # rows holding a sample
    if not valid.any():
        return []
    k = samples.num_samples
    loss = samples.field("loss")[a:b].ravel()[valid]
    fps = samples.fingerprints[a:b].ravel()[valid]
    ids = samples.field("id")[a:b].ravel()[valid]
    row_steps = np.repeat(steps[a:b], k)[valid]
    _, inverse = np.unique(ids if not np.isnan(ids).any() else fps, return_inverse=True)
    count = np.bincount(inverse)
    groups = len(count)
    max_loss = np.full(groups, -np.inf)
    np.fmax.at(max_loss, inverse, loss)  # NaN losses left out (NaN when all are NaN)
    ranking = np.full(groups, -np.inf)
    np.maximum.at(ranking, inverse, np.where(np.isnan(loss), np.inf, loss))  # a NaN ranks highest
    mean_loss = np.bincount(inverse, weights=loss) / count
    first = np.full(groups, np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, row_steps)
    last_row = np.full(groups, -1)
    np.maximum.at(last_row, inverse, np.arange(len(loss)))  # rows are in step order
    # The count saturates (a sample among the top k of every batch it is in): then the sample
    # with the higher mean loss first (a NaN loss ranks highest), then the higher maximum.
    mean_rank = np.where(np.isnan(mean_loss), np.inf, mean_loss)
    order = np.lexsort((-ranking, -mean_rank, -count))[:top]
    label = samples.field("label")[a:b].ravel()[valid] if "label" in samples.fields else None
    predicted = samples.field("predicted")[a:b].ravel()[valid] if "predicted" in samples.fields else None
    out = []
    for u in order.tolist():
        r = int(last_row[u])
        out.append({
            "fingerprint": "%016x" % int(fps[r]),
            "id": None if np.isnan(ids[r]) else int(ids[r]),
            "count": int(count[u]),
            "max_loss": float(max_loss[u]) if max_loss[u] > -np.inf else float("nan"),
            "mean_loss": float(mean_loss[u]),
            "first_step": int(first[u]),
            "last_step": int(row_steps[r]),
            "label": None if label is None or np.isnan(label[r]) else float(label[r]),
            "predicted": None if predicted is None or np.isnan(predicted[r]) else float(predicted[r]),
        })
    return out
