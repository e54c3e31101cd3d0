# The two commands that do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

# `make demo PORT=6007 HOST=0.0.0.0`; the demo trains once and reuses its logs (`make demo-clean` retrains).
PORT ?= 6006
HOST ?= 127.0.0.1
DEMO_LOGDIR ?= demo-logs

.PHONY: demo demo-clean test test-oldest chromium frontend-test py-test wheel constraints bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The exact versions CI tests (constraints.txt) within the ranges pyproject.toml declares.
# Editable install: the hatch build hook (hatch_build.py) runs `npm ci && npm run build` in
# frontend/ and writes the bundle to tb_batch_plugin/static/.
$(VENV)/.installed: pyproject.toml constraints.txt hatch_build.py frontend/package.json frontend/package-lock.json | $(PY)
	$(PIP) install -q -c constraints.txt -e '.[test,demo,jax,torch]'
	touch $@

# The benchmarks' extra (aum, cleanlab and torch for bench/label_noise.py), on top of the above.
$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[test,demo,jax,torch,bench]'
	touch $@

# Regenerate constraints.txt from what .venv holds (after changing a dependency there). torch is
# pinned without its local label (2.13.0, not 2.13.0+cpu): the CPU build where one is at hand.
constraints: | $(PY)
	{ echo "# The exact versions CI tests (make test, make demo, make bench). Made by \`make constraints\` from .venv."; \
	  $(PIP) freeze --exclude-editable | grep -v '^#' | grep -iv '^tb[-_]batch[-_]plugin' | sed 's/^\(torch==[^+]*\)+.*/\1/'; } > constraints.txt

# Debian's Chromium for the browser tests (Playwright drives it; no browser download), installed
# without recommends and only if no installed package would be upgraded. TB_BATCH_CHROMIUM=/path
# points the tests at another Chromium.
chromium:
	@.ci/install-chromium

# The demo's own set-up: the package and the demo extra (TensorFlow, scikit-learn), not the tests'.
$(VENV)/.installed-demo: pyproject.toml constraints.txt hatch_build.py frontend/package.json frontend/package-lock.json | $(PY)
	$(PIP) install -q -c constraints.txt -e '.[demo]'
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m tb_batch_plugin.demo --logdir $(DEMO_LOGDIR)
	@echo "Open http://$(HOST):$(PORT)/#tb_batch (Ctrl-C stops TensorBoard)"
	$(VENV)/bin/tensorboard --logdir $(DEMO_LOGDIR) --host $(HOST) --port $(PORT)

demo-clean:
	rm -rf $(DEMO_LOGDIR)

frontend-test: $(VENV)/.installed
	cd frontend && npm test

py-test: $(VENV)/.installed chromium
	$(PY) -m pytest -q

test: frontend-test py-test

# The Python tests against the oldest supported versions (constraints-oldest.txt), in their own venv;
# the tab's bundle is the one the editable install built.
test-oldest: $(VENV)/.installed chromium
	test -x .venv-oldest/bin/python || $(PYTHON) -m venv .venv-oldest
	TB_BATCH_SKIP_FRONTEND=1 .venv-oldest/bin/pip install -q -c constraints-oldest.txt -e '.[test]'
	.venv-oldest/bin/python -m pytest -q

# A wheel with the built tab in dist/: installing it needs no Node.js.
wheel: | $(PY)
	rm -f dist/tb_batch_plugin-*.whl
	$(PIP) wheel -q --no-deps -w dist .
	@ls dist/tb_batch_plugin-*.whl

bench: $(VENV)/.installed-bench
	$(PY) bench/overhead.py
	$(PY) bench/staging.py
	$(PY) bench/ingest.py
	$(PY) bench/ui.py
	$(PY) bench/anomalies.py
	$(PY) bench/label_noise.py

clean:
	rm -rf $(VENV) .venv-oldest frontend/node_modules tb_batch_plugin/static $(DEMO_LOGDIR) dist
