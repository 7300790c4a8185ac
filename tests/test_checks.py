"""Model checks before any work: each malformation is one InputError naming the node or tensor."""

import sys

import onnx
import pytest
from onnx import TensorProto, helper

from toolkit import checks
from toolkit.errors import InputError

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "scripts"))
import fuzz_models  # noqa: E402


@pytest.mark.parametrize("build", sorted(fuzz_models.SEEDS))
def test_valid_models_pass(build):
    checks.check_model(fuzz_models.SEEDS[build](), "m.onnx")


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (fuzz_models.cyclic, ['node "conv" (Conv) is on a cycle']),
        (fuzz_models.self_loop, ['node "relu" (Relu) reads its own output "r"']),
        (fuzz_models.undefined_tensor, ['node "relu" (Relu): input "ghost"']),
        (fuzz_models.wrong_initializer_dims, ['initializer "conv.weight"', "(135 elements) but holds 108"]),
        (fuzz_models.no_outputs, ["no outputs"]),
        (lambda m: fuzz_models.opset(m, 99), ["opset 99", f"1 to {onnx.defs.onnx_opset_version()}"]),
        (lambda m: fuzz_models.opset(m, 0), ["opset 0"]),
    ],
    ids=["cycle", "self_loop", "undefined", "initializer_dims", "no_outputs", "opset_99", "opset_0"],
)
def test_malformed_graphs_name_the_problem(mutate, fragments):
    with pytest.raises(InputError) as raised:
        checks.check_model(mutate(fuzz_models.cnn()), "bad.onnx")
    message = str(raised.value)
    assert message.startswith("bad.onnx: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_tensor_produced_twice_is_named():
    model = fuzz_models.cnn()
    model.graph.node[1].output[0] = "c"
    with pytest.raises(
        InputError, match='node "relu" \\(Relu\\): output "c" is already produced by node "conv"'
    ):
        checks.check_model(model, "bad.onnx")


def test_subgraphs_are_checked_with_the_outer_scope():
    then_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y_then"])],
        "then",
        [],
        [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [1])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["nowhere"], ["y_else"], name="lost")],
        "else",
        [],
        [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [1])],
    )
    graph = helper.make_graph(
        [
            helper.make_node(
                "If", ["flag"], ["y"], name="choose", then_branch=then_branch, else_branch=else_branch
            )
        ],
        "g",
        [
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(
        InputError, match='node "lost" \\(Identity\\): input "nowhere".*else_branch.*"choose"'
    ):
        checks.check_model(model, "if.onnx")
    else_attribute = next(a for a in model.graph.node[0].attribute if a.name == "else_branch")
    else_attribute.g.node[0].input[0] = "x"  # an outer-scope name is visible inside
    checks.check_model(model, "if.onnx")


def test_everything_else_goes_through_the_onnx_checker():
    model = fuzz_models.cnn()
    model.graph.node[0].op_type = "Frobnicate"
    with pytest.raises(InputError, match="fails the ONNX checker: .*Frobnicate"):
        checks.check_model(model, "bad.onnx")
