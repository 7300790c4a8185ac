"""Hand canonical ONNX models to existing serving engines: Triton model repositories, KServe manifests."""
