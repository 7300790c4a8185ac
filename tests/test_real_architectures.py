"""Models called the way their authors call them: transformers models with `input_ids` alone or
keyword inputs, ModelOutput results, torch.nn modules with optional masks, Keras dict inputs.

No wrapper around any model: the factories in zoo/ return `(model, example_inputs)` as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import toolkit
from toolkit.errors import UsageError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # configs are built in code: nothing is downloaded


def _graph_inputs(model: onnx.ModelProto) -> dict[str, list]:
    return {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }


@pytest.mark.slow
def test_bert_with_input_ids_alone_exports_named_outputs_and_dynamic_sequence():
    from zoo.transformers_text import bert

    model, inputs = bert()
    onnx_model = toolkit.convert(model, example_inputs=inputs)
    assert _graph_inputs(onnx_model) == {"input_ids": ["batch", "sequence"]}
    assert [o.name for o in onnx_model.graph.output] == ["last_hidden_state", "pooler_output"]
    report = toolkit.verify_parity(model, onnx_model, example_inputs=inputs)
    assert report, str(report)
    shapes = {run.dims.get("sequence") for run in report.candidates[0].runs}
    assert len(shapes) == 2, "parity must also run a second sequence length"


@pytest.mark.slow
def test_keyword_inputs_through_the_cli(tmp_path):
    """`toolkit convert zoo.transformers_text:bert_with_mask` and verify-parity against the .pt2."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def cli(*arguments):
        return subprocess.run(
            [sys.executable, "-m", "toolkit.cli", *arguments], capture_output=True, text=True, env=environment
        )

    onnx_path, pt2_path = tmp_path / "bert.onnx", tmp_path / "bert.pt2"
    converted = cli("convert", "zoo.transformers_text:bert_with_mask", "-o", str(onnx_path))
    assert converted.returncode == 0, converted.stderr
    assert list(_graph_inputs(onnx.load(onnx_path))) == ["input_ids", "attention_mask"]
    assert cli("convert", str(onnx_path), "--to", "torch", "-o", str(pt2_path)).returncode == 0
    checked = cli("verify-parity", "zoo.transformers_text:bert_with_mask", str(onnx_path), str(pt2_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "last_hidden_state" in checked.stdout and "pooler_output" in checked.stdout


def test_parameters_not_given_are_not_graph_inputs():
    import torch

    class Masked(torch.nn.Module):
        def forward(self, x, mask=None, scale: float = 2.0):
            return x * scale if mask is None else (x * mask) * scale

    x = np.ones((2, 3), np.float32)
    onnx_model = toolkit.convert(Masked(), example_inputs=(x,))
    assert list(_graph_inputs(onnx_model)) == ["x"]
    both = toolkit.convert(Masked(), example_inputs={"mask": np.zeros((2, 3), np.float32), "x": x})
    assert list(_graph_inputs(both)) == ["x", "mask"], "keyword inputs follow forward()'s order"


def test_nested_outputs_are_named_by_path():
    import torch

    class Nested(torch.nn.Module):
        def forward(self, x):
            return {"logits": x + 1, "hidden_states": (x * 2, x * 3)}

    x = np.ones((2, 3), np.float32)
    onnx_model = toolkit.convert(Nested(), example_inputs=(x,))
    assert [o.name for o in onnx_model.graph.output] == ["logits", "hidden_states.0", "hidden_states.1"]
    imported = toolkit.convert(onnx_model, to="tensorflow")
    assert toolkit.verify_parity(Nested(), imported, example_inputs=(x,))


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (
            (np.ones(2, np.int64),) * 3,
            "forward() takes input_ids, attention_mask; 3 example inputs is too many",
        ),
        ({"input_ids": np.ones(2, np.int64), "token_ids": np.ones(2)}, "the example inputs name token_ids"),
        ({"attention_mask": np.ones(2, np.int64)}, "forward() needs input_ids"),
    ],
)
def test_inputs_that_do_not_fit_forward_say_what_to_pass(example, message):
    import torch

    class Encoder(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids

    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        toolkit.convert(Encoder(), example_inputs=example)


def test_input_shape_names_forward_parameters(tmp_path):
    """--input-shape input_ids:2x8 on a model without example inputs: ids are int64 tokens."""
    import torch

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(10, 4)

        def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):
            return self.table(input_ids) * attention_mask.unsqueeze(-1)

    onnx_model = toolkit.convert(Embed(), input_spec={"attention_mask": (2, 8), "input_ids": (2, 8)})
    assert list(_graph_inputs(onnx_model)) == ["input_ids", "attention_mask"]
    assert onnx_model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_keras_dict_inputs_and_outputs():
    from zoo.keras_stacks import dict_inputs

    model, inputs = dict_inputs()
    onnx_model = toolkit.convert(model, example_inputs=inputs)
    assert sorted(_graph_inputs(onnx_model)) == ["image", "metadata"]
    assert sorted(o.name for o in onnx_model.graph.output) == ["embedding", "logits"]
    for candidate in (onnx_model, toolkit.convert(onnx_model, to="torch")):
        report = toolkit.verify_parity(model, candidate, example_inputs=inputs)
        assert report, str(report)
