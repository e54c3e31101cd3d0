"""The Batches tab compares runs honestly (issue 13), in headless Chromium against a real
TensorBoard over a generated log directory: comparable anomalies, a drill-down that keeps your
place, TensorBoard's theme and colours, a growing run, tooltips and crosshair, y scales, tag
order/filter/sections/pin/full screen, relative x, run groups, shared-axis distributions and
drill-down histograms, provenance badges. Expected values come from the numpy arrays written.
Screenshots of every view go to test-artifacts/.
"""

import json
import os
import urllib.request

import numpy as np
import pytest

from helpers import fast_writer
from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401  (the module-scoped Chromium fixture)

N = 1000
SPIKES = [300, 555, 800]
LATE = 5000  # first step of a run that started later (a resumed run)
TB_PALETTE_LIGHT = ["#425066", "#12b5cb", "#e52592", "#f9ab00", "#9334e6", "#7cb342", "#e8710a"]
TB_PALETTE_DARK = ["#8e98a3"] + TB_PALETTE_LIGHT[1:]
DATA = {}


def make_logdir(d):
    rng = np.random.default_rng(11)
    t = np.arange(N)
    level = 2.3 * np.exp(-t / 100) + 0.002
    # a loss decaying to a flat near-zero level; its batch noise near zero bumps 10x the level
    calm = (level * np.exp(np.where(level > 0.01, 0.2, 1.0) * rng.standard_normal(N))).astype(np.float32)
    spiky = (calm * np.exp(0.02 * rng.standard_normal(N))).astype(np.float32)
    spiky[SPIKES] += 1.5
    DATA.update(calm=calm, spiky=spiky)
    for run, loss in (("calm/train", calm), ("spiky/train", spiky)):
        p = fast_writer.event_path(os.path.join(d, run))
        fast_writer.write_scalars(p, "loss", t, loss)
        fast_writer.write_scalars(p, "accuracy", t, (1 - level / 2.5 + 0.002 * rng.standard_normal(N)).astype(np.float32))
        fast_writer.write_scalars(p, "grad_norm", t, (1 + 0.05 * rng.standard_normal(N)).astype(np.float32))
        fast_writer.write_scalars(p, "learning_rate", t, np.full(N, 1e-3, np.float32))
        for k in range(4):  # more metrics: a page taller than the window
            fast_writer.write_scalars(p, "metric_%d" % k, t, np.sin(t / (50 + 10 * k)).astype(np.float32))
        for name in ("extra/a", "extra/b"):
            fast_writer.write_scalars(p, name, t, np.cos(t / 80).astype(np.float32))
        samples = rng.gamma(2.0, 0.3, (200, 32)) * (20.0 if run.startswith("spiky") else 1.0)
        fast_writer.write_distributions(p, "per_sample_loss", np.arange(200), samples)
        DATA[run + ":psl"] = samples
    p = fast_writer.event_path(os.path.join(d, "late/train"))
    fast_writer.write_scalars(p, "loss", LATE + t, calm)
    # a legacy simple_value scalar (tensorboardX, PyTorch): logged by other code
    fast_writer.write_simple_values(fast_writer.event_path(os.path.join(d, "tbx")), "loss", t, calm)
    # one tag from two writers in one run: two series, never one hiding the other
    p = fast_writer.event_path(os.path.join(d, "dup"))
    fast_writer.write_scalars(p, "loss", t, np.full(N, 2.0, np.float32))
    fast_writer.write_simple_values(p, "loss", t, np.full(N, 3.0, np.float32))
    DATA["grow"] = fast_writer.event_path(os.path.join(d, "grow"))
    fast_writer.write_scalars(DATA["grow"], "loss", np.arange(100), np.ones(100, np.float32))


RUNS = ["calm/train", "spiky/train", "late/train", "tbx", "dup", "grow"]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ui_compare"))
    make_logdir(d)
    return launch(d, RUNS)


@pytest.fixture(scope="module")
def tab(browser, url):  # noqa: F811
    t = Tab(browser, url, viewport=(1440, 900))
    yield t
    t.close()


