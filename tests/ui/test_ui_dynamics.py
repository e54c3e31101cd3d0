"""Per-sample training dynamics in the tab (issue 22): the demo's model trained here on the
digits with 24 of them given a wrong label on purpose (`tb_batch_plugin.demo.train`, 12 epochs,
the smooth learning rate), a real TensorBoard and Debian's Chromium.

Expected values never come from the tab: the mislabelled rows are the demo's (drawn by numpy),
their fingerprints `tbb.fingerprint` of the digits, and the points, presentations and label issues
the routes send. Checked: the Data Map draws every sample as a point; hovering the point of the
lowest AUM shows its fingerprint and its label → prediction; a click lists its presentations and
marks exactly their steps on the loss chart; the colour toggle; the Likely mislabelled list (in
the Data Map and the Samples view) shows the injected wrong labels first, in the server's order,
with a `copy` of the fingerprint that `tbb.find` leads back to its row. Screenshots go to
test-artifacts/.
"""

import json
import os
import urllib.parse
import urllib.request

import numpy as np
import pytest

from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401

RUN = "noisy/train"
BIG = "big/train"  # more samples than the server sends as points: the binned map
EPOCHS = 12
MISLABELLED = 24
BIG_SAMPLES = 5100
DEMO = {}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tb_batch_plugin as tbb
    from tb_batch_plugin import demo

    d = str(tmp_path_factory.mktemp("ui_dynamics"))
    m = demo.train(os.path.join(d, "noisy"), 0.003, EPOCHS, mislabelled=MISLABELLED)
    x, y, train_rows, _ = demo.load_data()
    fps = ["%016x" % f for f in tbb.fingerprint(x)]
    DEMO.update(x=x, train=len(train_rows), mis={fps[r]: (r, label) for r, label in zip(m["rows"], m["labels"])})
    assert len(DEMO["mis"]) == MISLABELLED and (y[m["rows"]] != m["labels"]).all()
    import keras

    big = np.random.default_rng(1).normal(size=(BIG_SAMPLES, 2)).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(big, (big[:, 0] > 0).astype(int), batch_size=512, epochs=2, verbose=0,
              callbacks=[tbb.BatchStats(os.path.join(d, "big"), samples=0)])
    DEMO["url"] = u = launch(d, [RUN, "noisy/validation", BIG])
    return u


def _get(url, route, **params):
    with urllib.request.urlopen("%s/data/plugin/tb_batch/%s?%s" % (url, route, urllib.parse.urlencode(params)),
                                timeout=120) as r:
        return json.loads(r.read().decode())


def _open_data_map(t):
    t.frame.click("button[data-tab=datamap]")
    t.frame.wait_for_function(
        "() => { const d = window.__tbb.debug(); return d.pending === 0 && d.datamap && d.datamap.state === 'drawn'"
        " && d.issues && d.issues.state === 'drawn' && d.charts.length > 0"
        " && d.charts.every(c => c.state === 'drawn'); }", timeout=120000)


def _point(t, fingerprint):
    t.frame.locator(".tbb-datamap-run[data-run='%s'] .tbb-datamap-plot" % RUN).scroll_into_view_if_needed()
    p = t.frame.evaluate("([r, f]) => window.__tbb.app.dataMap().pointClient(r, f)", [RUN, fingerprint])
    assert p is not None, fingerprint
    return t.to_page(p["x"], p["y"])


