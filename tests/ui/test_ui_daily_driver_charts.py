"""The Batches tab's charts as a daily driver (issue 25), in headless Chromium against a real
TensorBoard: a legend on every chart (also in full screen), run groups listed with their members
in their own colours, the data table under a chart (values at the selected step, min/max/mean/
change over the zoom range against numpy), bin edges in the distribution CSV, the log-y notice,
the chart size setting (kept across a reload). Screenshots of these views (light and dark,
1280x800 and 1920x1080) go to /tmp/ui-shots/ (UI_SHOTS overrides).

Runs: `grp/a` and `grp/b` (one group by the regex `^(grp)/`), `solo` (also a tag `signed` that
crosses zero and a distribution tag). Expected values are the float32 arrays written here.
"""

import csv
import io
import os
import urllib.request

import numpy as np
import pytest

from helpers import fast_writer
from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401  (the module-scoped Chromium fixture)

SHOTS = os.environ.get("UI_SHOTS", "/tmp/ui-shots")
os.makedirs(SHOTS, exist_ok=True)
N = 4000
RUNS = ["grp/a", "grp/b", "solo"]
DATA = {}
WALL0 = {"grp/a": 1.7e9, "grp/b": 1.7e9 + 5000.0, "solo": 1.7e9 + 20000.0}
DIST_STEPS = 300


def make_logdir(d):
    rng = np.random.default_rng(25)
    steps = np.arange(N)
    for i, run in enumerate(RUNS):
        loss = (2.0 * np.exp(-steps / (800 + 300 * i)) + 0.2 + 0.05 * rng.standard_normal(N)).astype(np.float32)
        walls = WALL0[run] + steps * 0.25
        p = fast_writer.event_path(os.path.join(d, run))
        fast_writer.write_scalars(p, "loss", steps, loss, walls)
        DATA[run] = {"loss": loss, "walls": walls}
    signed = np.sin(steps / 37.0).astype(np.float32)
    p = fast_writer.event_path(os.path.join(d, "solo"))
    fast_writer.write_scalars(p, "signed", steps, signed, WALL0["solo"] + steps * 0.25)
    DATA["signed"] = signed
    ds = np.arange(DIST_STEPS)
    samples = rng.gamma(2.0, 0.3, (DIST_STEPS, 64)) * (1 + np.exp(-ds / 80))[:, None]
    fast_writer.write_distributions(p, "per_sample_loss", ds, samples)
    DATA["dist"] = samples


@pytest.fixture(scope="module")
def tb_url(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("daily_driver_charts"))
    make_logdir(logdir)
    return launch(logdir, RUNS)


@pytest.fixture(scope="module")
def tab(browser, tb_url):  # noqa: F811
    t = Tab(browser, tb_url)
    yield t
    assert t.errors == [], t.errors
    t.close()


def card(tag, axis="train"):
    return ".tbb-chart[data-tag='%s'][data-axis='%s']" % (tag, axis)


def legend(tab, selector):
    return tab.frame.evaluate(
        """(s) => Array.from(document.querySelectorAll(s + ' .tbb-legend > li'), (li) => ({
             name: li.dataset.name, kind: li.dataset.kind,
             color: getComputedStyle(li.querySelector(':scope > .tbb-swatch')).backgroundColor,
             members: Array.from(li.querySelectorAll('.tbb-legend-member'), (m) => ({run: m.dataset.run, color: m.dataset.color})),
             visible: li.getBoundingClientRect().width > 0 }))""", selector)


def table(tab, selector, which):
    """Rows of a chart's data table ("step" or "range") as {column: data-value or text}."""
    return tab.frame.evaluate(
        """([s, w]) => Array.from(document.querySelectorAll(s + ' .tbb-data-' + w + ' tbody tr'), (tr) =>
             Object.fromEntries(Array.from(tr.children, (td) => [td.dataset.col, td.dataset.value ?? td.textContent])))""",
        [selector, which])


