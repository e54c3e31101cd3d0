"""Several processes writing event files into one run directory (multi-host training, TensorBoard
issue #5958): two writer processes, one the even steps and one the odd ones, each its own file,
their wall clocks an hour apart, appending concurrently while the index reloads. Every point is
kept, with its exact value and wall time: in the index reloaded as they wrote, in a fresh
`tbb.load`, and in the `series` route. (A writer that repeats a step of another file, or goes
back within its own file, is still a restart: tests/read.)"""

import json
import multiprocessing as mp
import os
import time

import numpy as np
from tensorboard.plugins import base_plugin

import tb_batch_plugin as tbb
from helpers import fast_writer, indexed
from tb_batch_plugin.plugin_loader import BatchesLoader
from tb_batch_plugin.read import LogdirIndex

N, CHUNK = 4000, 50  # steps per writer, steps per append
SKEW = {0: 0.0, 1: -3600.0}  # writer -> its clock's offset (out-of-order wall times)


def _values(steps):
    return (np.sin(steps * 0.01) + steps * 1e-4).astype(np.float32)


def _samples(steps):
    return np.random.default_rng(0).normal(size=(2 * N, 8))[steps] * (1 + steps[:, None] * 1e-3)


def _walls(steps, writer):
    return 1.7e9 + steps * 0.01 + SKEW[writer]


def _write(run_dir, writer, go):
    """Writer `writer` (0: even steps, 1: odd) appends its own file in chunks."""
    path = os.path.join(run_dir, "events.out.tfevents.1700000000.host%d.%d.v2" % (writer, os.getpid()))
    go.wait()
    steps = np.arange(writer, 2 * N, 2)
    for a in range(0, N, CHUNK):
        s = steps[a:a + CHUNK]
        fast_writer.write_scalars(path, "loss", s, _values(s), walls=_walls(s, writer))
        fast_writer.write_distributions(path, "per_sample_loss", s, _samples(s), walls=_walls(s, writer))
        time.sleep(0.002)


def _check(steps, values, walls):
    expected = np.arange(2 * N)
    assert np.array_equal(steps, expected), "dropped: %d of %d" % (2 * N - len(steps), 2 * N)
    assert np.array_equal(values, _values(expected))
    assert np.array_equal(walls, _walls(expected, 0) + np.where(expected % 2, SKEW[1], SKEW[0]))


def test_two_writer_processes_into_one_run_directory_keep_every_point(tmp_path):
    run_dir = tmp_path / "multihost"
    run_dir.mkdir()
    ctx = mp.get_context("fork")
    go = ctx.Event()
    writers = [ctx.Process(target=_write, args=(str(run_dir), w, go)) for w in (0, 1)]
    for p in writers:
        p.start()
    index = LogdirIndex(str(tmp_path))
    go.set()
    reloads = 0
    while any(p.is_alive() for p in writers):
        index.reload()  # concurrently with the writers: partial chunks, either file ahead
        reloads += 1
    for p in writers:
        p.join()
        assert p.exitcode == 0
    index.reload()
    assert reloads > 3

    for idx in (index, tbb.load(str(tmp_path))):
        s = idx.scalars("multihost", "loss")
        _check(s.steps, s.values, s.wall_times)
        d = idx.distributions("multihost", "per_sample_loss")
        assert np.array_equal(d.steps, np.arange(2 * N))
        rows = fast_writer.distribution_rows(_samples(np.arange(2 * N)))
        assert np.array_equal(d.data, rows)
        assert not idx.skipped("multihost")

    client = indexed.client(BatchesLoader().load(base_plugin.TBContext(logdir=str(tmp_path))))
    body = json.loads(client.get("/data/plugin/tb_batch/series?run=multihost&tag=loss&width=%d" % (2 * N)).get_data())
    _check(np.array(body["steps"]), np.array(body["values"], np.float32), np.array(body["wall_times"]))
    assert body["method"] == "raw"


def test_a_second_file_that_repeats_a_step_is_still_a_resume(tmp_path):
    """The data contract's resume rule holds across files: a later file starting at step S
    (repeating a recorded step) supersedes steps >= S of the earlier one."""
    run = tmp_path / "r"
    run.mkdir()
    old, new = np.arange(100), np.arange(50, 80)
    fast_writer.write_scalars(str(run / "events.out.tfevents.1.a"), "loss", old, np.zeros(100, np.float32))
    fast_writer.write_scalars(str(run / "events.out.tfevents.2.b"), "loss", new, np.ones(30, np.float32))
    s = tbb.load(str(tmp_path)).scalars("r", "loss")
    assert np.array_equal(s.steps, np.arange(80))
    assert np.array_equal(s.values, np.r_[np.zeros(50), np.ones(30)].astype(np.float32))
