"""KServe's own Python ModelServer serving one ONNX file with onnxruntime: the competitor that
`scripts/bench_serve.py --against kserve` runs beside `toolkit serve`.

Runs in .venv-kserve (`make .venv-kserve/.installed`), not in toolkit's venv:

    .venv-kserve/bin/python scripts/kserve_onnx_server.py MODEL.onnx --http-port 8080

A kserve.Model as KServe's docs write one: predict() takes the v2 InferRequest, returns an
InferResponse; KServe's REST layer does the JSON and binary tensor coding, as it does in production.
The session gets the same options as toolkit's server (threads = cores, no spinning).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import numpy as np
import onnxruntime
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.numpy_codec import from_np_dtype
from kserve.utils.utils import generate_uuid


class OnnxModel(Model):
    def __init__(self, name: str, path: str, threads: int):
        super().__init__(name)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.ready = True

    def _types(self, tensors) -> list[dict]:
        return [
            {
                "name": tensor.name,
                "datatype": from_np_dtype(np.dtype(_numpy_type(tensor.type))),
                "shape": [size if isinstance(size, int) else -1 for size in tensor.shape],
            }
            for tensor in tensors
        ]

    def get_input_types(self) -> list[dict]:
        return self._types(self.session.get_inputs())

    def get_output_types(self) -> list[dict]:
        return self._types(self.session.get_outputs())

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        # onnxruntime releases the GIL: run off the event loop, as toolkit's server does.
        values = await asyncio.get_running_loop().run_in_executor(
            None, self.session.run, self.output_names, feeds
        )
        outputs = []
        for name, value in zip(self.output_names, values, strict=True):
            output = InferOutput(name=name, shape=list(value.shape), datatype=from_np_dtype(value.dtype))
            output.set_data_from_numpy(value, binary_data=payload.use_binary_outputs)
            outputs.append(output)
        return InferResponse(
            response_id=payload.id or generate_uuid(),  # KServe's response model requires an id
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def _numpy_type(onnx_type: str):
    return {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(bool)": np.bool_,
    }[onnx_type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    arguments = parser.parse_args()
    model = OnnxModel(Path(arguments.model).stem, arguments.model, arguments.threads)
    ModelServer(http_port=arguments.http_port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