def test_the_data_map_draws_every_sample_hover_and_click_mark_its_presentations(browser, url):  # noqa: F811
    got = _get(url, "dynamics", run=RUN, limit=1)
    assert got["count"] == DEMO["train"] and got["points"] is not None
    points = got["points"]
    lowest = int(np.argmin([np.inf if isinstance(a, str) else a for a in points["aum"]]))
    fp = points["fingerprint"][lowest]
    assert fp == got["rows"][0]["fingerprint"]  # the route's first row: the lowest AUM
    t = Tab(browser, url, viewport=(1440, 1000))
    try:
        _open_data_map(t)
        part = next(p for p in t.debug()["datamap"]["parts"] if p["run"] == RUN)
        assert (part["count"], part["points"], part["cells"]) == (DEMO["train"], DEMO["train"], 0)
        t.shot("datamap.png")

        # hover: the sample under the pointer (the mislabelled digits crowd the low-confidence
        # corner, so it may be a neighbour of the one aimed at): its identity, given label ->
        # prediction and AUM as the route has them
        x, y = _point(t, fp)
        t.page.mouse.move(x, y)
        t.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden", timeout=5000)
        fp = t.frame.locator(".tbb-tip-title").inner_text()
        i = points["fingerprint"].index(fp)
        hx, hy = _point(t, fp)
        assert abs(hx - x) <= 8 and abs(hy - y) <= 8
        rows = dict(t.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-tip tr'),"
                                     " tr => [tr.dataset.label, tr.children[2].textContent])"))
        label, predicted = points["label"][i], points["predicted"][i]
        assert rows["label → prediction"] == "%d → %d" % (label, predicted), rows
        assert float(rows["AUM"]) == pytest.approx(points["aum"][i], rel=1e-3)
        assert float(rows["confidence"]) == pytest.approx(points["confidence"][i], rel=1e-3, abs=1e-9)
        assert int(rows["forgetting"]) == points["forgetting"][i]
        assert points["aum"][i] < 0 and fp in DEMO["mis"] and label == DEMO["mis"][fp][1] and predicted != label

        # click: its presentations are listed and their steps marked on the loss chart
        t.page.mouse.click(x, y)
        t.frame.wait_for_function("() => { const m = window.__tbb.debug().marks; return m && m.what === 'presentations'; }",
                                  timeout=30000)
        pres = _get(url, "dynamics_sample", run=RUN, key=fp)["presentations"]
        assert len(pres["step"]) == EPOCHS  # once an epoch
        marks = t.debug()["marks"]
        assert marks["run"] == RUN and marks["fingerprint"] == fp and marks["steps"] == pres["step"]
        t.frame.wait_for_function("(n) => window.__tbb.debug().charts.find(c => c.tag === 'loss').marks.length === n",
                                  arg=len(pres["step"]), timeout=10000)
        assert t.chart("loss")["marks"] == pres["step"]
        side = t.frame.locator(".tbb-datamap-run[data-run='%s'] .tbb-datamap-side" % RUN)
        listed = side.locator("tr[data-step]")
        assert [int(listed.nth(i).get_attribute("data-step")) for i in range(listed.count())] == pres["step"]
        cells = listed.first.locator("td")
        assert cells.nth(3).inner_text() == ("✓" if pres["correct"][0] else "✗")
        assert float(cells.nth(2).inner_text()) == pytest.approx(pres["margin"][0], rel=1e-3)
        assert "%d presentations, %d classified correctly" % (EPOCHS, sum(pres["correct"])) in side.inner_text()
        assert fp in t.frame.locator(".tbb-marks").inner_text() or fp[:8] in t.frame.locator(".tbb-marks").inner_text()
        t.shot("datamap_selected.png")

        # colour by forgetting, and back; a second click unmarks
        t.frame.click("button[data-color=forgetting]")
        assert t.debug()["datamap"]["mode"] == "forgetting"
        t.frame.click("button[data-color=aum]")
        t.page.mouse.click(x, y)
        t.frame.wait_for_function("() => window.__tbb.debug().marks === null", timeout=10000)
        assert list(t.errors) == [], t.errors
    finally:
        t.close()


