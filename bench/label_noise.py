"""Does tb-batch find the mislabelled samples of a run? Real Keras training on data with labels
flipped on purpose (not a test): prints, per setting and method, precision@k and AUROC of the
ranking against the flipped labels, and the same for candidate scores built from the recorded
per-sample signals (to choose ``label_issue_scores`` on evidence).

Data, standardised per feature:

- ``digits``: scikit-learn's digits (1797 x 64, 10 classes, bundled);
- ``synthetic``: ``make_classification`` (2000 x 40, 10 classes of two clusters each, 20
  informative and 5 redundant features, class_sep 2, seed 0): the other bundled multi-class
  sets of scikit-learn are tiny (iris 150, wine 178, 3 classes) and the larger ones are
  downloads. An MLP reaches about 89% held-out accuracy on it (digits: about 97%): classes that
  overlap, so that clean but atypical samples compete with the flipped ones.

Noise: a share (``--rates``, 5% and 10%) of the samples, drawn at random, gets another label:
``uniform`` (a random other class) or ``asymmetric`` (each class always to the one whose
centroid is nearest its own, computed on the clean data: a confusable class). Each setting runs
for ``--seeds`` seeds (noise, weights and batch order).

Model: the demo's MLP (features -> 128 -> 64 -> classes, ReLU, logits), Adam 1e-3, batch 32,
``--epochs`` epochs (40: long enough to start memorising the flipped labels; the table says what
share of them the final model predicts as given), every epoch in a new seeded order (a
``tf.data`` shuffle: Keras' ``shuffle=True`` repeats one order every epoch once
``keras.utils.set_random_seed`` was called).

Methods, all from the same training run except cleanlab's:

- ``label_issues``: ``tbb.load(logdir).label_issues("train")``, from
  ``BatchStats(logdir, samples=8, dynamics=True, sample_ids="id")``;
- ``AUM (aum package)``: ``aum.AUMCalculator`` fed with the same run's logits, collected apart
  from tb-batch: the model is a ``keras.Model`` subclass whose own ``train_step`` computes the
  logits (``self(x, training=True)``) and hands them, the given labels and the sample ids to
  Python through ``tf.numpy_function`` at every step (BatchStats wraps that ``train_step`` and
  leaves it alone); the batches are fed to ``AUMCalculator.update`` in order after the fit;
- ``hardest``: ``tbb.load(logdir).hardest("train", top=None)``, how often a sample was among the
  8 highest losses of its batch (samples never among them rank last, tied);
- ``cleanlab (5-fold)``: ``cleanlab.filter.find_label_issues(..., return_indices_ranked_by=
  "self_confidence")`` on out-of-fold probabilities of the same architecture, epochs and batch
  order rule, trained on 4/5 of the data per fold (``StratifiedKFold(5)`` on the given labels);
  the samples it flags come first, by self-confidence, then the others by self-confidence. Those
  folds run with ``steps_per_execution=8`` (the same training, fewer returns to Python).

Candidate scores from the same recording (``tbb.load(logdir).dynamics("train")``): ``-aum``,
``-confidence``, ``forgetting`` (never-learned samples above all, as Toneva et al. count them),
``-accuracy``, ``mean_loss``, and the mean of the ranks of ``-aum`` and ``-confidence``, and of
``-aum`` and ``-accuracy``.

Metrics, against the mask of flipped samples: precision@k, k the number of flipped samples (ties
at the k-th score counted at their expected share), and AUROC (``roc_auc_score``); means over
the seeds, then over the settings. Also, for the samples each method calls mislabelled at its own
threshold (``label_issues``' ``flagged``; the samples cleanlab's ``find_label_issues`` returns):
how many, precision and recall.

    python bench/label_noise.py [--quick] [--seeds 3] [--epochs 40] [--datasets digits,synthetic]
        [--rates 0.05,0.1] [--logdir DIR]
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

KINDS = ("uniform", "asymmetric")
BATCH, LEARNING_RATE, FOLDS = 32, 1e-3, 5
METHODS = ("label_issues", "AUM (aum package)", "hardest", "cleanlab (5-fold)")
THRESHOLDS = ("label_issues' flagged", "cleanlab's find_label_issues")  # the samples each calls mislabelled


# Data and noise ------------------------------------------------------------------------------

def load(name):
    """(x standardised float32, y int64) of a dataset."""
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    elif name == "synthetic":
        from sklearn.datasets import make_classification

        x, y = make_classification(n_samples=2000, n_features=40, n_informative=20, n_redundant=5,
                                   n_classes=10, n_clusters_per_class=2, class_sep=2.0, flip_y=0,
                                   random_state=0)
    else:
        raise SystemExit("unknown dataset %r (digits, synthetic)" % name)
    return StandardScaler().fit_transform(x).astype("float32"), y.astype("int64")


def nearest_class(x, y):
    """For each class, the class whose centroid is nearest its own."""
    classes = int(y.max()) + 1
    centre = np.stack([x[y == c].mean(0) for c in range(classes)])
    distance = np.linalg.norm(centre[:, None] - centre[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    return distance.argmin(1)


def flip(x, y, kind, rate, seed):
    """(given labels, flipped mask): round(rate * n) samples drawn at random get another label."""
    classes = int(y.max()) + 1
    rng = np.random.default_rng([seed, KINDS.index(kind), int(round(rate * 1000))])
    rows = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    given = y.copy()
    if kind == "uniform":
        given[rows] = (y[rows] + rng.integers(1, classes, len(rows))) % classes
    else:
        given[rows] = nearest_class(x, y)[y[rows]]
    flipped = np.zeros(len(y), bool)
    flipped[rows] = True
    assert (given[flipped] != y[flipped]).all()
    return given, flipped


# Training ------------------------------------------------------------------------------------

def mlp(features, classes):
    import keras

    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(128, activation="relu"),
                             keras.layers.Dense(64, activation="relu"), keras.layers.Dense(classes)])


def batches(x, y, seed, ids=None):
    """A batched dataset in a new seeded order every epoch; inputs {"features", "id"} with ids."""
    import tensorflow as tf

    inputs = x if ids is None else {"features": x, "id": ids}
    return (tf.data.Dataset.from_tensor_slices((inputs, y))
            .shuffle(len(y), seed=seed, reshuffle_each_iteration=True).batch(BATCH))


def compile_model(model, steps_per_execution=1):
    import keras

    model.compile(keras.optimizers.Adam(LEARNING_RATE),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    return model


def tapped_model(features, classes):
    """The MLP on input {"features", "id"} whose own train_step hands every step's logits, given
    labels and sample ids to Python (``model.tap``, a list of numpy triples in step order)."""
    import keras
    import tensorflow as tf

    class LogitTap(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = mlp(features, classes)
            self.tap = []

        def call(self, inputs, training=False):
            return self.body(inputs["features"], training=training)

        def _keep(self, logits, labels, ids):
            self.tap.append((logits.copy(), labels.copy(), ids.copy()))
            return np.int8(0)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                logits = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=logits)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            tf.numpy_function(self._keep, [logits, y, x["id"]], tf.int8)  # kept: a stateful op
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, logits)
            return {m.name: m.result() for m in self.metrics}

    return LogitTap()


def train_recorded(log_dir, x, given, epochs, seed):
    """Trains the run that BatchStats records (and the tap collects); returns (tap, share of the
    samples whose prediction at the end is their given label)."""
    import keras

    import tb_batch_plugin as tbb

    keras.utils.set_random_seed(seed)
    ids = np.arange(len(given), dtype=np.int64)
    model = compile_model(tapped_model(x.shape[1], int(given.max()) + 1))
    model.fit(batches(x, given, seed, ids), epochs=epochs, verbose=0, shuffle=False,  # (the dataset shuffles)
              callbacks=[tbb.BatchStats(log_dir, samples=8, dynamics=True, sample_ids="id")])
    predicted = model.predict({"features": x, "id": ids}, batch_size=256, verbose=0).argmax(1)
    return model.tap, predicted == given


def out_of_fold_probabilities(x, given, epochs, seed):
    """Out-of-fold softmax probabilities of the same MLP (StratifiedKFold(FOLDS))."""
    import keras
    from sklearn.model_selection import StratifiedKFold

    classes = int(given.max()) + 1
    probabilities = np.zeros((len(given), classes), np.float32)
    for fold, (fit_rows, held_out) in enumerate(
            StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, given)):
        keras.utils.set_random_seed(seed * 100 + fold)
        model = compile_model(mlp(x.shape[1], classes), steps_per_execution=8)
        model.fit(batches(x[fit_rows], given[fit_rows], seed), epochs=epochs, verbose=0, shuffle=False)
        logits = model.predict(x[held_out], batch_size=256, verbose=0)
        probabilities[held_out] = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    return probabilities


# Scores (higher: more likely mislabelled), one per row ---------------------------------------

def aum_package(tap, n):
    """-AUM per row from aum.AUMCalculator fed with the tapped batches, in step order."""
    import torch
    from aum import AUMCalculator

    calculator = AUMCalculator(tempfile.mkdtemp(prefix="tbb-aum-"), compressed=True)
    last = {}
    for logits, labels, ids in tap:
        last.update(calculator.update(torch.from_numpy(logits), torch.from_numpy(labels),
                                      ids.tolist()))
    aum = np.full(n, np.nan)
    for sample_id, record in last.items():
        aum[sample_id] = record.aum
    return -aum


def cleanlab_score(given, probabilities):
    """find_label_issues' flagged samples first (by self-confidence), then the others."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flagged = find_label_issues(given, probabilities, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(given, probabilities, method="self_confidence")  # in [0, 1]
    score = 1.0 - quality
    score[flagged] += 1.0
    return score, np.isin(np.arange(len(given)), flagged)


