"""The Batches tab as a daily driver (issue 25): wheel and keys as in TensorBoard, outlier clipping
that never hides the step the user opened, and tooltips that read at a glance.

A real TensorBoard (test_ui_browser's `launch`) over generated event files: two training runs of
2,000 steps, `a` (loss near 0.3, one spike of 5 at step 764, as the demo's) and `b` (loss near
0.8), eight more scalar tags (so the page scrolls) and a distribution tag; Debian's Chromium
through Playwright (test_ui_browser's `Tab` and `browser`). Expected values come from the numpy
arrays written here. Screenshots of the changed views go to /tmp/ui-shots/ (light and dark,
1280x800 and 1920x1080).
"""

import os

import numpy as np
import pytest

from helpers import fast_writer
from test_ui_browser import Tab, launch  # noqa: F401  (skips when Chromium is missing)
from test_ui_browser import browser  # noqa: F401  (the module-scoped Chromium fixture)

SHOTS = "/tmp/ui-shots"
N = 2000
SPIKE_STEP = 764
SPIKE_VALUE = 5.0
DATA = {}


def make_logdir(d):
    rng = np.random.default_rng(25)
    steps = np.arange(N)
    for run, base in (("a", 0.3), ("b", 0.8)):
        loss = (base + 0.02 * rng.standard_normal(N)).astype(np.float32)
        if run == "a":
            loss[SPIKE_STEP] = SPIKE_VALUE
        DATA[run] = loss
        p = fast_writer.event_path(os.path.join(d, run))
        fast_writer.write_scalars(p, "loss", steps, loss)
        for k in range(8):
            fast_writer.write_scalars(p, "metric_%d" % k, steps, (k + np.sin(steps / (50 + k))).astype(np.float32))
        ds = np.arange(300)
        fast_writer.write_distributions(p, "per_sample_loss", ds, rng.gamma(2.0, base, (len(ds), 32)))


@pytest.fixture(scope="module")
def tb_url(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("daily_driver"))
    make_logdir(logdir)
    return launch(logdir, ["a", "b"])


@pytest.fixture(scope="module")
def tab(browser, tb_url):  # noqa: F811
    t = Tab(browser, tb_url)
    yield t
    t.close()


def shot(t, name):
    os.makedirs(SHOTS, exist_ok=True)
    t.page.screenshot(path=os.path.join(SHOTS, name))


def each_look(tab):
    """A fresh tab on the same TensorBoard in each of light and dark, 1280x800 and 1920x1080;
    yields (tab, "light_1280x800"-style name)."""
    for scheme in ("light", "dark"):
        for size in ((1280, 800), (1920, 1080)):
            t = Tab(tab.page.context.browser, tab.page.url.split("/#")[0], scheme=scheme, viewport=size)
            try:
                yield t, "%s_%dx%d" % (scheme, size[0], size[1])
            finally:
                t.close()


def scroll_top(t):
    return t.frame.evaluate("document.querySelector('.tbb-main').scrollTop")


def over_chart(t, tag="loss"):
    """Moves the mouse to the middle of a chart's plot; returns the page position."""
    r = t.rect('.tbb-chart[data-tag="%s"] .u-over' % tag)
    x, y = t.to_page(r["left"] + r["width"] / 2, r["top"] + r["height"] / 2)
    t.page.mouse.move(x, y)
    return x, y


def tip_rows(t):
    t.frame.wait_for_function("() => !document.querySelector('.tbb-tip').hidden")
    return t.frame.evaluate("() => Array.from(document.querySelectorAll('.tbb-tip tr'), tr => [tr.dataset.label, tr.children[2].textContent])")


def overlaps(a, b):
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def inside(a, b, slack=1):
    return a["left"] >= b["left"] - slack and a["right"] <= b["right"] + slack and a["top"] >= b["top"] - slack and a["bottom"] <= b["bottom"] + slack


