"""Parity tests build their ONNX models from code (tests/parity/parity_graphs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
