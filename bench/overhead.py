"""Overhead of BatchStats on `model.fit` (not a test): prints a table of ratios vs plain fit.

(a) scalars only, (b) with the distributions, (s) with the distributions and samples=8 (the
defaults); the last lines say what the samples add to (b) in the same run.

Small MLP (32 -> 64 -> 64 -> 10), batch 64, CPU, 2048 steps per timed fit (one epoch), median of
REPEATS rounds; each round builds every configuration afresh, warms it up, and times one fit, so
the configurations are interleaved and machine noise hits them alike. Also printed: the ratio of
the fastest fits, and of the median CPU time of the process (all threads) during the fit.

    python bench/overhead.py [--steps 2048] [--repeats 7] [--input arrays|dataset]
        [--batchstats "samples=8, dynamics=False" --batchstats "samples=8, dynamics=True"]

``--batchstats OPTIONS`` (repeatable) measures ``BatchStats(log_dir, OPTIONS)`` (keyword
arguments whose values are Python literals) instead of the configurations above, beside plain fit;
the last lines then say what each adds to the first one given.

``--input arrays`` (the default) passes numpy arrays to ``fit``, as most users do; Keras then
builds a tf.data pipeline whose autotuning makes some fits of the same model run ~1.8x slower on
this 2-core machine. ``--input dataset`` passes a batched ``tf.data.Dataset`` with autotuning
off, which measures the same overhead with much less noise (on a faster baseline).

``--backend tensorflow|jax|torch|all`` (repeatable; without it, the above on TensorFlow) measures
instead what recording costs on each Keras backend, each in its own process with KERAS_BACKEND
set: plain ``fit`` against ``BatchStats()`` at its defaults (or the ``--batchstats`` given) on
scikit-learn's digits, the first ``fit`` (tracing included) and the warm epochs
(bench/backend_cost.py says how):

    python bench/overhead.py --backend all [--model mlp --model cnn] [--repeats 7] [--epochs 6]
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import backend_cost  # noqa: E402
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


def measure(k, steps, repeats, kind="arrays", configs=CONFIGS):
    """Median wall time of one timed fit per configuration.

    Every round builds a fresh model and callbacks for each configuration (a warm-up fit traces
    the step, then one timed fit): the speed of a model instance on this shared VM can sit in a
    slow mode for its whole life, so rounds sample instances as well as time.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, 32)).astype("float32")
    y = rng.integers(0, 10, steps * BATCH)
    times = {name: [] for name in configs}
    cpu = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for i, (name, make_callbacks) in enumerate(configs.items()):
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
    parser.add_argument("--batchstats", action="append", metavar="OPTIONS",
                        help='measure BatchStats(log_dir, OPTIONS) instead, e.g. "samples=8, dynamics=True"')
    parser.add_argument("--backend", action="append", choices=backend_cost.BACKENDS + ("all",),
                        help="the recording cost on this Keras backend instead (repeatable; all: the three)")
    parser.add_argument("--model", action="append", choices=backend_cost.MODELS, help="with --backend (default mlp)")
    parser.add_argument("--epochs", type=int, default=6, help="with --backend: warm epochs timed per round")
    parser.add_argument("--torch-threads", type=int, default=1, help="with --backend: 0 for torch's default")
    args = parser.parse_args()
    if args.backend:
        backends = [b for b in backend_cost.BACKENDS if b in args.backend or "all" in args.backend]
        return backend_cost.report(backends, args.model or ["mlp"], args.repeats, args.epochs, args.torch_threads,
                                   args.batchstats or ())
    configs, compared = CONFIGS, [("(s)", SAMPLES, "(b)", DISTRIBUTIONS)]  # (label, name) added to (label, name)
    if args.batchstats:
        given = dict(backend_cost.batchstats_config(options) for options in args.batchstats)
        configs = {"plain fit": CONFIGS["plain fit"], **given}
        first = next(iter(given))
        compared = [(name, name, first, first) for name in list(given)[1:]]
    print("steps per fit: %d, batch %d, median of %d repeats, input %s, CPU cores: %d"
          % (args.steps, BATCH, args.repeats, args.input, os.cpu_count()))
    print()
    print("| configuration | k | median fit (s) | median µs/step | ratio of medians | ratio of minima | ratio of CPU time |")
    print("|---|---|---|---|---|---|---|")
    growth = []
    for k in (1, 8):
        results = measure(k, args.steps, args.repeats, args.input, configs)
        plain_median, plain_min, plain_cpu = results["plain fit"]
        for name, (median, fastest, cpu) in results.items():
            print("| %s | %d | %.3f | %.0f | %.2f× | %.2f× | %.2f× |" % (
                name, k, median, 1e6 * median / args.steps, median / plain_median, fastest / plain_min,
                cpu / plain_cpu), flush=True)
        for label, name, base_label, base in compared:
            added, without = results[name], results[base]
            growth.append("k=%d: %s / %s = %.3f× (medians), %.3f× (minima), %.3f× (CPU time)" % (
                k, label, base_label, added[0] / without[0], added[1] / without[1], added[2] / without[2]))
    print()
    print("What samples=8 adds to (b):" if not args.batchstats else "What each adds to the first given:")
    for line in growth:
        print("- " + line)


if __name__ == "__main__":
    main()
