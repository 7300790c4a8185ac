# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
PIP_VERSION := 26.3

.PHONY: run test lint format clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	# torch first: the pinned CPU wheel; any other resolution drags in the CUDA build.
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[torch,tensorflow,serve,report,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/reference_job.py --output-dir $(OUT) --json $(OUT)/reference_job.json

# Headless Chromium renders the parity HTML report in a test; Debian's package, installed when root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: the HTML screenshot test will be skipped"

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests models scripts
	$(VENV)/bin/ruff format --check toolkit tests models scripts

format: $(STAMP)
	$(VENV)/bin/ruff format toolkit tests models scripts
	$(VENV)/bin/ruff check --fix toolkit tests models scripts

clean:
	rm -rf $(VENV) $(OUT)

# LLaMA-style decoder at ~100M, ~400M and ~1.2B parameters: export, onnxruntime, torch/.pt2, TF/SavedModel,
# seconds and peak RSS per step (each step in its own process); a size runs only when the memory is free.
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(PY) scripts/bench_scale.py --work-dir $(OUT)/scale --json $(OUT)/bench_scale.json
