"""What ``dynamics(run)`` returns: per sample identity, the aggregates of its presentations in
training (``SampleDynamics``), and the ranking of likely mislabelled samples built on them.

Numpy only. How they are read and aggregated: ``read/dynamics.py``; the signals:
Pleiss et al. 2020 (Area Under the Margin), Toneva et al. 2019 (forgetting events), Swayamdipta
et al. 2020 (Dataset Cartography: confidence, variability)."""

import numpy as np

# The columns of a SampleDynamics, in the order ``columns()`` gives them.
COLUMNS = ("fingerprint", "id", "presentations", "first_step", "last_step", "aum", "forgetting",
           "learned_step", "confidence", "variability", "accuracy", "mean_loss", "last_loss", "label",
           "predicted")
# The columns that only classification outputs have (NaN or -1 for the others).
CLASSIFICATION_COLUMNS = ("aum", "forgetting", "learned_step", "confidence", "variability", "accuracy",
                          "label", "predicted")


class SampleDynamics:
    """The training dynamics of every sample of one output of a run, one entry per sample identity
    (its id where ids were recorded, else its fingerprint) in order of first presentation.

    Numpy columns: ``fingerprint`` (uint64, at its last presentation), ``id`` (int64, or None
    without ids), ``presentations``, ``first_step``, ``last_step``; for classification outputs
    ``aum`` (mean margin: the label's logit minus the largest other one), ``forgetting`` (times it
    was wrong after having been right at its previous presentation), ``learned_step`` (the first
    step of its final run of correct presentations; -1 if wrong at its last), ``confidence`` and
    ``variability`` (mean and population std of p(label)), ``accuracy`` (share correct),
    ``label`` and ``predicted`` (at its last presentation); ``mean_loss``, ``last_loss``.
    Classification columns are NaN (floats) or -1 (ints) for an output without classes.
    Also ``outputs`` (the run's outputs with dynamics, '' for a single one), ``output``,
    ``classification``, ``skipped`` (records not read) and ``skipped_reasons`` ({reason: count}:
    'corrupt_records' (a CRC, the framing, or cut short), 'unreadable_file', 'not_as_indexed'
    (another step, tag or layout than the index found there: the file changed since)).

    ``pandas.DataFrame(d.columns())`` gives a table; ``records(...)`` dicts as the tab shows them.
    The columns are read-only: one object is shared by every caller, and some are views of the
    aggregation state the reader keeps for the run (copied by it before it changes them).
    """

    def __init__(self, columns, outputs, output, classification, skipped_reasons):
        for name in COLUMNS:
            setattr(self, name, columns.get(name))
        self.outputs, self.output = list(outputs), output
        self.classification = bool(classification)
        self.skipped_reasons = dict(skipped_reasons)
        self.skipped = sum(self.skipped_reasons.values())

    def __len__(self):
        return len(self.presentations)

    def __repr__(self):
        return "SampleDynamics(%d samples, output %r%s)" % (
            len(self), self.output, "" if self.classification else ", loss only")

    def columns(self):
        """{name: numpy array} of every column (``id`` left out without ids)."""
        return {name: getattr(self, name) for name in COLUMNS if getattr(self, name) is not None}

    def records(self, order=None, descending=False, start=0, count=None):
        """The samples as dicts ({column: Python value}, ``fingerprint`` as 16 hexadecimal digits,
        ``id`` None without ids; classification columns None for an output without classes),
        sorted by the column `order` (None: first presentation first; NaN last either way; ties
        in order of first presentation), from `start`, at most `count`."""
        if order is None:
            idx = np.arange(len(self))
        else:
            if order not in COLUMNS or getattr(self, order) is None:
                raise ValueError("unknown column %r (columns: %s)" % (order, ", ".join(self.columns())))
            idx = ranking(getattr(self, order), descending)
        idx = idx[start:None if count is None else start + count]
        return [self.record(int(i)) for i in idx]

    def record(self, i):
        """The i-th sample as in ``records``."""
        out = {"fingerprint": "%016x" % int(self.fingerprint[i]),
               "id": None if self.id is None else int(self.id[i])}
        for name in COLUMNS[2:]:
            if name in CLASSIFICATION_COLUMNS and not self.classification:
                out[name] = None
            else:
                value = getattr(self, name)[i]
                out[name] = float(value) if value.dtype.kind == "f" else int(value)
        return out