def by_row(ids, values, n):
    out = np.full(n, np.nan)
    out[np.asarray(ids, dtype=np.int64)] = values
    return out


def ranks(score):
    """Ranks in [0, 1] (higher score, higher rank; ties share their mean rank)."""
    from scipy.stats import rankdata

    return (rankdata(score) - 1) / max(len(score) - 1, 1)


def recorded_scores(log_dir, n):
    """({method: score per row}, {candidate: score per row}, AUM per row, label_issues' flagged
    per row) from the run's recording."""
    import tb_batch_plugin as tbb

    logs = tbb.load(log_dir)
    issues = logs.label_issues("train", top=None)
    out = {"label_issues": by_row([e["id"] for e in issues], [e["score"] for e in issues], n)}
    flagged = by_row([e["id"] for e in issues], [e["flagged"] for e in issues], n) == 1
    hardest = logs.hardest("train", top=None)
    score = np.zeros(n)
    score[[e["id"] for e in hardest]] = np.arange(len(hardest), 0, -1)
    out["hardest"] = score
    d = logs.dynamics("train")

    def column(name):
        return by_row(d.id, getattr(d, name), n)

    forgetting, accuracy = column("forgetting"), column("accuracy")
    candidates = {"-aum": -column("aum"), "-confidence": -column("confidence"),
                  # never learned (never right): above every forgotten one, as Toneva et al. count it
                  "forgetting": np.where(accuracy == 0, np.nanmax(forgetting) + 1, forgetting),
                  "-accuracy": -accuracy, "mean_loss": column("mean_loss")}
    for a, b in (("-aum", "-confidence"), ("-aum", "-accuracy")):
        candidates["ranks of %s, %s" % (a, b)] = (ranks(candidates[a]) + ranks(candidates[b])) / 2
    return out, candidates, column("aum"), flagged


