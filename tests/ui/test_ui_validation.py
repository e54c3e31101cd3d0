"""Validation on the training axis (issue 13), with logs written by the real BatchStats in
`model.fit(..., validation_data=...)`: each evaluation is drawn at the training step at which it
ran (never at x < that step), its batches as one band with their mean, and the drill-down pairs
a training step with the evaluation that followed it. Expected values are computed here: the
training steps from the data sizes, each validation batch's loss with the model's weights at the
end of its epoch (when Keras ran that validation pass).
"""

import json
import math
import os
import urllib.request

import numpy as np
import pytest

from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401

TRAIN, VAL, BATCH, EPOCHS = 64, 40, 16, 3
STEPS_PER_EPOCH = math.ceil(TRAIN / BATCH)
VAL_BATCHES = math.ceil(VAL / BATCH)
RESULT = {}


def train(logdir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import tb_batch_plugin as tbb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(TRAIN, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    xv = rng.normal(size=(VAL, 8)).astype("float32")
    yv = (xv[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(0.05), loss)
    per_batch = []

    class ValidationLosses(keras.callbacks.Callback):
        """Each validation batch's loss with the weights Keras validated with (the epoch's end)."""

        def on_epoch_end(self, epoch, logs=None):
            per_batch.append([float(loss(yv[i:i + BATCH], model(xv[i:i + BATCH], training=False)))
                              for i in range(0, VAL, BATCH)])

    model.fit(x, y, validation_data=(xv, yv), batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[tbb.BatchStats(logdir), ValidationLosses()])
    RESULT["val_losses"] = per_batch


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ui_validation"))
    train(d)
    u = launch(d, ["train", "validation"])
    with urllib.request.urlopen(u + "/data/plugin/tb_batch/runs", timeout=60) as r:
        runs = {x["run"]: x for x in json.loads(r.read().decode())["runs"]}
    if "evaluations" not in runs["validation"]:
        pytest.skip("the server's `runs` has no `evaluations` yet (evaluation markers of the recording issue)")
    RESULT["evaluations"] = runs["validation"]["evaluations"]
    return u


def test_validation_is_drawn_where_each_evaluation_ran(browser, url):  # noqa: F811
    evals = RESULT["evaluations"]
    # Keras validates after each epoch: after STEPS_PER_EPOCH, 2x, 3x training batches
    assert [e["train_step"] for e in evals] == [STEPS_PER_EPOCH * (k + 1) for k in range(EPOCHS)]
    assert [e["count"] for e in evals] == [VAL_BATCHES] * EPOCHS
    t = Tab(browser, url)
    try:
        d = t.debug()
        assert d["metas"]["validation"] == {"role": "validation", "axis": "train", "placed": True, "train_run": "train"}
        assert [c for c in d["charts"] if c["axis"] == "val"] == []  # no separate validation axis
        loss = t.chart("loss")
        # the validation run is not a line over training steps...
        assert [r["run"] for r in loss["runs"]] == ["train"]
        # ...but one band per evaluation, at the step it ran: never at x < that step
        (ev,) = loss["evaluations"]
        assert ev["run"] == "validation"
        assert ev["xs"] == [e["train_step"] for e in evals] == ev["trainSteps"]
        assert ev["counts"] == [VAL_BATCHES] * EPOCHS
        expected = [np.mean(b) for b in RESULT["val_losses"]]
        assert ev["means"] == pytest.approx(expected, rel=1e-5)
        t.shot("validation_on_training_axis.png")

        # the drill-down pairs a training step with the evaluation that followed it
        s = STEPS_PER_EPOCH + 1  # a step of the second epoch: the second evaluation follows it
        t.frame.evaluate("window.__tbb.app.openDrill('train', %d)" % s)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % s, timeout=15000)
        cols = t.debug()["drillInfo"]["columns"]
        assert [(c["run"], c["step"]) for c in cols] == [("train", s), ("validation", None)]
        assert cols[1]["evaluation"]["train_step"] == 2 * STEPS_PER_EPOCH and cols[1]["evaluation"]["epoch"] == 1
        cell = t.frame.locator(".tbb-drill-scalars tr[data-tag=loss] td").nth(1)
        assert float(cell.inner_text().split("\n")[0]) == pytest.approx(np.mean(RESULT["val_losses"][1]), rel=1e-5)
        t.shot("validation_drilldown_pairing.png")
        t.page.keyboard.press("Escape")

        # clicking an evaluation's band opens one of its batches, next to the last training
        # step before that evaluation
        mx = float(np.max(RESULT["val_losses"][2]))
        x, y = t.point("loss", evals[2]["train_step"], mx)
        t.page.mouse.click(x - 2, y)  # (the last evaluation is at the right edge)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-run=validation]", timeout=15000)
        info = t.debug()["drillInfo"]
        first = evals[2]["first_step"]
        assert first <= info["step"] < first + VAL_BATCHES
        assert [(c["run"], c["step"]) for c in info["columns"]] == [("validation", info["step"]), ("train", 3 * STEPS_PER_EPOCH - 1)]
        assert t.errors == [], t.errors
    finally:
        t.close()
