"""The torch importer on a LLaMA-style decoder: no eager node, and releasing build-time copies keeps
parameters, outputs and gradients."""

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

import toolkit
from toolkit.importers import core
from toolkit.importers.torch.builder import build
from toolkit.importers.torch.ops import table


@pytest.fixture(scope="module")
def llama_onnx():
    from transformer_twins import llama, token_ids

    native = llama("tiny")
    ids = token_ids(2, 8)
    return native, ids, toolkit.convert(native, example_inputs=(ids,))


def _eager_nodes(module):
    return [node.target for node in module.graph.nodes if node.op == "call_module"]


@pytest.mark.slow
def test_optimised_llama_keeps_parameters_outputs_and_gradients(llama_onnx):
    native, ids, onnx_model = llama_onnx
    unoptimised = build(core.prepare(onnx_model, table))
    optimised = toolkit.convert(onnx_model, to="torch")
    # arange(batch) and GatherND stay traced (no eager OnnxNode), so torch.compile and torch.export see one graph.
    assert _eager_nodes(optimised) == []
    assert [n for n, _ in optimised.named_parameters()] == [n for n, _ in unoptimised.named_parameters()]
    inputs = torch.from_numpy(ids)
    outputs = []
    for module in (unoptimised, optimised):
        module.zero_grad()
        logits = module(inputs)
        (logits * torch.linspace(-1, 1, logits.shape[-1])).sum().backward()
        outputs.append(logits.detach())
    torch.testing.assert_close(outputs[1], outputs[0])
    torch.testing.assert_close(outputs[1], native(inputs).detach(), rtol=1e-4, atol=1e-5)
    for (name, before), (_, after) in zip(
        unoptimised.named_parameters(), optimised.named_parameters(), strict=True
    ):
        assert before.grad is not None, name
        if after.grad is None:
            # Only one-element constants a fold made a Python number: the RMSNorm Pow exponent
            # (fold_exponent.py, as the source's x.pow(2)) and the attention's sqrt-scale
            # (fold_attention.py, SDPA's `scale=`). They are float initializers, so parameters of
            # an inference export; the source computes both from Python numbers.
            assert after.numel() == 1, name
            continue
        # The attention fold (one scaled_dot_product_attention) sums in another order: float32
        # rounding relative to each gradient's size.
        scale = float(before.grad.abs().max())
        torch.testing.assert_close(after.grad, before.grad, rtol=1e-4, atol=1e-5 * max(scale, 1.0), msg=name)
    assert sum(p.grad is None for p in optimised.parameters()) == 2


@pytest.mark.slow
def test_optimised_llama_saves_a_dynamic_batch_pt2(llama_onnx, tmp_path):
    native, ids, onnx_model = llama_onnx
    onnx.save(onnx_model, tmp_path / "llama.onnx")
    command = [sys.executable, "-m", "toolkit.cli", "convert", str(tmp_path / "llama.onnx"), "--to", "torch"]
    subprocess.run([*command, "-o", str(tmp_path / "llama.pt2")], check=True, capture_output=True)
    # With no eager node left, the readable .py form exists too (it refuses eager nodes).
    subprocess.run([*command, "-o", str(tmp_path / "llama.py")], check=True, capture_output=True)
    batch = np.concatenate([ids, ids[:1]])  # 3 rows: not the example's batch
    np.save(tmp_path / "ids.npy", batch)
    script = (
        "import numpy, torch; program = torch.export.load('llama.pt2'); "
        "numpy.save('logits.npy', program.module()(torch.from_numpy(numpy.load('ids.npy'))).detach().numpy())"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True)
    expected = native(torch.from_numpy(batch)).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, rtol=1e-4, atol=1e-5)
    script = script.replace("program = torch.export.load('llama.pt2'); ", "from llama import OnnxModule; ")
    script = script.replace("program.module()", "OnnxModule()")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, rtol=1e-4, atol=1e-5)


def test_gather_nd_matches_the_onnx_reference_with_negative_indices():
    node = onnx.helper.make_node("GatherND", ["data", "indices"], ["output"])
    graph = onnx.helper.make_graph(
        [node],
        "gather_nd",
        [
            onnx.helper.make_tensor_value_info("data", onnx.TensorProto.FLOAT, [3, 4, 5]),
            onnx.helper.make_tensor_value_info("indices", onnx.TensorProto.INT64, [2, 2, 2]),
        ],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [2, 2, 5])],
    )
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    indices = np.array([[[0, -1], [2, 1]], [[-3, 0], [1, 3]]], dtype=np.int64)
    (expected,) = ReferenceEvaluator(onnx.helper.make_model(graph)).run(
        None, {"data": data, "indices": indices}
    )
    module = toolkit.convert(onnx.helper.make_model(graph), to="torch")
    np.testing.assert_array_equal(module(torch.from_numpy(data), torch.from_numpy(indices)).numpy(), expected)
