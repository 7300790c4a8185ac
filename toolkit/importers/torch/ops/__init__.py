"""The torch operator table: one handler per ONNX operator, grouped by family.

Families: attention, control_flow, detection, elementwise, grid_sample, math (reductions, softmax,
matrix products, losses), nn (convolution, pooling, normalisation), quantization, resize, rnn
(+ rnn_fused, torch's fused kernels), signal, tensor. The helpers handlers share, one job each:
table.py (the OperatorTable), values.py (ranks, dtypes, constants of tensors and fx proxies;
`NeedsValues`), unsigned.py (uint16/32/64 computed as int64), symbolic.py (shapes as values).
ONNX's rules themselves live in toolkit/importers/semantics/, shared with the TensorFlow table.

Versioning: a handler is registered with the opset (`since`) from which its signature and
semantics hold; when an operator changed (Split's `split` moved from attribute to input at 13,
Softmax stopped flattening at 13, Resize gained modes), the newer behaviour is a second function
with a higher `since`. The core picks the newest handler whose `since` is at most the model's
opset, so one table serves every opset from 7 (older models are upgraded by onnx's version
converter first) to the newest the installed onnx defines, without `if opset >= ...` branches.
"""

from toolkit.importers.torch.ops import (  # noqa: F401  (registration happens on import)
    attention,
    control_flow,
    deform_conv,
    detection,
    elementwise,
    grid_sample,
    image,
    math,
    ml,
    nn,
    optimizers,
    quantization,
    resize,
    rnn,
    signal,
    strings,
    tensor,
)
from toolkit.importers.torch.ops.table import table

__all__ = ["table"]