# Metrics -------------------------------------------------------------------------------------

def precision_at_k(score, flipped):
    """Share of flipped samples among the k highest scores, k = flipped.sum(); samples tied with
    the k-th count at their group's share of flipped ones (the mean over tie orders)."""
    k = int(flipped.sum())
    score = np.where(np.isnan(score), -np.inf, score)
    kth = np.sort(score)[::-1][k - 1]
    above, tied = score > kth, score == kth
    return (flipped[above].sum() + (k - above.sum()) * flipped[tied].mean()) / k


def auroc(score, flipped):
    from sklearn.metrics import roc_auc_score

    score = np.where(np.isnan(score), np.nanmin(score) - 1, score)
    return roc_auc_score(flipped, score)


def evaluate(scores, flipped):
    return {name: (precision_at_k(s, flipped), auroc(s, flipped)) for name, s in scores.items()}


# Running -------------------------------------------------------------------------------------

def run_setting(root, dataset, x, y, kind, rate, seed, epochs):
    """Metrics of every method and candidate for one dataset, noise kind, rate and seed."""
    given, flipped = flip(x, y, kind, rate, seed)
    log_dir = os.path.join(root, "%s-%s-%g-seed%d" % (dataset, kind, rate, seed))
    t0 = time.perf_counter()
    tap, fits_given = train_recorded(log_dir, x, given, epochs, seed)
    recorded, candidates, recorded_aum, flagged = recorded_scores(log_dir, len(y))
    t1 = time.perf_counter()
    scores = dict(recorded)
    scores["AUM (aum package)"] = aum_package(tap, len(y))
    t2 = time.perf_counter()
    scores["cleanlab (5-fold)"], cleanlab_flagged = cleanlab_score(given, out_of_fold_probabilities(x, given, epochs, seed))
    t3 = time.perf_counter()
    agreement = np.nanmax(np.abs(recorded_aum + scores["AUM (aum package)"]))
    info = {"memorised": fits_given[flipped].mean(), "clean_fit": fits_given[~flipped].mean(),
            "aum_difference": agreement,
            "thresholds": {name: (mask.sum(), flipped[mask].mean() if mask.any() else np.nan, mask[flipped].mean())
                           for name, mask in zip(THRESHOLDS, (flagged, cleanlab_flagged))}}
    print("%s %s %g seed %d: k=%d; flipped fit as given %.2f (clean %.2f); recorded AUM vs aum package "
          "max |diff| %.2g; flagged: label_issues %d, cleanlab %d; run+read %.0fs, aum %.1fs, 5 folds %.0fs"
          % (dataset, kind, rate, seed, flipped.sum(), info["memorised"], info["clean_fit"], agreement,
             flagged.sum(), cleanlab_flagged.sum(), t1 - t0, t2 - t1, t3 - t2), flush=True)
    return evaluate(scores, flipped), evaluate(candidates, flipped), info