def test_the_likely_mislabelled_list_shows_the_wrong_labels_first(browser, url):  # noqa: F811
    mis = DEMO["mis"]
    answer = _get(url, "label_issues", run=RUN, top=50)
    issues = [s for s in answer["issues"] if s["flagged"]]  # the list shows the flagged ones
    assert 0 < len(issues) < len(answer["issues"])
    lead = next((i for i, s in enumerate(issues) if s["fingerprint"] not in mis), len(issues))
    assert lead >= 20, "only the first %d of the label issues are mislabelled on purpose" % lead
    t = Tab(browser, url, viewport=(1440, 1000))
    try:
        _open_data_map(t)
        table = t.frame.locator(".tbb-issues-run[data-run='%s'] tr[data-flagged=true]" % RUN)
        shown = [table.nth(i).get_attribute("data-fingerprint") for i in range(table.count())]
        assert shown == [s["fingerprint"] for s in issues]
        assert all(f in mis for f in shown[:lead])
        assert "%d flagged of %d samples" % (answer["flagged"], answer["count"]) in t.frame.locator(
            ".tbb-issues-run[data-run='%s']" % RUN).inner_text()
        # then the next ten by score, muted
        after = t.frame.locator(".tbb-issues-run[data-run='%s'] tr[data-flagged=false]" % RUN)
        unflagged = [s["fingerprint"] for s in answer["issues"] if not s["flagged"]][:10]
        assert [after.nth(i).get_attribute("data-fingerprint") for i in range(after.count())] == unflagged
        first = issues[0]
        cells = table.first.locator("td")
        assert cells.nth(2).inner_text() == "%d → %d" % (first["label"], first["predicted"])
        assert first["label"] == mis[first["fingerprint"]][1]
        assert float(cells.nth(3).inner_text()) == pytest.approx(first["aum"], rel=1e-3)
        assert float(cells.nth(4).inner_text()) == pytest.approx(first["score"], rel=1e-3)
        t.shot("likely_mislabelled.png")

        # copy its fingerprint: to the clipboard, or (no clipboard access) selected in an input
        button = table.first.locator("button[data-action=copy]")
        button.click()
        t.frame.wait_for_function("(b) => b.dataset.copied", arg=button.element_handle(), timeout=5000)
        if button.get_attribute("data-copied") == "selected":
            assert t.frame.evaluate("() => document.activeElement.value") == first["fingerprint"]
        import tb_batch_plugin as tbb

        assert tbb.find(DEMO["x"], [first["fingerprint"]]).tolist() == [mis[first["fingerprint"]][0]]

        # a click on the row marks its presentations
        table.first.click()
        t.frame.wait_for_function("() => { const m = window.__tbb.debug().marks; return m && m.what === 'presentations'; }",
                                  timeout=30000)
        steps = _get(url, "dynamics_sample", run=RUN, key=first["fingerprint"])["presentations"]["step"]
        assert t.debug()["marks"]["steps"] == steps
        assert table.first.get_attribute("aria-selected") == "true"

        # the Samples view lists them next to the hardest samples
        t.frame.click("button[data-tab=samples]")
        t.frame.wait_for_function("() => { const d = window.__tbb.debug(); return d.pending === 0 && d.issues"
                                  " && d.issues.state === 'drawn' && d.hardest && d.hardest.state === 'drawn'; }",
                                  timeout=60000)
        listed = next(r for r in t.debug()["issues"]["runs"] if r["run"] == RUN)
        assert [x["fingerprint"] for x in listed["issues"]] == shown
        assert list(t.errors) == [], t.errors
    finally:
        t.close()


def test_too_many_samples_for_points_draw_the_binned_map(browser, url):  # noqa: F811
    got = _get(url, "dynamics", run=BIG, bins=48, limit=1)
    assert got["count"] == BIG_SAMPLES and got["points"] is None
    count = np.array(got["map"]["count"])
    t = Tab(browser, url, viewport=(1440, 1000))
    try:
        _open_data_map(t)
        part = next(p for p in t.debug()["datamap"]["parts"] if p["run"] == BIG)
        assert part["points"] is None and part["cells"] == int((count > 0).sum()) and part["binned"] == BIG_SAMPLES
        assert "5,100 samples in 48×48 cells" in t.frame.locator(".tbb-datamap-run[data-run='%s']" % BIG).inner_text()
        # hover on the fullest cell: its ranges and count, its mean AUM as the route has it
        i, j = np.unravel_index(int(np.argmax(count)), count.shape)
        t.frame.locator(".tbb-datamap-run[data-run='%s'] .tbb-datamap-plot" % BIG).scroll_into_view_if_needed()
        p = t.frame.evaluate("([r, i, j]) => window.__tbb.app.dataMap().cellClient(r, i, j)", [BIG, int(i), int(j)])
        t.page.mouse.move(*t.to_page(p["x"], p["y"]))
        t.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden", timeout=5000)
        edges = got["map"]["confidence"]
        assert t.frame.locator(".tbb-tip-title").inner_text().startswith("confidence %g–%g" % (
            float("%.4g" % edges[j]), float("%.4g" % edges[j + 1])))
        rows = dict(t.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-tip tr'),"
                                     " tr => [tr.dataset.label, tr.children[2].textContent])"))
        assert int(rows["samples"]) == count[i, j]
        assert float(rows["mean AUM"]) == pytest.approx(got["map"]["aum"][i][j], rel=1e-3)
        t.shot("datamap_binned.png")
        assert list(t.errors) == [], t.errors
    finally:
        t.close()
