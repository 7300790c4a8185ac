"""Imported torch modules compile: torch._dynamo finds no graph break, inductor's output matches eager."""

import numpy as np
import pytest
import torch

import models
import toolkit


def _imported(name):
    if name == "llama":
        from transformer_twins import llama, token_ids

        native, example = llama("tiny"), (token_ids(2, 8),)
    else:
        reference = models.load_reference(name)
        native, example = reference.build(), reference.example_inputs()
    onnx_model = toolkit.convert(native, example_inputs=example)
    return toolkit.convert(onnx_model, to="torch"), tuple(torch.from_numpy(x) for x in example)


# The smallest of each kind: a torch transformer, a Keras CNN (NHWC flatten), a Keras BiLSTM, and a
# LLaMA-style decoder, whose arange(batch) and GatherND only compile after the optimisation pass.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["torch_transformer", "keras_cnn", "keras_bilstm", "llama"])
def test_imported_module_has_no_graph_break(name):
    imported, example = _imported(name)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(imported)(*example)
    reasons = [reason.reason.splitlines()[0] for reason in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
    assert explanation.graph_count == 1


@pytest.mark.slow
def test_inductor_compiled_import_matches_eager():
    imported, example = _imported("torch_mlp")
    torch._dynamo.reset()
    compiled = torch.compile(imported, backend="inductor", fullgraph=True)
    with torch.no_grad():
        np.testing.assert_allclose(
            compiled(*example).numpy(), imported(*example).numpy(), rtol=1e-5, atol=1e-6
        )
