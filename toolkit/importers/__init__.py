"""ONNX → framework importers. Read them in this order:

- `semantics/`: ONNX's rules written once, framework-neutral (per family a numpy-level plan and a
  `check` the core attaches to both tables), so the two importers cannot drift apart: Resize,
  Conv/ConvTranspose and pools, detection (NMS, RoiAlign), RNNs, quantization, FlexAttention,
  DeformConv. `tests/importers/cases.py` runs one case table through both.
- `core.py`: the one graph walker: opsets, the up-front support scan (one error listing every
  unsupported node), constant folding, attributes parsed with the spec's defaults, the
  topological walk and subgraphs. `run_graph(..., observe=)` is the walk-and-observe API that
  localisation uses; a `ConstantBinder` says how a framework holds constants.
- `torch/` and `tensorflow/`: a builder over the core and an operator table (`ops/`), with the
  same family module names in both (control_flow, math, nn, quantization, grid_sample, ...).

A handler reads build-time values through its table's queries: `maybe_known` (the value or None)
in both, and TensorFlow's `known` (the value, or an error saying it must be known when building).
"""
