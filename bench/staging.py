"""Cost of staging distributions (not a test): microseconds per recorded step, in isolation.

A ``tf.function`` appends 64 steps' values to a ``staging.DistributionStage`` in a loop: the
64th append writes the block (statistics, and 256 events: a distribution and a histogram per
name and step). The same loop with an append
that does nothing is the baseline; the difference, divided by 64, is what one recorded step
costs: its enqueue and check, and its share of the block. Shapes as in bench/overhead.py:
``predictions`` 64×10 and ``per_sample_loss`` 64 values a step. Interleaved rounds, medians.

    python bench/staging.py [--rounds 60]

It measures the ``tb_batch_plugin`` Python imports (the installed one): ``PYTHONPATH=<tree>``
measures another checkout's.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_batch_plugin import metadata
from tb_batch_plugin.record import staging  # noqa: E402

ROWS = staging.MAX_ROWS


class _NoStage(staging.DistributionStage):
    def append(self, step, dists):
        return tf.constant(False)


def _loop(stage_class, dists):
    writer = tf.summary.create_file_writer(tempfile.mkdtemp(), max_queue=1000, flush_millis=10_000)
    stage = stage_class(writer, metadata.DEFAULT_QUANTILE_PROBS, metadata.DEFAULT_NUM_BINS,
                        max_delay_secs=1e9, in_loop=True)  # appended in a loop of steps

    @tf.function
    def record_block():
        for i in tf.range(ROWS):
            stage.append(tf.cast(i, tf.int64), dists)

    return record_block


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dists = {"predictions": tf.constant(rng.normal(size=(64, 10)).astype("float32")),
             "per_sample_loss": tf.constant(rng.random(64).astype("float32"))}
    loops = {"baseline": _loop(_NoStage, dists), "staged": _loop(staging.DistributionStage, dists)}
    times = {name: [] for name in loops}
    for loop in loops.values():
        loop(), loop()  # traced, and one block written
    for _ in range(args.rounds):
        for name, loop in loops.items():
            t0 = time.perf_counter()
            loop()
            times[name].append(time.perf_counter() - t0)
    base, staged = statistics.median(times["baseline"]), statistics.median(times["staged"])
    fast_base, fast_staged = min(times["baseline"]), min(times["staged"])
    print("%d steps a block, CPU cores: %d, %d rounds" % (ROWS, os.cpu_count(), args.rounds))
    print("per recorded step: median %.1f µs, fastest %.1f µs"
          % (1e6 * (staged - base) / ROWS, 1e6 * (fast_staged - fast_base) / ROWS))


if __name__ == "__main__":
    main()
