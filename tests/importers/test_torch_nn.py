"""MaxUnpool and Col2Im handlers (torch/ops/nn.py), checked against onnx's reference evaluator."""

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator

from tests.importers.test_torch_ops import _check
from tests.importers.torch_single_node import _constant, _model

rng = np.random.default_rng(1)

# ----------------------------------------------------------------------------- MaxUnpool, Col2Im


@pytest.mark.parametrize("output_shape", [None, [2, 3, 9, 10]])
def test_max_unpool_inverts_max_pool(output_shape):
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    pool = {"kernel_shape": [2, 3], "strides": [2, 3]}
    values, indices = ReferenceEvaluator(_model("MaxPool", ["x"], {"x": x}, pool, opset=12, outputs=2)).run(
        None, {"x": x}
    )
    feeds = {"values": values, "indices": indices}
    names, initializers = ["values", "indices"], []
    if output_shape is not None:
        names.append("shape")
        initializers.append(_constant("shape", np.array(output_shape, np.int64)))
    _check(_model("MaxUnpool", names, feeds, pool, initializers, opset=11), feeds)


@pytest.mark.parametrize(
    ("image", "block", "attributes"),
    [
        ([5, 6], [2, 3], {"strides": [1, 2], "pads": [1, 0, 1, 1], "dilations": [2, 1]}),
        ([4, 3, 5], [2, 1, 2], {}),
    ],
)
def test_col2im(image, block, attributes):
    count = len(image)
    strides = attributes.get("strides", [1] * count)
    dilations = attributes.get("dilations", [1] * count)
    pads = attributes.get("pads", [0] * 2 * count)
    blocks = [
        (image[d] + pads[d] + pads[count + d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1
        for d in range(count)
    ]
    columns = rng.standard_normal((2, 3 * int(np.prod(block)), int(np.prod(blocks)))).astype(np.float32)
    initializers = [
        _constant("image", np.array(image, np.int64)),
        _constant("block", np.array(block, np.int64)),
    ]
    model = _model(
        "Col2Im", ["columns", "image", "block"], {"columns": columns}, attributes, initializers, opset=18
    )
    _check(model, {"columns": columns})
