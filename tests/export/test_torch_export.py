"""PyTorch reference models through torch.onnx, checked and run in onnxruntime against torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from models import load_reference, references
from toolkit.errors import UsageError
from toolkit.export import ExportResult, check_exported, export_torch
from toolkit.export.torch import DYNAMO, TORCHSCRIPT
from toolkit.runtime import OnnxRuntimeModel

BATCH_SIZES = (2, 5)


def run_torch(torch_module, arrays):
    with torch.no_grad():
        return torch_module(*(torch.from_numpy(array) for array in arrays)).numpy()


@pytest.fixture(scope="module", params=references("torch"))
def exported(request):
    reference = load_reference(request.param)
    torch_module = reference.build()
    result = export_torch(torch_module, reference.example_inputs(), input_names=reference.INPUT_NAMES)
    return reference, torch_module, result, OnnxRuntimeModel(result.model, provider="cpu")


def test_reference_model_exports_with_dynamo(exported):
    reference, _, result, ort_model = exported
    assert isinstance(result, ExportResult)
    assert result.exporter == DYNAMO, result.notes
    assert result.opset >= 17
    assert ort_model.input_names == list(reference.INPUT_NAMES)
    assert ort_model.output_names == ["output"]
    assert not any(
        tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in result.model.graph.initializer
    )
    check_exported(result.model, "reference")


@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_reference_model_matches_torch(exported, batch, at_batch, assert_close):
    reference, torch_module, _, ort_model = exported
    inputs = at_batch(reference.example_inputs(), batch)
    assert_close(ort_model(*inputs), run_torch(torch_module, inputs))


class DataDependentBranch(torch.nn.Module):
    """Python control flow on a tensor's value: torch.export cannot trace it, TorchScript tracing can."""

    def forward(self, x):
        if x.sum() > 0:
            return torch.relu(x) * 2
        return x - 1


def test_dynamo_failure_falls_back_to_torchscript(at_batch, assert_close):
    example = np.abs(np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32))
    result = export_torch(DataDependentBranch(), (example,))
    assert result.exporter == TORCHSCRIPT
    assert result.opset == 17
    assert "dynamo export failed" in result.notes[0]
    assert "\x1b[" not in result.notes[0]
    assert any("froze a Python value" in note for note in result.notes)
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    assert ort_model.input_names == ["x"]
    for batch in BATCH_SIZES:
        (inputs,) = at_batch((example,), batch)
        assert_close(ort_model(inputs), run_torch(DataDependentBranch(), (inputs,)))


@pytest.fixture(scope="module")
def mlp():
    reference = load_reference("torch_mlp")
    return reference, reference.build()


