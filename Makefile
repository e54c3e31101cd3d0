# The two commands that do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test chromium frontend-test py-test bench clean

# Editable install: the hatch build hook (hatch_build.py) runs `npm ci && npm run build` in
# frontend/ and writes the bundle to tb_batch_plugin/static/.
$(VENV)/.installed: pyproject.toml hatch_build.py frontend/package.json frontend/package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[test]'
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

demo: $(VENV)/.installed
	$(PY) -m tb_batch_plugin.demo --logdir demo-logs
	@echo "Open http://127.0.0.1:6006/#tb_batch (Ctrl-C stops TensorBoard)"
	$(VENV)/bin/tensorboard --logdir demo-logs --host 127.0.0.1 --port 6006

frontend-test: $(VENV)/.installed
	cd frontend && npm test

py-test: $(VENV)/.installed chromium
	$(PY) -m pytest -q

test: frontend-test py-test

bench: $(VENV)/.installed
	$(PY) bench/overhead.py
	$(PY) bench/staging.py
	$(PY) bench/ingest.py
	$(PY) bench/ui.py

clean:
	rm -rf $(VENV) frontend/node_modules tb_batch_plugin/static demo-logs
