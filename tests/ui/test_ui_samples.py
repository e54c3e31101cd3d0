"""From a spike to the samples behind it, in the tab, on the real demo (issue 14): the demo's two
runs are trained here by `tb_batch_plugin.demo` (the full 25 epochs, about 40 s), a real
TensorBoard serves them and Debian's Chromium drives the Batches tab.

Expected values never come from the tab: the mislabelled rows are the demo's (drawn by numpy, saved
by train()), their fingerprints `tbb.fingerprint` of the digits as the demo feeds them, and the
recorded samples, hardest samples and per-class losses are read with `tbb.load` from the event
files. Checked: the anomaly panel tells the runs apart (no whole-batch anomaly in either, `lr_0.08`'s
loss jumps carried by a few samples, its first at step 764, validation entries by their
evaluation); a click on a loss spike of `lr_0.08` opens its step, whose drill-down lists that batch's
recorded samples with a mislabelled one (its given label → the digit predicted), the share line,
and a fingerprint that copies and leads back to its row with `tbb.find`; the Samples view lists the
hardest samples in the server's order over the visible steps, the mislabelled ones first, and a
click marks the sample's steps on the loss chart; the per-class heatmap draws each class's mean
loss per step and opens the step of a clicked cell. Screenshots go to test-artifacts/.
"""

import json
import os
import re
import urllib.parse
import urllib.request

import numpy as np
import pytest

from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401

RUN = "lr_0.08/train"
EPOCHS = 25
DEMO = {}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tb_batch_plugin as tbb
    from tb_batch_plugin import demo

    d = str(tmp_path_factory.mktemp("ui_samples"))
    for lr in demo.LEARNING_RATES:
        m = demo.train(os.path.join(d, "lr_%g" % lr), lr, EPOCHS, mislabelled=demo.MISLABELLED.get(lr, 0))
        if m["rows"]:
            DEMO["mislabelled"] = m
    x, y, _, _ = demo.load_data()
    fps = ["%016x" % f for f in tbb.fingerprint(x)]
    rows = DEMO["mislabelled"]["rows"]
    assert len(rows) == demo.MISLABELLED[0.08] and (y[rows] != DEMO["mislabelled"]["labels"]).all()
    DEMO.update(x=x, fps=fps, logdir=d, mis={fps[r]: (r, label) for r, label in zip(rows, DEMO["mislabelled"]["labels"])},
                data=tbb.load(d))
    u = launch(d, ["lr_0.003/train", RUN, "lr_0.08/validation"])
    DEMO["url"] = u
    return u


def _get(url, route, **params):
    with urllib.request.urlopen("%s/data/plugin/tb_batch/%s?%s" % (url, route, urllib.parse.urlencode(params)), timeout=60) as r:
        return json.loads(r.read().decode())


def _errors(t):
    return list(t.errors)


def _step_rows(data, run, step):
    s = data.samples(run)
    i = int(np.searchsorted(s.steps, step))
    assert s.steps[i] == step
    return s.rows(i)


def test_the_anomaly_panel_counts_kinds_per_run_and_lists_a_few_samples_first(browser, url):  # noqa: F811
    got = {r: _get(url, "anomalies", run=r) for r in ("lr_0.003/train", RUN, "lr_0.003/validation", "lr_0.08/validation")}
    assert got["lr_0.003/train"]["counts"]["spike"] == 0 and got[RUN]["counts"]["spike"] == 0
    first = got[RUN]["anomalies"][0]  # the step the README's tour opens
    assert (first["tag"], first["step"], first["kind"]) == ("loss", 764, "samples")
    t = Tab(browser, url, viewport=(1440, 900))
    try:
        t.frame.wait_for_function("() => window.__tbb.debug().anomaliesLoaded", timeout=60000)
        # per run: the whole-batch count (none in either run), then the other kinds; training runs
        # first, validation runs under their own label
        rows = t.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-anom-counts > div'),"
                                " e => [e.dataset.run || e.textContent, e.querySelector('.tbb-num')?.textContent.trim()])")
        assert [r[0] for r in rows] == ["lr_0.003/train", RUN, "validation", "lr_0.003/validation", "lr_0.08/validation"], rows
        texts = dict(r for r in rows if r[1] is not None)
        assert texts["lr_0.003/train"] == "0 whole-batch", texts
        n = got[RUN]["counts"]["samples"]
        assert n > 0 and texts[RUN] == "0 whole-batch · %d sample%s" % (n, "" if n == 1 else "s"), texts
        # lr_0.08's first entry: the loss at step 764, carried by one sample's share of its loss
        b = t.frame.locator(".tbb-anom[data-run='%s']" % RUN).first
        assert (b.get_attribute("data-step"), b.get_attribute("data-kind"), b.get_attribute("data-tag")) == ("764", "samples", "loss")
        assert b.locator(".tbb-anom-what").inner_text() == "loss @ 764"
        assert b.locator(".tbb-anom-score").inner_text() == "1 sample %d%%" % round(first["share"] * 100)
        assert "a few samples carry the batch's loss" in b.get_attribute("title")
        # validation entries after the training ones, under a heading, each by its evaluation
        heading = t.frame.evaluate("() => { const l = Array.from(document.querySelectorAll('.tbb-anom-list > li'));"
                                   " const i = l.findIndex(e => e.classList.contains('tbb-anom-head'));"
                                   " return [i, l[i]?.textContent, l.slice(0, i).every(e => !e.querySelector('.tbb-anom-val')),"
                                   " l.slice(i + 1).every(e => e.querySelector('.tbb-anom-val'))]; }")
        assert heading[0] > 0 and heading[1:] == ["Validation", True, True], heading
        v = t.frame.locator(".tbb-anom-val").first
        vrun, vstep = v.get_attribute("data-run"), int(v.get_attribute("data-step"))
        entry = next(a for a in got[vrun]["anomalies"] if a["step"] == vstep and a["tag"] == v.get_attribute("data-tag"))
        ev = entry["evaluation"]
        assert v.locator(".tbb-anom-what").inner_text() == "val %s · eval at step %d (epoch %d), batch %d" % (
            entry["tag"], ev["train_step"], ev["epoch"] + 1, ev["batch"])
        t.shot("anomalies_kinds.png")
        v.click()
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % vstep, timeout=30000)
        assert t.frame.locator(".tbb-drill").get_attribute("data-run") == vrun
        assert _errors(t) == [], t.errors
    finally:
        t.close()