def only(tab, runs):
    """Selects exactly these runs (by the run filter) and waits until every chart shows them."""
    tab.frame.locator(".tbb-side input[type=search]").fill("^(%s)$" % "|".join(r.replace("/", "\\/") for r in runs))
    tab.frame.wait_for_function(
        """(want) => { const d = window.__tbb.debug(); if (d.pending !== 0 || d.plotted.join() !== want.join()) return false;
             const loss = d.charts.find(c => c.tag === 'loss' && c.axis === 'train');
             return !!loss && loss.state === 'drawn' && loss.runs.length + loss.groups.length > 0
               && loss.runs.every(r => want.includes(r.run)); }""", arg=sorted(runs), timeout=30_000)
    tab.wait_ready()


def anomalies(tab):
    tab.frame.wait_for_function("() => window.__tbb.debug().anomaliesLoaded", timeout=60_000)
    return tab.debug()["anomalies"]


def test_anomalies_flat_near_zero_run_has_none_spiky_run_lists_exactly_its_spikes(tab):
    only(tab, ["calm/train", "spiky/train"])
    a = anomalies(tab)
    assert [x for x in a if x["run"] == "calm/train"] == []
    spiky = [x for x in a if x["run"] == "spiky/train"]
    assert sorted(x["step"] for x in spiky) == SPIKES and {x["tag"] for x in spiky} == {"loss"}
    # the score is shown, the list is sorted by it (highest first) and, on demand, by step
    buttons = tab.frame.locator(".tbb-anom")
    scores = [float(s) for s in buttons.locator(".tbb-anom-score").all_inner_texts()]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and min(scores) >= 6
    counts = tab.frame.locator(".tbb-anom-count").all_inner_texts()
    # both runs record per-sample losses, but not at the spikes' steps: no whole-batch anomaly, 3
    # spikes whose kind nothing decides
    assert any("calm/train" in c and "0 whole-batch" in c and "spike" not in c for c in counts), counts
    assert any("spiky/train" in c and "0 whole-batch · 3 spikes" in c for c in counts), counts
    tab.frame.locator("select[aria-label='Sort anomalies']").select_option("step")
    assert [int(s) for s in buttons.evaluate_all("els => els.map(e => e.dataset.step)")] == SPIKES
    # filter by tag
    tab.frame.locator("select[aria-label='Anomalies of tag']").select_option("accuracy")
    assert buttons.count() == 0
    tab.frame.locator("select[aria-label='Anomalies of tag']").select_option("")
    tab.shot("anomalies.png")
    # the threshold control re-asks the server: nothing reaches a score of 1000
    thr = tab.frame.locator("input[data-key=threshold]")
    thr.fill("1000")
    tab.frame.wait_for_function("() => document.querySelectorAll('.tbb-anom').length === 0", timeout=30_000)
    thr.fill("6")
    tab.frame.wait_for_function("() => document.querySelectorAll('.tbb-anom').length === 3", timeout=30_000)
    tab.frame.locator("select[aria-label='Sort anomalies']").select_option("score")
    assert tab.errors == [], tab.errors


def test_drill_down_keeps_the_clicked_chart_in_view_and_the_grid_in_place(tab):
    only(tab, ["calm/train", "spiky/train"])
    sel = ".tbb-chart[data-tag=metric_3][data-axis=train]"
    # scroll so that the chart sits at the bottom of the window, where the sheet will cover it
    tab.frame.evaluate("""(s) => { const m = document.querySelector('.tbb-main'); const r = document.querySelector(s).getBoundingClientRect();
        m.scrollTop += r.bottom - window.innerHeight + 4; }""", sel)
    before = tab.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-chart')).map(e => [e.offsetLeft, e.offsetWidth])")
    r = tab.rect(sel + " .u-over")
    x, y = tab.to_page(r["left"] + r["width"] / 2, r["top"] + r["height"] / 2)
    tab.page.mouse.click(x, y)
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded]", timeout=15000)
    card = tab.rect(sel)
    sheet = tab.rect(".tbb-drill")
    bar = tab.rect(".tbb-toolbar")
    assert bar["bottom"] - 1 <= card["top"] and card["bottom"] <= sheet["top"] + 1, (card, sheet, bar)
    # not reflowed: every card keeps its column and width
    after = tab.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-chart')).map(e => [e.offsetLeft, e.offsetWidth])")
    assert after == before
    # what is under the card's centre is the card itself, not the sheet
    hit = tab.frame.evaluate("([x, y, s]) => document.querySelector(s).contains(document.elementFromPoint(x, y))",
                             [card["left"] + card["width"] / 2, (card["top"] + card["bottom"]) / 2, sel])
    assert hit
    tab.shot("drilldown_keeps_place.png")
    tab.page.keyboard.press("Escape")
    tab.frame.evaluate("document.querySelector('.tbb-main').scrollTop = 0")