def test_plain_wheel_scrolls_the_page_and_ctrl_wheel_zooms(tab):
    tab.set_view(None)
    tab.frame.evaluate("document.querySelector('.tbb-main').scrollTop = 0")
    over_chart(tab, "metric_0")
    tab.page.mouse.wheel(0, 400)
    tab.frame.wait_for_function("() => document.querySelector('.tbb-main').scrollTop > 100")
    tab.page.wait_for_timeout(300)
    assert tab.debug()["view"] is None  # the charts' x range did not move
    assert all(c["range"] in (None, {"start": 0, "end": N - 1}) for c in tab.debug()["charts"])
    # scrolling back over the charts never zooms them either
    tab.page.mouse.wheel(0, -400)
    tab.frame.wait_for_function("() => document.querySelector('.tbb-main').scrollTop === 0")
    tab.page.wait_for_timeout(300)
    assert tab.debug()["view"] is None
    # Ctrl + wheel zooms around the pointer, and the page stays where it is
    over_chart(tab, "loss")
    tab.page.keyboard.down("Control")
    tab.page.mouse.wheel(0, -200)
    tab.page.keyboard.up("Control")
    tab.wait_ready()
    v = tab.debug()["view"]
    assert v is not None and v["end"] - v["start"] < N - 1, v
    assert scroll_top(tab) == 0
    # Shift + wheel pans
    tab.page.keyboard.down("Shift")
    tab.page.mouse.wheel(0, 200)
    tab.page.keyboard.up("Shift")
    tab.wait_ready()
    assert tab.debug()["view"]["start"] > v["start"]
    tab.set_view(None)
    assert tab.errors == [], tab.errors


def test_help_panel_beside_the_loss_chart_and_esc_closes_it(tab):
    tab.frame.evaluate("document.querySelector('.tbb-main').scrollTop = 0")
    help_text = tab.frame.locator(".tbb-help-text")
    tab.frame.locator("button.tbb-help").click()
    assert help_text.is_visible()
    assert "Ctrl+wheel to zoom" in help_text.inner_text()
    assert not overlaps(tab.rect(".tbb-help-text"), tab.rect('.tbb-chart[data-tag="loss"]'))
    for t, look in each_look(tab):
        t.frame.locator("button.tbb-help").click()
        assert not overlaps(t.rect(".tbb-help-text"), t.rect('.tbb-chart[data-tag="loss"]'))
        shot(t, "help_%s.png" % look)
    tab.page.keyboard.press("Escape")
    assert help_text.is_hidden()
    # ✕ closes it too
    tab.frame.locator("button.tbb-help").click()
    tab.frame.locator(".tbb-help-close").click()
    assert help_text.is_hidden()


def test_esc_and_an_outside_click_close_menus_then_the_drill_down(tab):
    csv = tab.frame.locator('.tbb-chart[data-tag="loss"] details.tbb-menu')
    csv.locator("summary").click()
    assert csv.evaluate("d => d.open")
    tab.page.keyboard.press("Escape")
    assert not csv.evaluate("d => d.open")
    # a click elsewhere closes it
    csv.locator("summary").click()
    assert csv.evaluate("d => d.open")
    tab.frame.locator(".tbb-range").click()
    assert not csv.evaluate("d => d.open")
    # with the drill-down open, Esc closes the menu first, then the drill-down
    tab.frame.evaluate("window.__tbb.app.openDrill('a', 100)")
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='100']")
    csv.locator("summary").click()
    assert csv.evaluate("d => d.open")
    tab.page.keyboard.press("Escape")
    assert not csv.evaluate("d => d.open")
    assert tab.frame.locator(".tbb-drill").is_visible()
    tab.page.keyboard.press("Escape")
    assert tab.frame.locator(".tbb-drill").is_hidden()
    assert tab.errors == [], tab.errors


def test_a_clipped_spike_is_in_the_y_range_when_it_is_the_selected_step(tab):
    tab.set_view(SPIKE_STEP - 50, SPIKE_STEP + 50)
    c = tab.chart("loss")
    assert c["yRange"][1] < 1  # ignoring outliers: the spike runs off the top
    # off the range, its true value is in the tooltip
    x, _ = tab.point("loss", SPIKE_STEP, 0.3)
    top = tab.rect('.tbb-chart[data-tag="loss"] .u-over')["top"]
    tab.page.mouse.move(x, tab.to_page(0, top + 2)[1])
    assert dict(tip_rows(tab))["a"] == "5"
    tab.page.mouse.move(2, 2)
    # the anomaly list opens it: its step is now inside the y range
    btn = tab.frame.locator(".tbb-anom[data-run=a][data-step='%d']" % SPIKE_STEP).first
    btn.wait_for(timeout=30000)
    btn.click()
    tab.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % SPIKE_STEP, timeout=15000)
    tab.wait_ready()
    tab.frame.wait_for_function("() => window.__tbb.app.chart('loss').yr[1] >= %f" % SPIKE_VALUE, timeout=5000)
    v = tab.debug()["view"]
    assert v["end"] - v["start"] <= 100
    lo, hi = tab.chart("loss")["yRange"]
    assert hi >= SPIKE_VALUE and lo < 0.3 and hi < SPIKE_VALUE * 1.2
    # the spike's pixel is inside the plot
    p = tab.frame.evaluate("window.__tbb.app.chart('loss').u.valToPos(%f, 'y')" % SPIKE_VALUE)
    assert p >= 0
    for t, look in each_look(tab):
        t.set_view(SPIKE_STEP - 50, SPIKE_STEP + 50)
        t.frame.evaluate("window.__tbb.app.openDrill('a', %d)" % SPIKE_STEP)
        t.frame.wait_for_selector(".tbb-drill[data-state=loaded][data-step='%d']" % SPIKE_STEP)
        t.frame.wait_for_function("() => window.__tbb.app.chart('loss').yr[1] >= %f" % SPIKE_VALUE, timeout=5000)
        shot(t, "spike_selected_%s.png" % look)
    # closed, the default range ignores it again
    tab.page.keyboard.press("Escape")
    tab.frame.wait_for_function("() => window.__tbb.app.chart('loss').yr[1] < 1", timeout=5000)
    tab.set_view(None)
    assert tab.errors == [], tab.errors