def test_a_spike_opens_its_step_with_a_mislabelled_sample_among_its_samples(browser, url):  # noqa: F811
    data, mis = DEMO["data"], DEMO["mis"]
    # the loss spikes of lr_0.08 carried by a few samples, highest score first; the demo's story:
    # one of them has a mislabelled digit among its batch's highest losses (per the recorded samples)
    spikes = [a for a in _get(url, "anomalies", run=RUN, tag="loss")["anomalies"] if a["kind"] == "samples"]
    assert spikes
    spike = next((a for a in spikes if set(_step_rows(data, RUN, a["step"])["fingerprint"]) & set(mis)), None)
    assert spike is not None, "no spike of %s lists a mislabelled sample" % RUN
    step = spike["step"]
    recorded = _step_rows(data, RUN, step)
    t = Tab(browser, url, viewport=(1440, 900))
    try:
        # zoom around the spike and click it on the loss chart (it may be beyond the y range,
        # which ignores outliers: then its caret on the top edge)
        t.set_view(step - 50, step + 50)
        x, y = t.point("loss", step, spike["value"])
        over = t.rect('.tbb-chart[data-tag="loss"] .u-over')
        y = min(max(y, t.to_page(0, over["top"] + 2)[1]), t.to_page(0, over["bottom"] - 2)[1])
        t.page.mouse.click(x, y)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % step, timeout=30000)
        assert t.frame.locator(".tbb-drill").get_attribute("data-run") == RUN
        part = t.frame.locator(".tbb-samples-run[data-run='%s']" % RUN)
        shown = part.locator("tr[data-fingerprint]")
        assert [shown.nth(i).get_attribute("data-fingerprint") for i in range(shown.count())] == recorded["fingerprint"]
        # the summary: the fewest leading samples whose shares reach 80% (numpy on the recorded shares)
        cum = np.cumsum(recorded["share"])
        n = int(np.argmax(cum >= 0.8)) + 1 if cum[-1] >= 0.8 else len(cum)
        summary = part.locator(".tbb-samples-summary").inner_text()
        assert summary.startswith("%d sample%s = %d%%" % (n, "" if n == 1 else "s", round(cum[n - 1] * 100))), summary
        # a mislabelled digit: its given (wrong) label, the digit the model predicts
        fp = next(f for f in recorded["fingerprint"] if f in mis)
        row, given = mis[fp]
        k = recorded["fingerprint"].index(fp)
        cells = part.locator("tr[data-fingerprint='%s'] td" % fp)
        assert cells.nth(2).inner_text() == "%d → %d" % (given, recorded["predicted"][k])
        assert recorded["predicted"][k] != given
        t.shot("samples_drilldown_spike.png")

        # copy its fingerprint: to the clipboard, or (an iframe without clipboard access) selected
        # in an input; either way it leads back to the mislabelled row
        button = part.locator("tr[data-fingerprint='%s'] button[data-action=copy]" % fp)
        button.click()
        t.frame.wait_for_function("(b) => b.dataset.copied", arg=button.element_handle(), timeout=5000)
        how = button.get_attribute("data-copied")
        if how == "selected":
            got = t.frame.evaluate("() => { const i = document.activeElement; return [i.className, i.value, i.selectionStart, i.selectionEnd]; }")
            assert got == ["tbb-input tbb-copy-input", fp, 0, 16], got
        else:
            assert how == "copied"
        import tb_batch_plugin as tbb

        assert tbb.find(DEMO["x"], [fp]).tolist() == [row]
        assert _errors(t) == [], t.errors
    finally:
        t.close()


