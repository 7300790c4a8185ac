"""Serving ONNX models over the Open Inference Protocol (KServe v2) with onnxruntime, and benchmarking them.

Imports nothing heavy at package import: `toolkit serve` and `toolkit bench` load FastAPI and
uvicorn only when they run.
"""
