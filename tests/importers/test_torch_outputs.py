"""The .pt2 and .py writers give the same outputs as the in-memory module, without the toolkit."""

import subprocess
import sys

import numpy as np
import onnx
import pytest

from toolkit.importers.torch import import_onnx, save
from toolkit.importers.torch.export import example_inputs_for

CONV = onnx.__path__[0] + "/backend/test/data/pytorch-converted/test_Conv2d/model.onnx"


def test_pt2_and_python_outputs_match(tmp_path):
    module = import_onnx(CONV)
    (x,) = example_inputs_for(module)  # the graph input's declared shape
    expected = module(x).detach().numpy()
    save(module, tmp_path / "model.pt2")
    save(module, tmp_path / "model.py")
    assert (tmp_path / "model.safetensors").exists()
    np.save(tmp_path / "x.npy", x.numpy())
    script = (
        "import sys, numpy as np, torch; sys.path.insert(0, sys.argv[1]);"
        "from model import OnnxModule; x = torch.from_numpy(np.load(sys.argv[1] + '/x.npy'));"
        "a = OnnxModule()(x); b = torch.export.load(sys.argv[1] + '/model.pt2').module()(x);"
        "np.save(sys.argv[1] + '/a.npy', a.detach().numpy()); np.save(sys.argv[1] + '/b.npy', b.detach().numpy())"
    )
    # A fresh interpreter that never imports toolkit.
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), expected, rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), expected, rtol=1e-6)


def test_python_output_carries_the_helpers_it_calls(tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    module = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert not [n for n in module.graph.nodes if n.op == "call_module"]  # a plain fx call, no submodule
    save(module, tmp_path / "model.py")
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); from model import OnnxModule;"
        "y = OnnxModule()(torch.arange(12.0).reshape(2, 6), torch.tensor([0, 3, -1]));"
        "assert y.shape == (2, 3, 2) and 'toolkit' not in sys.modules, y.shape"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=tmp_path, env={"PATH": ""})


def test_python_output_refuses_eager_nodes_in_one_line(tmp_path):
    from onnx import TensorProto, helper

    from toolkit.errors import UsageError

    body = helper.make_graph(
        [
            helper.make_node("Identity", ["x_in"], ["x_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info(n, t, s)
            for n, t, s in (
                ("i", TensorProto.INT64, []),
                ("cond_in", TensorProto.BOOL, []),
                ("x_in", TensorProto.FLOAT, [2]),
            )
        ],
        [
            helper.make_tensor_value_info(n, t, s)
            for n, t, s in (("cond_out", TensorProto.BOOL, []), ("x_out", TensorProto.FLOAT, [2]))
        ],
    )
    loop = helper.make_node("Loop", ["count", "", "x"], ["y"], name="the_loop", body=body)
    graph = helper.make_graph(
        [loop],
        "g",
        [
            helper.make_tensor_value_info("count", TensorProto.INT64, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    module = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(UsageError, match="the_loop") as raised:
        save(module, tmp_path / "model.py")
    assert "\n" not in str(raised.value)


def _varying_batch_model(nodes, extra_inputs=()):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]), *extra_inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_pt2_falls_back_to_fixed_shapes_with_a_warning(tmp_path, monkeypatch):
    import torch
    from onnx import helper

    module = import_onnx(_varying_batch_model([helper.make_node("Relu", ["x"], ["y"], name="relu")]))
    export = torch.export.export

    def refuse_dynamic(*args, dynamic_shapes=None, **keywords):
        if dynamic_shapes is not None:
            raise RuntimeError("cannot keep this dimension dynamic")
        return export(*args, **keywords)

    monkeypatch.setattr(torch.export, "export", refuse_dynamic)
    with pytest.warns(UserWarning, match=r"fixed input shapes \(x \(2, 3\)\).*cannot keep this dimension"):
        save(module, tmp_path / "model.pt2")
    program = torch.export.load(tmp_path / "model.pt2").module()
    assert program(torch.ones(2, 3)).shape == (2, 3)
    with pytest.raises(Exception):  # noqa: B017  the batch is fixed: torch's guard refuses another
        program(torch.ones(5, 3))


def test_pt2_export_failure_is_one_line_naming_the_node(tmp_path):
    import torch
    from onnx import helper

    from toolkit.errors import ExportError

    # Unique's output size is in the data (it runs in numpy): no torch.export program can hold it.
    unique = helper.make_node("Unique", ["x"], ["y"], name="unique_by_data")
    module = import_onnx(_varying_batch_model([unique]))
    with pytest.raises(ExportError, match=r'node "unique_by_data" \(Unique\)') as raised:
        save(module, tmp_path / "model.pt2", example_inputs=[torch.ones(2, 3)])
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "model.pt2").exists()


def test_pt2_fixes_a_value_that_decides_a_shape_and_asserts_it(tmp_path):
    """Expand's shape is a graph input: the GraphModule reads it at run time; the .pt2 holds the
    example's value, says so when saved, and refuses other values rather than answer wrongly."""
    import torch
    from onnx import TensorProto, helper

    expand = helper.make_node("Expand", ["x", "shape"], ["y"], name="expand_by_data")
    shape_input = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    module = import_onnx(_varying_batch_model([expand], [shape_input]))
    x = torch.arange(3.0).reshape(1, 3)
    with pytest.warns(UserWarning, match=r'node "expand_by_data" input 1 = \[4, 3\]'):
        save(module, tmp_path / "model.pt2", example_inputs=[x, torch.tensor([4, 3])])
    program = torch.export.load(tmp_path / "model.pt2").module()
    np.testing.assert_array_equal(program(x, torch.tensor([4, 3])), module(x, torch.tensor([4, 3])))
    with pytest.raises(RuntimeError, match="differs from the value the .pt2 was exported with"):
        program(x, torch.tensor([5, 3]))
