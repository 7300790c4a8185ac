# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: run test lint format clean bench

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: the pinned CPU wheel; any other resolution drags in the CUDA build.
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[torch,tensorflow,serve,report,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/reference_job.py --output-dir $(OUT) --json $(OUT)/reference_job.json

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests models scripts
	$(VENV)/bin/ruff format --check toolkit tests models scripts

format: $(STAMP)
	$(VENV)/bin/ruff format toolkit tests models scripts
	$(VENV)/bin/ruff check --fix toolkit tests models scripts

clean:
	rm -rf $(VENV) $(OUT)
