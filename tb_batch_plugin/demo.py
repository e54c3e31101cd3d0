"""`make demo`: two short runs on scikit-learn's digits, recorded per step with BatchStats.

The two runs differ in the learning rate: 0.003 trains smoothly, 0.08 (Adam, no clipping)
produces loss spikes at single batches that epoch means and TensorBoard's sampling hide.

The spiky run also trains on 24 mislabelled digits, on purpose, so that the samples behind its
spikes can be found again: 24 training rows, drawn (seeded) among the digits closest to the mean
image of their class (typical ones, which the network learns to classify right from the others),
each given another digit's label at random. The network keeps predicting their true digit with
confidence, so they keep coming back among the highest losses of their batches. Their rows (indices
into ``load_digits().data``) and the labels they were given are printed and saved in the run's
``demo.json``; ``tbb.find(load_digits().data / 16.0, fingerprints)`` leads from recorded samples
to the same rows.

The training rows are shuffled again every epoch by a seeded ``tf.data`` pipeline (Keras'
``shuffle=True`` repeats one order every epoch once ``keras.utils.set_random_seed`` was called),
so a run is the same every time on the same machine.

A finished run leaves ``demo.json`` (its settings) in its directory and is reused as it is the next
time; ``--retrain`` (or ``make demo-clean``) trains again. A run without it (interrupted, or made
with other settings or an older data contract) is removed and trained again.

    python -m tb_batch_plugin.demo --logdir demo-logs [--epochs 25] [--retrain]
"""

import argparse
import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LEARNING_RATES = (0.003, 0.08)
MISLABELLED = {0.08: 24}  # training digits given a wrong label on purpose, per learning rate
RECIPE = 2  # the version of what train() does: a finished run of another version is trained again
DONE_FILE = "demo.json"  # written when a run has finished: its settings and mislabelled rows


def load_data(seed=0):
    """The digits as the demo feeds them to the model (float32 pixels in [0, 1], in
    ``load_digits()`` order), their labels, and the rows of the training and validation split."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    return x, digits.target.copy(), order[:split], order[split:]


def mislabel(x, y, train_rows, n, seed=0):
    """``n`` training rows, drawn among the half of the training rows closest to the mean image of
    their class, and a wrong label for each (another digit at random): (rows sorted, labels)."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    xt, yt = x[train_rows], y[train_rows]
    centre = np.stack([xt[yt == c].mean(0) for c in range(10)])
    distance = np.linalg.norm(xt - centre[yt], axis=1)
    typical = train_rows[distance <= np.median(distance)]
    rows = np.sort(rng.choice(typical, n, replace=False))
    return rows, (y[rows] + rng.integers(1, 10, n)) % 10


def train(logdir, learning_rate, epochs, seed=0, mislabelled=0):
    """Trains one run into ``logdir``; returns the mislabelled rows and the labels they were given."""
    import keras
    import numpy as np
    import tensorflow as tf

    import tb_batch_plugin as tbb

    x, y, train_rows, val_rows = load_data(seed)
    rows, labels = mislabel(x, y, train_rows, mislabelled, seed) if mislabelled else (np.zeros(0, int), np.zeros(0, int))
    y_given = y.copy()
    y_given[rows] = labels
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    batches = (tf.data.Dataset.from_tensor_slices((x[train_rows], y_given[train_rows]))
               .shuffle(len(train_rows), seed=seed, reshuffle_each_iteration=True).batch(32))
    print("run %s: learning rate %g, %d training digits mislabelled" % (logdir, learning_rate, len(rows)))
    model.fit(batches, validation_data=(x[val_rows], y[val_rows]), epochs=epochs, verbose=1,
              shuffle=False,  # (the dataset shuffles)
              callbacks=[tbb.BatchStats(logdir)])
    return {"rows": rows.tolist(), "labels": labels.tolist(), "digits": y[rows].tolist()}


def run_settings(learning_rate, epochs):
    from tb_batch_plugin import metadata

    return {"learning_rate": learning_rate, "epochs": epochs, "seed": 0,
            "mislabelled": MISLABELLED.get(learning_rate, 0), "recipe": RECIPE,
            "data_contract": metadata.PROTO_VERSION}


def finished(run_dir, settings):
    """The saved record of run_dir when it holds a finished run made with these settings, else None."""
    try:
        with open(os.path.join(run_dir, DONE_FILE)) as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) and done.get("settings") == settings else None


def main():
    parser = argparse.ArgumentParser(description="Train two demo runs on sklearn digits (reused when finished).")
    parser.add_argument("--logdir", default="demo-logs")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--retrain", action="store_true", help="train again even where a finished run exists")
    args = parser.parse_args()
    for lr in LEARNING_RATES:
        run_dir = os.path.join(args.logdir, "lr_%g" % lr)
        settings = run_settings(lr, args.epochs)
        done = None if args.retrain else finished(run_dir, settings)
        if done:
            print("run %s: reusing the finished run (--retrain or `make demo-clean` trains again)" % run_dir)
        else:
            if os.path.exists(run_dir):
                print("run %s: removing it to train again" % run_dir)
                shutil.rmtree(run_dir)
            done = {"settings": settings, "mislabelled": train(run_dir, lr, args.epochs, mislabelled=settings["mislabelled"])}
            with open(os.path.join(run_dir, DONE_FILE), "w") as f:
                json.dump(done, f)
        m = done["mislabelled"]
        if m["rows"]:
            print("run %s: mislabelled on purpose, rows of load_digits() (digit -> label given): %s" % (
                run_dir, ", ".join("%d (%d->%d)" % t for t in zip(m["rows"], m["digits"], m["labels"]))))
    print("\nLogs in %s. Start TensorBoard with: tensorboard --logdir %s --host 127.0.0.1"
          % (args.logdir, args.logdir))


if __name__ == "__main__":
    main()
