"""Does the anomaly list find the steps that matter? Real Keras training with faults injected at
known steps (not a test): prints precision, recall and ranks per setting and fault kind, and the
whole-batch anomalies listed per 10,000 steps of healthy runs.

Settings (scikit-learn's digits, bundled): an MLP with Adam at two learning rates and batch sizes,
and a small CNN. Each is trained twice from the same seed: healthy, and with faults injected into
the batch stream (the benchmark builds every batch itself, so it knows the steps):

- ``labels``: the batch's labels replaced by random ones (the whole batch);
- ``inputs``: the batch's inputs replaced by noise of 10x the inputs' standard deviation;
- ``lr``: the learning rate x30 for one step (the step after it is the one whose loss shows it);
- ``hardest``: a batch made of the 8 hardest training digits (by the healthy model's final
  loss), each 4 times;
- ``one_sample``: one typical digit of the batch given another label: a spike carried by one
  sample, which the list must label as such (kind ``samples``), never as a whole-batch anomaly.

The list is read as the tab reads it: the plugin's ``anomalies`` route at its default settings,
through TensorBoard's WSGI application. A fault counts as found when a listed entry of the
expected kind is at its step (for ``lr``: its step or the next). Precision and recall are over the
first N listed steps of whole-batch kinds, N the number of whole-batch faults injected.

    python bench/anomalies.py [--epochs 80] [--settings mlp-adam,mlp-sgd,cnn] [--logdir DIR]
"""

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGET_KINDS = ("labels", "inputs", "lr")  # the targets of precision and recall are for these
BATCH_KINDS = TARGET_KINDS + ("hardest",)  # faults of the batch as a whole
KINDS = BATCH_KINDS + ("one_sample",)
FAULTS_PER_KIND = 2
FIRST_FAULT, FAULT_GAP = 400, 150  # steps: past the warm-up, far enough apart to score alone

SETTINGS = {
    # name: (model, optimizer, learning rate, batch size)
    "mlp-adam": ("mlp", "adam", 0.003, 32),
    "mlp-sgd": ("mlp", "sgd", 0.05, 64),
    "cnn": ("cnn", "adam", 0.002, 32),
}


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], d.target[order].astype("int64")


