"""Benchmark of the "Batches" tab in headless Chromium: first paint and zoom-to-redraw.

Writes R runs x N steps of one scalar tag (default 10 x 1,000,000; each run has one spike), starts
TensorBoard with the tb_batch plugin on 127.0.0.1, opens http://.../#tb_batch in Debian's Chromium
(1280x800) and measures, inside the plugin's iframe (window.__tbb):

- first paint: from the module's render() to every chart of the Steps view drawn (all `series`
  requests answered, uPlot drawn, next animation frame), first load ("cold") and after a page
  reload ("warm"); and the wall time from navigation to that point;
- anomalies: the time until every run's anomaly list is in (the server scores spikes on first
  request; the tab asks one run at a time, only while no chart is loading);
- zoom: a mouse drag-select on the loss chart, from the zoom to every chart re-queried and
  redrawn (median and max of several zooms), once the anomaly lists are in.

Prints a table; the targets are <= 1.5 s first paint and <= 150 ms zoom-to-redraw.

    .venv/bin/python bench/ui.py [--runs 10] [--steps 1000000] [--zooms 8] [--logdir DIR]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import json

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from helpers import fast_writer  # noqa: E402

CHROMIUM = os.environ.get("TB_BATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_JS = """() => { const t = window.__tbb; if (!t) return false; const d = t.debug();
  return d.firstPaintMs !== null && d.pending === 0 && d.charts.length > 0
    && d.charts.every(c => c.state === 'drawn'); }"""


def write_logdir(d, runs, steps):
    rng = np.random.default_rng(0)
    s = np.arange(steps)
    base = (2.0 * np.exp(-s / (steps / 4)) + 0.3).astype(np.float32)
    for r in range(runs):
        v = base * (1 + 0.1 * r) + (0.02 * rng.standard_normal(steps)).astype(np.float32)
        v[rng.integers(steps)] = 40.0
        fast_writer.write_scalars(fast_writer.event_path(os.path.join(d, "run_%02d" % r)), "loss", s, v)


def start_tensorboard(logdir):
    from tensorboard import program

    tb = program.TensorBoard(plugins=fast_writer.tensorboard_plugins())
    tb.configure(argv=[None, "--logdir", logdir, "--host", "127.0.0.1", "--port", "0"])
    return tb.launch().rstrip("/")


def wait_indexed(url, runs, steps, timeout=900):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url + "/data/plugin/tb_batch/runs", timeout=60) as r:
                got = json.loads(r.read().decode())["runs"]
            counts = [t["count"] for x in got for t in x["tags"] if t["tag"] == "loss"]
            if len(counts) == runs and all(c == steps for c in counts):
                return time.time() - t0
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("the plugin did not list %d runs x %d steps within %d s" % (runs, steps, timeout))


def plugin_frame(page, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for f in page.frames:
            if "plugin_entry.html" in f.url and "tb_batch" in f.url:
                return f
        page.wait_for_timeout(50)
    raise SystemExit("the tb_batch iframe never appeared")


def load_tab(page, url, reload=False):
    t0 = time.perf_counter()
    if reload:
        page.reload(wait_until="domcontentloaded")
    else:
        page.goto(url + "/#tb_batch", wait_until="domcontentloaded")
    frame = plugin_frame(page)
    frame.wait_for_function(READY_JS, timeout=300_000, polling=20)
    wall = time.perf_counter() - t0
    return frame, frame.evaluate("window.__tbb.debug().firstPaintMs") / 1000.0, wall


def zoom_times(page, frame, n):
    box = frame.frame_element().bounding_box()
    out = []
    for i in range(n):
        frame.evaluate("window.__tbb.app.setView('train', null)")
        frame.wait_for_function(READY_JS, timeout=120_000, polling=20)
        over = frame.locator(".tbb-chart[data-tag=loss] .u-over").bounding_box()
        x0 = box["x"] + over["x"] + over["width"] * (0.2 + 0.03 * i)
        x1 = x0 + over["width"] * 0.5 * (0.5 ** (i % 4))
        y = box["y"] + over["y"] + over["height"] / 2
        frame.evaluate("window.__tbb.app.lastZoomMs = null")
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x1, y, steps=4)
        page.mouse.up()
        frame.wait_for_function("window.__tbb.debug().lastZoomMs !== null", timeout=120_000, polling=10)
        frame.wait_for_function(READY_JS, timeout=120_000, polling=20)
        out.append(frame.evaluate("window.__tbb.debug().lastZoomMs") / 1000.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--zooms", type=int, default=8)
    ap.add_argument("--logdir", help="reuse/keep this log directory (written if empty; default: a temporary one)")
    a = ap.parse_args()
    if not os.path.isfile(CHROMIUM):
        raise SystemExit("Chromium not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = None
    logdir = a.logdir
    if not logdir:
        tmp = logdir = tempfile.mkdtemp(prefix="tbb_ui_bench_")
    os.makedirs(logdir, exist_ok=True)
    t = time.perf_counter()
    if not os.listdir(logdir):
        write_logdir(logdir, a.runs, a.steps)
    t_write = time.perf_counter() - t
    try:
        url = start_tensorboard(logdir)
        t_index = wait_indexed(url, a.runs, a.steps)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_context(viewport={"width": 1280, "height": 800}).new_page()
            frame, cold, cold_wall = load_tab(page, url)
            t = time.perf_counter()
            frame.wait_for_function("window.__tbb.debug().anomaliesLoaded", timeout=600_000, polling=50)
            t_anom = time.perf_counter() - t
            frame, warm, warm_wall = load_tab(page, url, reload=True)
            frame.wait_for_function("window.__tbb.debug().anomaliesLoaded", timeout=600_000, polling=50)
            d = frame.evaluate("window.__tbb.debug()")
            width = d["charts"][0]["width"]
            points = sum(r["points"] for r in d["charts"][0]["runs"])
            zooms = zoom_times(page, frame, a.zooms)
            b.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    ms = lambda s: "%.0f ms" % (s * 1000)  # noqa: E731
    rows = [
        ("log directory", "%d runs x %s steps, 1 scalar tag (written in %.1f s)" % (a.runs, format(a.steps, ","), t_write)),
        ("plugin lists every run (index built)", "%.1f s after start" % t_index),
        ("chart width / points drawn", "%d px / %d points for %s" % (width, points, format(a.runs * a.steps, ","))),
        ("first paint, cold (render() -> drawn)", ms(cold)),
        ("first paint, warm (page reload)", ms(warm)),
        ("navigation -> drawn, cold / warm", "%s / %s" % (ms(cold_wall), ms(warm_wall))),
        ("anomaly lists of every run after first paint (cold)", "%.1f s" % t_anom),
        ("zoom -> redrawn, median (%d zooms)" % len(zooms), ms(statistics.median(zooms))),
        ("zoom -> redrawn, max", ms(max(zooms))),
    ]
    w = max(len(r[0]) for r in rows)
    print("%-*s | %s" % (w, "measure", "value"))
    print("-" * w + "-|-" + "-" * 40)
    for k, v in rows:
        print("%-*s | %s" % (w, k, v))
    print("targets: first paint <= 1500 ms, zoom -> redrawn <= 150 ms")


if __name__ == "__main__":
    main()