def test_drill_down_histograms_share_an_x_axis_with_counts_or_cdfs_and_quantiles_side_by_side(tab):
    only(tab, ["calm/train", "spiky/train"])
    tab.frame.evaluate("window.__tbb.app.openDrill('calm/train', 100)")
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded]", timeout=15000)
    tab.frame.wait_for_selector(".tbb-drill-chart canvas")
    block = tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss]")
    if block.locator("input.tbb-logx").is_checked():  # log x is on by itself past 3 decades
        block.locator("input.tbb-logx").uncheck()
        tab.frame.wait_for_function("() => window.__tbb.debug().drillInfo.logX === false")
        block = tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss]")
    tab.frame.wait_for_selector(".tbb-drill-chart canvas")
    info = tab.debug()["drillInfo"]
    assert [c["run"] for c in info["columns"]] == ["calm/train", "spiky/train"]
    lo = min(DATA["calm/train:psl"][100].min(), DATA["spiky/train:psl"][100].min())
    hi = max(DATA["calm/train:psl"][100].max(), DATA["spiky/train:psl"][100].max())
    ch = info["charts"][0]
    # one linear x axis for both runs (spiky's values are 20x calm's), counts on y
    assert ch["xMin"] == pytest.approx(lo) and ch["xMax"] == pytest.approx(hi)
    assert 1 <= ch["yMax"] <= 32 * 1.08
    heads = tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss] .tbb-quantiles thead th[data-run]")
    assert heads.evaluate_all("els => els.map(e => e.dataset.run)") == ["calm/train", "spiky/train"]
    row = block.locator(".tbb-quantiles tbody tr").filter(has_text="median")
    cells = [float(c) for c in row.locator("td").all_inner_texts()]
    q = [float(np.quantile(DATA[r + ":psl"][100], 0.5)) for r in ("calm/train", "spiky/train")]
    assert cells == pytest.approx(q, rel=1e-6)
    tab.shot("drilldown_histograms.png")
    # log x and CDFs
    block.locator("input.tbb-logx").check()
    tab.frame.wait_for_function("() => window.__tbb.debug().drillInfo.logX === true")
    block = tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss]")
    block.locator("button[data-mode=cdf]").click()
    tab.frame.wait_for_function("() => window.__tbb.debug().drillInfo.histMode === 'cdf'")
    tab.frame.wait_for_selector(".tbb-drill-chart canvas")
    ch = tab.debug()["drillInfo"]["charts"][0]
    assert ch["yMax"] == 1 and ch["xMin"] <= lo and ch["xMax"] >= hi
    tab.shot("drilldown_cdf_logx.png")
    tab.page.keyboard.press("Escape")


def test_dark_mode_follows_tensorboards_setting(browser, url):  # noqa: F811
    """TensorBoard's own choice (localStorage _tb_global_settings) wins over the browser's
    preference, and a change in TensorBoard's page turns the tab at once."""
    dark = "window.localStorage.setItem('_tb_global_settings', JSON.stringify({theme: 'dark'}))"
    light = "window.localStorage.setItem('_tb_global_settings', JSON.stringify({theme: 'light'}))"
    t = Tab(browser, url, scheme="light", init_script=dark)
    try:
        assert t.frame.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(32, 33, 36)"
        assert t.debug()["dark"] is True
        t.shot("dark_from_tensorboard_setting.png")
    finally:
        t.close()
    t = Tab(browser, url, scheme="dark", init_script=light)
    try:
        assert t.frame.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        # TensorBoard switches to dark (its page's class): the tab follows without a reload
        t.page.evaluate("document.body.classList.add('dark-mode')")
        t.frame.wait_for_function("() => getComputedStyle(document.body).backgroundColor === 'rgb(32, 33, 36)'")
        t.wait_ready()
        assert t.debug()["dark"] is True and t.errors == []
    finally:
        t.close()


