"""The kinds of finding (reduce/findings.py) on hand-built per-sample losses: the heavy tail of a
converged classifier is not listed, a batch whose samples all rise is a whole-batch anomaly, a
batch whose loss one sample carries is labelled 'samples'. The batches' distributions are the
numpy rows of the data contract (helpers.fast_writer), independent of the code under test."""

import numpy as np
import pytest

from helpers import fast_writer
from tb_batch_plugin import metadata
from tb_batch_plugin.read import DistributionSeries
from tb_batch_plugin.reduce import findings, spikes

STEPS, BATCH = 3000, 32


def _converged_losses(seed=0):
    """Per-sample losses of a classifier converging: a level decaying from 2.3 to 0.01, each
    sample log-normal around it with a heavy tail (sigma 1.5: a batch holding one hard sample
    has many times the median loss)."""
    rng = np.random.default_rng(seed)
    level = 2.3 * np.exp(-np.arange(STEPS) / 300)[:, None] + 0.01
    return level * np.exp(1.5 * rng.standard_normal((STEPS, BATCH)))


def _distribution(losses):
    rows = fast_writer.distribution_rows(losses)
    return DistributionSeries(np.arange(len(losses), dtype=np.int64), np.zeros(len(losses)), rows,
                              metadata.DEFAULT_QUANTILE_PROBS, metadata.DEFAULT_NUM_BINS)


def _loss_kinds(losses, threshold=spikes.SPIKE_THRESHOLD, min_jump=spikes.SPIKE_MIN_JUMP):
    """{step: kind} of the spikes of the batch mean loss, as the anomalies route classifies them."""
    batch = findings.BatchScores(_distribution(losses))
    mean = losses.mean(1)
    s = spikes.spike_scores(mean, scale=findings.LOSS_SCALE)
    loss = findings.StepScores(np.arange(STEPS), np.nan_to_num(s.score))
    out = {}
    for i in spikes.spikes(s, threshold, min_jump).tolist():
        out[i] = findings.kind_of("loss", batch.at(i, min_jump), loss.at(i), batch.share(i), threshold, s.gap[i] > 0)
    for step in batch.above(threshold, min_jump):
        out.setdefault(step, "spike")
    return out, batch


def test_the_heavy_tail_of_a_converged_classifier_is_not_a_whole_batch_anomaly():
    losses = _converged_losses()
    mean = losses.mean(1)
    assert (mean[1000:] > 5 * np.median(mean[1000:])).sum() > 0  # a hard sample: 5x the median and more
    kinds, _ = _loss_kinds(losses)
    assert "spike" not in kinds.values()


def test_a_batch_whose_samples_all_rise_is_a_whole_batch_anomaly():
    losses = _converged_losses()
    losses[2000] *= 20  # every sample of the batch (labels shuffled, inputs corrupted...)
    losses[2500, :10] *= 30  # a third of the batch
    kinds, batch = _loss_kinds(losses)
    assert kinds[2000] == "spike" and kinds[2500] == "spike"
    assert [k for k, v in kinds.items() if v == "spike"] == [2000, 2500]
    assert batch.at(2000, 0.2) >= 6


def test_a_batch_whose_loss_one_sample_carries_is_labelled_samples():
    losses = _converged_losses()
    losses[1800, 3] = 60 * losses[1800].sum()  # one sample holds 98% of the batch's loss
    kinds, batch = _loss_kinds(losses)
    assert kinds[1800] == "samples"
    share = losses[1800].max() / losses[1800].sum()
    assert batch.share(1800) == pytest.approx(share, rel=1e-6) and share > 0.98
    assert "spike" not in kinds.values()


def test_kinds_of_other_series():
    assert findings.kind_of("accuracy", batch=7.0, loss=0.0, share=None, threshold=6) == "spike"
    assert findings.kind_of("accuracy", batch=2.0, loss=9.0, share=0.9, threshold=6) is None
    assert findings.kind_of("grad_norm", batch=2.0, loss=0.0, share=0.9, threshold=6) == "gradient"
    assert findings.kind_of("grad_norm", batch=2.0, loss=4.0, share=0.9, threshold=6) == "samples"
    assert findings.kind_of("grad_norm", batch=2.0, loss=0.0, share=0.9, threshold=6, rise=False) is None  # an easy batch
    assert findings.kind_of("learning_rate", batch=0.0, loss=0.0, share=None, threshold=6) == "learning_rate"
    assert findings.kind_of("loss", batch=0.0, loss=9.0, share=0.1, threshold=6) is None  # every sample a little


def test_evaluation_of_a_validation_step():
    evaluations = [{"first_step": 0, "train_step": 56, "epoch": 0}, {"first_step": 12, "train_step": 112, "epoch": 1}]
    assert findings.evaluation_of(evaluations, 14) == {"train_step": 112, "epoch": 1, "batch": 2}
    assert findings.evaluation_of(evaluations[1:], 3) is None
