"""Run a reference and its candidates on the same seeded inputs, at one or more batch sizes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from toolkit.errors import InputError, ToolkitError
from toolkit.parity.compare import compare_output
from toolkit.parity.inputs import generate_inputs
from toolkit.parity.report import CandidateResult, ParityReport, RunComparison
from toolkit.runners import Runnable


def batch_is_dynamic(runnables: Sequence[Runnable]) -> bool:
    """The batch may vary when no model pins axis 0 of an input to a fixed size."""
    for model in runnables:
        for spec in model.input_specs or []:
            if (
                spec.shape is not None
                and len(spec.shape) > 0
                and isinstance(spec.shape[0], int)
                and spec.shape[0] > 0
            ):
                return False
    return True


def default_batch_sizes(example_inputs: Sequence[np.ndarray] | None, dynamic: bool) -> list[int | None]:
    """Two batch sizes when the batch is dynamic (the example's and a different one), else the fixed one."""
    if not dynamic:
        return [None]
    example_batch = int(example_inputs[0].shape[0]) if example_inputs and np.ndim(example_inputs[0]) else 2
    return [example_batch, 1 if example_batch != 1 else 3]


def verify(
    reference: Runnable,
    candidates: Sequence[Runnable],
    example_inputs: Sequence[np.ndarray] | None = None,
    batch_sizes: Sequence[int | None] | None = None,
    samples: int = 1,
    rtol: float | None = None,
    atol: float | None = None,
    per_output_tolerance: Mapping[str, tuple[float, float]] | None = None,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    user_inputs: Sequence[np.ndarray] | None = None,
) -> ParityReport:
    """Compare each candidate with the reference on every (batch size, seed) run."""
    started = time.perf_counter()
    loaded = list(candidates)
    specs = reference.input_specs or next((c.input_specs for c in loaded if c.input_specs), None)
    if batch_sizes is None:
        batch_sizes = (
            [None]
            if user_inputs is not None
            else default_batch_sizes(example_inputs, batch_is_dynamic([reference, *loaded]))
        )
    feeds_by_run: list[tuple[int | None, int, list[np.ndarray], list[np.ndarray]]] = []
    for batch_size in batch_sizes:
        for seed in range(samples):
            if user_inputs is not None:
                feeds = list(user_inputs)
            else:
                feeds = generate_inputs(example_inputs, specs, batch_size, seed, input_ranges)
            expected = reference.run(feeds)
            _check_reference(reference, expected)
            feeds_by_run.append((batch_size, seed, feeds, expected))
    names = _output_names(reference, loaded, len(feeds_by_run[0][3]))
    tolerances = dict(per_output_tolerance or {})
    results = []
    for candidate in candidates:
        result = CandidateResult(candidate.label, candidate.framework)
        for batch_size, seed, feeds, expected in feeds_by_run:
            try:
                actual = candidate.run(feeds)
            except ToolkitError as error:
                result.error = str(error)
                break
            comparisons = []
            for index, reference_value in enumerate(expected):
                name = names[index]
                output_rtol, output_atol = tolerances.get(name, (rtol, atol))
                value = actual[index] if index < len(actual) else None
                comparisons.append(compare_output(name, reference_value, value, output_rtol, output_atol))
            if len(actual) > len(expected):
                result.notes.append(f"the candidate has {len(actual)} outputs, the reference {len(expected)}")
            result.runs.append(RunComparison(batch_size, seed, comparisons))
        results.append(result)
    return ParityReport(reference.label, reference.framework, results, seconds=time.perf_counter() - started)


def _check_reference(reference: Runnable, outputs: list[np.ndarray]) -> None:
    if not outputs:
        raise InputError(f"{reference.label}: the reference model returned no outputs")


def _output_names(reference: Runnable, candidates: Sequence[Runnable], count: int) -> list[str]:
    for model in (reference, *candidates):
        if model.output_names and len(model.output_names) == count:
            return list(model.output_names)
    return [f"output_{i}" for i in range(count)]