def test_run_colours_are_tensorboards_the_same_in_two_browsers_and_one_can_be_changed(browser, url):  # noqa: F811
    with urllib.request.urlopen(url + "/data/runs", timeout=30) as r:
        order = json.loads(r.read().decode())
    expected = {run: TB_PALETTE_LIGHT[order.index(run) % 7] for run in RUNS}
    a = Tab(browser, url)
    b = Tab(browser, url)
    has_order = "() => window.__tbb.debug().tbOrder !== null"  # TensorBoard's list, asked alongside
    try:
        a.frame.wait_for_function(has_order)
        b.frame.wait_for_function(has_order)
        ca, cb = a.debug()["colors"], b.debug()["colors"]
        assert ca == cb == expected
        # the swatch and the chart use it
        sw = a.frame.locator(".tbb-runs li[data-run='spiky/train'] input[type=color]")
        assert sw.input_value() == expected["spiky/train"]
        # change one run's colour: that run only, kept for this browser
        sw.evaluate("(e) => { e.value = '#00ff00'; e.dispatchEvent(new Event('change')); }")
        a.wait_ready()
        got = a.debug()["colors"]
        assert got["spiky/train"] == "#00ff00" and {k: v for k, v in got.items() if k != "spiky/train"} == {
            k: v for k, v in expected.items() if k != "spiky/train"}
        green = a.frame.evaluate(
            """() => { const c = document.querySelector('.tbb-chart[data-tag="loss"] canvas');
                 const g = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < g.length; i += 4) if (g[i] < 60 && g[i + 1] > 200 && g[i + 2] < 60) n++; return n; }""")
        assert green > 50
        a.page.reload()
        a.frame = a._plugin_frame()
        a.wait_ready()
        a.frame.wait_for_function(has_order)
        assert a.debug()["colors"]["spiky/train"] == "#00ff00"
        assert b.debug()["colors"] == expected
    finally:
        a.close()
        b.close()
    dark = Tab(browser, url, scheme="dark")
    try:
        dark.frame.wait_for_function("() => window.__tbb.debug().tbOrder !== null")
        assert dark.debug()["colors"] == {run: TB_PALETTE_DARK[order.index(run) % 7] for run in RUNS}
    finally:
        dark.close()


def test_growing_run_advances_without_interaction(browser, url):  # noqa: F811
    t = Tab(browser, url)
    try:
        only(t, ["grow"])
        assert t.chart("loss")["runs"][0]["count"] == 100
        fast_writer.write_scalars(DATA["grow"], "loss", np.arange(100, 250), np.full(150, 0.5, np.float32))
        # no click, no TensorBoard reload: the tab polls `runs` while visible
        t.frame.wait_for_function(
            """() => { const c = window.__tbb.debug().charts.find(c => c.tag === 'loss');
                 return c && c.state === 'drawn' && c.runs[0] && c.runs[0].count === 250 && c.range.end === 249; }""",
            timeout=30_000)
        assert t.errors == []
    finally:
        t.close()


def test_tooltip_has_every_runs_value_and_the_crosshair_is_shared(tab):
    only(tab, ["calm/train", "spiky/train"])
    tab.set_view(None)
    step = 555
    x, y = tab.point("loss", step, 0.5)
    tab.page.mouse.move(x, y)
    tab.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden")
    title = tab.frame.locator(".tbb-tip-title").inner_text()
    s = int(title.split()[-1])
    assert abs(s - step) <= 3  # within a pixel (0.4 px per step)
    rows = dict(zip(tab.frame.locator(".tbb-tip tr").evaluate_all("els => els.map(e => e.dataset.label)"),
                    tab.frame.locator(".tbb-tip tr td:nth-child(3)").all_inner_texts()))
    assert set(rows) == {"calm/train", "spiky/train"}
    # 5 significant digits (the drill-down and Shift have every digit)
    assert float(rows["calm/train"]) == pytest.approx(float(DATA["calm"][s]), rel=5e-5)
    assert float(rows["spiky/train"]) == pytest.approx(float(DATA["spiky"][s]), rel=5e-5)
    # every other chart of the training axis shows the crosshair at the same step
    xs = tab.frame.evaluate("""() => Array.from(document.querySelectorAll('.tbb-chart[data-axis=train]')).map(card => {
        const c = window.__tbb.app.chart(card.dataset.tag); const el = card.querySelector('.u-cursor-x');
        if (!c || !el || el.style.display === 'none') return null;
        const m = /translate\\(([-0-9.]+)px/.exec(el.style.transform); return m ? c.u.posToVal(+m[1], 'x') : null; })""")
    assert len(xs) >= 8 and all(v is not None and abs(v - s) <= 3 for v in xs), xs
    tab.shot("tooltip_crosshair.png")
    tab.page.mouse.move(2, 2)


