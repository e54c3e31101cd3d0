"""End-to-end tests of the "Batches" tab in headless Chromium against a real TensorBoard.

TensorBoard runs in this process on 127.0.0.1 with an ephemeral port, over a generated log
directory (a 200k-step run with one spike and one NaN, a short validation run with
distributions and no evaluation markers, and a run named like an HTML injection). Playwright
drives Debian's Chromium (/usr/bin/chromium; never a downloaded browser). Screenshots go to
test-artifacts/. `Tab`, `launch` and `browser` are shared with the other tests/test_ui_*.py.

Skipped only when Chromium is not installed (`apt-get install chromium`); CI installs it.
"""

import json
import os
import shutil
import sys
import time
import urllib.request

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
CHROMIUM = os.environ.get("TB_BATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not os.path.isfile(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (after the skip on purpose)

from helpers import fast_writer  # noqa: E402

XSS_RUN = "<img src=x onerror=alert(1)>"
N_LONG = 200_000
SPIKE_STEP = 123_457
SPIKE_VALUE = 50.0
NAN_STEP = 777
LOGDIR = {}


def make_logdir(d):
    rng = np.random.default_rng(0)
    steps = np.arange(N_LONG)
    loss = (2.0 * np.exp(-steps / 60_000) + 0.3 + 0.02 * rng.standard_normal(N_LONG)).astype(np.float32)
    loss[SPIKE_STEP] = SPIKE_VALUE
    loss[NAN_STEP] = np.nan
    acc = (0.9 - 0.6 * np.exp(-steps / 50_000) + 0.01 * rng.standard_normal(N_LONG)).astype(np.float32)
    p = fast_writer.event_path(os.path.join(d, "train"))
    fast_writer.write_scalars(p, "loss", steps, loss)
    fast_writer.write_scalars(p, "accuracy", steps, acc)
    ds = np.arange(1500)
    fast_writer.write_distributions(p, "per_sample_loss", ds, rng.gamma(2.0, 0.3, (len(ds), 64)) * (1 + np.exp(-ds / 300))[:, None])

    vs = np.arange(0, 2000)
    p = fast_writer.event_path(os.path.join(d, "validation"))
    fast_writer.write_scalars(p, "loss", vs, 1.5 * np.exp(-vs / 900) + 0.35)
    fast_writer.write_distributions(p, "per_sample_loss", vs, rng.gamma(2.0, 0.35, (len(vs), 32)))

    xs = np.arange(3000)
    p = fast_writer.event_path(os.path.join(d, XSS_RUN))
    fast_writer.write_scalars(p, "loss", xs, 2.5 * np.exp(-xs / 1000) + 0.2)


def _get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def launch(logdir, runs, timeout=120):
    """TensorBoard over `logdir` (see fast_writer.launch_tensorboard), once the plugin lists `runs`."""
    static = os.path.join(ROOT, "tb_batch_plugin", "static", "index.js")
    assert os.path.isfile(static), (
        "the frontend bundle is missing: run `pip install -e .` (hatch_build.py builds it) "
        "or `cd frontend && npm ci && npm run build`")
    url = fast_writer.launch_tensorboard(logdir)
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        try:
            got = [r["run"] for r in _get_json(url + "/data/plugin/tb_batch/runs")["runs"]]
        except Exception:
            got = []
        if set(runs) <= set(got):
            return url
        time.sleep(0.5)
    raise AssertionError("plugin never listed the runs %r: %r" % (runs, got))


@pytest.fixture(scope="module")
def tb_url(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("ui_logdir"))
    make_logdir(logdir)
    LOGDIR["path"] = logdir
    return launch(logdir, ["train", "validation", XSS_RUN])


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One TensorBoard page at #tb_batch and the plugin's iframe inside it (a fresh browser
    context: its own localStorage). `init_script` runs in every document before its scripts."""

    def __init__(self, browser, url, scheme="light", init_script=None, viewport=(1280, 800), wait=True):
        self.ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=scheme)
        if init_script:
            self.ctx.add_init_script(init_script)
        self.page = self.ctx.new_page()
        self.errors = []
        self.dialogs = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append("console: %s @ %s" % (m.text, m.location)))
        self.page.on("pageerror", lambda e: self.errors.append("pageerror: %s" % e))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url + "/#tb_batch", wait_until="domcontentloaded")
        self.frame = self._plugin_frame()
        if wait:
            self.wait_ready()

    def _plugin_frame(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for f in self.page.frames:
                if "plugin_entry.html" in f.url and "tb_batch" in f.url:
                    return f
            self.page.wait_for_timeout(200)  # pumps Playwright's events (time.sleep would not)
        raise AssertionError("the tb_batch iframe never appeared; frames: %r" % [f.url for f in self.page.frames])

    def debug(self):
        return self.frame.evaluate("window.__tbb.debug()")

    def wait_ready(self, timeout=60_000):
        self.frame.wait_for_function(
            """() => { const t = window.__tbb; if (!t) return false; const d = t.debug();
                 return d.firstPaintMs !== null && d.pending === 0 && d.charts.length + d.dists.length > 0
                   && d.charts.every(c => c.state === 'drawn' || c.state === 'empty')
                   && d.dists.every(c => c.state === 'drawn' || c.state === 'empty'); }""",
            timeout=timeout)

    def set_view(self, start=None, end=None, axis="train"):
        rng = "null" if start is None else "{start: %d, end: %d}" % (start, end)
        self.frame.evaluate("window.__tbb.app.setView('%s', %s)" % (axis, rng))
        self.wait_ready()

    def chart(self, tag, axis="train"):
        return next(c for c in self.debug()["charts"] if c["tag"] == tag and c["axis"] == axis)

    def to_page(self, x, y):
        """Frame coordinates -> page coordinates (for the mouse)."""
        box = self.frame.frame_element().bounding_box()
        return box["x"] + x, box["y"] + y

    def point(self, tag, x, y, axis="train"):
        """Page coordinates of a data point of a chart."""
        p = self.frame.evaluate("([t, x, y, a]) => window.__tbb.app.chart(t, a).pointToClient(x, y)", [tag, x, y, axis])
        return self.to_page(p["x"], p["y"])

    def rect(self, selector):
        return self.frame.evaluate(
            "(s) => { const r = document.querySelector(s).getBoundingClientRect(); "
            "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; }", selector)

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        self.page.screenshot(path=path)
        return path

    def close(self):
        self.ctx.close()


@pytest.fixture(scope="module")
def tab(browser, tb_url):
    t = Tab(browser, tb_url)
    yield t
    t.close()


def test_tab_loads_without_console_errors_and_charts_draw(tab):
    d = tab.debug()
    assert tab.errors == [], tab.errors
    # training axis: loss first, then metrics; the validation run (no evaluation markers in these
    # logs) is on its own axis, never over training steps
    assert [c["tag"] for c in d["charts"] if c["axis"] == "train"][:2] == ["loss", "accuracy"]
    assert [c["tag"] for c in d["charts"] if c["axis"] == "val"] == ["loss"]
    assert set(d["plotted"]) == {"train", "validation", XSS_RUN}
    loss = tab.chart("loss")
    assert loss["state"] == "drawn" and loss["provenance"] == ["custom"]
    assert {r["run"] for r in loss["runs"]} == {"train", XSS_RUN}
    assert {r["run"] for r in tab.chart("loss", "val")["runs"]} == {"validation"}
    # no placeholder rows: a card is its header, its plot and nothing else
    assert tab.frame.locator(".tbb-chart table, .tbb-chart .tbb-hover-head").count() == 0
    # the canvas really has the run's color on it
    colored = tab.frame.evaluate(
        """() => { const c = document.querySelector('.tbb-chart[data-tag="loss"] canvas');
             const g = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
             for (let i = 0; i < g.length; i += 4) if (g[i + 3] > 0 && Math.abs(g[i] - g[i + 2]) > 40) n++;
             return n; }""")
    assert colored > 200, colored
    tab.shot("steps_light.png")


def test_spike_of_200k_step_run_visible_at_full_zoom_out(tab):
    tab.set_view(None)
    loss = tab.chart("loss")
    assert loss["range"] == {"start": 0, "end": N_LONG - 1}
    train = next(r for r in loss["runs"] if r["run"] == "train")
    assert train["count"] == N_LONG and train["reduced"] is True
    assert train["points"] < 4 * loss["width"] + 16  # reduced to the pixels, not 200k points
    assert train["maxValue"] == SPIKE_VALUE and train["maxStep"] == SPIKE_STEP
    assert train["markers"] >= 1  # the NaN step is marked
    assert "reduced from" in loss["badge"]
    # y ignores outliers by default: the spike runs off the top (and is marked there)...
    assert loss["yRange"][1] < 5
    # ...until the toggle says otherwise
    tab.frame.locator("#tbb-outliers").uncheck()
    tab.wait_ready()
    assert tab.chart("loss")["yRange"][1] >= SPIKE_VALUE
    # pixels: in the spike's pixel column, the envelope reaches up to the spike's height, while a
    # column away from it stays empty at that height
    probe = tab.frame.evaluate(
        """([step, value]) => { const ch = window.__tbb.app.chart('loss'); const u = ch.u;
             const ctx = u.ctx; const px = window.devicePixelRatio || 1;
             const x = Math.round(u.valToPos(step, 'x', true));
             const yTop = Math.round(u.valToPos(value, 'y', true));
             const yMid = Math.round(u.valToPos(value * 0.5, 'y', true));
             const bg = (xx) => { let n = 0; for (let y = yTop; y <= yMid; y++) {
                 const d = ctx.getImageData(xx, y, 1, 1).data; if (d[3] > 0 && Math.abs(d[0] - d[2]) > 40) n++; } return n; };
             let at = 0; for (let dx = -2; dx <= 2; dx++) at = Math.max(at, bg(x + dx));
             return {at, away: bg(x - Math.round(40 * px)), rows: yMid - yTop + 1}; }""",
        [SPIKE_STEP, SPIKE_VALUE])
    tab.frame.locator("#tbb-outliers").check()
    tab.wait_ready()
    assert probe["at"] >= 0.8 * probe["rows"], probe
    assert probe["away"] == 0, probe


def test_click_opens_drill_down_at_the_clicked_step(tab):
    tab.set_view(None)
    # the spike is above the (outlier-ignoring) y range: click the top edge of its column
    x, _ = tab.point("loss", SPIKE_STEP, 1.0)
    top = tab.rect('.tbb-chart[data-tag="loss"] .u-over')["top"]
    y = tab.to_page(0, top + 1)[1]
    tab.page.mouse.move(x, y)
    tab.page.mouse.click(x, y)
    drill = tab.frame.locator(".tbb-drill")
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % SPIKE_STEP, timeout=15000)
    assert drill.get_attribute("data-run") == "train"
    assert tab.frame.locator(".tbb-drill-title").inner_text() == "Step %d" % SPIKE_STEP
    loss_cell = tab.frame.locator(".tbb-drill-scalars tr[data-tag=loss] td").first
    assert loss_cell.inner_text() == "50"
    tab.shot("drilldown.png")
    tab.page.keyboard.press("ArrowRight")
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % (SPIKE_STEP + 1), timeout=15000)
    tab.page.keyboard.press("ArrowLeft")
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % SPIKE_STEP, timeout=15000)
    tab.page.keyboard.press("Escape")
    assert drill.is_hidden()
    assert tab.errors == [], tab.errors


def test_anomaly_click_jumps_to_step(tab):
    btn = tab.frame.locator(".tbb-anom[data-run=train][data-kind=spike]").first
    btn.wait_for(timeout=30000)
    assert btn.get_attribute("data-step") == str(SPIKE_STEP)
    btn.click()
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % SPIKE_STEP, timeout=15000)
    tab.wait_ready()
    d = tab.debug()
    assert d["view"]["start"] < SPIKE_STEP < d["view"]["end"] and d["view"]["end"] - d["view"]["start"] < N_LONG // 10
    tab.page.keyboard.press("Escape")
    tab.set_view(None)


def test_html_run_name_is_text_and_runs_no_script(tab):
    item = tab.frame.locator(".tbb-runs li", has_text="onerror")
    assert item.count() == 1
    assert item.locator(".tbb-run-name").inner_text() == XSS_RUN
    assert tab.frame.locator("img").count() == 0
    assert tab.dialogs == []
    # also in a chart's CSV menu, in the tooltip and in the drill-down
    li = tab.frame.locator(".tbb-chart[data-tag=loss] .tbb-menu-list li[data-run='%s']" % XSS_RUN.replace("'", "\\'"))
    assert li.count() == 1 and li.text_content() == XSS_RUN
    x, y = tab.point("loss", 10, 1.0)
    tab.page.mouse.move(x, y)
    tab.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden")
    assert XSS_RUN in tab.frame.locator(".tbb-tip").inner_text()
    tab.page.mouse.move(1, 1)
    tab.frame.evaluate("([r]) => window.__tbb.app.openDrill(r, 10)", [XSS_RUN])
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='10']")
    assert tab.frame.locator(".tbb-drill img, .tbb-tip img").count() == 0
    assert XSS_RUN in tab.frame.locator(".tbb-drill-sub").inner_text()
    tab.page.keyboard.press("Escape")
    assert tab.dialogs == [] and tab.errors == [], (tab.dialogs, tab.errors)


def test_keyboard_zoom_and_reset(tab):
    plot = tab.frame.locator(".tbb-chart[data-tag=loss][data-axis=train] .tbb-plot")
    plot.focus()
    tab.page.keyboard.press("+")
    tab.wait_ready()
    v = tab.debug()["view"]
    assert v is not None and v["end"] - v["start"] <= N_LONG // 2 + 1
    tab.page.keyboard.press("ArrowRight")
    tab.wait_ready()
    assert tab.debug()["view"]["start"] > v["start"]
    tab.page.keyboard.press("0")
    tab.wait_ready()
    assert tab.debug()["view"] is None


def test_zoom_requeries_to_single_steps_and_export_link(tab, tb_url):
    tab.set_view(SPIKE_STEP - 20, SPIKE_STEP + 20)
    train = next(r for r in tab.chart("loss")["runs"] if r["run"] == "train")
    assert train["reduced"] is False and train["count"] == 41 and train["maxStep"] == SPIKE_STEP
    assert tab.chart("loss")["badge"] == "raw"
    href = tab.frame.locator(".tbb-chart[data-tag=loss][data-axis=train] .tbb-menu-list li[data-run=train] a").get_attribute("href")
    assert href.startswith("export?")
    with urllib.request.urlopen(tb_url + "/data/plugin/tb_batch/" + href, timeout=60) as r:
        head = r.read(200).decode()
    assert head.startswith("step,wall_time,value")
    tab.set_view(None)


def test_distributions_view(tab):
    tab.frame.locator("button[data-tab=dists]").click()
    tab.wait_ready()
    d = tab.debug()
    # one card per tag and axis, the runs of that axis on shared axes
    got = sorted((c["tag"], c["axis"], tuple(r["run"] for r in c["runs"])) for c in d["dists"])
    assert got == [("per_sample_loss", "train", ("train",)), ("per_sample_loss", "val", ("validation",))]
    for c in d["dists"]:
        assert c["state"] == "drawn" and c["heatmaps"] == 1 and all(r["points"] > 0 and r["bins"] == 32 for r in c["runs"])
    assert tab.frame.locator(".tbb-dist .tbb-scale canvas").count() == 2  # the heatmaps' colour scales
    tab.shot("distributions_light.png")
    tab.frame.locator("button[data-tab=steps]").click()
    tab.wait_ready()
    assert tab.errors == [], tab.errors


def test_drill_down_compares_runs_of_one_axis_side_by_side(tab):
    """The same training step of every training-axis run, scalars and distributions next to each
    other; validation step N is not paired with training step N."""
    tab.set_view(0, 1999)
    tab.frame.evaluate("window.__tbb.app.openDrill('train', %d)" % NAN_STEP)
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % NAN_STEP, timeout=15000)
    heads = tab.frame.locator(".tbb-drill-scalars thead th[data-run]").evaluate_all("els => els.map(e => e.dataset.run)")
    assert heads == ["train", XSS_RUN]
    assert tab.frame.locator(".tbb-drill-scalars tr[data-tag=loss] td").first.inner_text() == "NaN"
    runs = tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss] .tbb-quantiles thead th[data-run]").evaluate_all(
        "els => els.map(e => e.dataset.run)")
    assert runs == ["train"]  # the XSS run has no distribution: listed as not recorded
    assert XSS_RUN in tab.frame.locator(".tbb-drill-dist-block[data-tag=per_sample_loss]").inner_text()
    tab.frame.wait_for_selector(".tbb-drill-chart canvas")
    tab.shot("drilldown_side_by_side.png")
    tab.page.keyboard.press("Escape")
    tab.set_view(None)
    assert tab.errors == [], tab.errors


def test_dark_mode_screenshot(browser, tb_url):
    t = Tab(browser, tb_url, scheme="dark")
    try:
        bg = t.frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(32, 33, 36)", bg
        t.shot("steps_dark.png")
        assert t.errors == [], t.errors
    finally:
        t.close()


def test_follows_tensorboard_reload(browser, tb_url):
    """New steps appear after TensorBoard's own reload button (the experimental.DataReloaded
    message over the plugin IPC), without reloading the page. Last: it changes the log directory."""
    t = Tab(browser, tb_url)
    try:
        vs = np.arange(2000, 2500)
        fast_writer.write_scalars(fast_writer.event_path(os.path.join(LOGDIR["path"], "validation")), "loss", vs,
                                np.full(len(vs), 0.3, dtype=np.float32))
        t.page.locator("app-header-reload button.reload-button").click()
        t.frame.wait_for_function(
            """() => { const c = window.__tbb.debug().charts.find(c => c.tag === 'loss' && c.axis === 'val');
                 const r = c && c.runs.find(r => r.run === 'validation');
                 return r && r.count === 2500 && c.state === 'drawn'; }""", timeout=60_000)
        assert t.errors == [], t.errors
    finally:
        t.close()
