"""torch.nn.EmbeddingBag through the public API: a Loop-free ONNX graph (toolkit/export/translations.py)
that onnxruntime, both importers and the imported module's .pt2 compute as torch does.

One table of cases, each mode with and without offsets, per_sample_weights, padding_idx,
include_last_offset and empty bags; each checked at two input sizes, so nothing is baked in.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
import torch

import toolkit
from toolkit.export.torch import DYNAMO, TORCHSCRIPT
from toolkit.importers import torch as torch_importer

NUM_EMBEDDINGS, EMBEDDING_DIM = 20, 6


def _ids(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, NUM_EMBEDDINGS, shape).astype(np.int64)


def _weights(count, seed=0):
    return np.random.default_rng(seed).random(count).astype(np.float32)


# name: (EmbeddingBag keyword arguments, two input sets of different sizes, as forward takes them).
# Offsets with repeats and a last offset equal to len(indices) leave bags empty.
CASES = {
    "sum_2d": ({"mode": "sum"}, [(_ids(3, 5),), (_ids(2, 4, seed=1),)]),
    "mean_2d": ({"mode": "mean"}, [(_ids(3, 5),), (_ids(2, 4, seed=1),)]),
    "max_2d": ({"mode": "max"}, [(_ids(3, 5),), (_ids(2, 4, seed=1),)]),
    "sum_offsets_empty_bags": (
        {"mode": "sum"},
        [(_ids(9), np.array([0, 3, 3, 7, 9])), (_ids(5, seed=1), np.array([0, 0, 2]))],
    ),
    "mean_offsets_empty_bags": (
        {"mode": "mean"},
        [(_ids(9), np.array([0, 3, 3, 7, 9])), (_ids(5, seed=1), np.array([0, 0, 2]))],
    ),
    "max_offsets_empty_bags": (
        {"mode": "max"},
        [(_ids(9), np.array([0, 3, 3, 7, 9])), (_ids(5, seed=1), np.array([0, 0, 2]))],
    ),
    "sum_per_sample_weights": (
        {"mode": "sum"},
        [
            (_ids(9), np.array([0, 4, 4, 6]), _weights(9)),
            (_ids(6, seed=1), np.array([0, 1]), _weights(6, seed=1)),
        ],
    ),
    "mean_include_last_offset": (
        {"mode": "mean", "include_last_offset": True},
        [(_ids(9), np.array([0, 4, 4, 9])), (_ids(4, seed=1), np.array([0, 1, 4]))],
    ),
    "mean_padding_idx": (
        {"mode": "mean", "padding_idx": 3},
        [(np.array([3, 1, 3, 3, 5, 7, 3]), np.array([0, 2, 4])), (np.array([3, 3, 2]), np.array([0, 2]))],
    ),
    "max_padding_idx_include_last_offset": (
        {"mode": "max", "padding_idx": 3, "include_last_offset": True},
        [
            (np.array([3, 1, 3, 3, 5, 7, 3]), np.array([0, 2, 4, 7])),
            (np.array([3, 3, 2]), np.array([0, 2, 3])),
        ],
    ),
}


def _ops(graph: onnx.GraphProto) -> set[str]:
    """Every op type in `graph` and its subgraphs."""
    found = set()
    for node in graph.node:
        found.add(node.op_type)
        for attribute in node.attribute:
            for subgraph in (
                [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs
            ):
                found |= _ops(subgraph)
    return found


@pytest.fixture(scope="module", params=sorted(CASES))
def converted(request):
    options, input_sets = CASES[request.param]
    torch.manual_seed(0)
    bag = torch.nn.EmbeddingBag(NUM_EMBEDDINGS, EMBEDDING_DIM, **options).eval()
    onnx_model = toolkit.convert(bag, to="onnx", example_inputs=input_sets[0])
    return bag, onnx_model, input_sets


def test_embedding_bag_exports_without_a_loop(converted):
    _, onnx_model, _ = converted
    assert toolkit.api.exporter_of(onnx_model) == DYNAMO
    ops = _ops(onnx_model.graph)
    assert "Loop" not in ops and not any(op.startswith("Sequence") for op in ops), sorted(ops)
    assert {"Gather", "ScatterElements"} <= ops


def test_embedding_bag_matches_torch_in_onnxruntime_and_both_importers(converted):
    bag, onnx_model, input_sets = converted
    candidates = [
        onnx_model,
        toolkit.convert(onnx_model, to="torch"),
        toolkit.convert(onnx_model, to="tensorflow"),
    ]
    for inputs in input_sets:
        report = toolkit.verify_parity(bag, candidates, inputs=list(inputs), example_inputs=input_sets[0])
        assert report, [candidate.verdict for candidate in report.candidates]


def test_imported_embedding_bag_saves_as_a_dynamic_pt2_and_plain_python(converted, tmp_path):
    bag, onnx_model, input_sets = converted
    imported = toolkit.convert(onnx_model, to="torch")
    # The example's own sizes: made-up ones (2) leave include_last_offset one bag, a size that
    # torch.export fixes instead of keeping it dynamic.
    examples = [torch.from_numpy(value) for value in input_sets[0]]
    torch_importer.save(imported, tmp_path / "bag.pt2", example_inputs=examples)
    torch_importer.save(imported, tmp_path / "bag.py")
    spec = importlib.util.spec_from_file_location("generated_embedding_bag", tmp_path / "bag.py")
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    for reloaded in (torch.export.load(tmp_path / "bag.pt2").module(), generated.OnnxModule()):
        for inputs in input_sets:  # two sizes: nothing was fixed to the example's
            tensors = [torch.from_numpy(value) for value in inputs]
            with torch.no_grad():
                have, want = reloaded(*tensors).numpy(), bag(*tensors).numpy()
            np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


def test_embedding_bag_exports_for_training_without_a_loop(converted):
    """The TorchScript exporter (training exports, the fallback) gets the same translation."""
    bag, _, input_sets = converted
    onnx_model = toolkit.convert(bag, to="onnx", example_inputs=input_sets[0], trainable=True)
    assert toolkit.api.exporter_of(onnx_model) == TORCHSCRIPT
    assert "Loop" not in _ops(onnx_model.graph)
    for inputs in input_sets:
        report = toolkit.verify_parity(bag, onnx_model, inputs=list(inputs), example_inputs=input_sets[0])
        assert report, [candidate.verdict for candidate in report.candidates]


# The .pt2 written by convert is traced at made-up sizes (2 along each dynamic axis): two offsets
# with include_last_offset are one bag, a size torch.export fixes rather than keeps dynamic.
MADE_UP_SIZES_FIX_THE_BAGS = {"mean_include_last_offset", "max_padding_idx_include_last_offset"}


def test_embedding_bag_converts_straight_to_pt2(converted, tmp_path, request):
    """`toolkit convert bag.py:build --to torch -o bag.pt2`: the training export, imported and saved.

    Max mode asks for opset 18: below it the bag's max is a padded block as wide as the longest bag,
    a size that only the offsets' values decide, which torch.export cannot keep in a program.
    """
    bag, _, input_sets = converted
    name = request.node.callspec.params["converted"]
    if name in MADE_UP_SIZES_FIX_THE_BAGS:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="made-up sizes leave one bag, which torch.export fixes")
        )
    path = tmp_path / "bag.pt2"
    opset = 18 if bag.mode == "max" else None
    toolkit.convert(bag, to="torch", example_inputs=input_sets[0], output=path, opset=opset)
    reloaded = torch.export.load(path).module()
    for inputs in input_sets:
        tensors = [torch.from_numpy(value) for value in inputs]
        with torch.no_grad():
            np.testing.assert_allclose(
                reloaded(*tensors).numpy(), bag(*tensors).numpy(), rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize("name", [name for name in sorted(CASES) if name.startswith("max")])
def test_max_mode_below_opset_18_exports_without_a_loop(name):
    """ScatterElements takes max from opset 18: below it, a padded block per bag and ArgMax."""
    options, input_sets = CASES[name]
    torch.manual_seed(0)
    bag = torch.nn.EmbeddingBag(NUM_EMBEDDINGS, EMBEDDING_DIM, **options).eval()
    onnx_model = toolkit.convert(bag, to="onnx", example_inputs=input_sets[0], opset=17)
    assert "Loop" not in _ops(onnx_model.graph)
    for inputs in input_sets:
        report = toolkit.verify_parity(bag, onnx_model, inputs=list(inputs), example_inputs=input_sets[0])
        assert report, [candidate.verdict for candidate in report.candidates]