def build(kind, optimizer, learning_rate, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    if kind == "mlp":
        layers = [keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                  keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
    else:
        layers = [keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
                  keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
                  keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
                  keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                  keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    opt = keras.optimizers.Adam(learning_rate) if optimizer == "adam" else keras.optimizers.SGD(learning_rate, momentum=0.9)
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def batch_stream(x, y, batch, steps, seed=0):
    """The row indices of every step: a fresh seeded permutation per pass over the data, in
    whole batches (the remainder of a pass is dropped, so every batch has ``batch`` rows)."""
    rng = np.random.default_rng(seed)
    per_pass = len(x) // batch
    rows = [rng.permutation(len(x))[:per_pass * batch].reshape(per_pass, batch)
            for _ in range(-(-steps // per_pass))]
    return np.concatenate(rows)[:steps]


def fault_plan(steps, seed=1):
    """{step: kind}: FAULTS_PER_KIND of every kind, in a seeded order, FAULT_GAP steps apart."""
    kinds = [k for k in KINDS for _ in range(FAULTS_PER_KIND)]
    np.random.default_rng(seed).shuffle(kinds)
    plan = {FIRST_FAULT + i * FAULT_GAP: k for i, k in enumerate(kinds)}
    assert max(plan) < steps - 50, "too few steps for the faults: raise --epochs"
    return plan


def inject(x, y, rows, plan, hardest, seed=2):
    """The batches of the stream with the planned faults: (xs, ys) of shape (steps, batch, ...)."""
    rng = np.random.default_rng(seed)
    xs, ys = x[rows].copy(), y[rows].copy()
    scale = 10 * float(x.std())
    for step, kind in plan.items():
        if kind == "labels":
            ys[step] = rng.integers(0, 10, ys.shape[1])
        elif kind == "inputs":
            xs[step] = rng.normal(0, scale, xs[step].shape).astype(np.float32)
        elif kind == "hardest":
            take = np.resize(hardest, ys.shape[1])
            xs[step], ys[step] = x[take], y[take]
        elif kind == "one_sample":
            ys[step, 0] = (ys[step, 0] + rng.integers(1, 10)) % 10
    return xs, ys


def train(log_dir, setting, steps, plan=None, hardest=None):
    """Trains one run; returns the model. ``plan``: the faults to inject (None: healthy)."""
    import keras
    import tensorflow as tf

    import tb_batch_plugin as tbb

    kind, optimizer, learning_rate, batch = SETTINGS[setting]
    x, y = digits()
    rows = batch_stream(x, y, batch, steps)
    xs, ys = inject(x, y, rows, plan or {}, hardest)
    model = build(kind, optimizer, learning_rate)
    lr_steps = {s for s, k in (plan or {}).items() if k == "lr"}

    class LearningRateSpike(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch_index, logs=None):
            if batch_index in lr_steps:
                self.model.optimizer.learning_rate.assign(30 * learning_rate)

        def on_train_batch_end(self, batch_index, logs=None):
            if batch_index in lr_steps:
                self.model.optimizer.learning_rate.assign(learning_rate)

    data = tf.data.Dataset.from_tensor_slices((xs, ys))  # one batch per element, in step order
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[tbb.BatchStats(log_dir), LearningRateSpike()])
    return model


def hardest_rows(model, n=8):
    """The n training digits with the highest loss under ``model``."""
    import keras

    x, y = digits()
    loss = keras.losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0), from_logits=True)
    return np.argsort(-np.asarray(loss))[:n]


def anomaly_list(log_dir, run="train"):
    """The plugin's anomalies route at its defaults, as the tab asks for it."""
    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    from tb_batch_plugin.plugin_loader import BatchesLoader

    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=log_dir))
    client = Client(application.TensorBoardWSGI([plugin]))
    response = client.get("/data/plugin/tb_batch/anomalies?run=%s" % run)
    assert response.status_code == 200, response.get_data()[:300]
    return json.loads(response.get_data())


FINDING_KINDS = ("spike", "gradient", "learning_rate", "nan", "inf", "-inf")  # "this step went wrong"


def is_finding(entry):
    return entry["kind"] in FINDING_KINDS


def evaluate(listing, plan):
    """Ranks, precision and recall of one faulty run's list against its plan.

    The list's findings (entries saying a step went wrong: kinds ``spike``, ``gradient``,
    ``learning_rate``, non-finite; consecutive whole-batch steps are one event, with its first and
    last step) are taken in list order, each once; the top N of them, N the faults of the batch
    as a whole injected, are compared with the faults: precision is the share of those events that
    are faults, recall (per kind) the share of the faults among them. A fault is at an event when
    the event's steps hold its step (for ``lr``: its step, where the learning rate's own entry is,
    or the next, where the loss shows it). ``one_sample`` faults should be listed as ``samples``
    (or not at all), never as a finding. The rank of an ``lr`` fault is that of the loss's event
    at the next step, with the learning rate's own beside it."""
    events = []
    for e in listing["anomalies"]:
        span = (e.get("first_step", e["step"]), e.get("last_step", e["step"]))
        if is_finding(e) and span not in events:
            events.append(span)
    by_kind = {}
    for e in listing["anomalies"]:
        by_kind.setdefault(e["kind"], set()).add(e["step"])
    loss_events = {(e.get("first_step", e["step"]), e.get("last_step", e["step"])) for e in listing["anomalies"]
                   if e["kind"] == "spike" and e["tag"] == "loss"}

    def at(event, step, kind):
        return any(event[0] <= c <= event[1] for c in ((step, step + 1) if kind == "lr" else (step,)))

    def rank(step, kind):
        ranks = [i + 1 for i, event in enumerate(events) if at(event, step, kind)]
        if kind == "one_sample":
            return "batch#%d" % ranks[0] if ranks else ("samples" if step in by_kind.get("samples", ()) else "-")
        if kind == "lr":  # the loss's event at the next step, and the learning rate's own
            loss = [i + 1 for i, e in enumerate(events) if e in loss_events and at(e, step + 1, "batch")]
            return "%s (lr %s)" % (loss[0] if loss else "-", ranks[0] if ranks else "-")
        return ranks[0] if ranks else "-"

    faults = [s for s, k in plan.items() if k in BATCH_KINDS]
    top = events[:len(faults)]
    precision = sum(1 for event in top if any(at(event, s, plan[s]) for s in faults)) / len(top) if top else float("nan")
    recall = {kind: np.mean([any(at(event, s, kind) for event in top) for s, k in plan.items() if k == kind])
              for kind in BATCH_KINDS}
    targets = [s for s, k in plan.items() if k in TARGET_KINDS]
    return {"ranks": {step: rank(step, kind) for step, kind in plan.items()}, "precision": precision,
            "recall": recall, "target_recall": np.mean([any(at(e, s, plan[s]) for e in top) for s in targets]),
            "target_precision": precision, "events": len(events),
            "one_sample_as_batch": sum(1 for s, k in plan.items() if k == "one_sample" and any(at(e, s, k) for e in events))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=80, help="passes over the digits per run")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--logdir", help="keep the runs here (reused when present)")
    args = parser.parse_args()
    root = args.logdir or tempfile.mkdtemp(prefix="tbb-anomalies-")
    x, _ = digits()
    results = []
    for setting in args.settings.split(","):
        batch = SETTINGS[setting][3]
        steps = args.epochs * (len(x) // batch)
        plan = fault_plan(steps)
        healthy_dir, faulty_dir = os.path.join(root, setting, "healthy"), os.path.join(root, setting, "faulty")
        if not os.path.isdir(healthy_dir):
            model = train(healthy_dir, setting, steps)
            np.save(os.path.join(root, setting, "hardest.npy"), hardest_rows(model))
        hardest = np.load(os.path.join(root, setting, "hardest.npy"))
        if not os.path.isdir(faulty_dir):
            train(faulty_dir, setting, steps, plan, hardest)
        healthy = anomaly_list(os.path.join(root, setting), "healthy/train")
        faulty = anomaly_list(os.path.join(root, setting), "faulty/train")
        spikes = sum(healthy["counts"][k] for k in FINDING_KINDS)
        found = evaluate(faulty, plan)
        results.append((setting, steps, spikes, found, plan))
        print("%s: %d steps; healthy: %d whole-batch events (%.1f per 10,000 steps), %d samples; faulty: "
              "precision %.2f, recall %s, one-sample faults listed as a whole batch: %d"
              % (setting, steps, spikes, 1e4 * spikes / steps, healthy["counts"]["samples"], found["precision"],
                 ", ".join("%s %.2f" % kv for kv in found["recall"].items()), found["one_sample_as_batch"]),
              flush=True)
    print("\n| setting | steps | healthy: whole-batch events / 10k steps | precision@N | recall labels / inputs / lr / hardest | "
          + " | ".join("rank of %s" % k for k in KINDS) + " |")
    print("|---" * (5 + len(KINDS)) + "|")
    for setting, steps, spikes, found, plan in results:
        ranks = {k: ", ".join(str(found["ranks"][s]) for s in sorted(plan) if plan[s] == k) for k in KINDS}
        print("| %s | %d | %.1f | %.2f | %s | %s |" % (
            setting, steps, 1e4 * spikes / steps, found["precision"],
            " / ".join("%.2f" % found["recall"][k] for k in BATCH_KINDS), " | ".join(ranks[k] for k in KINDS)))
    print("\nLogs in %s" % root)


if __name__ == "__main__":
    main()