def wait_table(tab, selector, which, n):
    tab.frame.wait_for_function(
        """([s, w, n]) => { const rows = document.querySelectorAll(s + ' .tbb-data-' + w + ' tbody tr');
             return rows.length === n && Array.from(rows).every((tr) => tr.querySelector('[data-col=value]') === null
               || tr.querySelector('[data-col=value]').dataset.value !== undefined && tr.querySelector('[data-col=relative]').dataset.value !== undefined); }""",
        arg=[selector, which, n], timeout=15_000)


def rgb(hex_color):
    h = hex_color.lstrip("#")
    return "rgb(%d, %d, %d)" % tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def set_group_regex(tab, pattern):
    tab.frame.locator(".tbb-groups select").select_option("regex" if pattern else "none")
    if pattern:
        tab.frame.locator("input[aria-label^='Group runs by regex']").fill(pattern)
        tab.frame.wait_for_function(
            "() => window.__tbb.debug().charts.find(c => c.tag === 'loss' && c.axis === 'train').groups.length === 1", timeout=15_000)
    tab.wait_ready()


def test_legend_on_every_chart_also_full_screen(tab):
    # the colours follow TensorBoard's run order, which comes after the first paint
    tab.frame.wait_for_function("() => window.__tbb.debug().tbOrder !== null")
    tab.wait_ready()
    colors = tab.debug()["colors"]
    for tag in ("loss", "signed"):
        got = legend(tab, card(tag))
        want = RUNS if tag == "loss" else ["solo"]
        assert [e["name"] for e in got] == want
        assert all(e["kind"] == "run" and e["visible"] for e in got)
        assert [e["color"] for e in got] == [rgb(colors[r]) for r in want]
    tab.frame.locator(card("loss") + " button[data-action=full]").click()
    try:
        assert "tbb-full" in tab.frame.locator(card("loss")).get_attribute("class")
        box = tab.rect(card("loss") + " .tbb-legend")
        assert box["width"] > 0 and box["top"] >= 0 and box["bottom"] < 800
        assert [e["name"] for e in legend(tab, card("loss"))] == RUNS
        tab.page.screenshot(path=os.path.join(SHOTS, "legend_fullscreen_light_1280.png"))
    finally:
        tab.page.keyboard.press("Escape")
    assert "tbb-full" not in tab.frame.locator(card("loss")).get_attribute("class")
    # the Distributions view has one too
    tab.frame.locator(".tbb-tab[data-tab=dists]").click()
    tab.wait_ready()
    assert [e["name"] for e in legend(tab, ".tbb-dist[data-tag=per_sample_loss]")] == ["solo"]
    tab.frame.locator(".tbb-tab[data-tab=steps]").click()
    tab.wait_ready()


def test_group_lists_its_members_each_in_its_own_colour(tab):
    set_group_regex(tab, "^(grp)/")
    try:
        colors = tab.debug()["colors"]
        got = legend(tab, card("loss"))
        assert [(e["name"], e["kind"]) for e in got] == [("grp", "group"), ("solo", "run")]
        members = got[0]["members"]
        assert [m["run"] for m in members] == ["grp/a", "grp/b"]
        assert [m["color"] for m in members] == [colors["grp/a"], colors["grp/b"]]
        assert len({m["color"] for m in members}) == 2
        # the regex box is wide enough to read a pattern
        assert tab.rect("input[aria-label^='Group runs by regex']")["width"] >= 200
        tab.page.screenshot(path=os.path.join(SHOTS, "legend_groups_light_1280.png"))
    finally:
        set_group_regex(tab, "")


