"""`make demo`: two short runs on scikit-learn's digits, recorded per step with BatchStats.

The two runs differ only in the learning rate: 0.003 trains smoothly, 0.08 (Adam, no clipping)
produces loss spikes at single batches that epoch means and TensorBoard's sampling hide.

    python -m tb_batch_plugin.demo --logdir demo-logs
"""

import argparse
import os

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


def main():
    parser = argparse.ArgumentParser(description="Train two demo runs on sklearn digits.")
    parser.add_argument("--logdir", default="demo-logs")
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args()
    for lr in (0.003, 0.08):
        train(os.path.join(args.logdir, "lr_%g" % lr), lr, args.epochs)
    print("\nWrote %s. Start TensorBoard with: tensorboard --logdir %s --host 127.0.0.1"
          % (args.logdir, args.logdir))


if __name__ == "__main__":
    main()
