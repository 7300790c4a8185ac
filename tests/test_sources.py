"""Every source form converts to ONNX and matches its source in onnxruntime."""

import numpy as np
import pytest

import toolkit
from toolkit.errors import InputError, UsageError
from toolkit.sources import load_source


@pytest.fixture(scope="module")
def torch_mlp():
    from models import torch_mlp

    return torch_mlp.build(), torch_mlp.example_inputs()


@pytest.fixture(scope="module")
def keras_cnn():
    from models import keras_cnn

    return keras_cnn.build(), keras_cnn.example_inputs()


def _assert_parity(reference, onnx_path, example_inputs):
    report = toolkit.verify_parity(reference, str(onnx_path), example_inputs=example_inputs)
    assert report, str(report)


def test_exported_program(tmp_path, torch_mlp):
    import torch

    module, inputs = torch_mlp
    program = torch.export.export(module, tuple(torch.from_numpy(x) for x in inputs))
    path = tmp_path / "mlp.pt2"
    torch.export.save(program, str(path))
    source = load_source(path)
    assert source.kind == "torch" and source.example_inputs is not None
    toolkit.convert(path, output=tmp_path / "mlp.onnx")
    _assert_parity(module, tmp_path / "mlp.onnx", inputs)


def test_torchscript(tmp_path, torch_mlp):
    import torch

    module, inputs = torch_mlp
    path = tmp_path / "mlp.pt"
    torch.jit.trace(module, tuple(torch.from_numpy(x) for x in inputs)).save(str(path))
    with pytest.raises(UsageError, match="no example inputs"):
        toolkit.convert(path, output=tmp_path / "never.onnx")
    assert not (tmp_path / "never.onnx").exists()
    shape = {name: x.shape for name, x in zip(["x"], inputs, strict=False)}
    toolkit.convert(path, output=tmp_path / "mlp.onnx", input_spec=shape)
    _assert_parity(module, tmp_path / "mlp.onnx", inputs)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_files(tmp_path, keras_cnn, suffix):
    model, inputs = keras_cnn
    path = tmp_path / f"cnn{suffix}"
    model.save(str(path))
    toolkit.convert(path, output=tmp_path / "cnn.onnx")
    _assert_parity(path, tmp_path / "cnn.onnx", inputs)


def test_saved_model_directory(tmp_path, keras_cnn):
    model, inputs = keras_cnn
    directory = tmp_path / "saved"
    model.export(str(directory), verbose=False)
    source = load_source(directory)
    assert source.kind == "tensorflow"
    toolkit.convert(directory, output=tmp_path / "cnn.onnx")
    _assert_parity(model, tmp_path / "cnn.onnx", inputs)


def test_factory_returning_model_and_inputs(tmp_path):
    factory = tmp_path / "net.py"
    factory.write_text(
        "import numpy as np, torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()), (np.ones((2, 4), np.float32),)\n"
    )
    model = toolkit.convert(f"{factory}:make", output=tmp_path / "net.onnx")
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 4


def test_directory_that_is_not_a_saved_model(tmp_path):
    with pytest.raises(InputError, match="not a SavedModel"):
        load_source(tmp_path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"0")
    with pytest.raises(InputError, match="unknown model format .bin"):
        load_source(path)


def test_unknown_target():
    with pytest.raises(UsageError, match="unknown target"):
        toolkit.convert("model.onnx", to="jax")


def test_opset_of_an_onnx_source_can_be_changed(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    converted = toolkit.convert(model, opset=17)
    assert converted.opset_import[0].version == 17
    np.testing.assert_array_equal(toolkit.load(model).graph.node[0].op_type, "Relu")


def test_python_file_with_one_module_class(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.scale = torch.nn.Parameter(torch.full((3,), 2.0))\n"
        "    def forward(self, x):\n"
        "        return x * self.scale\n"
    )
    source = load_source(tmp_path / "net.py")
    assert source.kind == "torch" and source.details["format"] == "generated torch Python"
    (tmp_path / "two.py").write_text(
        "import torch\nclass A(torch.nn.Module): pass\nclass B(torch.nn.Module): pass\n"
    )
    with pytest.raises(InputError, match="exactly one nn.Module class"):
        load_source(tmp_path / "two.py")


@pytest.mark.parametrize(
    ("suffix", "format_name"), [(".pt2", "torch.export"), (".pt", "TorchScript"), (".keras", "Keras")]
)
def test_corrupt_framework_files_are_input_errors(tmp_path, suffix, format_name):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"not a model at all" * 20)
    with pytest.raises(InputError, match=f"not a loadable {format_name}"):
        load_source(path)
