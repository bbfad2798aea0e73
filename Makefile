# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Each creates its own virtual environment in $(VENV) on first use.
#
# TORCH selects the PyTorch build installed before the package. The default is the CPU wheel
# (light; on the project's machines it is already on disk). GPU users: `make TORCH=torch demo`
# with their CUDA index configured, or install their torch build in the venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
OUT ?= demo_out

.PHONY: install demo test test-fast test-mc bench lint figures clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: install
	$(VENV)/bin/scalelaws demo -o $(OUT)

test: install
	$(PY) -m pytest -q -m "not montecarlo"

test-mc: install
	$(PY) -m pytest -q -m montecarlo

# The fast set, on every core (pytest-xdist; one worker per core, tests grouped by file so
# that module fixtures are built once): under a minute on 2 cores. Runs of the demo, figures,
# trainings, CLI commands that compute and subprocesses are marked `e2e`, statistical tests
# `slow`; `make test` runs them all, in one process.
test-fast: install
	$(PY) -m pytest -q -n auto --dist loadfile -m "not slow and not e2e"

bench: install
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check scalelaws sr analysis paper_figures tests benchmarks

figures: install
	$(VENV)/bin/scalelaws figures -o figures

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
