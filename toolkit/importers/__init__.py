"""ONNX → framework importers: one shared graph walker (core), ONNX's rules written once
(semantics/), one operator table per framework (torch/ops, tensorflow/ops)."""
