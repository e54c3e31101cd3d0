"""`make demo`: two short runs on scikit-learn's digits, recorded per step with BatchStats.

The two runs differ only in the learning rate: 0.003 trains smoothly, 0.08 (Adam, no clipping)
produces loss spikes at single batches that epoch means and TensorBoard's sampling hide.

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


def train(logdir, learning_rate, epochs, seed=0):
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    import tb_batch_plugin as tbb

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
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
    print("run %s: learning rate %g" % (logdir, learning_rate))
    model.fit(x[:split], y[:split], validation_data=(x[split:], y[split:]), batch_size=32,
              epochs=epochs, verbose=1, callbacks=[tbb.BatchStats(logdir)])


LEARNING_RATES = (0.003, 0.08)
DONE_FILE = "demo.json"  # written when a run has finished: its settings


def run_settings(learning_rate, epochs):
    from tb_batch_plugin import metadata

    return {"learning_rate": learning_rate, "epochs": epochs, "seed": 0,
            "data_contract": metadata.PROTO_VERSION}


def finished(run_dir, settings):
    """Whether run_dir holds a finished run made with these settings."""
    try:
        with open(os.path.join(run_dir, DONE_FILE)) as f:
            return json.load(f) == settings
    except (OSError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser(description="Train two demo runs on sklearn digits (reused when finished).")
    parser.add_argument("--logdir", default="demo-logs")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--retrain", action="store_true", help="train again even where a finished run exists")
    args = parser.parse_args()
    for lr in LEARNING_RATES:
        run_dir = os.path.join(args.logdir, "lr_%g" % lr)
        settings = run_settings(lr, args.epochs)
        if not args.retrain and finished(run_dir, settings):
            print("run %s: reusing the finished run (--retrain or `make demo-clean` trains again)" % run_dir)
            continue
        if os.path.exists(run_dir):
            print("run %s: removing it to train again" % run_dir)
            shutil.rmtree(run_dir)
        train(run_dir, lr, args.epochs)
        with open(os.path.join(run_dir, DONE_FILE), "w") as f:
            json.dump(settings, f)
    print("\nLogs in %s. Start TensorBoard with: tensorboard --logdir %s --host 127.0.0.1"
          % (args.logdir, args.logdir))


if __name__ == "__main__":
    main()
