"""The torch operator table: handlers register here, the core looks them up (see core.OperatorTable)."""

from __future__ import annotations

from onnx import TensorProto

from toolkit.importers import core

table = core.OperatorTable("torch")
register = table.register
# torch has no string tensors: reported in the up-front scan, before any work.
table.unsupported_element_types.update({TensorProto.STRING})
