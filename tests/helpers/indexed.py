"""A werkzeug test client of TensorBoard's WSGI app with the tb_batch plugin, returned once the
plugin's first index is done (its `runs` says `"indexing": false`): requests never wait for the
index, and a run not read yet would answer 202 "indexing"."""

import json
import time

from tensorboard.backend import application
from werkzeug.test import Client

RUNS = "/data/plugin/tb_batch/runs"


def client(plugin, timeout=120):
    c = Client(application.TensorBoardWSGI([plugin]))
    deadline = time.monotonic() + timeout
    while True:
        body = json.loads(c.get(RUNS).get_data())
        if not body.get("indexing") or time.monotonic() > deadline:
            return c
        time.sleep(0.05)
