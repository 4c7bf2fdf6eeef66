# `make demo`: set up and run the tour. `make test`: set up and run the test suite.
VENV := .venv
PY := $(VENV)/bin/python
PIP_QUIET := --quiet --disable-pip-version-check
# pip on this kind of machine warns about absent local indexes; keep its real errors.
PIP_FILTER := { grep -v "is ignored: it is neither" || true; }
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: demo test setup setup-test clean

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -e . 2>&1 | $(PIP_FILTER)
	$(PY) -c "import tito, tinytorch"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } \
	  || echo "note: bubblewrap is not installed; grading tests run without the sandbox"
	$(PY) -m pip install $(PIP_QUIET) -e '.[test]' 2>&1 | $(PIP_FILTER)
	$(PY) -c "import torch, pytest, hypothesis"
	touch $@

demo: setup
	$(VENV)/bin/tito demo

test: setup-test
	$(PY) -m pytest

clean:
	rm -rf $(VENV) demo-output