def mean_over(results):
    """{name: (precision, auroc)} averaged over a list of such dicts."""
    return {name: tuple(np.mean([r[name][i] for r in results]) for i in range(2)) for name in results[0]}


def table(title, names, rows):
    """rows: [(setting label, k, memorised, {name: (precision, auroc)})]."""
    print("\n%s: precision@k / AUROC\n" % title)
    print("| setting | k | flipped fit as given | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for label, k, memorised, metrics in rows:
        best = max(metrics[n][0] for n in names)
        cells = [("**%.3f**" if metrics[n][0] == best else "%.3f") % metrics[n][0] + " / %.3f" % metrics[n][1]
                 for n in names]
        print("| %s | %s | %s | %s |" % (label, k, memorised, " | ".join(cells)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="check that it runs: 1 seed, rate 0.1, 12 epochs (unless given)")
    parser.add_argument("--seeds", type=int, help="seeds per setting (default 3)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 40)")
    parser.add_argument("--datasets", default="digits,synthetic")
    parser.add_argument("--rates", help="shares of flipped labels (default 0.05,0.1)")
    parser.add_argument("--logdir", help="write the runs here (default: a new temporary folder)")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    epochs = args.epochs or (12 if args.quick else 40)
    rates = [float(r) for r in (args.rates or ("0.1" if args.quick else "0.05,0.1")).split(",")]
    root = args.logdir or tempfile.mkdtemp(prefix="tbb-label-noise-")
    print("epochs %d, batch %d, seeds %d, rates %s, logs in %s" % (epochs, BATCH, seeds, rates, root), flush=True)
    rows, candidate_rows, method_means, candidate_means, threshold_rows = [], [], [], [], []
    for dataset in args.datasets.split(","):
        x, y = load(dataset)
        for kind in KINDS:
            for rate in rates:
                found = [run_setting(root, dataset, x, y, kind, rate, seed, epochs) for seed in range(seeds)]
                label = "%s, %s, %g%%" % (dataset, kind, 100 * rate)
                k = int(round(rate * len(y)))
                memorised = "%.2f" % np.mean([f[2]["memorised"] for f in found])
                methods, candidates = mean_over([f[0] for f in found]), mean_over([f[1] for f in found])
                rows.append((label, k, memorised, methods))
                candidate_rows.append((label, k, memorised, candidates))
                method_means.append(methods)
                candidate_means.append(candidates)
                threshold_rows.append((label, k, {name: np.nanmean([f[2]["thresholds"][name] for f in found], axis=0)
                                                  for name in THRESHOLDS}))
    rows.append(("**mean over settings**", "", "", mean_over(method_means)))
    candidate_rows.append(("**mean over settings**", "", "", mean_over(candidate_means)))
    table("Methods (mean over %d seeds)" % seeds, METHODS, rows)
    table("Candidate scores from the recording (mean over %d seeds)" % seeds, list(candidate_means[0]), candidate_rows)
    print("\nThe samples each method calls mislabelled (mean over %d seeds): how many / precision / recall\n" % seeds)
    print("| setting | k | " + " | ".join(THRESHOLDS) + " |")
    print("|---|---|" + "---|" * len(THRESHOLDS))
    for label, k, found in threshold_rows + [("**mean over settings**", "", {
            name: np.nanmean([r[2][name] for r in threshold_rows], axis=0) for name in THRESHOLDS})]:
        print("| %s | %s | %s |" % (label, k, " | ".join("%.0f / %.3f / %.3f" % tuple(found[n]) for n in THRESHOLDS)))
    print("\nLogs in %s" % root)


if __name__ == "__main__":
    main()