def test_data_table_at_the_selected_step_and_over_the_zoom_range(tab):
    sel = card("loss")
    # no step selected, no zoom: no table in the card
    assert tab.frame.locator(sel + " table").count() == 0
    lo, hi, step = 1000, 1300, 1234
    tab.set_view(lo, hi)
    assert all(not r["reduced"] for r in tab.chart("loss")["runs"])
    wait_table(tab, sel, "range", 3)
    rows = {r["run"]: r for r in table(tab, sel, "range")}
    for run in RUNS:
        v = DATA[run]["loss"][lo:hi + 1].astype(np.float64)
        r = rows[run]
        assert float(r["min"]) == v.min() and float(r["max"]) == v.max()
        assert float(r["mean"]) == pytest.approx(v.mean(), rel=1e-12)
        assert float(r["change"]) == pytest.approx(v[-1] - v[0], rel=1e-12)
    tab.frame.evaluate("([r, s]) => window.__tbb.app.openDrill(r, s)", ["grp/a", step])
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % step, timeout=15_000)
    wait_table(tab, sel, "step", 3)
    for r in table(tab, sel, "step"):
        want = DATA[r["run"]]
        assert int(float(r["step"])) == step
        assert float(r["value"]) == float(want["loss"][step])
        assert float(r["wall time"]) == pytest.approx(want["walls"][step], abs=1e-3)
        assert float(r["relative"]) == pytest.approx(step * 0.25, abs=1e-3)
    tab.page.screenshot(path=os.path.join(SHOTS, "data_table_light_1280.png"))
    # sortable: by value, both ways
    head = tab.frame.locator(sel + " .tbb-data-step th[data-col=value] button")
    head.click()
    vals = [float(r["value"]) for r in table(tab, sel, "step")]
    assert vals == sorted(vals)
    head.click()
    vals = [float(r["value"]) for r in table(tab, sel, "step")]
    assert vals == sorted(vals, reverse=True)
    # a reduced series (everything shown): the value at the step is still the recorded one
    tab.set_view(None)
    assert any(r["reduced"] for r in tab.chart("loss")["runs"])
    wait_table(tab, sel, "step", 3)
    for r in table(tab, sel, "step"):
        assert float(r["value"]) == float(DATA[r["run"]]["loss"][step])
    # collapsible, and kept collapsed
    tab.frame.locator(sel + " .tbb-data-summary").click()
    assert tab.frame.evaluate("(s) => document.querySelector(s + ' .tbb-data').open", sel) is False
    tab.frame.locator(sel + " .tbb-data-summary").click()
    tab.page.keyboard.press("Escape")
    tab.frame.wait_for_function("() => window.__tbb.debug().drill === null")


def test_distribution_csv_has_bin_edges(tab, tb_url):
    tab.frame.locator(".tbb-tab[data-tab=dists]").click()
    tab.wait_ready()
    href = tab.frame.locator(".tbb-dist[data-tag=per_sample_loss] .tbb-menu-list li[data-run=solo] a").get_attribute("href")
    tab.frame.locator(".tbb-tab[data-tab=steps]").click()
    tab.wait_ready()
    with urllib.request.urlopen(tb_url + "/data/plugin/tb_batch/" + href, timeout=60) as r:
        rows = list(csv.reader(io.StringIO(r.read().decode())))
    head = rows[0]
    bins = sum(1 for c in head if c.startswith("h") and c[1:].isdigit())
    edges = [c for c in head if c.startswith("e") and c[1:].isdigit()]
    assert bins > 0 and edges == ["e%d" % j for j in range(bins + 1)]
    got = np.array([[float(x) for x in row] for row in rows[1:]])
    assert len(got) == DIST_STEPS
    lo, hi = DATA["dist"].min(1), DATA["dist"].max(1)
    np.testing.assert_allclose(got[:, head.index("e0")], lo, rtol=1e-6)
    np.testing.assert_allclose(got[:, head.index("e%d" % bins)], hi, rtol=1e-6)
    np.testing.assert_allclose(got[:, head.index("e1")] - got[:, head.index("e0")], (hi - lo) / bins, rtol=1e-4)
    # the counts add up to the samples
    hs = got[:, [head.index("h%d" % j) for j in range(bins)]]
    np.testing.assert_allclose(hs.sum(1), 64)


