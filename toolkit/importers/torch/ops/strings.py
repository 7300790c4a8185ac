"""String and text operators: StringNormalizer, StringConcat, StringSplit, RegexFullMatch, LabelEncoder,
Equal, TfIdfVectorizer.

torch has no string tensors, so ONNX STRING values travel through the module as numpy arrays of
Python str (the way onnx's reference and onnxruntime's Python API hold them): graph inputs take
them as given, and each operator here runs as one fx call on the arrays. Numeric results come back
as torch tensors, so the rest of the graph computes on them as usual. Only these operators are
exempt from the up-front "no strings" check; any other operator on a string still fails there.
A module with string inputs or outputs runs as a GraphModule; torch.export cannot save it.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from onnx import TensorProto

from toolkit.importers.semantics import label_encoder as rules
from toolkit.importers.semantics import tf_idf
from toolkit.importers.torch.ops.table import register, table
from toolkit.importers.torch.ops.values import leaf

ML_DOMAIN = "ai.onnx.ml"
table.exempt_operators.update(
    {
        ("", "StringNormalizer"),
        ("", "StringConcat"),
        ("", "StringSplit"),
        ("", "RegexFullMatch"),
        (ML_DOMAIN, "LabelEncoder"),
        ("", "Equal"),
        ("", "TfIdfVectorizer"),
    }
)


def _strings(x) -> np.ndarray:
    return np.asarray(x, dtype=object)


def _text(values) -> np.ndarray:
    """A numpy array of str (object dtype, as ONNX STRING is held in numpy)."""
    return np.asarray(values, dtype=object)


@leaf
def _normalize(x, case_change_action, is_case_sensitive, stopwords):
    x = _strings(x)
    flat = list(x.reshape(-1))
    if stopwords:
        # ONNX StringNormalizer: stop words are whole elements, matched per is_case_sensitive.
        if is_case_sensitive:
            flat = [w for w in flat if w not in set(stopwords)]
        else:
            stops = {w.lower() for w in stopwords}
            flat = [w for w in flat if w.lower() not in stops]
    if case_change_action == "LOWER":
        flat = [w.lower() for w in flat]
    elif case_change_action == "UPPER":
        flat = [w.upper() for w in flat]
    flat = flat or [""]  # everything filtered out gives one empty string
    result = _text(flat)
    return result if x.ndim == 1 else result.reshape(1, -1)


def _normalizer_check(attributes, context):
    action = attributes["case_change_action"]
    shape = context.inputs[0].shape if context.inputs and context.inputs[0] is not None else None
    if action not in ("NONE", "LOWER", "UPPER"):
        return f"case_change_action={action!r} is not one of NONE, LOWER, UPPER"
    if shape is not None and not (len(shape) == 1 or (len(shape) == 2 and shape[0] in (1, None))):
        return "input must be [C] or [1, C]"
    return ""


@register("StringNormalizer", since=10, check=_normalizer_check)
def string_normalizer(x, *, case_change_action="NONE", is_case_sensitive=0, locale=None, stopwords=None):
    return _normalize(x, case_change_action, bool(is_case_sensitive), list(stopwords or []))


@leaf
def _equal(a, b):
    a, b = np.broadcast_arrays(_strings(a), _strings(b))
    return torch.from_numpy(np.asarray(a == b, dtype=bool))


@register("Equal", since=19)
def equal_19(a, b, *, context):
    # ONNX Equal takes strings from opset 19; numbers go to torch.eq as before.
    if any(info is not None and info.element_type == TensorProto.STRING for info in context.inputs):
        return _equal(a, b)
    return torch.eq(a, b)


@leaf
def _concat(x, y):
    x, y = np.broadcast_arrays(_strings(x), _strings(y))
    return _text([a + b for a, b in zip(x.reshape(-1), y.reshape(-1), strict=True)]).reshape(x.shape)


@register("StringConcat", since=20)
def string_concat(x, y):
    return _concat(x, y)


@leaf
def _split(x, delimiter, maxsplit):
    x = _strings(x)
    # ONNX StringSplit: an empty delimiter splits on runs of whitespace, like str.split().
    pieces = [s.split(delimiter or None, -1 if maxsplit is None else maxsplit) for s in x.reshape(-1)]
    width = max((len(p) for p in pieces), default=0)
    padded = _text([p + [""] * (width - len(p)) for p in pieces]).reshape(*x.shape, width)
    counts = torch.tensor([len(p) for p in pieces], dtype=torch.int64).reshape(x.shape)
    return padded, counts


@register("StringSplit", since=20)
def string_split(x, *, delimiter=None, maxsplit=None):
    result = _split(x, delimiter, maxsplit)
    return result[0], result[1]


@leaf
def _full_match(x, pattern):
    x = _strings(x)
    regex = re.compile(pattern)
    matches = [regex.fullmatch(s) is not None for s in x.reshape(-1)]
    return torch.tensor(matches, dtype=torch.bool).reshape(x.shape)


@register("RegexFullMatch", since=20)
def regex_full_match(x, *, pattern=None):
    # ONNX asks for RE2 syntax; Python's re accepts the same patterns for the constructs RE2 has.
    return _full_match(x, pattern)


@leaf
def _look_up(x, mapping, default, dtype_name):
    dtype = None if dtype_name is None else np.dtype(dtype_name)
    values = _strings(x) if isinstance(x, np.ndarray) else x.detach().cpu().numpy()
    found = [mapping.get(v, default) for v in values.reshape(-1).tolist()]
    if dtype is None:
        return _text(found).reshape(values.shape)
    return torch.from_numpy(np.asarray(found, dtype=dtype).reshape(values.shape))


@register("LabelEncoder", since=2, domain=ML_DOMAIN)
def label_encoder(
    x,
    *,
    default_float=-0.0,
    default_int64=-1,
    default_string="_Unused",
    default_tensor=None,
    keys_floats=None,
    keys_int64s=None,
    keys_strings=None,
    keys_tensor=None,
    values_floats=None,
    values_int64s=None,
    values_strings=None,
    values_tensor=None,
):
    keys, values, default, dtype = rules.table(
        default_float, default_int64, default_string, default_tensor,
        keys_floats, keys_int64s, keys_strings, keys_tensor,
        values_floats, values_int64s, values_strings, values_tensor,
    )  # fmt: skip
    mapping = dict(zip(keys, values, strict=True))
    # The dtype goes by name: an fx node's arguments cannot hold a numpy dtype.
    return _look_up(x, mapping, default, None if dtype is None else dtype.name)


@leaf
def _tf_idf(x, grams, sizes, max_skip_count, output_size, mode, weights):
    values = _strings(x) if isinstance(x, np.ndarray) else x.detach().cpu().numpy()
    rows = values.reshape(1, -1) if values.ndim == 1 else values
    low, high = sizes
    counts = np.zeros((len(rows), output_size), np.float32)
    for row, items in zip(counts, rows.tolist(), strict=True):
        for skip in range(1, max_skip_count + 2):
            # Unigrams are counted once, not again for every skip distance (as onnxruntime does).
            smallest = low if skip == 1 else max(low, 2)
            for start in range(len(items)):
                for size in range(smallest, high + 1):
                    last = start + skip * (size - 1)
                    if last >= len(items):
                        break
                    position = grams.get(tuple(items[start : last + 1 : skip]))
                    if position is not None:
                        row[position] += 1
    if mode != "TF":
        scale = np.ones(output_size, np.float32) if weights is None else np.asarray(weights, np.float32)
        counts = (counts > 0) * scale if mode == "IDF" else counts * scale
    result = torch.from_numpy(counts.astype(np.float32))
    return result.reshape(-1) if values.ndim == 1 else result


@register("TfIdfVectorizer", since=9, check=tf_idf.check)
def tf_idf_vectorizer(
    x, *, max_gram_length, max_skip_count, min_gram_length, mode, ngram_counts, ngram_indexes,
    pool_int64s=None, pool_strings=None, weights=None,
):  # fmt: skip
    pool = list(pool_strings) if pool_strings is not None else [int(v) for v in pool_int64s]
    grams = tf_idf.pool(pool, list(ngram_counts), list(ngram_indexes))
    output_size = max(ngram_indexes) + 1
    sizes = (min_gram_length, max_gram_length)
    return _tf_idf(x, grams, sizes, max_skip_count, output_size, mode, weights)
