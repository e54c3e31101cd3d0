"""The tab during TensorBoard's first minutes on a logdir still being indexed: its status says
"indexing…" while the server says `indexing` (with the runs listed so far), it polls again
soon, and once indexing is done the status clears, every run is listed and its charts draw,
with no console error. Real data: a large run is read before the small one (name order)."""

import os
import time

import numpy as np
import pytest

from helpers import fast_writer
from test_ui_browser import Tab, browser, launch  # noqa: F401  (the browser fixture)

BIG = 5_000_000


@pytest.fixture(scope="module")
def tb_url(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("indexing_logdir"))
    fast_writer.write_scalars(fast_writer.event_path(os.path.join(d, "a_big")), "loss", np.arange(BIG),
                              np.ones(BIG, np.float32))
    fast_writer.write_scalars(fast_writer.event_path(os.path.join(d, "b_small")), "loss", np.arange(1000),
                              np.linspace(2, 1, 1000).astype(np.float32))
    return launch(d, [], timeout=60)  # at once: the plugin answers before it has indexed anything


def test_status_says_indexing_until_every_run_is_listed(browser, tb_url):  # noqa: F811
    t = Tab(browser, tb_url, wait=False)
    try:
        seen = []
        deadline = time.time() + 120
        while time.time() < deadline:
            state = t.frame.evaluate("""() => ({status: document.querySelector('.tbb-status')?.textContent ?? null,
                                                runs: window.__tbb ? Object.keys(window.__tbb.debug().metas) : []})""")
            if state["status"] is not None and (not seen or seen[-1] != state["status"]):
                seen.append(state["status"])
            if "b_small" in state["runs"] and "indexing" not in (state["status"] or ""):
                break
            t.page.wait_for_timeout(100)
        assert any(s.startswith("indexing…") for s in seen), seen
        assert "b_small" in state["runs"] and "a_big" in state["runs"], (state, seen)
        assert not any("No data" in s for s in seen), seen  # not while indexing
        t.wait_ready()
        assert t.errors == [], t.errors
    finally:
        t.close()
