"""The torch operator table: one handler per ONNX operator, grouped by family.

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
    image,
    math,
    ml,
    nn,
    optimizers,
    quantize,
    resize,
    rnn,
    sampling,
    signal,
    strings,
    tensor,
)
from toolkit.importers.torch.ops.support import table

__all__ = ["table"]
