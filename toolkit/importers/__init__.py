"""ONNX → framework importers: one shared graph walker (core), one operator table per framework."""
