"""Each model kind as reference or candidate, and localisation through each framework's own values."""

from __future__ import annotations

import numpy as np
import onnx
import parity_graphs as graphs
import pytest

from toolkit import convert, verify_parity


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory, repository):
    import torch

    from models import load_reference

    directory = tmp_path_factory.mktemp("torch_kinds")
    reference = load_reference("torch_mlp")
    module, example = reference.build(), torch.from_numpy(reference.example_inputs()[0])
    torch.jit.save(torch.jit.trace(module, example), str(directory / "mlp.ts"))
    torch.export.save(torch.export.export(module, (example,)), str(directory / "mlp.pt2"))
    convert(str(repository / "models/torch_mlp.py") + ":build", to="onnx", output=directory / "mlp.onnx")
    return directory


def test_torchscript_pt2_and_onnx_candidates_match_a_torch_factory(torch_files, repository):
    report = verify_parity(
        str(repository / "models/torch_mlp.py") + ":build",
        [str(torch_files / name) for name in ("mlp.ts", "mlp.pt2", "mlp.onnx")],
        batch_sizes=[2],
        samples=2,
    )
    assert report, report
    assert [c.framework for c in report.candidates] == ["torch", "torch", "onnxruntime"]


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    from models import load_reference

    directory = tmp_path_factory.mktemp("keras_kinds")
    keras_model = load_reference("keras_cnn").build()
    keras_model.save(str(directory / "cnn.keras"))
    keras_model.export(str(directory / "saved_model"))
    convert(str(directory / "cnn.keras"), to="onnx", output=directory / "cnn.onnx")
    exported = onnx.load(str(directory / "cnn.onnx"))
    kernel = next(t for t in exported.graph.initializer if len(t.dims) == 4)
    onnx.save(graphs.perturb_weight(exported, kernel.name, 0.3), str(directory / "broken.onnx"))
    return directory


def test_keras_file_saved_model_and_onnx_agree(keras_files):
    report = verify_parity(
        str(keras_files / "cnn.keras"), [str(keras_files / "saved_model"), str(keras_files / "cnn.onnx")]
    )
    assert report, report


def test_a_broken_conv_is_localised_with_keras_layer_outputs(keras_files):
    report = verify_parity(str(keras_files / "cnn.keras"), str(keras_files / "broken.onnx"))
    assert not report
    divergence = report.candidates[0].divergence
    assert divergence.method == "Keras layer outputs vs onnxruntime"
    assert "conv2d" in divergence.node and "conv2d" in divergence.source_layer


def test_the_tensorflow_importer_is_localised_by_its_walker(keras_files):
    importer = pytest.importorskip("toolkit.importers.tensorflow")
    broken = onnx.load(str(keras_files / "broken.onnx"))
    try:
        module = importer.import_onnx(broken)
    except Exception as error:  # the importer is being written beside this suite
        pytest.skip(f"TensorFlow importer cannot import the test model yet: {error}")
    report = verify_parity(str(keras_files / "cnn.onnx"), module)
    assert not report
    divergence = report.candidates[0].divergence
    assert divergence.method == "onnxruntime vs the TensorFlow importer's walker"
    assert divergence.op_type == "Conv"
    feeds = np.zeros((1, 28, 28, 1), np.float32)
    assert verify_parity(broken, module, inputs=[feeds])  # the importer itself is faithful
