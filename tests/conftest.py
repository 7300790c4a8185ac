"""Suite-wide set-up: quiet TensorFlow, skip GPU tests without a CUDA device."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPOSITORY = Path(__file__).resolve().parent.parent
# models/ and scripts/ live beside the package, not inside it.
sys.path.insert(0, str(REPOSITORY))


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and onnxruntime-gpu (pip install 'toolkit[gpu]')")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repository() -> Path:
    return REPOSITORY


def pytest_terminal_summary(terminalreporter):
    """Conformance pass counts in every test run's output, also under xdist (reports carry them)."""
    lines = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        for key, value in getattr(report, "user_properties", [])
        if key == "conformance" and report.when == "call"
    ]
    if lines:
        terminalreporter.section("ONNX backend conformance")
        for line in sorted(lines):
            terminalreporter.write_line(line)
