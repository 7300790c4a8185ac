"""Run a reference and its candidates on the same seeded inputs, at one or more shapes, and localise failures."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from toolkit.errors import InputError, ToolkitError, UsageError
from toolkit.parity.compare import compare_output
from toolkit.parity.inputs import dynamic_axes, generate_inputs
from toolkit.parity.report import CandidateResult, ParityReport, RunComparison
from toolkit.runners import Runnable
from toolkit.sources import Source

# Elements kept per output for the HTML plots (a random subset of the worst run).
PLOT_SAMPLE = 20_000


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


@dataclass
class Layout:
    """Permutations from the reference's layout to a candidate's, per input and output name."""

    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs)


@dataclass(frozen=True)
class ParityOptions:
    """How a parity check runs: the shapes and seeds tried, tolerances, layouts and localisation.

    `batch_sizes` None: two sizes when the batch is dynamic; `tolerances` {output: (rtol, atol)};
    `input_ranges` {input: (low, high)} for generated values; `dim_sizes` {dim_param or
    "input.axis": sizes}; `input_perm`/`output_perm` {name: perm} from the reference's layout to a
    candidate's; `localize` "auto" (below 5,000 nodes), True or False. Checked on creation.
    """

    rtol: float | None = None
    atol: float | None = None
    batch_sizes: Sequence[int | None] | None = None
    samples: int = 1
    tolerances: Mapping[str, tuple[float, float]] | None = None
    input_ranges: Mapping[str, tuple[float, float]] | None = None
    dim_sizes: Mapping[str, Sequence[int]] | None = None
    input_perm: Mapping[str, Sequence[int]] | None = None
    output_perm: Mapping[str, Sequence[int]] | None = None
    localize: bool | str = "auto"

    def __post_init__(self) -> None:
        from toolkit.options import check_batch_sizes, check_samples, check_tolerance

        if self.localize not in (True, False, "auto"):
            raise UsageError(f"localize={self.localize!r}: expected True, False or 'auto'")
        check_tolerance(self.rtol, "rtol")
        check_tolerance(self.atol, "atol")
        for name, (output_rtol, output_atol) in (self.tolerances or {}).items():
            check_tolerance(output_rtol, f"tolerance of {name}: rtol")
            check_tolerance(output_atol, f"tolerance of {name}: atol")
        check_batch_sizes(self.batch_sizes, "batch size")
        check_samples(self.samples)

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, object]) -> ParityOptions:
        """verify_parity's keyword arguments as options; an unknown name is a usage error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(keywords) - known)
        if unknown:
            raise UsageError(
                f"verify_parity got unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**keywords)

    @property
    def layout(self) -> Layout:
        return Layout(
            inputs={name: tuple(int(a) for a in perm) for name, perm in (self.input_perm or {}).items()},
            outputs={name: tuple(int(a) for a in perm) for name, perm in (self.output_perm or {}).items()},
        )

    def settings(self, user_inputs: bool) -> dict:
        """What the report records of these options (docs/parity-json-schema.md: "settings")."""
        layout = self.layout
        return {
            "rtol": self.rtol,
            "atol": self.atol,
            "tolerances": {name: list(pair) for name, pair in (self.tolerances or {}).items()},
            "samples": self.samples,
            "user_inputs": user_inputs,
            "input_perm": {name: list(perm) for name, perm in layout.inputs.items()},
            "output_perm": {name: list(perm) for name, perm in layout.outputs.items()},
            "localize": self.localize if isinstance(self.localize, str) else bool(self.localize),
        }


@dataclass
class _Run:
    batch_size: int | None
    seed: int
    dims: dict[str, int]
    feeds: list[np.ndarray]
    expected: list[np.ndarray]


def verify(
    reference: Runnable,
    candidates: Sequence[Runnable],
    options: ParityOptions | None = None,
    example_inputs: Sequence[np.ndarray] | None = None,
    user_inputs: Sequence[np.ndarray] | None = None,
    reference_source: Source | None = None,
    candidate_sources: Sequence[Source] | None = None,
) -> ParityReport:
    """Compare each candidate with the reference on every (shape, seed) run.

    Without `user_inputs`, inputs are generated like `example_inputs` at each shape `options`
    asks for; localisation of a failing candidate needs the sources.
    """
    started = time.perf_counter()
    options = options or ParityOptions()
    loaded = list(candidates)
    layout = options.layout
    input_names = _input_names(reference, loaded, user_inputs, example_inputs)
    for candidate in loaded:
        candidate.align_inputs(input_names)
    _check_layout_names(layout.inputs, input_names, "--input-perm")
    runs, skipped = _reference_runs(reference, loaded, options, example_inputs, user_inputs)
    names = _output_names(reference, loaded, len(runs[0].expected))
    _check_layout_names(layout.outputs, names, "--output-perm")
    unknown = sorted(set(options.tolerances or {}) - set(names))
    if unknown:
        raise UsageError(
            f"--tol names unknown output(s) {', '.join(unknown)}; the outputs are {', '.join(names)}"
        )
    results = []
    for index, candidate in enumerate(loaded):
        result = _compare_candidate(candidate, runs, input_names, names, options, user_inputs is not None)
        result.notes[:0] = skipped
        if (
            not result.passed
            and not result.error
            and options.localize
            and reference_source
            and candidate_sources
        ):
            failing = next((r for r, c in zip(runs, result.runs, strict=False) if not c.passed), runs[0])
            permuted_inputs = _inputs_to_permute(candidate, layout.inputs, input_names, runs[0].feeds)
            result.divergence = _localize(
                reference_source,
                candidate_sources[index],
                failing.feeds,
                _candidate_feeds(failing.feeds, input_names, layout, permuted_inputs),
                options.rtol,
                options.atol,
                options.localize,
            )
        results.append(result)
    report = ParityReport(
        reference.label, reference.framework, results, seconds=time.perf_counter() - started
    )
    report.settings = options.settings(user_inputs is not None)
    return report


def _reference_runs(
    reference, candidates, options, example_inputs, user_inputs
) -> tuple[list[_Run], list[str]]:
    """The reference's outputs on every (shape, seed) run, and notes on shapes it rejected."""
    specs = reference.input_specs or next((c.input_specs for c in candidates if c.input_specs), None)
    shapes = _shape_variants(
        reference, candidates, example_inputs, options.batch_sizes, user_inputs, options.dim_sizes
    )
    runs: list[_Run] = []
    skipped: list[str] = []
    for batch_size, axis_sizes, dims in shapes:
        for seed in range(options.samples):
            if user_inputs is not None:
                feeds = list(user_inputs)
            else:
                feeds = generate_inputs(
                    example_inputs, specs, batch_size, seed, options.input_ranges, axis_sizes
                )
            try:
                expected = reference.run(feeds)
            except InputError as error:
                if not dims or user_inputs is not None:
                    raise
                # The graph leaves this axis free, the source model does not (a mask tied to a fixed length).
                skipped.append(f"the reference rejects {_format_dims(dims)}, not compared ({error})"[:300])
                break
            _check_reference(reference, expected)
            runs.append(_Run(batch_size, seed, dims, feeds, expected))
    return runs, skipped


def _candidate_feeds(feeds, input_names, layout: Layout, permuted_inputs: set[str]) -> list[np.ndarray]:
    return [
        np.ascontiguousarray(np.transpose(x, layout.inputs[name])) if name in permuted_inputs else x
        for name, x in zip(input_names, feeds, strict=False)
    ]


def _compare_candidate(
    candidate: Runnable,
    runs: list[_Run],
    input_names: list[str],
    names: list[str],
    options: ParityOptions,
    user_inputs: bool,
) -> CandidateResult:
    """One candidate on every run, each output compared with the reference's at its tolerance."""
    layout = options.layout
    tolerances = dict(options.tolerances or {})
    result = CandidateResult(candidate.label, candidate.framework)
    permuted_inputs = _inputs_to_permute(candidate, layout.inputs, input_names, runs[0].feeds)
    for name in permuted_inputs:
        result.layout.append(f"input {name} permuted {_format_perm(layout.inputs[name])} for the candidate")
    output_notes: set[str] = set()
    worst_run: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    for run in runs:
        feeds = _candidate_feeds(run.feeds, input_names, layout, permuted_inputs)
        try:
            actual = _by_name(candidate.run(feeds), candidate.output_names, names)
        except ToolkitError as error:
            result.error = str(error)
            break
        comparisons = []
        for position, reference_value in enumerate(run.expected):
            name = names[position]
            output_rtol, output_atol = tolerances.get(name, (options.rtol, options.atol))
            value = actual[position] if position < len(actual) else None
            if value is not None and name in layout.outputs:
                value, note = _restore_output(np.asarray(value), reference_value, layout.outputs[name], name)
                if note:
                    output_notes.add(note)
            comparison = compare_output(name, reference_value, value, output_rtol, output_atol)
            comparisons.append(comparison)
            _keep_for_plots(worst_run, name, comparison, reference_value, value, run.seed)
        if len(actual) > len(run.expected):
            note = f"the candidate has {len(actual)} outputs, the reference {len(run.expected)}"
            if note not in result.notes:
                result.notes.append(note)
        result.runs.append(
            RunComparison(run.batch_size, run.seed, comparisons, dims=run.dims, user_inputs=user_inputs)
        )
    result.layout.extend(sorted(output_notes))
    result.plots = {name: (ref, cand) for name, (_, ref, cand) in worst_run.items()}
    return result


def _localize(reference_source, candidate_source, reference_feeds, candidate_feeds, rtol, atol, mode):
    from toolkit.parity.localize import AUTO_NODE_LIMIT, Divergence, graph_size, localize

    if mode == "auto":
        sizes = [s for s in (graph_size(reference_source), graph_size(candidate_source)) if s is not None]
        if sizes and max(sizes) >= AUTO_NODE_LIMIT:
            return Divergence(
                method="skipped",
                compared_nodes=0,
                note=f"the graph has {max(sizes)} nodes (auto localisation stops at {AUTO_NODE_LIMIT}); pass --localize",
            )
    return localize(reference_source, candidate_source, reference_feeds, candidate_feeds, rtol, atol)


def _shape_variants(reference, candidates, example_inputs, batch_sizes, user_inputs, dim_sizes):
    """(batch size, {(input, axis): size}, {symbol: size}) per shape to run."""
    if user_inputs is not None:
        if dim_sizes:
            raise UsageError("--dim-sizes varies generated inputs; it cannot be used with --inputs")
        return [(None, {}, {})]
    if batch_sizes is None:
        batch_sizes = default_batch_sizes(example_inputs, batch_is_dynamic([reference, *candidates]))
    groups = dynamic_axes([reference.input_specs, *(c.input_specs for c in candidates)])
    requested = dict(dim_sizes or {})
    unknown = sorted(set(requested) - set(groups))
    if unknown:
        listed = ", ".join(groups) or "none"
        raise UsageError(
            f"--dim-sizes {', '.join(unknown)}: not a dynamic non-batch axis of every model (dynamic: {listed})"
        )
    variants = [(size, {}, {}) for size in batch_sizes]
    for symbol, axes in groups.items():
        current = _current_size(example_inputs, axes)
        sizes = requested.get(symbol)
        if sizes is None:
            if current is None:
                continue
            sizes = [max(1, current // 2) if current > 1 else 2]
        for size in sizes:
            if size == current:
                continue
            variants.append((batch_sizes[0], {axis: size for axis in axes}, {symbol: size}))
    return variants


def _current_size(example_inputs, axes) -> int | None:
    if not example_inputs:
        return None
    index, axis = axes[0]
    if index >= len(example_inputs) or np.ndim(example_inputs[index]) <= axis:
        return None
    return int(np.shape(example_inputs[index])[axis])


def _input_names(reference, candidates, user_inputs, example_inputs) -> list[str]:
    for model in (reference, *candidates):
        if model.input_specs:
            return [spec.name for spec in model.input_specs]
    count = len(user_inputs if user_inputs is not None else example_inputs or [])
    return [f"input_{i}" for i in range(count)]


def _check_layout_names(perms: Mapping[str, tuple[int, ...]], names: Sequence[str], option: str) -> None:
    unknown = sorted(set(perms) - set(names))
    if unknown:
        raise UsageError(f"{option} names unknown {', '.join(unknown)}; the model has {', '.join(names)}")


def _inputs_to_permute(candidate, perms, input_names, feeds) -> set[str]:
    """Inputs to permute for this candidate: all with a perm, unless its declared shape is the reference's."""
    chosen = set()
    specs = {spec.name: spec for spec in candidate.input_specs or []}
    for position, name in enumerate(input_names):
        if name not in perms or position >= len(feeds):
            continue
        perm = perms[name]
        shape = np.shape(feeds[position])
        if len(perm) != len(shape) or sorted(perm) != list(range(len(shape))):
            raise UsageError(
                f"--input-perm {name}:{_format_perm(perm)}: not a permutation of the input's {len(shape)} axes"
            )
        declared = _declared_shape(specs, candidate, position)
        permuted = tuple(shape[axis] for axis in perm)
        if declared is not None and _fits(shape, declared) and not _fits(permuted, declared):
            continue  # this candidate takes the reference's layout (e.g. the ONNX twin of a torch model)
        chosen.add(name)
    return chosen


def _declared_shape(specs, candidate, position):
    ordered = candidate.input_specs or []
    if position < len(ordered) and ordered[position].shape is not None:
        return ordered[position].shape
    return None


def _fits(shape, declared) -> bool:
    return len(shape) == len(declared) and all(
        not isinstance(want, int) or want < 0 or want == size
        for size, want in zip(shape, declared, strict=True)
    )


def _restore_output(value: np.ndarray, reference: np.ndarray, perm: tuple[int, ...], name: str):
    """A candidate output in the candidate's layout, brought back to the reference's by the inverse perm."""
    if len(perm) != reference.ndim or sorted(perm) != list(range(reference.ndim)):
        raise UsageError(
            f"--output-perm {name}:{_format_perm(perm)}: not a permutation of {reference.ndim} axes"
        )
    permuted_shape = tuple(reference.shape[axis] for axis in perm)
    if value.shape == permuted_shape and value.shape != reference.shape:
        return np.transpose(value, np.argsort(perm)), f"output {name} permuted back from {_format_perm(perm)}"
    return value, ""


def _format_dims(dims: Mapping[str, int]) -> str:
    return ", ".join(f"{symbol}={size}" for symbol, size in dims.items())


def _format_perm(perm) -> str:
    return ",".join(str(axis) for axis in perm)


def _keep_for_plots(worst_run, name, comparison, reference_value, value, seed) -> None:
    """A random subset of the worst run's elements, for the HTML report's plots."""
    if value is None or comparison.candidate_shape is None or "differs" in comparison.problem:
        return
    score = comparison.max_abs if not np.isnan(comparison.max_abs) else float("inf")
    if name in worst_run and worst_run[name][0] >= score:
        return
    reference_flat = np.asarray(reference_value).reshape(-1)
    candidate_flat = np.asarray(value).reshape(-1)
    if reference_flat.size > PLOT_SAMPLE:
        chosen = np.random.default_rng(seed).choice(reference_flat.size, PLOT_SAMPLE, replace=False)
        reference_flat, candidate_flat = reference_flat[chosen], candidate_flat[chosen]
    if reference_flat.dtype.kind not in "biuf" or candidate_flat.dtype.kind not in "biuf":
        try:
            reference_flat = reference_flat.astype(np.float64)
            candidate_flat = candidate_flat.astype(np.float64)
        except (TypeError, ValueError):
            return
    worst_run[name] = (score, reference_flat.astype(np.float64), candidate_flat.astype(np.float64))


def _by_name(actual: list[np.ndarray], own_names, names: Sequence[str]) -> list[np.ndarray]:
    """A candidate's outputs in the reference's order, matched by name when both name them all.

    A SavedModel signature returns a dict sorted by key; a Keras export follows tf.nest's sorted order.
    """
    if not own_names or len(own_names) != len(actual) or list(own_names) == list(names):
        return actual
    position = {name: index for index, name in enumerate(own_names)}
    if not all(name in position for name in names):
        return actual
    return [actual[position[name]] for name in names] + [
        value for name, value in zip(own_names, actual, strict=True) if name not in set(names)
    ]


def _check_reference(reference: Runnable, outputs: list[np.ndarray]) -> None:
    if not outputs:
        raise InputError(f"{reference.label}: the reference model returned no outputs")


def _output_names(reference: Runnable, candidates: Sequence[Runnable], count: int) -> list[str]:
    for model in (reference, *candidates):
        if model.output_names and len(model.output_names) == count:
            return list(model.output_names)
    return [f"output_{i}" for i in range(count)]