def test_drag_zooms_every_chart_and_opens_nothing(tab):
    only(tab, ["calm/train", "spiky/train"])
    tab.set_view(None)
    r = tab.rect(".tbb-chart[data-tag=loss] .u-over")
    y = r["top"] + r["height"] / 2
    x0, yy = tab.to_page(r["left"] + r["width"] * 0.25, y)
    x1, _ = tab.to_page(r["left"] + r["width"] * 0.5, y)
    tab.page.mouse.move(x0, yy)
    tab.page.mouse.down()
    tab.page.mouse.move(x1, yy, steps=5)
    tab.page.mouse.up()
    tab.wait_ready()
    d = tab.debug()
    assert d["drill"] is None
    v = d["view"]
    assert v is not None and abs(v["start"] - 0.25 * (N - 1)) < 10 and abs(v["end"] - 0.5 * (N - 1)) < 10
    assert all(c["range"] == v for c in d["charts"] if c["axis"] == "train")
    tab.set_view(None)


def test_y_zoom_with_a_modifier_drag_and_back(tab):
    only(tab, ["calm/train", "spiky/train"])
    r = tab.rect(".tbb-chart[data-tag=loss] .u-over")
    x = r["left"] + r["width"] / 2
    x0, y0 = tab.to_page(x, r["top"] + r["height"] * 0.5)
    x1, y1 = tab.to_page(x + 3, r["top"] + r["height"] * 0.9)
    tab.page.keyboard.down("Alt")
    tab.page.mouse.move(x0, y0)
    tab.page.mouse.down()
    tab.page.mouse.move(x1, y1, steps=5)
    tab.page.mouse.up()
    tab.page.keyboard.up("Alt")
    c = tab.chart("loss")
    assert c["yZoom"] is not None and c["yZoom"][1] < tab.frame.evaluate("window.__tbb.app.chart('loss').yr[1] + 1")
    assert tab.debug()["view"] is None  # a y zoom leaves the steps alone
    assert tab.debug()["drill"] is None  # the end of a drag is not a click on a point
    tab.shot("y_zoom.png")
    tab.frame.locator(".tbb-chart[data-tag=loss] .tbb-chip").click()
    assert tab.chart("loss")["yZoom"] is None


def test_tags_loss_first_filter_sections_pin_and_full_screen(tab):
    only(tab, ["calm/train", "spiky/train"])
    tags = tab.frame.locator(".tbb-chart[data-axis=train]").evaluate_all("els => els.map(e => e.dataset.tag)")
    assert tags[0] == "loss" and tags.index("accuracy") < tags.index("grad_norm")
    assert tags.index("metric_3") < tags.index("learning_rate") and tags[-2:] == ["extra/a", "extra/b"]
    assert tab.frame.locator(".tbb-section[data-section=extra] .tbb-section-title").text_content().startswith("extra")
    # the constant learning rate is a strip, not a full chart
    lr = tab.chart("learning_rate")
    assert lr["compact"] is True
    assert tab.rect(".tbb-chart[data-tag=learning_rate]")["height"] < 0.7 * tab.rect(".tbb-chart[data-tag=loss]")["height"]
    # tag filter (regex)
    f = tab.frame.locator("input[aria-label='Filter tags by regular expression']")
    f.fill("^extra/")
    tab.frame.wait_for_function("() => document.querySelectorAll('.tbb-chart').length === 2")
    f.fill("")
    tab.frame.wait_for_function("() => document.querySelectorAll('.tbb-chart').length > 8")
    tab.wait_ready()
    # pin: the chart moves to a Pinned section at the top
    tab.frame.locator(".tbb-chart[data-tag=grad_norm] button[data-action=pin]").click()
    first = tab.frame.locator(".tbb-section").first
    assert first.get_attribute("data-section") == "pinned" and first.locator(".tbb-chart").get_attribute("data-tag") == "grad_norm"
    tab.frame.locator(".tbb-chart[data-tag=grad_norm] button[data-action=pin]").click()
    assert tab.frame.locator(".tbb-section[data-section=pinned]").count() == 0
    # full screen and back (Esc)
    tab.frame.locator(".tbb-chart[data-tag=loss] button[data-action=full]").click()
    r = tab.rect(".tbb-chart[data-tag=loss]")
    vw, vh = tab.frame.evaluate("[innerWidth, innerHeight]")
    assert r["width"] > 0.95 * vw - 30 and r["height"] > 0.9 * vh
    tab.shot("full_screen.png")
    tab.page.keyboard.press("Escape")
    assert tab.rect(".tbb-chart[data-tag=loss]")["width"] < 0.7 * vw
    assert tab.errors == []


