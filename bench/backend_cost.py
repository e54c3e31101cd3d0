"""Recording cost of BatchStats per Keras backend (``bench/overhead.py --backend ...``).

Keras fixes its backend at import, so each backend is measured in its own process, with
KERAS_BACKEND set: ``run`` starts this file as a child, which measures and prints JSON.

Per backend, on the same model and data (scikit-learn's digits, 1,797 rows of 64 pixels, as
bench/anomalies.py reads them; its MLP 64 -> 128 -> 64 -> 10 or its small CNN, Adam, batch 32,
numpy arrays, no shuffling): plain ``fit`` against ``fit`` with ``BatchStats(log_dir)`` at its
defaults, and on TensorFlow ``keras.callbacks.TensorBoard(update_freq=1)``. Each round builds
every configuration afresh (the order alternates between rounds) and times its first ``fit`` of
one epoch, tracing and compiling included, then a second ``fit`` whose epochs are timed one by
one (from one epoch's end to the next, so BatchStats' epoch-end flush is inside). A first round
is thrown away: it pays the process' one-time costs (imports, the backend's start). Reported: the
median of the first fits, the median warm epoch over all rounds and epochs, and their ratios to
plain ``fit``.

The weights come from seeded initializers, not ``keras.utils.set_random_seed`` (which imports
TensorFlow when it is installed), so every backend starts from the same draws of its own RNG.
PyTorch runs on one intra-op thread (``--torch-threads 0``: its default, one per core): with two
on a loaded 2-core machine, epochs of plain ``fit`` varied from 0.2 to 5 s.

    python bench/backend_cost.py --backend jax [--model mlp|cnn] [--rounds 5] [--epochs 6]
        [--torch-threads 1] [--batchstats "samples=0, dynamics=False" ...]

``--batchstats OPTIONS`` (repeatable) measures ``BatchStats(log_dir, OPTIONS)`` instead of the
defaults (and of TensorBoard), beside plain ``fit``.
"""

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

BACKENDS = ("tensorflow", "jax", "torch")
MODELS = ("mlp", "cnn")
BATCH = 32
PLAIN, BATCHSTATS, TENSORBOARD = "plain fit", "BatchStats()", "TensorBoard(update_freq=1)"


def build(kind, steps_per_execution=1):
    """The model, compiled, its weights drawn by seeded initializers."""
    import keras

    seeds = iter(range(100))

    def init():
        return dict(kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))

    if kind == "mlp":
        layers = [keras.Input((64,)), keras.layers.Dense(128, activation="relu", **init()),
                  keras.layers.Dense(64, activation="relu", **init()), keras.layers.Dense(10, **init())]
    else:
        layers = [keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
                  keras.layers.Conv2D(16, 3, activation="relu", padding="same", **init()),
                  keras.layers.Conv2D(32, 3, activation="relu", padding="same", **init()),
                  keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                  keras.layers.Dense(64, activation="relu", **init()), keras.layers.Dense(10, **init())]
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def batchstats_config(options):
    """(name, callbacks factory) of ``--batchstats "samples=8, dynamics=True"``."""
    kwargs = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, _, value = item.partition("=")
        kwargs[key.strip()] = ast.literal_eval(value.strip())
    name = "BatchStats(%s)" % ", ".join("%s=%r" % kv for kv in kwargs.items())

    def make(log_dir):
        import tb_batch_plugin as tbb

        return [tbb.BatchStats(log_dir, **kwargs)]

    return name, make


def configs(backend, batchstats=()):
    """{name: callbacks factory}: plain fit, and BatchStats() (and TensorBoard on TensorFlow) or
    the ``--batchstats`` options given."""
    import keras

    made = {PLAIN: lambda d: []}
    if batchstats:
        return {**made, **dict(batchstats_config(options) for options in batchstats)}
    made[BATCHSTATS] = batchstats_config("")[1]
    if backend == "tensorflow":  # Keras' TensorBoard callback writes with TensorFlow
        made[TENSORBOARD] = lambda d: [keras.callbacks.TensorBoard(d, update_freq=1)]
    return made


def epoch_timer():
    """A callback noting the time of every epoch end (placed last, after BatchStats)."""
    import keras

    class EpochEnds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    return EpochEnds()


