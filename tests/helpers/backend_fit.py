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


def make_data(seed=0, n=N, val=VAL):
    """(x, y, sample weights, validation x, validation y): the first n and val of fixed data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N + VAL, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, N + VAL)
    sw = rng.uniform(0.1, 2.0, N).astype("float32")
    return x[:n], y[:n], sw[:n], x[N:N + val], y[N:N + val]


def process_shares(n, processes):
    """The rows each process feeds: consecutive equal shares (the global batch k is the k-th batch
    of every share, in process order)."""
    return np.array_split(np.arange(n), processes)


def global_order(n, processes):
    """The rows of the global batches, in order, when each process feeds its share in batches of
    BATCH // processes: what a single-device run of the same global batches trains on."""
    shares = process_shares(n, processes)
    per = BATCH // processes
    return np.concatenate([share[i:i + per] for i in range(0, max(len(s) for s in shares), per) for share in shares])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--without", action="store_true", help="plain fit, no BatchStats")
    parser.add_argument("--n", type=int, default=N, help="training samples (the first n)")
    parser.add_argument("--val", type=int, default=VAL, help="validation samples (the first val)")
    parser.add_argument("--data-parallel", action="store_true",
                        help="JAX: keras.distribution.DataParallel over every device")
    parser.add_argument("--processes", type=int, default=1,
                        help="JAX: one of this many processes (jax.distributed), each feeding its "
                             "share of every global batch (process_shares gives them)")
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--coordinator", default=None, help="host:port of process 0")
    args = parser.parse_args()

    import keras
    import tb_batch_plugin as tbb

    if args.processes > 1:
        keras.distribution.initialize(args.coordinator, args.processes, args.process_id)
    if args.data_parallel:  # the data of several processes is sharded here (process_shares)
        keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=args.processes == 1))

    x, y, sw, vx, vy = make_data(n=args.n, val=args.val)
    batch = BATCH // args.processes
    if args.processes > 1:
        mine = process_shares(args.n, args.processes)[args.process_id]
        theirs = process_shares(args.val, args.processes)[args.process_id]
        x, y, sw, vx, vy = x[mine], y[mine], sw[mine], vx[theirs], vy[theirs]
    # Seeded initializers, not keras.utils.set_random_seed: that imports TensorFlow when installed.
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(16, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
                              keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.GlorotUniform(2))])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=args.steps_per_execution)
    weights = [np.asarray(w) for w in model.get_weights()]
    callbacks = [] if args.without else [tbb.BatchStats(args.logdir, dynamics=True, samples=4)]
    history = model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=EPOCHS, shuffle=False, verbose=0,
                        validation_data=(vx, vy), callbacks=callbacks)
    np.savez(args.out, *weights)
    with open(args.out + ".json", "w") as f:
        json.dump({"history": history.history, "backend": keras.backend.backend(),
                   "tensorflow_imported": "tensorflow" in sys.modules}, f)


if __name__ == "__main__":
    main()