def test_readable_tick_labels(tab):
    """No y label is wider than its axis, and the last x label stays inside the canvas, also on
    the wall-time axis."""
    only(tab, ["calm/train", "spiky/train"])
    check = """() => Array.from(document.querySelectorAll('.tbb-chart')).map(card => {
        const c = window.__tbb.app.chart(card.dataset.tag, card.dataset.axis); const u = c.u; const ctx = u.ctx;
        ctx.font = '11px system-ui, sans-serif';
        const yw = Math.max(...u.axes[1]._values.map(v => ctx.measureText(v).width));
        const xs = u.axes[0]._splits, xv = u.axes[0]._values;
        let right = 0; xs.forEach((s, i) => { if (xv[i]) right = Math.max(right, u.valToPos(s, 'x') + ctx.measureText(xv[i]).width / 2); });
        return {tag: card.dataset.tag, yw, ysize: u.axes[1]._size, right, width: u.width}; })"""
    for c in tab.frame.evaluate(check):
        assert c["yw"] + 4 <= c["ysize"], c
        assert c["right"] <= c["width"] + 1, c
    tab.frame.locator("select[aria-label='x axis']").select_option("wall")
    tab.wait_ready()
    for c in tab.frame.evaluate(check):
        assert c["yw"] + 4 <= c["ysize"], c
        assert c["right"] <= c["width"] + 1, c
    tab.shot("x_wall_time.png")
    tab.frame.locator("select[aria-label='x axis']").select_option("step")
    tab.wait_ready()


def test_relative_x_starts_every_run_at_zero(tab):
    only(tab, ["calm/train", "late/train"])
    assert {r["run"]: r["xMin"] for r in tab.chart("loss")["runs"]} == {"calm/train": 0, "late/train": LATE}
    tab.frame.locator("select[aria-label='x axis']").select_option("relstep")
    tab.wait_ready()
    runs = {r["run"]: r for r in tab.chart("loss")["runs"]}
    assert runs["calm/train"]["xMin"] == 0 and runs["late/train"]["xMin"] == 0
    assert tab.chart("loss")["range"] == {"start": 0, "end": N - 1}
    tab.shot("x_relative_steps.png")
    # a zoom in relative steps asks each run for its own steps
    tab.set_view(100, 199)
    runs = {r["run"]: r for r in tab.chart("loss")["runs"]}
    assert (runs["calm/train"]["start"], runs["late/train"]["start"]) == (100, LATE + 100)
    tab.set_view(None)
    tab.frame.locator("select[aria-label='x axis']").select_option("relwall")
    tab.wait_ready()
    xs = {r["run"]: r["xMin"] for r in tab.chart("loss")["runs"]}
    assert xs["calm/train"] == pytest.approx(0) and xs["late/train"] == pytest.approx(0)
    tab.frame.locator("select[aria-label='x axis']").select_option("step")
    tab.wait_ready()


