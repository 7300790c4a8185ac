# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
PIP_VERSION := 26.3

.PHONY: run test lint format clean browser .venv-onnx2tf bench-tflite

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

# onnx2tf for scripts/bench_tflite.py only (not make test): it pins TF 2.19 and numpy 1.26.
ONNX2TF_VENV := .venv-onnx2tf
$(ONNX2TF_VENV)/.installed: scripts/onnx2tf-requirements.txt
	test -x $(ONNX2TF_VENV)/bin/python || $(PYTHON) -m venv $(ONNX2TF_VENV)
	$(ONNX2TF_VENV)/bin/python -m pip install -q -r scripts/onnx2tf-requirements.txt
	$(ONNX2TF_VENV)/bin/python -m pip install -q --no-deps onnx2tf==1.29.24
	touch $@

.venv-onnx2tf: $(ONNX2TF_VENV)/.installed

bench-tflite: $(STAMP) $(ONNX2TF_VENV)/.installed
	$(PY) scripts/bench_tflite.py

clean:
	rm -rf $(VENV) $(ONNX2TF_VENV) $(OUT)
