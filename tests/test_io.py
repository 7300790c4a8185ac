"""Atomic writes and self-contained ONNX files."""

import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit import io
from toolkit.errors import InputError


def _model(weights: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(weights.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(weights.shape))],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError), io.atomic_output(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("exporter crashed")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_the_target(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with io.atomic_output(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        with io.atomic_output(tmp_path / "model.onnx") as temporary:
            temporary.write_text("x")
        with io.atomic_output(tmp_path / "saved_model", directory=True) as temporary:
            (temporary / "saved_model.pb").write_text("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "saved_model").stat().st_mode & 0o777 == 0o755


def test_large_model_keeps_its_weights_beside_it_and_loads_after_a_move(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "EXTERNAL_DATA_THRESHOLD", 1000)  # stands in for the 2 GB protobuf limit
    weights = np.arange(4096, dtype=np.float32).reshape(64, 64)
    written = io.save_onnx(_model(weights), tmp_path / "big" / "model.onnx")
    assert sorted(p.name for p in written.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(written.parent, moved)
    reloaded = io.load_onnx(moved / "model.onnx")
    np.testing.assert_array_equal(numpy_helper.to_array(reloaded.graph.initializer[0]), weights)


def test_corrupt_and_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        io.load_onnx(tmp_path / "absent.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00not a protobuf" * 10)
    with pytest.raises(InputError, match="not a readable ONNX model"):
        io.load_onnx(garbage)
