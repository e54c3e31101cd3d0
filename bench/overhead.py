"""Overhead of BatchStats on `model.fit` (not a test): prints a table of ratios vs plain fit.

(a) scalars only, (b) with the distributions, (s) with the distributions and samples=8 (the
defaults); the last lines say what the samples add to (b) in the same run.

Small MLP (32 -> 64 -> 64 -> 10), batch 64, CPU, 2048 steps per timed fit (one epoch), median of
REPEATS rounds; each round builds every configuration afresh, warms it up, and times one fit, so
the configurations are interleaved and machine noise hits them alike. Also printed: the ratio of
the fastest fits, and of the median CPU time of the process (all threads) during the fit.

    python bench/overhead.py [--steps 2048] [--repeats 7] [--input arrays|dataset]

``--input arrays`` (the default) passes numpy arrays to ``fit``, as most users do; Keras then
builds a tf.data pipeline whose autotuning makes some fits of the same model run ~1.8x slower on
this 2-core machine. ``--input dataset`` passes a batched ``tf.data.Dataset`` with autotuning
off, which measures the same overhead with much less noise (on a faster baseline).
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tensorflow as tf  # noqa: E402

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
    "(a) BatchStats scalars": lambda d: [tbb.BatchStats(d, distributions=False, samples=0)],
    "(b) BatchStats + distributions": lambda d: [tbb.BatchStats(d, samples=0)],
    "(s) BatchStats + distributions + samples=8 (the default)": lambda d: [tbb.BatchStats(d)],
    "(c) TensorBoard(update_freq=1)": lambda d: [keras.callbacks.TensorBoard(d, update_freq=1)],
}


DISTRIBUTIONS, SAMPLES = "(b) BatchStats + distributions", "(s) BatchStats + distributions + samples=8 (the default)"


def fit_inputs(x, y, kind):
    """The data arguments of fit: numpy arrays, or a batched dataset without autotuning."""
    if kind == "arrays":
        return dict(x=x, y=y, batch_size=BATCH, shuffle=False)
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(2).with_options(options)
    return dict(x=dataset)


def measure(k, steps, repeats, kind="arrays"):
    """Median wall time of one timed fit per configuration.

    Every round builds a fresh model and callbacks for each configuration (a warm-up fit traces
    the step, then one timed fit): the speed of a model instance on this shared VM can sit in a
    slow mode for its whole life, so rounds sample instances as well as time.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, 32)).astype("float32")
    y = rng.integers(0, 10, steps * BATCH)
    times = {name: [] for name in CONFIGS}
    cpu = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for i, (name, make_callbacks) in enumerate(CONFIGS.items()):
                model = make_model(k)
                callbacks = make_callbacks(os.path.join(tmp, "%d-%d" % (r, i)))
                model.fit(**fit_inputs(x[: 64 * BATCH], y[: 64 * BATCH], kind), epochs=1, verbose=0,
                          callbacks=callbacks)  # warm-up: traces the step
                t0, c0 = time.perf_counter(), time.process_time()
                model.fit(**fit_inputs(x, y, kind), epochs=1, verbose=0, callbacks=callbacks)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(t), min(t), statistics.median(cpu[name])) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--input", choices=("arrays", "dataset"), default="arrays")
    args = parser.parse_args()
    print("steps per fit: %d, batch %d, median of %d repeats, input %s, CPU cores: %d"
          % (args.steps, BATCH, args.repeats, args.input, os.cpu_count()))
    print()
    print("| configuration | k | median fit (s) | median µs/step | ratio of medians | ratio of minima | ratio of CPU time |")
    print("|---|---|---|---|---|---|---|")
    growth = []
    for k in (1, 8):
        results = measure(k, args.steps, args.repeats, args.input)
        plain_median, plain_min, plain_cpu = results["plain fit"]
        for name, (median, fastest, cpu) in results.items():
            print("| %s | %d | %.3f | %.0f | %.2f× | %.2f× | %.2f× |" % (
                name, k, median, 1e6 * median / args.steps, median / plain_median, fastest / plain_min,
                cpu / plain_cpu), flush=True)
        samples, without = results[SAMPLES], results[DISTRIBUTIONS]
        growth.append("k=%d: (s) / (b) = %.3f× (medians), %.3f× (minima), %.3f× (CPU time)" % (
            k, samples[0] / without[0], samples[1] / without[1], samples[2] / without[2]))
    print()
    print("What samples=8 adds to (b):")
    for line in growth:
        print("- " + line)


if __name__ == "__main__":
    main()