def test_exported_program_input(mlp, at_batch, assert_close):
    reference, torch_module = mlp
    example = tuple(torch.from_numpy(array) for array in reference.example_inputs())
    program = torch.export.export(torch_module, example, dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    result = export_torch(program, reference.example_inputs())
    assert result.exporter == DYNAMO
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    assert ort_model.input_names == ["input"]
    for batch in BATCH_SIZES:
        inputs = at_batch(reference.example_inputs(), batch)
        assert_close(ort_model(*inputs), run_torch(torch_module, inputs))


@pytest.mark.parametrize("compile_with", ["trace", "script"])
def test_script_module_input(mlp, compile_with, at_batch, assert_close):
    reference, torch_module = mlp
    example = tuple(torch.from_numpy(array) for array in reference.example_inputs())
    script_module = (
        torch.jit.trace(torch_module, example) if compile_with == "trace" else torch.jit.script(torch_module)
    )
    result = export_torch(script_module, reference.example_inputs())
    assert result.exporter == TORCHSCRIPT
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    for batch in BATCH_SIZES:
        inputs = at_batch(reference.example_inputs(), batch)
        assert_close(ort_model(*inputs), run_torch(torch_module, inputs))


class TwoInTwoOut(torch.nn.Module):
    def forward(self, left, right):
        return left + right, left * right


def test_default_names_come_from_forward():
    example = (np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    ort_model = OnnxRuntimeModel(export_torch(TwoInTwoOut(), example).model, provider="cpu")
    assert ort_model.input_names == ["left", "right"]
    assert ort_model.output_names == ["output_0", "output_1"]
    total, product = ort_model(np.full((4, 3), 2, np.float32), np.full((4, 3), 3, np.float32))
    assert total.shape == (4, 3) and float(total[0, 0]) == 5 and float(product[0, 0]) == 6


def test_given_output_names_and_static_axes():
    example = (np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    result = export_torch(TwoInTwoOut(), example, output_names=["total", "product"], dynamic_axes={})
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    assert ort_model.output_names == ["total", "product"]
    assert all(spec.shape == (2, 3) for spec in ort_model.inputs)


def test_batch_of_one_example_stays_dynamic(mlp, at_batch, assert_close):
    reference, torch_module = mlp
    single = at_batch(reference.example_inputs(), 1)
    result = export_torch(torch_module, single)
    assert result.exporter == DYNAMO
    assert any("repeated to size 2" in note for note in result.notes)
    ort_model = OnnxRuntimeModel(result.model, provider="cpu")
    for batch in (1, 5):
        inputs = at_batch(reference.example_inputs(), batch)
        assert_close(ort_model(*inputs), run_torch(torch_module, inputs))


def test_name_count_mismatch_is_a_usage_error(mlp):
    reference, torch_module = mlp
    with pytest.raises(UsageError, match="input name"):
        export_torch(torch_module, reference.example_inputs(), input_names=["a", "b"])
    with pytest.raises(UsageError, match="unknown input"):
        export_torch(torch_module, reference.example_inputs(), dynamic_axes={"nope": [0]})


def test_large_model_check_goes_through_a_file_and_keeps_weights(mlp, monkeypatch):
    reference, torch_module = mlp
    model = export_torch(torch_module, reference.example_inputs()).model
    before = model.SerializeToString()
    monkeypatch.setattr("toolkit.export.common._too_large", lambda model: True)
    assert check_exported(model, "large") is model
    assert model.SerializeToString() == before


def test_static_exported_program_is_noted(mlp):
    reference, torch_module = mlp
    example = tuple(torch.from_numpy(array) for array in reference.example_inputs())
    result = export_torch(torch.export.export(torch_module, example), reference.example_inputs())
    assert any("fixed it to 2" in note for note in result.notes)


def test_large_export_writes_weights_from_the_tensors_and_the_importers_map_them(
    mlp, tmp_path, monkeypatch, assert_close
):
    import toolkit
    from toolkit import io

    monkeypatch.setattr(io, "EXTERNAL_WEIGHTS_THRESHOLD", 1000)  # stands in for 256 MiB
    reference, torch_module = mlp
    inputs = reference.example_inputs()
    expected = run_torch(torch_module, inputs)
    output = tmp_path / "mlp.onnx"
    written = toolkit.convert(torch_module, example_inputs=inputs, output=output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "mlp.onnx.data"]  # no scratch left
    assert io.has_external_data(written)  # as written: its weights are in mlp.onnx.data
    assert dict((e.key, e.value) for e in written.metadata_props)["toolkit.exporter"] == DYNAMO
    assert_close(OnnxRuntimeModel(output, provider="cpu")(*inputs), expected)
    assert_close(run_torch(toolkit.convert(str(output), to="torch"), inputs), expected)
    tf_module = toolkit.convert(str(output), to="tensorflow")
    assert_close(tf_module(*inputs).numpy(), expected)
    assert tf_module._state.prepared.graph.constants == {}  # the tf.Variables are the only copy
    whole = tf_module.onnx_model  # what localisation's oracle runs, weights read back from TF
    assert not io.has_external_data(whole)
    assert_close(OnnxRuntimeModel(whole, provider="cpu")(*inputs), expected)
    # Without an output the model comes back whole, and a direct import maps the scratch copy.
    in_memory = toolkit.convert(torch_module, example_inputs=inputs)
    assert not io.has_external_data(in_memory)
    assert_close(OnnxRuntimeModel(in_memory, provider="cpu")(*inputs), expected)
    assert_close(
        run_torch(toolkit.convert(torch_module, example_inputs=inputs, to="torch"), inputs), expected
    )