def test_run_groups_mean_and_min_max_band_and_back(tab):
    only(tab, ["calm/train", "spiky/train"])
    sel = tab.frame.locator(".tbb-groups select")
    sel.select_option("prefix")
    tab.wait_ready()
    loss = tab.chart("loss")
    assert loss["runs"] == [] and len(loss["groups"]) == 1
    g = loss["groups"][0]
    assert g["name"] == "*/train" and sorted(g["runs"]) == ["calm/train", "spiky/train"] and g["exact"] is True
    both = np.stack([DATA["calm"], DATA["spiky"]]).astype(np.float64)
    assert g["points"] == N
    assert g["meanMax"] == pytest.approx(both.mean(0).max()) and g["hiMax"] == pytest.approx(both.max())
    assert g["loMin"] == pytest.approx(both.min())
    tab.shot("run_groups.png")
    sel.select_option("regex")
    tab.frame.locator("input[aria-label^='Group runs by regex']").fill("^(calm|spiky)/")
    # a run of its own group, and runs the regex does not capture, are drawn one by one
    tab.frame.wait_for_function("() => window.__tbb.debug().charts.find(c => c.tag === 'loss' && c.axis === 'train').runs.length === 2")
    tab.wait_ready()
    assert tab.chart("loss")["groups"] == []
    tab.frame.locator("input[aria-label^='Group runs by regex']").fill("/(train)$")
    tab.frame.wait_for_function("() => window.__tbb.debug().charts.find(c => c.tag === 'loss' && c.axis === 'train').groups.length === 1")
    tab.wait_ready()
    assert tab.chart("loss")["groups"][0]["name"] == "train"
    sel.select_option("none")
    tab.wait_ready()
    assert sorted(r["run"] for r in tab.chart("loss")["runs"]) == ["calm/train", "spiky/train"]


def test_distributions_per_tag_on_shared_axes_log_y_hover_and_colour_scale(tab):
    only(tab, ["calm/train", "spiky/train"])
    tab.frame.locator("button[data-tab=dists]").click()
    tab.wait_ready()
    d = tab.debug()["dists"]
    assert [(c["tag"], [r["run"] for r in c["runs"]]) for c in d] == [("per_sample_loss", ["calm/train", "spiky/train"])]
    # one y range holds both runs' 5..95% bands (spiky's values are 20x calm's)
    hi95 = np.quantile(DATA["spiky/train:psl"], 0.95, axis=1).max()
    assert d[0]["yRange"][1] >= hi95 and d[0]["heatmaps"] == 2
    assert tab.frame.locator(".tbb-dist .tbb-scale").inner_text().startswith("samples per bin (log)")
    r = tab.rect(".tbb-dist .tbb-plot .u-over")
    x, y = tab.to_page(r["left"] + r["width"] / 2, r["top"] + r["height"] / 2)
    tab.page.mouse.move(x, y)
    tab.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden")
    tip = tab.frame.locator(".tbb-tip").inner_text()
    assert "calm/train" in tip and "spiky/train" in tip and "median" in tip and "p95" in tip
    tab.shot("distributions_compared.png")
    tab.page.mouse.move(2, 2)
    tab.frame.locator("#tbb-log").check()
    tab.wait_ready()
    lo, hi = tab.debug()["dists"][0]["yRange"]
    assert lo > 0 and np.log10(lo) == round(np.log10(lo)) and np.log10(hi) == round(np.log10(hi))
    tab.shot("distributions_log_y.png")
    tab.frame.locator("#tbb-log").uncheck()
    tab.frame.locator("button[data-tab=steps]").click()
    tab.wait_ready()
    assert tab.errors == []


def test_provenance_badges(tab):
    only(tab, ["calm/train", "tbx"])
    loss = tab.chart("loss")
    assert sorted(loss["provenance"]) == ["custom", "logged"]
    texts = tab.frame.locator(".tbb-chart[data-tag=loss] .tbb-prov").all_inner_texts()
    assert texts == ["custom loop (1)", "logged by other code (1)"] or texts == ["logged by other code (1)", "custom loop (1)"]
    only(tab, ["tbx"])
    assert tab.frame.locator(".tbb-chart[data-tag=loss] .tbb-prov").all_inner_texts() == ["logged by other code"]
    tab.shot("provenance.png")
    only(tab, ["calm/train", "spiky/train"])


def test_a_tag_from_two_writers_is_two_charts_each_asked_with_its_source(tab):
    only(tab, ["dup"])
    charts = {c["key"]: c for c in tab.debug()["charts"] if c["tag"] == "loss"}
    assert set(charts) == {"loss\u0000tb_batch", "loss\u0000simple_value"}
    assert charts["loss\u0000tb_batch"]["runs"][0]["maxValue"] == 2.0
    assert charts["loss\u0000simple_value"]["runs"][0]["maxValue"] == 3.0
    assert charts["loss\u0000simple_value"]["provenance"] == ["logged"]
    href = tab.frame.locator(".tbb-chart[data-tag=loss][data-source=simple_value] .tbb-menu-list a").get_attribute("href")
    assert "source=simple_value" in href
    tab.shot("two_writers.png")
    only(tab, ["calm/train", "spiky/train"])