def heat_median_t(tab):
    """The median ramp position of the Distributions heatmap's drawn pixels (from their alpha,
    90 + 165 t of 255)."""
    return tab.frame.evaluate(
        """() => { const c = document.querySelector('.tbb-dist .tbb-heat canvas'); const g = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const ts = []; for (let i = 3; i < g.length; i += 4) if (g[i] >= 88) ts.push((g[i] - 90) / 165);
             ts.sort((a, b) => a - b); return ts[ts.length >> 1]; }""")


def test_heatmap_colours_by_rank_or_per_step_spread_over_the_data(tab):
    tab.frame.locator(".tbb-tab[data-tab=dists]").click()
    tab.wait_ready()
    norm = tab.frame.locator("select[aria-label='Heatmap colours']")
    scale = tab.frame.locator(".tbb-dist .tbb-scale")
    try:
        assert norm.input_value() == "log" and scale.inner_text().startswith("samples per bin (log)")
        log_high = scale.locator(".tbb-num").all_inner_texts()[1]
        norm.select_option("quantile")
        tab.wait_ready()
        assert scale.inner_text().startswith("bin count by rank:")
        # the legend's ends: the smallest and the largest non-empty bin (bins re-binned onto common
        # edges hold fractions of samples)
        lo, hi = [float(x) for x in scale.locator(".tbb-num").all_inner_texts()]
        assert 0 < lo < 1 < hi and "%g" % hi == log_high
        # by rank, the bins spread evenly over the ramp: half of them below its middle
        assert 0.35 < heat_median_t(tab) < 0.65, heat_median_t(tab)
        norm.select_option("step")
        tab.wait_ready()
        assert scale.inner_text().startswith("share of the step's largest bin:")
        assert scale.locator(".tbb-num").all_inner_texts() == ["0", "1"]
        tab.page.screenshot(path=os.path.join(SHOTS, "heat_per_step_light_1280.png"))
    finally:
        norm.select_option("log")
        tab.frame.locator(".tbb-tab[data-tab=steps]").click()
        tab.wait_ready()


def test_log_y_notice_says_what_it_hides(tab):
    tab.set_view(0, 300)
    tab.frame.locator("#tbb-log").check()
    tab.wait_ready()
    try:
        notice = tab.frame.locator(card("signed") + " .tbb-log-notice")
        n = int((DATA["signed"][:301] <= 0).sum())
        assert notice.is_visible() and notice.inner_text() == "log y: %d values ≤ 0 not drawn" % n
        # loss is positive: no notice
        assert tab.frame.locator(card("loss") + " .tbb-log-notice").is_hidden()
        tab.page.screenshot(path=os.path.join(SHOTS, "log_notice_light_1280.png"))
    finally:
        tab.frame.locator("#tbb-log").uncheck()
        tab.set_view(None)
    assert tab.frame.locator(card("signed") + " .tbb-log-notice").is_hidden()


def test_wall_time_axis_says_wall_time(tab):
    x_axis = tab.frame.locator("select[aria-label='x axis']")
    x_axis.select_option("wall")
    tab.wait_ready()
    try:
        assert tab.frame.locator(".tbb-range").inner_text() == "Steps: wall time of steps 0 – %d (all)" % (N - 1)
        # uPlot's date labels are two lines: the x axis is tall enough for both, inside the canvas
        fit = tab.frame.evaluate("""() => { const u = window.__tbb.app.chart('loss').u;
            return {axis: u.axes[0]._size, over: u.over.getBoundingClientRect().bottom, root: u.root.getBoundingClientRect().bottom}; }""")
        assert fit["axis"] >= 40 and fit["root"] - fit["over"] >= 40, fit
    finally:
        x_axis.select_option("step")
        tab.wait_ready()
    assert tab.frame.locator(".tbb-range").inner_text() == "Steps: steps 0 – %d (all)" % (N - 1)


