# Rasd — every target does its own set-up from nothing (venv, Python deps, Debian packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := prometheus prometheus-alertmanager chromium

.PHONY: setup demo test bench soak clean

setup: $(STAMP) .tools/docker-compose
	@missing=""; for bin in prometheus promtool prometheus-alertmanager amtool chromium; do \
	  command -v $$bin >/dev/null 2>&1 || missing=yes; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# setup.py compiles the per-post detector modules in place: rebuilt whenever one changes
$(STAMP): pyproject.toml setup.py $(wildcard detectors/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	rm -rf build detectors/*.so *__mypyc.*.so
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

.tools/docker-compose: deploy/tools/fetch-compose.sh
	bash deploy/tools/fetch-compose.sh

demo: setup
	$(VENV)/bin/rasd demo

test: setup
	$(PY) -m pytest -m "not soak" -p no:cacheprovider -q -rs --durations=15

bench: setup
	$(PY) bench/run_all.py

soak: setup
	$(PY) -m pytest -m soak -p no:cacheprovider -q -rs

clean:
	rm -rf $(VENV) .tools build detectors/*.so *__mypyc.*.so
