"""Dynamic axes through torch.onnx's dynamo exporter: one symbol per axis name, and no axis it fixed silently."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import toolkit.export.axis_check as axis_check
from toolkit.export import export_torch
from toolkit.export.torch import DYNAMO, TORCHSCRIPT
from toolkit.runtime import OnnxRuntimeModel


class GatheredMask(torch.nn.Module):
    """Reads its mask by index, as GPT-2's mask functions do: nothing tells torch.export the lengths are equal."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(50, 8)

    def forward(self, input_ids, attention_mask):
        hidden = self.embedding(input_ids)
        rows = torch.arange(input_ids.shape[0])[:, None]
        columns = torch.arange(input_ids.shape[1])[None, :]
        keep = attention_mask[rows, columns]
        return hidden * keep[..., None].to(hidden.dtype)


class PositionTable(GatheredMask):
    """A 16-row position table: torch.export bounds the sequence (max=16), as BERT's does at 64."""

    def __init__(self):
        super().__init__()
        self.register_buffer("positions", torch.arange(16))
        self.position_embedding = torch.nn.Embedding(16, 8)

    def forward(self, input_ids, attention_mask):
        hidden = super().forward(input_ids, attention_mask)
        return hidden + self.position_embedding(self.positions[: input_ids.shape[1]])


def _tokens(batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(batch * 100 + length).integers(0, 50, (batch, length))
    mask = np.ones((batch, length), np.int64)
    mask[-1, length - 2 :] = 0  # the last sequence is padded
    return ids, mask


def _dims(model) -> dict[str, list]:
    return {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }


@pytest.mark.parametrize("module_class", [GatheredMask, PositionTable])
def test_a_mask_that_only_broadcasts_shares_the_ids_axes(module_class, assert_close):
    torch.manual_seed(0)
    module = module_class().eval()
    result = export_torch(module, _tokens(2, 6))
    assert result.exporter == DYNAMO, result.notes
    assert _dims(result.model) == {
        "input_ids": ["batch", "sequence"],
        "attention_mask": ["batch", "sequence"],
    }
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    for batch, length in ((3, 6), (2, 5), (3, 11)):
        ids, mask = _tokens(batch, length)
        with torch.no_grad():
            expected = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        assert_close(ort_model(ids, mask), expected)


def test_axes_named_alike_by_the_user_share_a_symbol():
    torch.manual_seed(0)
    axes = {"input_ids": {0: "rows", 1: "tokens"}, "attention_mask": {0: "rows", 1: "tokens"}}
    result = export_torch(GatheredMask().eval(), _tokens(2, 6), dynamic_axes=axes)
    assert _dims(result.model) == {"input_ids": ["rows", "tokens"], "attention_mask": ["rows", "tokens"]}


class FixedBatch(torch.nn.Module):
    def forward(self, left, right):
        return left + right + torch.ones(2, 1)  # broadcasting fixes the batch to 2


def test_a_shared_axis_the_model_fixes_fails_dynamo_as_dim_dynamic_does():
    """torch.onnx settles a named Dim's violation by fixing it; a batch asked dynamic is refused instead."""
    example = (np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    result = export_torch(FixedBatch(), example)
    assert result.exporter == TORCHSCRIPT
    assert "torch.export fixed input 'left' axis 0 to 2, which was asked dynamic" in result.notes[0]


GRU_FACTORY = """
import numpy as np
import torch


def build():
    torch.manual_seed(0)
    module = torch.nn.GRU(4, 8, bidirectional=True).eval()  # (time, batch, feature): axis 0 is time
    return module, (np.random.default_rng(0).standard_normal((6, 2, 4)).astype(np.float32),)
"""


def test_an_axis_dynamo_fixed_falls_back_to_torchscript(tmp_path, assert_close):
    """A bidirectional GRU's time axis (pytorch/pytorch#191855). A fresh process: only a process's
    first dynamo export of a GRU fixes the axis silently; later ones refuse it, and fall back anyway."""
    from toolkit.api import exporter_of, notes_of

    factory, output = tmp_path / "gru.py", tmp_path / "gru.onnx"
    factory.write_text(GRU_FACTORY)
    command = [sys.executable, "-m", "toolkit.cli", "convert", f"{factory}:build", "-o", str(output)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    model = onnx.load(output)
    assert exporter_of(model) == TORCHSCRIPT
    note = notes_of(model)[0]
    assert note.startswith("dynamo specialised axis batch ('input' axis 0) to its example size 6: at size 5")
    assert "onnxruntime fails in Reshape node" in note and note.endswith("; used the TorchScript exporter")
    module, (example,) = _load(factory).build()
    ort_model = OnnxRuntimeModel(model, provider="cpu")
    for time_steps in (3, 9):
        sequence = np.resize(example, (time_steps, *example.shape[1:]))
        with torch.no_grad():
            expected = module(torch.from_numpy(sequence))
        for actual, wanted in zip(ort_model(sequence), expected, strict=True):
            assert_close(actual, wanted.numpy())


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gru_factory", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


class Mean(torch.nn.Module):
    def forward(self, x):
        return x.mean(0, keepdim=True)


def _baked(kind: str) -> onnx.ModelProto:
    """Mean over a dynamic batch with the example's batch of 2 baked in: as a Reshape's shape, or as the divisor."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    if kind == "reshape":
        nodes = [
            helper.make_node("Reshape", ["x", "shape"], ["pairs"]),
            helper.make_node("ReduceMean", ["pairs", "axes"], ["y"], keepdims=1),
        ]
        constants = [numpy_helper.from_array(np.array([2, 4], np.int64), "shape")]
    else:
        nodes = [
            helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=1),
            helper.make_node("Div", ["total", "count"], ["y"]),
        ]
        constants = [numpy_helper.from_array(np.array(2, np.float32), "count")]
    constants.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    graph = helper.make_graph(nodes, "baked", [x], [y], initializer=constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(
    ("kind", "problem"), [("reshape", "onnxruntime fails in Reshape"), ("divisor", "differs")]
)
def test_the_check_finds_a_size_baked_into_the_graph(kind, problem, monkeypatch):
    example = (torch.arange(8, dtype=torch.float32).reshape(2, 4),)
    labels = {"x": {0: "batch"}}
    (fixed,) = axis_check.fixed_axes(Mean(), _baked(kind), ["x"], example, labels)
    assert (fixed.label, fixed.axes, fixed.example_size, fixed.size) == ("batch", [("x", 0)], 2, 3)
    assert problem in fixed.problem
    monkeypatch.setattr(axis_check, "CHECKED_WEIGHT_LIMIT", -1)  # stands in for a 1.2B-parameter model
    assert axis_check.fixed_axes(Mean(), _baked(kind), ["x"], example, labels) == []
