"""The Batches tab as a daily driver (issue 25), on the real demo (trained here by
`tb_batch_plugin.demo`, as in test_ui_samples.py) served by a real TensorBoard, in Debian's Chromium.

Checked: validation is placed at the training step each evaluation followed in the Distributions
view too (the steps the chart holds are the evaluations' `train_step`s of the server's `runs`, never
the validation batch numbers), its batches still open in the drill-down; the view, zoom and open
step live in TensorBoard's URL (`#tb_batch&tbb.…`): a copied URL opens the same picture in a fresh
page, back/forward walk through them, and views keep their own zoom and open step. Screenshots go
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


def _wait_ready(t):
    t.frame.wait_for_function("() => { const d = window.__tbb.debug(); return d.pending === 0 && d.firstPaintMs !== null; }", timeout=60000)


def _hash(t):
    return t.page.evaluate("() => location.hash")


def _wait_hash(t, part):
    t.page.wait_for_function("(p) => location.hash.includes(p)", arg=part, timeout=10000)


def test_the_url_holds_view_zoom_and_open_step_and_reopens_them_in_a_fresh_page(browser, url):  # noqa: F811
    t = Tab(browser, url, viewport=(1280, 800))
    try:
        _wait_hash(t, "tbb.view=steps")  # the first state replaces TensorBoard's bare `#tb_batch`
        assert _hash(t) == "#tb_batch&tbb.view=steps"
        # an anomaly's click: zoom around 764 and its step open, both in the URL (one history entry)
        t.frame.evaluate("window.__tbb.app.jumpTo('%s', 'loss', 764)" % RUN)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='764']", timeout=30000)
        _wait_hash(t, "tbb.open=")
        link = t.page.url
        assert "tbb.view=steps" in link and "tbb.zoom=714..814" in link and "tbb.open=764%40lr_0.08%2Ftrain" in link, link
        # the Distributions view with log y: its own zoom (none) and no open step
        t.frame.click("button[data-tab=dists]")
        _wait_dists(t)
        _wait_hash(t, "tbb.view=dists")
        d = t.debug()
        assert d["views"] == {"train": None, "val": None} and d["drill"] is None
        assert t.frame.locator(".tbb-range").inner_text().startswith("Distributions: steps 0 – ")
        # back: the Steps view as it was left; forward: Distributions again
        t.page.go_back()
        t.frame.wait_for_function("() => window.__tbb.debug().tab === 'steps'", timeout=10000)
        _wait_ready(t)
        d = t.debug()
        assert d["views"]["train"] == {"start": 714, "end": 814} and d["drill"] == {"run": RUN, "step": 764}
        assert t.frame.locator(".tbb-range").inner_text() == "Steps: steps 714 – 814"
        t.page.go_forward()
        t.frame.wait_for_function("() => window.__tbb.debug().tab === 'dists'", timeout=10000)
        assert t.debug()["drill"] is None
        # TensorBoard's other tab and back: the state stays, in the tab and in the URL
        t.page.evaluate("() => { location.hash = '#scalars'; }")
        t.page.wait_for_timeout(500)
        t.page.evaluate("() => { location.hash = '#tb_batch'; }")
        _wait_hash(t, "tbb.view=dists")
        assert t.debug()["tab"] == "dists"
        assert t.errors == [], t.errors
    finally:
        t.close()
    # the copied link, in a fresh browser context: the same view, zoom and open step
    f = Tab(browser, url, viewport=(1280, 800), wait=False)
    try:
        f.page.goto(link, wait_until="domcontentloaded")
        f.frame = f._plugin_frame()
        f.wait_ready()
        f.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='764']", timeout=30000)
        d = f.debug()
        assert d["tab"] == "steps" and d["views"]["train"] == {"start": 714, "end": 814}
        assert d["drill"] == {"run": RUN, "step": 764} and f.chart("loss")["range"] == {"start": 714, "end": 814}
        # a reload keeps it too
        f.page.reload(wait_until="domcontentloaded")
        f.frame = f._plugin_frame()
        f.wait_ready()
        f.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='764']", timeout=30000)
        assert f.debug()["views"]["train"] == {"start": 714, "end": 814}
        assert f.errors == [], f.errors
    finally:
        f.close()


def test_the_readme_tour_in_order_from_a_fresh_page(browser, url):  # noqa: F811
    """README "A tour of the demo", steps 1-4 and 6, one after the other in one fresh page."""
    data, mis = DEMO["data"], DEMO["mis"]
    for scheme, size in (("light", (1280, 800)), ("dark", (1920, 1080))):
        t = Tab(browser, url, scheme=scheme, viewport=size)
        try:
            # 1. Steps view: loss first, both training runs overlaid, the whole range
            loss = t.chart("loss")
            assert {"lr_0.003/train", RUN} <= {r["run"] for r in loss["runs"]} and t.debug()["views"]["train"] is None
            # 2. Anomalies: none in lr_0.003/train, 0 whole-batch and 11 `samples` in lr_0.08/train;
            # the first, loss @ 764, zooms around it and opens it with "3 samples = 93%", a 7 labelled 0 first
            t.frame.wait_for_function("() => window.__tbb.debug().anomaliesLoaded", timeout=60000)
            counts = dict(t.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-anom-counts > div[data-run]'),"
                                           " e => [e.dataset.run, e.querySelector('.tbb-num')?.textContent.trim()])"))
            assert counts["lr_0.003/train"] == "0 whole-batch" and counts[RUN] == "0 whole-batch · 11 samples", counts
            first = t.frame.locator(".tbb-anom[data-run='%s']" % RUN).first
            assert first.locator(".tbb-anom-what").inner_text() == "loss @ 764"
            assert first.locator(".tbb-anom-score").inner_text() == "1 sample 39%"
            first.click()
            t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='764']", timeout=30000)
            _wait_ready(t)
            assert t.debug()["views"]["train"] == {"start": 714, "end": 814}
            part = t.frame.locator(".tbb-samples-run[data-run='%s']" % RUN)
            assert part.locator(".tbb-samples-summary").inner_text().startswith("3 samples = 93%")
            row = part.locator("tr[data-fingerprint]").first
            assert row.get_attribute("data-fingerprint") == "9dedb36f50fb37df"
            assert row.locator("td").nth(2).inner_text() == "0 → 7"
            _shot(t, "tour_2_anomaly_%s_%dx%d.png" % (scheme, *size))
            # 3. Samples view: the whole range, no step open; lr_0.08/train's first 20 are mislabelled
            t.frame.click("button[data-tab=samples]")
            t.frame.wait_for_function("() => { const d = window.__tbb.debug(); return d.pending === 0 && d.hardest"
                                      " && d.hardest.state === 'drawn'; }", timeout=60000)
            d = t.debug()
            assert d["views"] == {"train": None, "val": None} and d["drill"] is None
            assert t.frame.locator(".tbb-drill").is_hidden()
            got = next(r for r in d["hardest"]["runs"] if r["run"] == RUN)
            shown = [s["fingerprint"] for s in got["samples"]]
            assert shown == [s["fingerprint"] for s in data.hardest(RUN, top=50)]
            assert all(f in mis for f in shown[:20]), [f in mis for f in shown[:20]]
            assert t.frame.locator(".tbb-range").inner_text().startswith("Samples: steps 0 – ")
            _shot(t, "tour_3_samples_%s_%dx%d.png" % (scheme, *size))
            # 4. Data Map: Likely mislabelled flags 63 of lr_0.08/train's samples and 4 of lr_0.003/train's
            t.frame.click("button[data-tab=datamap]")
            t.frame.wait_for_function("() => { const d = window.__tbb.debug(); return d.pending === 0 && d.issues"
                                      " && d.issues.state === 'drawn'; }", timeout=60000)
            flagged = {r["run"]: r["flagged"] for r in t.debug()["issues"]["runs"]}
            assert (flagged[RUN], flagged["lr_0.003/train"]) == (63, 4), flagged
            assert t.debug()["drill"] is None
            # 6. Distributions view: predictions and per_sample_loss
            t.frame.click("button[data-tab=dists]")
            _wait_dists(t)
            assert {"predictions", "per_sample_loss"} <= {c["tag"] for c in t.debug()["dists"]}
            assert t.errors == [], t.errors
        finally:
            t.close()
