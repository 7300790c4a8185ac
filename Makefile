# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out
PIP_VERSION := 26.3

.PHONY: run test lint format clean browser zoo .venv-onnx2tf bench-tflite

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	# torch first: the pinned CPU wheel; any other resolution drags in the CUDA build.
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[torch,tensorflow,serve,report,dev,deploy,ray]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/reference_job.py --output-dir $(OUT) --json $(OUT)/reference_job.json

# Every architecture in zoo/ through export, onnxruntime, both importers and fresh-process reloads.
zoo: $(STAMP)
	$(PY) scripts/run_zoo.py --output-dir $(OUT)/zoo --json $(OUT)/zoo.json

# Headless Chromium renders the parity HTML report in a test; Debian's package, installed when root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: the HTML screenshot test will be skipped"

# Triton 2.51 (tritonserver + python backend) from the nvidia-pytriton wheel, in its own venv: it
# pins numpy<2 and protobuf<7. A build that fails leaves the reason in .unavailable; the tests skip on it.
TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
TRITON_PYTHON := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
TRITON_DIST = $(TRITON_VENV)/lib/python$(TRITON_PYTHON)/site-packages/pytriton/tritonserver

$(TRITON_STAMP): Makefile constraints-triton.txt
	rm -f $(TRITON_VENV)/.unavailable
	( test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV) ) && \
	$(TRITON_VENV)/bin/python -m pip install -q -c constraints-triton.txt nvidia-pytriton==0.7.0 'numpy<2' onnxruntime==1.32.0 && \
	cp $(TRITON_DIST)/python_backend_stubs/$(TRITON_PYTHON)/triton_python_backend_stub $(TRITON_DIST)/backends/python/ \
	|| { mkdir -p $(TRITON_VENV); echo "nvidia-pytriton could not be installed for Python $(TRITON_PYTHON)" > $(TRITON_VENV)/.unavailable; }
	touch $(TRITON_STAMP)

# The kserve SDK (InferenceService validation for `toolkit deploy --target kserve`) and its Python
# ModelServer (scripts/bench_serve.py --against kserve): its pins (python-dateutil<3) conflict with .venv.
KSERVE_VENV := .venv-kserve
KSERVE_STAMP := $(KSERVE_VENV)/.installed

$(KSERVE_STAMP): Makefile constraints-kserve.txt
	rm -f $(KSERVE_VENV)/.unavailable
	( test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV) ) && \
	$(KSERVE_VENV)/bin/python -m pip install -q -c constraints-kserve.txt kserve==0.21.0 onnxruntime==1.32.0 \
	|| { mkdir -p $(KSERVE_VENV); echo "kserve==0.21.0 could not be installed" > $(KSERVE_VENV)/.unavailable; }
	touch $(KSERVE_STAMP)

test: $(STAMP) browser $(TRITON_STAMP) $(KSERVE_STAMP)
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests models scripts zoo
	$(VENV)/bin/ruff format --check toolkit tests models scripts zoo

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
	rm -rf $(VENV) $(OUT) $(TRITON_VENV) $(KSERVE_VENV) $(ONNX2TF_VENV)

# The fuzzer beyond make test's one-minute slice: FUZZ_COUNT malformed models through inspect and both importers.
FUZZ_SEED ?= 16
FUZZ_COUNT ?= 400
.PHONY: fuzz
fuzz: $(STAMP)
	mkdir -p $(OUT)
	PYTHONPATH=$(CURDIR) $(PY) scripts/fuzz.py --seed $(FUZZ_SEED) --count $(FUZZ_COUNT) --json $(OUT)/fuzz.json

# LLaMA-style decoder at ~100M, ~400M and ~1.2B parameters: export, onnxruntime, torch/.pt2, TF/SavedModel,
# seconds and peak RSS per step (each step in its own process); a size runs only when the memory is free.
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(PY) scripts/bench_scale.py --work-dir $(OUT)/scale --json $(OUT)/bench_scale.json