def test_the_samples_view_lists_the_mislabelled_samples_first_and_marks_their_steps(browser, url):  # noqa: F811
    data, mis = DEMO["data"], DEMO["mis"]
    expected = data.hardest(RUN, top=50)
    lead = next((i for i, s in enumerate(expected) if s["fingerprint"] not in mis), len(expected))
    assert lead >= 10, "only the first %d of %s's hardest samples are mislabelled" % (lead, RUN)
    t = Tab(browser, url, viewport=(1440, 900))
    try:
        t.frame.click("button[data-tab=samples]")
        wait = ("() => { const d = window.__tbb.debug(); return d.pending === 0 && d.hardest && d.hardest.state === 'drawn'"
                " && d.classes && d.classes.state === 'drawn'; }")
        t.frame.wait_for_function(wait, timeout=60000)
        table = t.frame.locator(".tbb-hardest-run[data-run='%s'] tr[data-fingerprint]" % RUN)
        shown = [table.nth(i).get_attribute("data-fingerprint") for i in range(table.count())]
        assert shown == [s["fingerprint"] for s in expected]
        assert all(f in mis for f in shown[:lead])
        # training runs first: the spiky run's table is on the first row of tables
        runs = t.frame.locator(".tbb-hardest-run")
        assert [runs.nth(i).get_attribute("data-run") for i in range(runs.count())] == [
            "lr_0.003/train", RUN, "lr_0.003/validation", "lr_0.08/validation"]
        t.shot("samples_view.png")

        # a click on the first: its steps are marked on the loss chart
        first = expected[0]
        table.first.click()
        t.frame.wait_for_function("() => window.__tbb.debug().marks !== null", timeout=15000)
        marks = t.debug()["marks"]
        s = data.samples(RUN)
        where = s.steps[(s.fingerprints == np.uint64(int(first["fingerprint"], 16))).any(axis=1)].tolist()
        assert len(where) == first["count"]
        assert marks["complete"] and marks["steps"] == where  # every step (samples?fingerprint=)
        assert t.chart("loss")["marks"] == marks["steps"]
        assert table.first.get_attribute("aria-selected") == "true"
        t.shot("samples_view_marked.png")

        # zoomed: the hardest samples of the steps shown
        t.set_view(400, 800)
        t.frame.wait_for_function(wait, timeout=60000)
        got = next(r for r in t.debug()["hardest"]["runs"] if r["run"] == RUN)
        assert (got["start"], got["end"]) == (400, 800)
        assert [x["fingerprint"] for x in got["samples"]] == [x["fingerprint"] for x in data.hardest(RUN, 400, 800, 50)]
        assert _errors(t) == [], t.errors
    finally:
        t.close()


# logic.rampColor's light ramp (4 stops, linear between them): what the heatmap paints at t in [0, 1]
RAMP = np.array([[220, 235, 250], [120, 170, 230], [40, 90, 190], [20, 30, 100]], float)


def _ramp(t):
    x = min(1.0, max(0.0, t)) * 3
    i = min(2, int(x))
    return np.round(RAMP[i] + (RAMP[i + 1] - RAMP[i]) * (x - i)).astype(int).tolist()


