"""ONNX's rules, written once and framework-neutral, that both operator tables call."""
