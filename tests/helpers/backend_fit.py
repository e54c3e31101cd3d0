"""Run as a script under any KERAS_BACKEND: trains the small MLP of the recording tests with
BatchStats and saves what the independent reference needs (the initial weights, History, every
batch's logs) to ``--out``. The tests run it in a subprocess per backend (the backend is fixed
when Keras is imported)."""

import argparse
import json
import sys

import numpy as np

N, FEATURES, CLASSES, BATCH, EPOCHS = 203, 8, 3, 32, 2  # 203 = 6 full batches + one of 11
VAL = 45  # validation samples: one full batch and one of 13


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N + VAL, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, N + VAL)
    sw = rng.uniform(0.1, 2.0, N).astype("float32")
    return x[:N], y[:N], sw, x[N:], y[N:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--without", action="store_true", help="plain fit, no BatchStats")
    args = parser.parse_args()

    import keras
    import tb_batch_plugin as tbb

    x, y, sw, vx, vy = make_data()
    # Seeded initializers, not keras.utils.set_random_seed: that imports TensorFlow when installed.
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(16, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
                              keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.GlorotUniform(2))])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=args.steps_per_execution)
    weights = [np.asarray(w) for w in model.get_weights()]
    callbacks = [] if args.without else [tbb.BatchStats(args.logdir, dynamics=True, samples=4)]
    history = model.fit(x, y, sample_weight=sw, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                        validation_data=(vx, vy), callbacks=callbacks)
    np.savez(args.out, *weights)
    with open(args.out + ".json", "w") as f:
        json.dump({"history": history.history, "backend": keras.backend.backend(),
                   "tensorflow_imported": "tensorflow" in sys.modules}, f)


if __name__ == "__main__":
    main()