def plot_height(tab):
    return tab.frame.evaluate("() => window.__tbb.app.chart('loss').u.height")


def test_chart_size_setting_changes_the_height_and_is_kept(tab):
    size = tab.frame.locator("select[aria-label='Chart size']")
    assert size.input_value() == "medium"
    medium = plot_height(tab)
    size.select_option("large")
    tab.wait_ready()
    large = plot_height(tab)
    assert large > medium + 80
    tab.page.reload(wait_until="domcontentloaded")
    tab.frame = tab._plugin_frame()
    tab.wait_ready()
    assert tab.frame.locator("select[aria-label='Chart size']").input_value() == "large"
    assert plot_height(tab) == large
    tab.frame.locator("select[aria-label='Chart size']").select_option("small")
    tab.wait_ready()
    assert plot_height(tab) < medium
    tab.frame.locator("select[aria-label='Chart size']").select_option("medium")
    tab.wait_ready()
    assert plot_height(tab) == medium


def shot_with(t, name, on, off):
    """A screenshot with a setting on (`on()`), then the setting back (`off()`)."""
    on()
    t.wait_ready()
    t.page.screenshot(path=os.path.join(SHOTS, name + ".png"))
    off()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [(1280, 800), (1920, 1080)])
def test_screenshots(browser, tb_url, scheme, viewport):  # noqa: F811
    """The changed views in both themes and sizes (looked at by hand; a console error fails)."""
    t = Tab(browser, tb_url, scheme=scheme, viewport=viewport)
    try:
        name = "%s_%d" % (scheme, viewport[0])
        set_group_regex(t, "^(grp)/")
        t.set_view(1000, 1300)
        t.frame.evaluate("([r, s]) => window.__tbb.app.openDrill(r, s)", ["grp/a", 1234])
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded]", timeout=15_000)
        t.page.keyboard.press("Escape")
        t.page.screenshot(path=os.path.join(SHOTS, "steps_groups_zoomed_%s.png" % name))
        t.frame.evaluate("([r, s]) => window.__tbb.app.openDrill(r, s)", ["grp/a", 1234])
        wait_table(t, card("loss"), "step", 3)
        # the table just above the drill-down sheet
        t.frame.evaluate("""(s) => { const tb = document.querySelector(s + ' .tbb-data').getBoundingClientRect();
            const sheet = document.querySelector('.tbb-drill').getBoundingClientRect();
            document.querySelector('.tbb-main').scrollTop += tb.bottom - sheet.top + 8; }""", card("loss"))
        t.page.screenshot(path=os.path.join(SHOTS, "data_table_view_%s.png" % name))
        t.page.keyboard.press("Escape")
        log, x_axis = t.frame.locator("#tbb-log"), t.frame.locator("select[aria-label='x axis']")
        shot_with(t, "log_notice_" + name, log.check, log.uncheck)
        shot_with(t, "wall_axis_" + name, lambda: x_axis.select_option("wall"), lambda: x_axis.select_option("step"))
        t.frame.locator(card("loss") + " button[data-action=full]").click()
        t.page.screenshot(path=os.path.join(SHOTS, "fullscreen_%s.png" % name))
        t.page.keyboard.press("Escape")
        t.frame.locator(".tbb-tab[data-tab=dists]").click()
        t.wait_ready()
        t.page.screenshot(path=os.path.join(SHOTS, "distributions_%s.png" % name))
        heat = t.frame.locator("select[aria-label='Heatmap colours']")
        shot_with(t, "distributions_by_rank_" + name, lambda: heat.select_option("quantile"), lambda: heat.select_option("log"))
        t.frame.locator(".tbb-tab[data-tab=steps]").click()
        set_group_regex(t, "")
        assert t.errors == [], t.errors
    finally:
        t.close()
