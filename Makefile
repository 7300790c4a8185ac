# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
PIP_VERSION := 26.3

.PHONY: run test lint format clean browser zoo

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	# torch first: the pinned CPU wheel; any other resolution drags in the CUDA build.
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[torch,tensorflow,serve,report,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/reference_job.py --output-dir $(OUT) --json $(OUT)/reference_job.json

# Every architecture in zoo/ through export, onnxruntime, both importers and fresh-process reloads.
zoo: $(STAMP)
	$(PY) scripts/zoo.py --output-dir $(OUT)/zoo --json $(OUT)/zoo.json

# Headless Chromium renders the parity HTML report in a test; Debian's package, installed when root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: the HTML screenshot test will be skipped"

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests models scripts zoo
	$(VENV)/bin/ruff format --check toolkit tests models scripts zoo

format: $(STAMP)
	$(VENV)/bin/ruff format toolkit tests models scripts
	$(VENV)/bin/ruff check --fix toolkit tests models scripts

clean:
	rm -rf $(VENV) $(OUT)
