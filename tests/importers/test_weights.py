"""Initializers without copies: external data memory-mapped copy-on-write, in-memory weights copied once."""

import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from toolkit import io
from toolkit.errors import InputError
from toolkit.importers import torch as torch_importer
from toolkit.importers import weights

WEIGHTS = np.arange(256 * 128, dtype=np.float32).reshape(256, 128) / 1000  # 128 KiB: detached
BIAS = np.arange(128, dtype=np.float32)  # small: stays inline


def _model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 128])],
        [numpy_helper.from_array(WEIGHTS, "w"), numpy_helper.from_array(BIAS, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _external(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "EXTERNAL_WEIGHTS_THRESHOLD", 1000)
    path = io.save_onnx(_model(), tmp_path / "model" / "model.onnx")
    assert sorted(os.listdir(path.parent)) == ["model.onnx", "model.onnx.data"]
    return path


def _mapped_from(pointer: int, path) -> bool:
    """Whether `pointer` lies in this process's mapping of the file `path` (/proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == str(path):
                start, end = (int(part, 16) for part in fields[0].split("-"))
                if start <= pointer < end:
                    return True
    return False


def test_external_weights_are_mapped_not_read_and_small_ones_stay_inline(tmp_path, monkeypatch):
    path = _external(tmp_path, monkeypatch)
    light = io.load_onnx(path, load_external_data=False)
    detached_model, detached = weights.detach_weights(light, path.parent)
    assert set(detached) == {"w"}
    np.testing.assert_array_equal(detached["w"], WEIGHTS)
    assert weights.shareable(detached["w"])
    assert _mapped_from(detached["w"].ctypes.data, path.with_name("model.onnx.data"))
    stubs = {t.name: weights.is_detached(t) for t in detached_model.graph.initializer}
    assert stubs == {"w": True, "b": False}
    assert not io.has_external_data(light) or light.graph.initializer  # the caller's model is untouched
    assert [weights.is_detached(t) for t in light.graph.initializer] == [False, False]


def test_in_memory_weights_are_copied_out_once_and_the_model_is_left_alone():
    model = _model()
    light, detached = weights.detach_weights(model, None)
    assert detached["w"].flags.owndata and detached["w"].flags.writeable
    np.testing.assert_array_equal(numpy_helper.to_array(model.graph.initializer[0]), WEIGHTS)
    assert light.graph.initializer[0].ByteSize() < 100  # a stub: name, type, dims


def test_torch_parameters_share_the_mapped_file_and_train_copy_on_write(tmp_path, monkeypatch):
    path = _external(tmp_path, monkeypatch)
    data = path.with_name("model.onnx.data")
    before = data.read_bytes()
    module = torch_importer.import_onnx(path)
    parameter = dict(module.named_parameters())[module.onnx_initializer_attributes["w"]]
    assert _mapped_from(parameter.data_ptr(), data)  # no copy was made
    # The file may move or go: the mapping keeps what the parameters need.
    moved = tmp_path / "moved.data"
    os.replace(data, moved)
    moved.unlink()
    x = torch.ones(2, 256)
    np.testing.assert_allclose(module(x).detach().numpy(), np.ones((2, 256)) @ WEIGHTS + BIAS, rtol=1e-5)
    # A training step writes the parameter's pages privately; the file keeps its bytes.
    data.write_bytes(before)  # a fresh file under the old name (a new inode)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module(x).sum().backward()
    optimizer.step()
    assert not np.allclose(parameter.detach().numpy(), WEIGHTS)
    assert data.read_bytes() == before
    reimported = torch_importer.import_onnx(path)
    np.testing.assert_array_equal(
        dict(reimported.named_parameters())[reimported.onnx_initializer_attributes["w"]].detach().numpy(),
        WEIGHTS,
    )


def test_a_missing_data_file_is_one_input_error(tmp_path, monkeypatch):
    path = _external(tmp_path, monkeypatch)
    path.with_name("model.onnx.data").unlink()
    with pytest.raises(InputError, match="keep the .data file beside the .onnx"):
        torch_importer.import_onnx(path)


def test_bad_external_data_offsets_are_one_input_error(tmp_path, monkeypatch):
    path = _external(tmp_path, monkeypatch)
    model = io.load_onnx(path, load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "offset":
            entry.value = "not a number"
    with pytest.raises(InputError, match='initializer "w": cannot read its external data'):
        weights.detach_weights(model, path.parent)