def ranking(values, descending=False):
    """Indices sorting `values` (NaN last either way, ties in index order)."""
    key = values
    if descending:
        key = ~values if values.dtype.kind == "u" else -values
    nan = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    return np.lexsort((key, nan))


def label_issue_scores(dynamics):
    """How likely each sample of a classification output is mislabelled (higher: more likely), in
    [0, 1]; NaN where a sample's margins were not finite.

    The score is the mean of two ranks among the output's samples, each scaled to [0, 1] (ties
    share their mean rank): of -AUM (Pleiss et al. 2020: a sample whose given label the model
    keeps ranking below another class has a negative mean margin) and of the share of its
    presentations the model got wrong (1 - accuracy). Chosen on real training with flipped labels
    (bench/label_noise.py; docs/label_issues.md): the two ranks put more of the flipped samples
    among the top k than -AUM alone, and lose less once the model memorises the flipped labels,
    whose margins then grow without bound and outweigh their early negative ones in the mean,
    while the share of wrong presentations is bounded. Kept in this one function: the ranking
    changes only here."""
    aum, accuracy = np.asarray(dynamics.aum, np.float64), np.asarray(dynamics.accuracy, np.float64)
    score = np.full(len(aum), np.nan)
    known = ~(np.isnan(aum) | np.isnan(accuracy))
    # Ranks sum exactly (half-integers): samples of equal rank sums tie, and label_issues orders
    # them by confidence.
    ranks = _ranks(-aum[known]) + _ranks(1.0 - accuracy[known])
    score[known] = ranks / (2 * max(len(ranks) - 1, 1))
    return score


def _ranks(values):
    """The 0-based ranks of `values` (the lowest 0), ties sharing their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # the rank of each distinct value's first
    return (first + (counts - 1) / 2)[inverse]


def flagged(dynamics):
    """Which samples are flagged as likely mislabelled: the model ranked their given label below
    another class on average (AUM < 0) and got them wrong in most presentations (accuracy < 0.5).
    The ranking orders every sample; this says where both of its signals agree that the model
    prefers another label, so that a clean run can answer "none" (docs/label_issues.md)."""
    with np.errstate(invalid="ignore"):
        return (np.asarray(dynamics.aum) < 0) & (np.asarray(dynamics.accuracy) < 0.5)


def label_issues(dynamics, top=None):
    """The samples ranked most likely mislabelled first (``label_issue_scores``; ties: lower
    confidence first): dicts {fingerprint, id, score, flagged (``flagged``), and the signals:
    aum, forgetting, confidence, variability, accuracy, learned_step, label, predicted,
    presentations, mean_loss, first_step, last_step}; at most `top`. ValueError for an output
    without classes."""
    if not dynamics.classification:
        raise ValueError("output %r records no classes (a loss-only output): label issues need the "
                         "margins and labels of a classification output" % (dynamics.output,))
    score, flags = label_issue_scores(dynamics), flagged(dynamics)
    nan = np.isnan(score)
    order = np.lexsort((np.nan_to_num(dynamics.confidence, nan=np.inf), -np.where(nan, 0.0, score), nan))
    out = []
    for i in order[:top].tolist():
        rec = dynamics.record(i)
        out.append({"fingerprint": rec["fingerprint"], "id": rec["id"], "score": float(score[i]),
                    "flagged": bool(flags[i]), **{k: rec[k] for k in ("aum", "forgetting", "confidence", "variability", "accuracy",
                                           "learned_step", "label", "predicted", "presentations",
                                           "mean_loss", "first_step", "last_step")}})
    return out
