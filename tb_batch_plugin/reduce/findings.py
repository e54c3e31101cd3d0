"""What kind of anomaly a spike is, from what the run recorded at its step: the batch as a whole
(its per-sample loss median or upper quartile jumps), a few samples carrying the batch's loss (the
mean jumps, the quantiles do not), a gradient or learning-rate anomaly the loss does not show.
Pure numpy; the definitions are in docs/http_api.md (`GET anomalies`).
"""

import numpy as np

from tb_batch_plugin.reduce import spikes

BATCH_QUANTILES = (0.5, 0.75)  # a quarter of the batch or more moves the upper quartile
# The minimum jump of a batch quantile, as a share of a request's min_jump x the quantile's
# spread: a fault late in training (the median loss from 0.02 to 0.3) jumps by a small part of the
# range that the first steps of training cover, and the two quantiles are far steadier than the
# mean; 0.0001 -> 0.003 stays below it.
BATCH_MIN_JUMP_SHARE = 0.1
# A validation batch is scored against itself in the 5 evaluations before and after it (the
# first 5 evaluations, while the model changes fast, are its warm-up).
EVALUATION_WINDOW = 5
LOSS_TAG = "loss"
PER_SAMPLE_LOSS_TAG = "per_sample_loss"
# Where the batches are scored, the loss's own jumps are the ones its quantiles do not explain: a
# few samples carrying the batch's loss. Those are scored in the loss's units (a jump far beyond
# the batch-to-batch variation, and a fifth of the loss's range): on the log scale, the chaotic
# loss of a high learning rate hides the mislabelled sample that makes it jump tenfold.
LOSS_SCALE = "linear"


class BatchScores:
    """How far each recorded batch as a whole rose above both neighbourhoods: the upward spike
    scores (log scale) of its per-sample loss median and upper quartile, of the points scoring
    at least spikes.SPIKE_MIN_THRESHOLD (a fall scores 0). A step's batch score is the larger of
    the two among those whose jump passes a request's minimum jump (``at``, ``above``)."""

    def __init__(self, distribution, warmup=spikes.SPIKE_WARMUP, segment_starts=(), groups=None):
        d = distribution
        probs, quantiles, steps = list(d.quantile_probs), d.quantiles, d.steps
        self.steps = np.asarray(steps, dtype=np.int64)
        finite = d.count - d.nan_count - d.posinf_count - d.neginf_count
        with np.errstate(divide="ignore", invalid="ignore"):
            self.top_shares = d.max / (d.mean * finite)  # the largest sample's share of the batch's loss
        self.parts = []  # per quantile: (steps, scores, jumps, spread) of its candidates
        for p in BATCH_QUANTILES:
            if p not in probs:
                continue
            s = series_scores(quantiles[:, probs.index(p)], groups, warmup, segment_starts, "log")
            with np.errstate(invalid="ignore"):
                keep = np.flatnonzero((s.score >= spikes.SPIKE_MIN_THRESHOLD) & (s.gap > 0))
            self.parts.append((np.asarray(steps, dtype=np.int64)[keep], s.score[keep], s.jump[keep], s.spread))

    def covers(self, step):
        """Whether the batch of ``step`` was recorded (its per-sample losses)."""
        i = int(np.searchsorted(self.steps, step))
        return i < self.steps.size and self.steps[i] == step

    def share(self, step):
        """The largest share of the batch's summed loss one sample holds at ``step`` (None where
        not recorded or not finite)."""
        i = int(np.searchsorted(self.steps, step))
        if i < self.steps.size and self.steps[i] == step and np.isfinite(self.top_shares[i]):
            return float(self.top_shares[i])
        return None

    def at(self, step, min_jump):
        best = 0.0
        for steps, scores, jumps, spread in self.parts:
            i = int(np.searchsorted(steps, step))
            if i < steps.size and steps[i] == step and jumps[i] >= BATCH_MIN_JUMP_SHARE * min_jump * spread:
                best = max(best, float(scores[i]))
        return best

    def above(self, threshold, min_jump):
        """{step: batch score} of the steps whose batch score is at least ``threshold``."""
        out = {}
        for steps, scores, jumps, spread in self.parts:
            hit = (scores >= threshold) & (jumps >= BATCH_MIN_JUMP_SHARE * min_jump * spread)
            for step, score in zip(steps[hit].tolist(), scores[hit].tolist()):
                out[step] = max(out.get(step, 0.0), score)
        return out