def measure(backend, kind, rounds, epochs, torch_threads=1, batchstats=()):
    """{configuration: {"first": [s], "epochs": [s], "steps": n, "warnings": [line]}} over
    ``rounds`` kept rounds (the warnings of all rounds, as "Category (file:line): message")."""
    import keras

    if keras.backend.backend() != backend:
        raise SystemExit("KERAS_BACKEND is %s, not %s" % (keras.backend.backend(), backend))
    if backend == "torch" and torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    from anomalies import digits  # the same rows, in the same order

    x, y = digits()
    made = configs(backend, batchstats)
    results = {name: {"first": [], "epochs": [], "steps": -(-len(x) // BATCH), "warnings": set()} for name in made}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds + 1):  # round 0 pays the process' one-time costs and is not kept
            names = list(made) if r % 2 else list(made)[::-1]
            for i, name in enumerate(names):
                callbacks = made[name](os.path.join(tmp, "%d-%d" % (r, i)))
                timer = epoch_timer()
                model = build(kind)
                data = dict(x=x, y=y, batch_size=BATCH, shuffle=False, verbose=0)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    t0 = time.perf_counter()
                    model.fit(**data, epochs=1, callbacks=callbacks)
                    first = time.perf_counter() - t0
                    model.fit(**data, epochs=epochs + 1, callbacks=callbacks + [timer])
                results[name]["warnings"].update("%s (%s:%d): %s" % (
                    w.category.__name__, w.filename, w.lineno, w.message) for w in caught)
                if r:
                    results[name]["first"].append(first)
                    results[name]["epochs"].extend(b - a for a, b in zip(timer.ends, timer.ends[1:]))
    for measured in results.values():
        measured["warnings"] = sorted(measured["warnings"])
    return results


def run(backend, kind, rounds, epochs, torch_threads=1, batchstats=()):
    """``measure`` in a child process with KERAS_BACKEND=backend."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, __file__, "--backend", backend, "--model", kind, "--rounds", str(rounds),
               "--epochs", str(epochs), "--torch-threads", str(torch_threads)]
    command += [arg for options in batchstats for arg in ("--batchstats", options)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("%s failed (exit %d):\n%s" % (" ".join(command), done.returncode, done.stderr))
    return json.loads(done.stdout.splitlines()[-1])


HEADER = ["| backend | model | configuration | warm epoch (ms) | ms/step | ratio | first fit (s) | ratio |",
          "|---|---|---|---|---|---|---|---|"]


def table(backend, kind, results):
    """Markdown rows of one backend and model, ratios to its plain fit."""
    plain = results[PLAIN]
    plain_epoch, plain_first = statistics.median(plain["epochs"]), statistics.median(plain["first"])
    lines = []
    for name, measured in results.items():
        epoch, first = statistics.median(measured["epochs"]), statistics.median(measured["first"])
        lines.append("| %s | %s | %s | %.1f | %.2f | %.2f× | %.2f | %.2f× |" % (
            backend, kind, name, 1e3 * epoch, 1e3 * epoch / measured["steps"], epoch / plain_epoch,
            first, first / plain_first))
    return lines


def report(backends, models, rounds, epochs, torch_threads=1, batchstats=()):
    """Runs every (model, backend) in its own process; prints the table and the warnings seen."""
    print("digits (1,797 rows), batch %d (%d steps per epoch), %d kept rounds of 1 + %d epochs, "
          "torch threads: %s, CPU cores: %d" % (BATCH, -(-1797 // BATCH), rounds, epochs,
                                                torch_threads or "torch's default", os.cpu_count()))
    print()
    print("\n".join(HEADER))
    warned = []
    for kind in models:
        for backend in backends:
            results = run(backend, kind, rounds, epochs, torch_threads, batchstats)
            print("\n".join(table(backend, kind, results)), flush=True)
            warned += ["%s, %s, %s: %s" % (backend, kind, name, line)
                       for name, measured in results.items() for line in measured["warnings"]]
    if warned:
        print()
        print("Warnings while measuring:")
        for line in warned:
            print("- " + line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--model", choices=MODELS, default="mlp")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    parser.add_argument("--batchstats", action="append", default=[], metavar="OPTIONS",
                        help='measure BatchStats(log_dir, OPTIONS) instead, e.g. "samples=0, dynamics=False"')
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = measure(args.backend, args.model, args.rounds, args.epochs, args.torch_threads, args.batchstats)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
