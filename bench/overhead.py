"""Overhead of BatchStats on `model.fit` (not a test): prints a table of ratios vs plain fit.

Small MLP (32 -> 64 -> 64 -> 10), batch 64, CPU, 2048 steps per timed fit (one epoch), median of
REPEATS timed fits after one warm-up fit per configuration, all configurations measured in the
same process and interleaved round by round so machine noise hits them alike.

    python bench/overhead.py [--steps 2048] [--repeats 7]
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tb_batch_plugin as tbb  # noqa: E402

BATCH = 64


def make_model(k):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=k)
    return model


CONFIGS = {
    "plain fit": lambda d: [],
    "(a) BatchStats scalars": lambda d: [tbb.BatchStats(d, distributions=False)],
    "(b) BatchStats + distributions": lambda d: [tbb.BatchStats(d)],
    "(c) TensorBoard(update_freq=1)": lambda d: [keras.callbacks.TensorBoard(d, update_freq=1)],
}


def measure(k, steps, repeats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, 32)).astype("float32")
    y = rng.integers(0, 10, steps * BATCH)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, make_callbacks) in enumerate(CONFIGS.items()):
            model = make_model(k)
            callbacks = make_callbacks(os.path.join(tmp, str(i)))
            model.fit(x[: 64 * BATCH], y[: 64 * BATCH], batch_size=BATCH, epochs=1, verbose=0,
                      callbacks=callbacks)  # warm-up: traces the step
            runs[name] = (model, callbacks, [])
        for _ in range(repeats):
            for name, (model, callbacks, times) in runs.items():
                t0 = time.perf_counter()
                model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
                times.append(time.perf_counter() - t0)
    return {name: statistics.median(times) for name, (_, _, times) in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print("steps per fit: %d, batch %d, median of %d repeats, CPU cores: %d"
          % (args.steps, BATCH, args.repeats, os.cpu_count()))
    print()
    print("| configuration | k | median fit (s) | µs/step | ratio vs plain |")
    print("|---|---|---|---|---|")
    for k in (1, 8):
        medians = measure(k, args.steps, args.repeats)
        plain = medians["plain fit"]
        for name, t in medians.items():
            print("| %s | %d | %.3f | %.0f | %.2f× |" % (name, k, t, 1e6 * t / args.steps, t / plain),
                  flush=True)


if __name__ == "__main__":
    main()
