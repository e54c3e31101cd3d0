"""docs/screenshot.png: the Batches tab on the demo, with a spike of the noisy run opened.

Runs the demo (`python -m tb_batch_plugin.demo --logdir DIR --epochs 25`, two learning rates on
sklearn digits, 24 digits mislabelled in `lr_0.08`; it reuses a finished run of the same settings),
starts TensorBoard with the tb_batch plugin on 127.0.0.1, opens the Batches tab in Debian's
Chromium (1440x900) and opens the drill-down at the highest-scoring loss spike of `lr_0.08/train`
(from the `anomalies` endpoint), from its chart: the sheet shows that batch's samples with the
highest loss first.

    .venv/bin/python bench/screenshot.py [--logdir DIR] [--out docs/screenshot.png] [--dark]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from helpers import fast_writer  # noqa: E402

CHROMIUM = os.environ.get("TB_BATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN = "lr_0.08/train"
READY_JS = """() => { const t = window.__tbb; if (!t) return false; const d = t.debug();
  return d.firstPaintMs !== null && d.pending === 0 && d.charts.length > 0
    && d.charts.every(c => c.state === 'drawn' || c.state === 'empty'); }"""


def get_json(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return json.loads(r.read().decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logdir", help="the demo's log directory (trained there when missing)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshot.png"))
    ap.add_argument("--dark", action="store_true", help="the browser prefers a dark theme")
    a = ap.parse_args()
    tmp = None
    logdir = a.logdir
    if not logdir:
        tmp = logdir = tempfile.mkdtemp(prefix="tbb_demo_")
    try:
        subprocess.run([sys.executable, "-m", "tb_batch_plugin.demo", "--logdir", logdir, "--epochs", "25"], check=True)
        url = fast_writer.launch_tensorboard(logdir)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if RUN in [r["run"] for r in get_json(url + "/data/plugin/tb_batch/runs")["runs"]]:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        q = urllib.parse.urlencode({"run": RUN, "tag": "loss"})
        spikes = [x for x in get_json(url + "/data/plugin/tb_batch/anomalies?" + q)["anomalies"] if x["kind"] == "spike"]
        step = spikes[0]["step"]  # the highest score
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark" if a.dark else "light").new_page()
            page.goto(url + "/#tb_batch", wait_until="domcontentloaded")
            frame = None
            while frame is None:
                frame = next((f for f in page.frames if "plugin_entry.html" in f.url), None)
                page.wait_for_timeout(100)
            frame.wait_for_function(READY_JS, timeout=120_000)
            frame.wait_for_function("window.__tbb.debug().anomaliesLoaded", timeout=120_000)
            frame.evaluate("([r, s]) => { const a = window.__tbb.app; a.openDrill(r, s, a.chart('loss').root); }", [RUN, step])
            frame.wait_for_selector(".tbb-drill[data-state=loaded]", timeout=60_000)
            frame.wait_for_selector(".tbb-drill-chart canvas", timeout=60_000)
            frame.wait_for_selector(".tbb-drill-samples-block .tbb-samples-summary", timeout=60_000)
            page.wait_for_timeout(300)
            page.screenshot(path=a.out)
            b.close()
        print("wrote %s (%s, step %d)" % (a.out, RUN, step))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