def test_tooltip_digits_order_and_place(tab):
    tab.set_view(0, 40)
    step = 20
    x, y = tab.point("loss", step, 0.5)
    tab.page.mouse.move(x, y)
    rows = tip_rows(tab)
    assert [r for r, _ in rows] == ["b", "a"]  # by value, highest first
    assert dict(rows)["a"] == "%.5g" % DATA["a"][step]
    assert dict(rows)["b"] == "%.5g" % DATA["b"][step]
    # Shift: every digit (float32's 7), whether the keys go to this frame or to TensorBoard's page
    for focus in ("page", "frame"):
        if focus == "frame":
            tab.frame.locator('.tbb-chart[data-tag="loss"] .tbb-plot').focus()
        tab.page.keyboard.down("Shift")
        tab.page.mouse.move(x + 1, y)
        tab.frame.wait_for_function("() => document.querySelector('.tbb-tip tr[data-label=a] td:nth-child(3)').textContent.length > 7")
        assert float(dict(tip_rows(tab))["a"]) == pytest.approx(float(DATA["a"][step]), rel=1e-6)
        tab.page.keyboard.up("Shift")
        tab.page.mouse.move(x, y)
        tab.frame.wait_for_function("() => document.querySelector('.tbb-tip tr[data-label=a] td:nth-child(3)').textContent.length <= 7")
    tab.page.mouse.move(2, 2)
    # the order is a setting: in the chart's run order, kept with the other settings
    tab.frame.locator("#tbb-tip-sort").uncheck()
    tab.page.mouse.move(x, y)
    order = [r["run"] for r in tab.chart("loss")["runs"]]
    assert order == ["a", "b"]
    assert [r for r, _ in tip_rows(tab)] == order
    assert tab.frame.evaluate("JSON.parse(localStorage.getItem('tb_batch:settings')).tipByValue") is False
    tab.page.mouse.move(2, 2)
    tab.frame.locator("#tbb-tip-sort").check()
    # near a chart's right edge the tooltip stays in its card
    r = tab.rect('.tbb-chart[data-tag="loss"] .u-over')
    tab.page.mouse.move(*tab.to_page(r["right"] - 3, r["bottom"] - 3))
    tip_rows(tab)
    assert inside(tab.rect(".tbb-tip"), tab.rect('.tbb-chart[data-tag="loss"]'))
    tab.page.mouse.move(2, 2)
    tab.set_view(None)
    # the same at the right edge of the last chart of a row, in each look
    for t, look in each_look(tab):
        card = '.tbb-chart[data-tag="metric_0"]'
        r = t.rect(card + " .u-over")
        t.page.mouse.move(*t.to_page(r["right"] - 3, r["top"] + 10))
        tip_rows(t)
        assert inside(t.rect(".tbb-tip"), t.rect(card)), look
        shot(t, "steps_tooltip_%s.png" % look)


def test_distribution_tooltip_stays_in_its_card(tab):
    for t, look in each_look(tab):
        t.frame.locator("button[data-tab=dists]").click()
        t.wait_ready()
        card = ".tbb-dist"
        r = t.rect(card + " .tbb-plot .u-over")
        for fx in (0.1, 0.5, 0.97):
            t.page.mouse.move(*t.to_page(r["left"] + r["width"] * fx, r["top"] + r["height"] * 0.5))
            rows = tip_rows(t)
            assert {lab for lab, _ in rows} == {"a", "b"}
            assert inside(t.rect(".tbb-tip"), t.rect(card)), (fx, t.rect(".tbb-tip"), t.rect(card))
            # its text stays in it too (the notes wrap)
            assert t.frame.evaluate("(() => { const e = document.querySelector('.tbb-tip'); return e.scrollWidth <= e.clientWidth + 1; })()")
        shot(t, "dist_tooltip_%s.png" % look)
