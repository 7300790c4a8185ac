"""The parity report's BERT case: one query weight of a ~440-node BERT scaled by 1.02, localised.

A transformers BertModel from a small config (10 layers, hidden 32, random weights, nothing
downloaded), held by a one-child wrapper (`self.m = bert`) and called with `input_ids` only, is
exported to ONNX; layer 6's query weight is scaled by 1.02 in a copy, and
`toolkit.verify_parity(model.onnx, broken.onnx)` localises the fault (every node's value compared). Prints the one-line verdict,
the node count, the per-node and per-layer path row counts, and the localisation time (median and
spread over --repeats runs; the machine may be shared, so read the spread).

    PYTHONPATH=$PWD .venv/bin/python scripts/parity_bert_case.py [--repeats 5] [--html report.html]
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LAYERS = 10
FAULTY_MODULE = "encoder.layer.6.attention.self.query"
# BERT's 0.02 leaves the attention of a random model nearly uniform, so a scaled query changes
# nothing visible at the output; trained weights are not that flat.
INITIALIZER_RANGE = 0.2


def build(layers: int = LAYERS):
    """The wrapped BERT and its example `input_ids`."""
    import torch
    import transformers

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.m = model

        def forward(self, input_ids):
            return self.m(input_ids).last_hidden_state

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        initializer_range=INITIALIZER_RANGE,
    )
    wrapper = LastHiddenState(transformers.BertModel(config).eval()).eval()
    input_ids = np.random.default_rng(0).integers(0, 100, (2, 12)).astype(np.int64)
    return wrapper, input_ids


def broken_copy(model, module: str = FAULTY_MODULE, amount: float = 0.02):
    """A copy of the export with `module`'s weight scaled by (1 + amount)."""
    import ast

    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    for node in model.graph.node:
        scopes = next((e.value for e in node.metadata_props if e.key == "pkg.torch.onnx.name_scopes"), "")
        if node.op_type in ("MatMul", "Gemm") and scopes and ast.literal_eval(scopes)[-2].endswith(module):
            weight = next(name for name in node.input if name in initializers)
            tensor = initializers[weight]
            scaled = numpy_helper.to_array(tensor) * np.float32(1 + amount)
            tensor.CopyFrom(numpy_helper.from_array(scaled, weight))
            return model
    raise SystemExit(f"no MatMul of {module} in the export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--html", default=None, help="also write the HTML report here")
    arguments = parser.parse_args()

    import toolkit

    wrapper, input_ids = build()
    exported = toolkit.convert(wrapper, example_inputs=(input_ids,))
    broken = broken_copy(exported)
    timings, report = [], None
    for _ in range(arguments.repeats):
        report = toolkit.verify_parity(exported, broken, example_inputs=(input_ids,))
        timings.append(report.candidates[0].divergence.seconds)
    candidate = report.candidates[0]
    divergence = candidate.divergence
    print(f"nodes: {len(broken.graph.node)}")
    print(f"verdict: {candidate.verdict}")
    print(f"path rows (per node): {len(divergence.path)}")
    print(f"path rows (per layer): {len(getattr(divergence, 'layers', []) or []) or 'n/a'}")
    spread = f"{min(timings):.3f}-{max(timings):.3f}"
    print(f"localisation: median {statistics.median(timings):.3f} s (range {spread}, {len(timings)} runs)")
    if arguments.html:
        from toolkit.parity.html import render_html

        with open(arguments.html, "w", encoding="utf-8") as page:
            page.write(render_html(report))


if __name__ == "__main__":
    main()
