"""TensorBoard asks every plugin ``is_active`` for its first page (``/data/plugins_listing``): the
plugin answers at once, also while its first index of a large logdir is under way (it waited up
to 10 s for it)."""

import os
import time

import numpy as np
from tensorboard.plugins import base_plugin

from tb_batch_plugin.plugin_loader import BatchesLoader
from tests.helpers.fast_writer import event_path, write_scalars

RUNS, STEPS = 400, 5_000


def test_is_active_answers_at_once_while_the_first_index_runs(tmp_path):
    for i in range(RUNS):
        run = tmp_path / ("run_%03d" % i)
        run.mkdir()
        write_scalars(event_path(str(run)), "loss", np.arange(STEPS), np.ones(STEPS, np.float32))
    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=str(tmp_path)))
    start = time.monotonic()
    active = plugin.is_active()
    took = time.monotonic() - start
    indexed = plugin._sources.scanned.is_set()
    assert active
    assert not indexed, "the first index ended before the question: make the logdir larger"
    assert took < 1.0, took
    assert plugin._sources.scanned.wait(120) and plugin.is_active()  # and from the index after it


def test_a_logdir_without_event_files_is_not_active(tmp_path):
    os.makedirs(tmp_path / "a" / "b")
    (tmp_path / "a" / "notes.txt").write_text("no events here")
    plugin = BatchesLoader().load(base_plugin.TBContext(logdir=str(tmp_path)))
    assert not plugin.is_active()
    assert plugin._sources.scanned.wait(60) and not plugin.is_active()
