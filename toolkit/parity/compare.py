"""Error metrics per output and the default tolerances per dtype that make a verdict mean something."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# (rtol, atol): an element passes when |candidate - reference| <= atol + rtol * |reference|.
# float32 leaves room for different kernel orders across frameworks (conv algorithms, fused ops).
DEFAULT_TOLERANCES = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-3, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
EXACT = (0.0, 0.0)


def default_tolerance(dtype: np.dtype) -> tuple[float, float]:
    name = np.dtype(dtype).name
    return DEFAULT_TOLERANCES.get(
        name, EXACT if not np.issubdtype(np.dtype(dtype), np.floating) else (1e-3, 1e-4)
    )


@dataclass
class OutputComparison:
    """Every figure for one output of one run; `passed` is the verdict under (rtol, atol)."""

    name: str
    passed: bool
    rtol: float
    atol: float
    reference_shape: tuple[int, ...]
    candidate_shape: tuple[int, ...] | None
    reference_dtype: str
    candidate_dtype: str | None
    max_abs: float = float("nan")
    max_rel: float = float("nan")
    mean_abs: float = float("nan")
    cosine: float = float("nan")
    outside_share: float = float("nan")
    nan_mismatch: int = 0
    reference_nonfinite: int = 0  # NaN/Inf already in the reference: the check is weaker there
    problem: str = ""

    @property
    def kind(self) -> str:
        """What went wrong, in one word: pass, missing, shape, nonfinite or values."""
        if self.passed:
            return "pass"
        if self.candidate_shape is None:
            return "missing"
        if "differs" in self.problem:
            return "shape"
        if self.nan_mismatch:
            return "nonfinite"
        return "values"

    def to_dict(self) -> dict:
        record = asdict(self)
        record["kind"] = self.kind
        record["dtype_mismatch"] = bool(self.candidate_dtype) and self.candidate_dtype != self.reference_dtype
        record["shape_mismatch"] = self.candidate_shape is not None and (
            tuple(self.candidate_shape) != tuple(self.reference_shape)
        )
        return record


def compare_output(
    name: str,
    reference: np.ndarray,
    candidate: np.ndarray | None,
    rtol: float | None = None,
    atol: float | None = None,
) -> OutputComparison:
    """Compare one output; mismatched shapes, dtypes and NaNs are reported, never raised."""
    reference = np.asarray(reference)
    default_rtol, default_atol = default_tolerance(reference.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    result = OutputComparison(
        name=name,
        passed=False,
        rtol=rtol,
        atol=atol,
        reference_shape=tuple(reference.shape),
        candidate_shape=None,
        reference_dtype=str(reference.dtype),
        candidate_dtype=None,
    )
    if candidate is None:
        result.problem = "missing in the candidate"
        return result
    candidate = np.asarray(candidate)
    result.candidate_shape = tuple(candidate.shape)
    result.candidate_dtype = str(candidate.dtype)
    if candidate.shape != reference.shape:
        if candidate.size == reference.size and candidate.squeeze().shape == reference.squeeze().shape:
            candidate = candidate.reshape(reference.shape)
            result.problem = f"shape {candidate.shape} vs {reference.shape} (compared after squeezing)"
        else:
            result.problem = (
                f"shape {tuple(candidate.shape)} differs from the reference's {tuple(reference.shape)}"
            )
            return result
    if reference.dtype.kind in "biu" and candidate.dtype.kind in "biu":
        return _compare_integers(result, reference, candidate)
    return _compare_floats(result, reference, candidate, rtol, atol)


def _compare_integers(
    result: OutputComparison, reference: np.ndarray, candidate: np.ndarray
) -> OutputComparison:
    """Integers (and booleans) match exactly or not at all."""
    equal = reference.astype(np.int64) == candidate.astype(np.int64)
    result.max_abs = float(np.abs(reference.astype(np.int64) - candidate.astype(np.int64)).max(initial=0))
    result.outside_share = float(1.0 - equal.mean()) if equal.size else 0.0
    result.passed = bool(equal.all())
    result.max_rel = result.mean_abs = 0.0 if result.passed else float("nan")
    return result


def _compare_floats(
    result: OutputComparison, reference: np.ndarray, candidate: np.ndarray, rtol: float, atol: float
) -> OutputComparison:
    """Floats within atol + rtol·|reference|; NaN/Inf must sit in the same places with the same values."""
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    ref_nan, cand_nan = ~np.isfinite(ref), ~np.isfinite(cand)
    result.reference_nonfinite = int(ref_nan.sum())
    same_nonfinite = ref_nan & cand_nan & ((np.isnan(ref) & np.isnan(cand)) | (ref == cand))
    result.nan_mismatch = int((ref_nan != cand_nan).sum() + (ref_nan & cand_nan & ~same_nonfinite).sum())
    finite = ~ref_nan & ~cand_nan
    difference = np.abs(ref - cand)[finite]
    magnitude = np.abs(ref)[finite]
    if difference.size:
        result.max_abs = float(difference.max())
        result.mean_abs = float(difference.mean())
        result.max_rel = float((difference / np.maximum(magnitude, np.finfo(np.float64).tiny)).max())
        outside = difference > atol + rtol * magnitude
        result.outside_share = float((outside.sum() + result.nan_mismatch) / ref.size)
    else:
        result.max_abs = result.mean_abs = result.max_rel = 0.0
        result.outside_share = float(result.nan_mismatch / ref.size) if ref.size else 0.0
    result.cosine = cosine_similarity(ref[finite], cand[finite])
    result.passed = result.outside_share == 0.0 and result.nan_mismatch == 0
    if reference.dtype != candidate.dtype and not result.problem:
        result.problem = f"dtype {candidate.dtype} vs reference {reference.dtype}"
    if result.reference_nonfinite and not result.problem:
        result.problem = f"the reference has {result.reference_nonfinite} NaN/Inf value(s)"
    return result


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a.ravel(), b.ravel()) / norm)
