"""ONNX's rules, written once and framework-neutral, that both operator tables call.

Read these before the tables: a handler in `torch/ops/` or `tensorflow/ops/` turns a plan from here
into framework calls, and registers the family's `check` so both importers reject the same nodes
before any work.

- `resize.py`: Resize/Upsample: resized axes, output sizes and scales (keep_aspect_ratio_policy,
  axes), coordinate transformations, nearest rounding, linear/cubic weights (antialias,
  exclude_outside), tf_crop_and_resize's extrapolation mask, sizes computed from shapes.
- `conv.py`: Conv, ConvTranspose and the pools: pads and auto_pad, ceil_mode's extra end padding,
  dilations, output sizes, what an average counts (count_include_pad), ConvTranspose's crops
  (output_padding, output_shape, kernel_shape).
- `detection.py`: NonMaxSuppression box formats and defaults, RoiAlign's checks and region bins.
- `rnn.py`: RNN/GRU/LSTM activations with activation_alpha/beta consumed as the spec says.
- `quantization.py`: integer ranges (4- and 2-bit included), the float8/float4 formats, how scales
  and zero points line up with x (per tensor, per axis, blocked), result types.
- `attention.py`: FlexAttention's plan and check. `deform_conv.py`: DeformConv's check.
- `flatten.py`: when a Transpose → flatten → MatMul only reorders the weight's rows, and how
  (torch's fold of tf2onnx's NHWC flatten; TensorFlow's of its channels-last values).
- `shapes.py`: Reshape targets computed from shapes (a symbolic batch times sizes), resolved to
  constants when the model is built.

Every rule is tested through both importers by `tests/importers/cases.py` against onnx's
reference evaluator.
"""
