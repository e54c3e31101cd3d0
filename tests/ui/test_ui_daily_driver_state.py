"""The Batches tab as a daily driver (issue 25), on the real demo (trained here by
`tb_batch_plugin.demo`, as in test_ui_samples.py) served by a real TensorBoard, in Debian's Chromium.

Checked: validation is placed at the training step each evaluation followed in the Distributions
view too (the steps the chart holds are the evaluations' `train_step`s of the server's `runs`, never
the validation batch numbers), its batches still open in the drill-down. Screenshots go
to test-artifacts/ (and /tmp/ui-shots/ when that directory exists).
"""

import os
import shutil

import pytest

from test_ui_browser import Tab, browser  # noqa: F401  (skips when Chromium is missing)
from test_ui_samples import DEMO, RUN, _get, url  # noqa: F401  (the demo's two runs, trained once)

VAL = "lr_0.08/validation"
SHOTS = "/tmp/ui-shots"


def _shot(t, name):
    path = t.shot(name)
    if os.path.isdir(SHOTS):
        shutil.copy(path, os.path.join(SHOTS, name))


def _dist(t, tag="per_sample_loss"):
    return next(c for c in t.debug()["dists"] if c["tag"] == tag and c["axis"] == "train")


def _wait_dists(t):
    t.frame.wait_for_function(
        "() => { const d = window.__tbb.debug(); return d.pending === 0 && d.dists.length > 0"
        " && d.dists.every(c => c.state === 'drawn' || c.state === 'empty'); }", timeout=60000)


@pytest.mark.parametrize("scheme,size", [("light", (1280, 800)), ("dark", (1920, 1080))])
def test_distributions_place_validation_at_the_training_step_each_evaluation_followed(browser, url, scheme, size):  # noqa: F811
    runs = {r["run"]: r for r in _get(url, "runs")["runs"]}
    evals = sorted(runs[VAL]["evaluations"], key=lambda e: e["first_step"])
    assert len(evals) == 25 and max(e["last_step"] for e in evals) < evals[-1]["train_step"]
    t = Tab(browser, url, scheme=scheme, viewport=size)
    try:
        t.frame.click("button[data-tab=dists]")
        _wait_dists(t)
        card = _dist(t)
        got = {r["run"]: r for r in card["runs"]}
        assert set(got) == {"lr_0.003/train", RUN, "lr_0.003/validation", VAL}
        # each evaluation once, at its train_step; its batches (first..last validation step) merged
        assert got[VAL]["steps"] == [e["train_step"] for e in evals]
        assert got[VAL]["batches"] == [[e["first_step"], e["last_step"]] for e in evals]
        assert got[RUN]["batches"] is None and got[RUN]["steps"][0] == 0
        _shot(t, "dists_validation_placed_%s_%dx%d.png" % (scheme, *size))
        # zoomed to one evaluation's neighbourhood: that evaluation only, still at its train_step
        e = evals[12]
        t.set_view(e["train_step"] - 20, e["train_step"] + 20)
        _wait_dists(t)
        got = {r["run"]: r for r in _dist(t)["runs"]}
        assert got[VAL]["steps"] == [e["train_step"]] and got[VAL]["batches"] == [[e["first_step"], e["last_step"]]]
        # a click on it, on the validation run's heatmap, opens its first batch in the drill-down
        p = t.frame.evaluate(
            """([run, x]) => { const el = document.querySelector(`.tbb-dist[data-tag="per_sample_loss"] .tbb-heat[data-run="${run}"] .u-over`);
                 el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();
                 return {left: r.left, top: r.top, width: r.width, height: r.height}; }""",
            [VAL, e["train_step"]])
        # x of train_step on the shared 41-step range [train_step-20, train_step+20]
        x = p["left"] + p["width"] * 20 / 40
        t.page.mouse.click(*t.to_page(x, p["top"] + p["height"] / 2))
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % e["first_step"], timeout=30000)
        assert t.frame.locator(".tbb-drill").get_attribute("data-run") == VAL
        assert t.errors == [], t.errors
    finally:
        t.close()