def test_the_per_class_heatmap_draws_each_class_loss_and_opens_a_cells_step(browser, url):  # noqa: F811
    data = DEMO["data"]
    inside = {}
    for run in ("lr_0.003/train", RUN):
        pc = data.per_class(run)
        keep = (pc.steps >= 700) & (pc.steps <= 799)
        inside[run] = (pc.steps[keep], pc.means[keep], pc.counts[keep])
    steps, means, counts = inside[RUN]
    # the step and class of lr_0.08's highest per-class mean loss in steps 700..799, and the colour
    # scale of both runs' means there (log, 1st percentile of the positive means .. the largest)
    i, cls = np.unravel_index(np.argmax(np.where(counts > 0, means, -np.inf)), means.shape)
    step, worst = int(steps[i]), float(means[i, cls])
    positive = np.concatenate([m[(c > 0) & (m > 0)] for _, m, c in inside.values()])
    lo, hi = np.quantile(positive, 0.01), positive.max()
    t = Tab(browser, url, viewport=(1440, 900))
    try:
        t.frame.click("button[data-tab=samples]")
        t.set_view(700, 799)  # 100 steps on a wider plot: one column per step
        wait = "() => { const d = window.__tbb.debug(); return d.pending === 0 && d.classes && d.classes.state === 'drawn'; }"
        t.frame.wait_for_function(wait, timeout=60000)
        d = t.debug()["classes"]
        heats = {h["run"]: h for h in d["heats"]}
        assert set(heats) == {"lr_0.003/train", RUN}
        h = heats[RUN]
        assert (h["classes"], h["columns"], h["reduced"], h["first"], h["last"]) == (10, 100, False, 700, 799)
        assert d["scale"] == pytest.approx([lo, hi], rel=1e-12)
        t.frame.evaluate("document.querySelector('.tbb-classes').scrollIntoView()")
        p = t.frame.evaluate("([r, s, c]) => window.__tbb.app.classHeat().cellToClient(r, s, c)", [RUN, step, int(cls)])
        # the cell's colour is the ramp's at its mean's place on the log scale
        px = t.frame.evaluate(
            """([x, y, run]) => { const c = document.querySelector(`.tbb-class-heat[data-run="${run}"] canvas`);
                 const r = c.getBoundingClientRect(), k = c.width / r.width;
                 return Array.from(c.getContext('2d').getImageData(Math.round((x - r.left) * k), Math.round((y - r.top) * k), 1, 1).data); }""",
            [p["x"], p["y"], RUN])
        expected = _ramp((np.log(worst) - np.log(lo)) / (np.log(hi) - np.log(lo)))
        assert px[3] == 255 and np.abs(np.array(px[:3]) - expected).max() <= 2, (px, expected)
        # hover: that class's mean loss at that step; click: its step opens
        x, y = t.to_page(p["x"], p["y"])
        t.page.mouse.move(x, y)
        t.frame.wait_for_selector(".tbb-tip:not([hidden])", timeout=5000)
        tip = t.frame.locator(".tbb-tip").inner_text()
        assert "step %d · class %d" % (step, cls) in tip, tip
        assert float(re.search(r"mean loss (\S+)", tip).group(1)) == pytest.approx(worst, rel=1e-6), tip
        t.page.mouse.click(x, y)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % step, timeout=30000)
        assert t.frame.locator(".tbb-drill").get_attribute("data-run") == RUN
        t.shot("samples_classes_heatmap.png")
        assert _errors(t) == [], t.errors
    finally:
        t.close()


def test_the_readme_tour_snippet_runs_on_the_demo_and_finds_mislabelled_rows(url, tmp_path, capsys, monkeypatch):
    """The Python block of the README's tour, run as written against these demo logs."""
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")).read()
    tour = readme[readme.index("## A tour of the demo"):readme.index("## API")]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    code = "\n".join(line[3:] if line.startswith("   ") else line for line in code.splitlines())
    monkeypatch.chdir(tmp_path)
    os.symlink(DEMO["logdir"], "demo-logs")
    exec(compile(code, "README.md", "exec"), {})
    printed = [int(v) for v in re.findall(r"\d+", capsys.readouterr().out)]
    assert len(printed) == 21 and set(printed) <= set(DEMO["mislabelled"]["rows"]), printed
    # the fingerprint the tour copies at step 764 is row 533 of the digits: a 7 labelled 0
    import tb_batch_plugin as tbb

    assert "9dedb36f50fb37df" in tour
    assert tbb.find(DEMO["x"], ["9dedb36f50fb37df"]).tolist() == [533]
    i = DEMO["mislabelled"]["rows"].index(533)
    assert (DEMO["mislabelled"]["digits"][i], DEMO["mislabelled"]["labels"][i]) == (7, 0)


def test_the_readme_tour_data_map_figures(url):
    """The Data Map step of the tour: what is flagged in each run, and where the mislabelled digits sit."""
    import tb_batch_plugin as tbb

    data, rows = DEMO["data"], DEMO["mislabelled"]["rows"]
    flagged = {run: [i["fingerprint"] for i in data.label_issues(run) if i["flagged"]]
               for run in ("lr_0.003/train", RUN)}
    found = tbb.find(DEMO["x"], flagged[RUN])
    assert (len(flagged[RUN]), len(flagged["lr_0.003/train"])) == (63, 4)
    assert set(rows) <= set(found.tolist()) and set(found[:21].tolist()) <= set(rows) and found[21] not in rows
    d = data.dynamics(RUN)
    mine = np.isin(tbb.find(DEMO["x"], ["%016x" % int(f) for f in d.fingerprint]), rows)
    assert round(float(np.median(d.confidence[mine])), 3) == 0.013 and (d.presentations == EPOCHS).all()