class StepScores:
    """A series' spike scores at some of its steps (the points scoring at least
    spikes.SPIKE_MIN_THRESHOLD), looked up by step; a step not among them scores 0."""

    def __init__(self, steps, scores):
        keep = np.flatnonzero(np.asarray(scores, dtype=np.float64) >= spikes.SPIKE_MIN_THRESHOLD)
        self.steps = np.asarray(steps, dtype=np.int64)[keep]
        self.scores = np.asarray(scores, dtype=np.float64)[keep]

    def at(self, step):
        i = int(np.searchsorted(self.steps, step))
        return float(self.scores[i]) if i < self.steps.size and self.steps[i] == step else 0.0


SAMPLES_SHARE = 0.2  # one sample with a fifth of a batch's loss: over 6 times its part in 32


def kind_of(tag, batch, loss, share, threshold, rise=True):
    """The kind of a spike of ``tag`` in a run whose batches are scored (``batch``: the batch
    score at its step, ``loss``: the loss's own score there, ``share``: the largest share of the
    batch's loss one sample holds there, ``rise``: whether the spike is a rise), or None when it
    is not listed (a fall of the loss or the gradient norm, an easy batch, is not a finding):

    - 'spike': the batch as a whole is off (its per-sample loss quantiles jumped), whatever tag;
    - 'samples': the loss (or the gradient norm with it) jumped while the quantiles did not, and
      one sample holds at least SAMPLES_SHARE of the batch's loss: a few samples carry it (the
      samples of the step say which);
    - 'gradient': the gradient norm jumped and the loss shows nothing at that step;
    - 'learning_rate': the learning rate itself jumped;
    - None: a jump that neither the batch as a whole nor a few samples explain (another metric,
      or the loss of a batch whose samples all moved a little: the noise of a batch, not a
      finding)."""
    if batch >= threshold:
        return "spike"
    carried = share is not None and share >= SAMPLES_SHARE
    if tag == LOSS_TAG:
        return "samples" if carried and rise else None
    if tag == "grad_norm" or tag.startswith("grad_norm/"):
        if not rise:
            return None
        return "samples" if carried and loss >= spikes.SPIKE_MIN_THRESHOLD else "gradient"
    if tag == "learning_rate" or tag.startswith("learning_rate/"):
        return "learning_rate"
    return None


def series_scores(values, groups, warmup, segment_starts, scale=None):
    """spikes.spike_scores of a series of a run: a validation run's batches (``groups``, see
    batch_groups) each against itself in the EVALUATION_WINDOW evaluations around it."""
    if groups is None:
        return spikes.spike_scores(values, warmup=warmup, segment_starts=segment_starts, scale=scale)
    return spikes.spike_scores(values, EVALUATION_WINDOW, EVALUATION_WINDOW, scale=scale, groups=groups)


def batch_groups(steps, evaluations):
    """The steps of a validation run grouped by their batch within their evaluation (index arrays
    into ``steps``): each validation batch holds the same samples in every evaluation, so it is
    compared with itself in the evaluations around it. None without evaluations."""
    if not evaluations or not len(steps):
        return None
    firsts = np.asarray(sorted(e["first_step"] for e in evaluations), dtype=np.int64)
    at = np.searchsorted(firsts, steps, side="right") - 1
    position = np.where(at >= 0, np.asarray(steps) - firsts[np.maximum(at, 0)], -1)
    return [np.flatnonzero(position == k) for k in np.unique(position)]


def evaluation_of(evaluations, step):
    """{train_step, epoch, batch} of the evaluation a validation step belongs to (its batch within
    it), or None outside any."""
    found = None
    for e in evaluations:
        if e["first_step"] <= step:
            found = e
    if found is None:
        return None
    return {"train_step": found["train_step"], "epoch": found["epoch"], "batch": int(step - found["first_step"])}
