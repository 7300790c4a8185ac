"""The torch importer folds the attention ONNX spells out (MatMul → Add mask → Softmax → IsNaN guard
→ MatMul) into one F.scaled_dot_product_attention where it computes the same thing: outputs match
the ONNX reference (fully masked rows included), gradients match the unfolded computation, the
parameters keep their names, and patterns that differ stay as they are."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import toolkit
from toolkit.importers.torch import import_onnx

# The ONNX reference's Softmax of a fully masked row: the NaN the guard exists for.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")
RNG = np.random.default_rng(5)
B, H, L, S, D = 2, 3, 4, 5, 8


def _fused(module):
    return module.graph.find_nodes(op="call_function", target=F.scaled_dot_product_attention)


def _softmaxes(module):
    return module.graph.find_nodes(op="call_function", target=torch.softmax)


def _attention_model(*, masked: bool, guarded: bool, key_chain: bool, divided: bool):
    """torch.onnx's spelling (√scale on q and kᵀ, kᵀ as Reshape → Transpose → Reshape, Where(IsNaN))
    or, with `divided`, the older one (MatMul(q, Transpose(k)) → Div(√D))."""
    nodes, initializers = [], []

    def constant(name, value):
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    if key_chain:
        nodes += [
            helper.make_node("Reshape", ["k", constant("inner", np.array([-1, S, D], np.int64))], ["k3"]),
            helper.make_node("Transpose", ["k3"], ["k3t"], perm=[0, 2, 1]),
            helper.make_node("Reshape", ["k3t", constant("outer", np.array([B, H, D, S], np.int64))], ["kt"]),
        ]
    else:
        nodes.append(helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]))
    if divided:
        nodes += [
            helper.make_node("MatMul", ["q", "kt"], ["product"]),
            helper.make_node(
                "Div", ["product", constant("root", np.array(np.sqrt(D), np.float32))], ["scores"]
            ),
        ]
    else:
        root = constant("root", np.array(D**-0.25, np.float32))
        nodes += [
            helper.make_node("Mul", ["q", root], ["qs"]),
            helper.make_node("Mul", ["kt", root], ["kts"]),
            helper.make_node("MatMul", ["qs", "kts"], ["scores"]),
        ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
        for n, s in (("q", [B, H, L, D]), ("k", [B, H, S, D]), ("v", [B, H, S, D]))
    ]
    last = "scores"
    if masked:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, [B, 1, L, S]))
        zero, minus_inf = (
            constant("zero", np.array(0.0, np.float32)),
            constant("ninf", np.array(-np.inf, np.float32)),
        )
        nodes += [
            helper.make_node("Where", ["mask", zero, minus_inf], ["additive"]),
            helper.make_node("Add", ["scores", "additive"], ["masked"]),
        ]
        last = "masked"
    nodes.append(helper.make_node("Softmax", [last], ["p"], axis=-1))
    last = "p"
    if guarded:
        zero = "zero" if masked else constant("zero", np.array(0.0, np.float32))
        nodes += [
            helper.make_node("IsNaN", ["p"], ["nan"]),
            helper.make_node("Where", ["nan", zero, "p"], ["safe"]),
        ]
        last = "safe"
    nodes.append(helper.make_node("MatMul", [last, "v"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "attention",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, H, L, D])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _feeds(masked: bool):
    feeds = {
        "q": RNG.standard_normal((B, H, L, D)).astype(np.float32),
        "k": RNG.standard_normal((B, H, S, D)).astype(np.float32),
        "v": RNG.standard_normal((B, H, S, D)).astype(np.float32),
    }
    if masked:
        mask = RNG.random((B, 1, L, S)) > 0.3
        mask[0, 0, 1, :] = False  # a fully masked row: 0 from the guard and from the kernel
        mask[1, 0, :, 0] = True
        feeds["mask"] = mask
    return feeds


def _run(module, feeds):
    with torch.no_grad():
        return module(*(torch.from_numpy(a) for a in feeds.values())).numpy()


@pytest.mark.parametrize(
    "masked,guarded,key_chain,divided",
    [
        (True, True, True, False),
        (True, True, False, False),
        (False, False, False, True),
        (False, True, True, False),
    ],
    ids=["torch_onnx_masked", "transposed_key", "divided_unmasked", "guarded_unmasked"],
)
def test_attention_is_fused_and_matches_the_reference(masked, guarded, key_chain, divided):
    model = _attention_model(masked=masked, guarded=guarded, key_chain=key_chain, divided=divided)
    module = import_onnx(model)
    assert len(_fused(module)) == 1 and not _softmaxes(module)
    assert not module.graph.find_nodes(op="call_method", target="reshape")  # kᵀ's chain went too
    feeds = _feeds(masked)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    np.testing.assert_allclose(_run(module, feeds), want, rtol=1e-5, atol=1e-6)


def test_a_masked_softmax_without_the_guard_stays():
    """Without Where(IsNaN) a fully masked row is NaN in ONNX; the kernel would give 0."""
    model = _attention_model(masked=True, guarded=False, key_chain=True, divided=False)
    module = import_onnx(model)
    assert not _fused(module) and _softmaxes(module)
    feeds = _feeds(True)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    got = _run(module, feeds)
    assert np.isnan(got[0, :, 1]).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradients_match_the_unfolded_attention():
    model = _attention_model(masked=True, guarded=True, key_chain=True, divided=False)
    module = import_onnx(model)
    feeds = _feeds(True)
    q, k, v = (torch.from_numpy(feeds[n]).requires_grad_() for n in "qkv")
    mask = torch.from_numpy(feeds["mask"])
    module(q, k, v, mask).square().sum().backward()
    reference = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    scores = reference[0] @ reference[1].transpose(-1, -2) / np.sqrt(D)
    p = torch.softmax(scores.masked_fill(~mask, -np.inf), dim=-1)
    (torch.where(p.isnan(), 0.0, p) @ reference[2]).square().sum().backward()
    for folded, unfolded in zip((q, k, v), reference, strict=True):
        np.testing.assert_allclose(folded.grad.numpy(), unfolded.grad.numpy(), rtol=1e-4, atol=1e-5)


class SelfAttention(torch.nn.Module):
    """One attention block as users write it: fused projections, F.scaled_dot_product_attention."""

    def __init__(self, width=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.out = torch.nn.Linear(width, width)

    def forward(self, x, mask):
        b, s, w = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, s, w))


@pytest.mark.parametrize("trainable", [False, True], ids=["inference_export", "trainable_export"])
def test_exported_attention_is_fused_with_the_same_outputs_and_gradients(trainable):
    torch.manual_seed(0)
    native = SelfAttention().eval()
    x, mask = torch.randn(2, 5, 16), torch.rand(2, 1, 5, 5) > 0.3
    mask[..., 0] = True  # no fully masked row: torch.onnx writes those unlike native torch
    onnx_model = toolkit.convert(native, to="onnx", example_inputs=(x, mask), trainable=trainable)
    imported = toolkit.convert(onnx_model, to="torch")
    assert len(_fused(imported)) == 1 and not _softmaxes(imported)
    with torch.no_grad():
        np.testing.assert_allclose(imported(x, mask).numpy(), native(x, mask).numpy(), rtol=1e-5, atol=1e-6)
    if not trainable:
        return
    native(x, mask).square().sum().backward()
    imported(x, mask).square().sum().backward()
    mapping = toolkit.parameter_map(imported)
    assert {name for name, _ in native.named_parameters()} <= set(mapping)  # names unchanged
    for name, parameter in native.named_parameters():
        entry = mapping[name]
        np.testing.assert_allclose(
            entry.to_source(entry.value.grad.numpy()), parameter.grad.numpy(), rtol=1e-4, atol=1e-6
        )


def test_a_mask_that_is_zero_everywhere_is_dropped():
    """torch.onnx writes ViT's absent mask as Where(Expand(all-True constant), 0, -inf)."""
    model = _attention_model(masked=True, guarded=True, key_chain=True, divided=False)
    del model.graph.input[3]  # the mask input becomes a constant, expanded as torch.onnx does
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.ones((1, 1, L, 1), bool), "everywhere"),
            numpy_helper.from_array(np.array([B, 1, L, S], np.int64), "mask_shape"),
        ]
    )
    model.graph.node.insert(0, helper.make_node("Expand", ["everywhere", "mask_shape"], ["mask"]))
    module = import_onnx(model)
    (fused,) = _fused(module)
    assert fused.kwargs["attn_mask"] is None
    assert not module.graph.find_nodes(op="call_function", target=torch.where)
    feeds = _feeds(False)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    np.testing.assert_allclose(_run(module, feeds), want, rtol=1e-5, atol=1e-6)
