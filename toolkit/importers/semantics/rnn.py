"""RNN, GRU and LSTM activations: which function each gate runs, with which alpha and beta.

ONNX: activation_alpha/activation_beta "are consumed in the order of activation functions", each
list only by the activations that take that parameter (LeakyRelu takes an alpha, ScaledTanh an alpha
and a beta, Tanh neither); onnxruntime reads them the same way. Missing values fall back to the
defaults of the ONNX operator of the same name.
"""

from __future__ import annotations

from toolkit.errors import InputError

DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}

# Lower-case name -> (default alpha or None when it takes none, default beta or None).
# Affine and ScaledTanh were experimental operators; their defaults are the identity-like 1 and 0/1.
PARAMETERS = {
    "relu": (None, None),
    "tanh": (None, None),
    "sigmoid": (None, None),
    "softsign": (None, None),
    "softplus": (None, None),
    "affine": (1.0, 0.0),
    "leakyrelu": (0.01, None),
    "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5),
    "elu": (1.0, None),
}


def unknown_activations(names) -> list[str]:
    """The names in an `activations` attribute that ONNX does not define."""
    return [name for name in names or [] if name.lower() not in PARAMETERS]


def check(attributes, context) -> str:
    """The operator tables' up-front check: every activation must be one ONNX defines."""
    unknown = unknown_activations(attributes.get("activations"))
    return f"activation(s) {', '.join(unknown)} not supported" if unknown else ""


def activations(op_type, names, alphas, betas, directions) -> list[list[tuple[str, float, float]]]:
    """Per direction, each gate's (lower-case name, alpha, beta), parameters consumed as ONNX says."""
    per_direction = len(DEFAULT_ACTIVATIONS[op_type])
    names = list(names) if names else DEFAULT_ACTIVATIONS[op_type] * directions
    if len(names) < per_direction * directions:  # one list given for both directions
        names = names[:per_direction] * directions
    unknown = unknown_activations(names)
    if unknown:
        raise InputError(f"{op_type}: activation(s) {', '.join(unknown)} not defined by ONNX")
    alphas, betas = iter(alphas or []), iter(betas or [])
    plan = []
    for name in names:
        key = name.lower()
        default_alpha, default_beta = PARAMETERS[key]
        alpha = 0.0 if default_alpha is None else next(alphas, default_alpha)
        beta = 0.0 if default_beta is None else next(betas, default_beta)
        plan.append((key, float(alpha), float(beta)))
    return [plan[d * per_direction : (d + 1) * per_direction] for d in range(directions)]
