"""Axes toolkit makes dynamic carry names a person expects (batch, sequence, or the user's), shown by inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import toolkit
from toolkit.options import parse_dynamic

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _invoke(*arguments: str):
    from click.testing import CliRunner

    from toolkit.cli import cli

    return CliRunner().invoke(cli, list(arguments), catch_exceptions=False)


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    """A real process: TensorFlow's notices go to file descriptor 2, which only a subprocess shows."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _dims(model, name: str) -> list:
    value = next(v for v in [*model.graph.input, *model.graph.output] if v.name == name)
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_dynamic_option_takes_axis_names():
    assert parse_dynamic(("x:0,1",)) == {"x": [0, 1]}
    assert parse_dynamic(("x:0=n,2", "ids:1=tokens")) == {"x": {0: "n", 2: None}, "ids": {1: "tokens"}}
    assert parse_dynamic(("none",)) == {}


def test_torch_cnn_batch_is_named_and_inspect_shows_it(tmp_path):
    source = os.path.join(REPOSITORY, "models", "torch_cnn.py:build")
    path, named = tmp_path / "cnn.onnx", tmp_path / "named.onnx"
    assert _invoke("convert", source, "-o", str(path)).exit_code == 0
    shown = _invoke("inspect", str(path))
    assert shown.exit_code == 0, shown.output
    assert "batchx1x28x28" in shown.output and "dynamic axes: batch (image:0)" in shown.output
    summary = json.loads(_invoke("inspect", str(path), "--json").output)
    assert summary["dynamic_axes"] == {"batch": ["image:0"]}
    assert summary["outputs"][0]["shape"][0] == "batch"  # the exporter's symbol renamed everywhere
    assert _invoke("convert", source, "-o", str(named), "--dynamic", "image:0=images").exit_code == 0
    assert json.loads(_invoke("inspect", str(named), "--json").output)["dynamic_axes"] == {
        "images": ["image:0"]
    }


def test_token_ids_get_batch_and_sequence_and_parity_varies_the_sequence():
    import torch

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(50, 8)
            self.head = torch.nn.Linear(8, 3)

        def forward(self, input_ids):
            return self.head(self.embedding(input_ids))

    torch.manual_seed(0)
    tagger = Tagger().eval()
    input_ids = np.random.default_rng(0).integers(0, 50, (2, 6)).astype(np.int64)
    exported = toolkit.convert(tagger, example_inputs=(input_ids,), dynamic_axes={"input_ids": [0, 1]})
    assert _dims(exported, "input_ids") == ["batch", "sequence"]
    assert _dims(exported, "output") == ["batch", "sequence", 3]
    report = toolkit.verify_parity(
        tagger,
        exported,
        example_inputs=(input_ids,),
        input_ranges={"input_ids": (0, 50)},
        dim_sizes={"sequence": [3, 9]},
    )
    assert report, str(report)
    assert {run.dims.get("sequence") for run in report.candidates[0].runs} >= {3, 9}


def test_keras_batch_is_named_not_unk():
    pytest.importorskip("keras")
    from models import load_reference

    reference = load_reference("keras_cnn")
    exported = toolkit.convert(reference.build())
    assert _dims(exported, "image") == ["batch", 28, 28, 1]  # tf2onnx wrote unk__<n>


@pytest.mark.slow
def test_verify_parity_prints_no_tensorflow_notices(tmp_path):
    path = tmp_path / "kcnn.onnx"
    source = os.path.join(REPOSITORY, "models", "keras_cnn.py:build")
    assert _invoke("convert", source, "-o", str(path)).exit_code == 0
    checked = _cli("verify-parity", source, str(path), "--samples", "2", "--batch-sizes", "1,8")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    printed = checked.stdout + checked.stderr
    for notice in ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "I0000"):
        assert notice not in printed
    assert "4 runs: batch 1, 8 × seeds 0-1" in printed
