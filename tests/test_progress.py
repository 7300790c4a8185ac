"""Progress bars appear only when someone watches a terminal, and importers report per node."""

import numpy as np
from onnx import TensorProto, helper

from toolkit import progress
from toolkit.importers import core


def test_steps_are_silent_without_a_terminal():
    with progress.shown(), progress.steps("building", 10_000) as advance:
        advance()  # piped output (pytest captures it): a no-op, no error
        assert progress._active_progress.get() is None


def test_graph_walk_advances_one_bar_per_node(capsys):
    table = core.OperatorTable("numpy")
    table.register("Relu", since=6)(lambda x: np.maximum(x, 0))
    nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"]) for i in range(progress.MINIMUM_STEPS)]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info(f"v{len(nodes)}", TensorProto.FLOAT, [2])],
    )
    prepared = core.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), table)

    class NumpyBinder:
        def constant(self, array, name, trainable):
            return array

    seen = []
    with progress.shown(force_terminal=True):
        live = progress._active_progress.get()
        original = live.advance
        live.advance = lambda task, advance=1: (seen.append(task), original(task, advance))
        (result,) = core.run_graph(prepared.graph, {"v0": np.float32([-1, 2])}, NumpyBinder())
        assert live.tasks == []  # the task is removed when the walk ends
    assert len(seen) == progress.MINIMUM_STEPS
    np.testing.assert_array_equal(result, [0, 2])
