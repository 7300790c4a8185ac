"""Triton python-backend model: runs the model.onnx beside this file with onnxruntime.

`toolkit deploy --backend python` copies this file to NAME/1/model.py. It runs inside Triton's
python backend stub, where `triton_python_backend_utils` exists and toolkit is not installed.
"""

import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        config = json.loads(args["model_config"])
        options = onnxruntime.SessionOptions()
        threads = config.get("parameters", {}).get("intra_op_thread_count", {}).get("string_value")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.output_names = [item.name for item in self.session.get_outputs()]

    def execute(self, requests):
        responses = []
        for request in requests:
            feeds = {}
            for name in self.input_names:
                value = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                # Triton hands TYPE_STRING as bytes objects; onnxruntime takes str.
                if value.dtype == np.object_:
                    value = np.vectorize(lambda item: item.decode("utf-8"), otypes=[object])(value)
                feeds[name] = value
            try:
                values = self.session.run(self.output_names, feeds)
            except Exception as error:  # the client gets onnxruntime's message, the model keeps serving
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error))))
                continue
            tensors = [
                pb_utils.Tensor(name, np.asarray(value))
                for name, value in zip(self.output_names, values, strict=True)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
