"""The parity verdict: truthy when every candidate matches, a rich table when printed, JSON on demand."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from toolkit.parity.compare import OutputComparison

# Bump on any change a consumer could notice; docs/parity-json-schema.md documents each version.
SCHEMA_VERSION = 2
RUN_COLUMNS = (
    "candidate",
    "output",
    "run",
    "max abs",
    "max rel",
    "cosine",
    "outside",
    "rtol/atol",
    "verdict",
)
TEXT_COLUMNS = ("candidate", "output", "run", "verdict")


@dataclass
class RunComparison:
    """One sample (seed) at one batch size: every output compared."""

    batch_size: int | None
    seed: int
    outputs: list[OutputComparison]
    dims: dict[str, int] = field(default_factory=dict)  # sizes of other dynamic axes, by symbol
    user_inputs: bool = False  # the inputs were the user's (--inputs), not generated from `seed`

    @property
    def label(self) -> str:
        """The run in words: `seed 1, batch 8`, `seed 0, batch 2, sequence=6`, or `user inputs`."""
        return run_label(self, self.user_inputs)

    @property
    def passed(self) -> bool:
        return all(output.passed for output in self.outputs)


@dataclass
class CandidateResult:
    label: str
    framework: str
    runs: list[RunComparison] = field(default_factory=list)
    error: str = ""  # the candidate could not be loaded or run; the verdict is then a failure
    notes: list[str] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)  # input/output permutations applied
    divergence: Any = None  # localize.Divergence of a failing candidate, when localised
    plots: dict = field(default_factory=dict, repr=False)  # output -> (reference, candidate) samples

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.runs) and all(run.passed for run in self.runs)

    @property
    def verdict(self) -> str:
        """One line: pass, or what failed first and where."""
        if self.error:
            return f"error: {self.error}"
        if not self.runs:
            return "error: no run"
        if self.passed:
            return f"pass ({len(self.runs)} run(s))"
        failures = [(run, o) for run in self.runs for o in run.outputs if not o.passed]
        kinds = sorted({o.kind for _, o in failures})
        run, worst = max(failures, key=lambda item: _number(item[1].max_abs, float("inf")))
        where = run.label
        failed_runs = len({id(r) for r, _ in failures})
        detail = worst.problem or (
            f"max abs {worst.max_abs:.3g}, {100 * _number(worst.outside_share):.2f}% outside "
            f"rtol {worst.rtol:g}/atol {worst.atol:g}"
        )
        line = f"FAIL ({'/'.join(kinds)}): output {worst.name} ({where}): {detail}; {failed_runs}/{len(self.runs)} run(s) fail"
        if self.divergence is not None and getattr(self.divergence, "found", False):
            line += f"; {self.divergence.summary()}"
        return line

    def worst(self, metric: str) -> float:
        values = [getattr(o, metric) for run in self.runs for o in run.outputs]
        values = [v for v in values if not math.isnan(v)]
        return max(values) if values else float("nan")


@dataclass
class ParityReport:
    reference_label: str
    reference_framework: str
    candidates: list[CandidateResult]
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.candidates) and all(candidate.passed for candidate in self.candidates)

    @property
    def passed(self) -> bool:
        return bool(self)

    @property
    def max_abs(self) -> float:
        values = [c.worst("max_abs") for c in self.candidates]
        values = [v for v in values if not math.isnan(v)]
        return max(values) if values else float("nan")

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "passed": self.passed,
            "verdict": self.verdict,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
            "reference": {"label": self.reference_label, "framework": self.reference_framework},
            "candidates": [
                {
                    "label": c.label,
                    "framework": c.framework,
                    "passed": c.passed,
                    "verdict": c.verdict,
                    "error": c.error,
                    "notes": c.notes,
                    "layout": c.layout,
                    "divergence": c.divergence.to_dict() if c.divergence is not None else None,
                    "runs": [
                        {
                            "label": run.label,
                            "batch_size": run.batch_size,
                            "dims": run.dims,
                            "seed": run.seed,
                            "passed": run.passed,
                            "outputs": [_finite(o.to_dict()) for o in run.outputs],
                        }
                        for run in c.runs
                    ],
                }
                for c in self.candidates
            ],
        }

    @property
    def verdict(self) -> str:
        if not self.candidates:
            return "FAIL: no candidate"
        failing = [c for c in self.candidates if not c.passed]
        if not failing:
            counts = {len(c.runs) for c in self.candidates}
            each = " each" if len(self.candidates) > 1 else ""
            runs = (
                f"{counts.pop()} run(s){each}"
                if len(counts) == 1
                else f"{sum(map(len, (c.runs for c in self.candidates)))} run(s) in all"
            )
            return f"PASS: {len(self.candidates)} candidate(s) match {self.reference_label} on {runs}"
        return (
            f"FAIL: {len(failing)} of {len(self.candidates)} candidate(s) differ from {self.reference_label}"
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def renderables(self, verbose: bool = False) -> list:
        """What the terminal shows: the table, each failing candidate's verdict and divergence path.

        The path is one row per source layer; `verbose` adds the per-node path and a row per run
        of every output (failing outputs always show their runs).
        """
        from rich.text import Text

        shown: list = [self.rich_table(verbose)]
        for candidate in self.candidates:
            for line in candidate.layout:
                shown.append(Text(f"{candidate.label}: {line}", style="cyan"))
            if candidate.passed:
                continue
            shown.append(Text(f"{candidate.label}: {candidate.verdict}", style="red"))
            divergence = candidate.divergence
            if divergence is None:
                continue
            if not divergence.found:
                shown.append(Text(f"  localisation: {divergence.summary()}", style="yellow"))
                continue
            shown.append(_layer_table(candidate.label, divergence))
            if verbose:
                shown.append(_node_table(candidate.label, divergence))
            elif len(divergence.path) > len(divergence.layers):
                shown.append(
                    Text(f"  {len(divergence.path)} nodes on the path; --verbose lists them", style="dim")
                )
        style = "bold green" if self else "bold red"
        shown.append(Text(self.verdict, style=style))
        return shown

    def rich_table(self, verbose: bool = False):
        """One compact row per candidate and output, then one row per run where it matters."""
        from rich.table import Table

        verdict = "[bold green]PASS[/]" if self else "[bold red]FAIL[/]"
        table = Table(title=f"Parity against {self.reference_label} ({self.reference_framework}): {verdict}")
        for column in RUN_COLUMNS:
            table.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
        user_inputs = bool(self.settings.get("user_inputs"))
        for candidate in self.candidates:
            if candidate.error:
                table.add_row(
                    candidate.label, "-", "-", "-", "-", "-", "-", "-", f"[red]ERROR[/] {candidate.error}"
                )
                continue
            for output_index, name in enumerate(_output_names(candidate)):
                runs = [run for run in candidate.runs if output_index < len(run.outputs)]
                rows = [run.outputs[output_index] for run in runs]
                ok = all(o.passed for o in rows)
                table.add_row(
                    candidate.label,
                    name,
                    runs_summary(runs, user_inputs),
                    *_figures(rows),
                    _verdict_cell(rows),
                    end_section=False,
                )
                if len(runs) > 1 and (verbose or not ok):
                    for run, output in zip(runs, rows, strict=True):
                        table.add_row(
                            "",
                            "",
                            run_label(run, user_inputs),
                            *_figures([output]),
                            _verdict_cell([output]),
                            style="dim" if output.passed else None,
                        )
        return table

    def __str__(self) -> str:
        from rich.console import Console

        from toolkit.terminal import PIPE_WIDTH

        buffer = io.StringIO()
        console = Console(file=buffer, width=PIPE_WIDTH, force_terminal=False)
        for renderable in self.renderables():  # the default view, as the command prints it
            console.print(renderable)
        return buffer.getvalue()


def run_label(run: RunComparison, user_inputs: bool = False) -> str:
    """One run in words: `seed 1, batch 8`, `seed 0, batch 2, sequence=6`, or `user inputs`."""
    if user_inputs or run.user_inputs:
        return "user inputs"
    parts = [f"seed {run.seed}"]
    if run.batch_size is not None:
        parts.append(f"batch {run.batch_size}")
    parts += [f"{symbol}={size}" for symbol, size in run.dims.items()]
    return ", ".join(parts)


def runs_summary(runs: list[RunComparison], user_inputs: bool = False) -> str:
    """All runs of one output in a few words: `4 runs: batch 1, 8 × seeds 0-1`.

    Batch sizes and seeds form a cross product, so they read as one. A varied non-batch axis
    (`sequence=3`) is run at one batch size only, so those shapes are listed one by one:
    `3 runs: batch 1 · batch 3 · batch 1 with sequence=3, seed 0`.
    """
    if user_inputs or any(run.user_inputs for run in runs):
        return "user inputs"
    if not runs:
        return "-"
    seeds = sorted({run.seed for run in runs})
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    if any(run.dims for run in runs):
        shapes = list(dict.fromkeys(_shape_words(run) for run in runs))
        described = " · ".join(shapes) + ", " + seeds_text
    else:
        batches = sorted({run.batch_size for run in runs if run.batch_size is not None})
        parts = ["batch " + ", ".join(map(str, batches))] if batches else []
        described = " × ".join([*parts, seeds_text])
    return f"{len(runs)} runs: {described}" if len(runs) > 1 else described


def _shape_words(run: RunComparison) -> str:
    """`batch 1 with sequence=3`: the shape of one run, without its seed."""
    words = f"batch {run.batch_size}" if run.batch_size is not None else "example shape"
    varied = ", ".join(f"{symbol}={size}" for symbol, size in run.dims.items())
    return f"{words} with {varied}" if varied else words


def _figures(rows) -> list[str]:
    """max abs, max rel, cosine, outside, rtol/atol over some output comparisons (the worst of each)."""
    worst = max(rows, key=lambda o: (not o.passed, _number(o.max_abs)))
    return [
        _format(max(_number(o.max_abs) for o in rows)),
        _format(max(_number(o.max_rel) for o in rows)),
        f"{min(_number(o.cosine, 1.0) for o in rows):.6f}",
        f"{100 * max(_number(o.outside_share) for o in rows):.2f}%",
        f"{worst.rtol:g}/{worst.atol:g}",
    ]


def _verdict_cell(rows) -> str:
    if all(o.passed for o in rows):
        notes = sorted({o.problem for o in rows if o.problem})
        return "[green]pass[/]" + "".join(f" [yellow]({note})[/]" for note in notes)
    failing = sum(1 for o in rows if not o.passed)
    worst = max(rows, key=lambda o: (not o.passed, _number(o.max_abs)))
    count = f" {failing}/{len(rows)}" if len(rows) > 1 else ""
    return f"[red]FAIL[/]{count} {worst.problem}".rstrip()


def _layer_table(label: str, divergence):
    """The divergence path, one row per source layer: nodes collapsed, the error it hands on, its growth."""
    from rich.table import Table

    table = Table(title=f"Divergence path of {label} by layer ({divergence.method})", title_justify="left")
    for column in ("#", "source layer", "nodes", "max abs", "rel L2", "growth"):
        table.add_column(column, justify="left" if column in ("source layer", "nodes") else "right")
    for index, layer in enumerate(divergence.layers):
        table.add_row(
            str(index),
            layer.source_layer or "-",
            nodes_cell(layer),
            _format(_number(layer.max_abs)),
            _format(_number(layer.relative_l2)),
            growth_text(layer.growth),
        )
    return table


def _node_table(label: str, divergence):
    from rich.table import Table

    table = Table(title=f"Divergence path of {label}, per node", title_justify="left")
    for column in ("#", "node", "op", "source layer", "max abs", "rel L2"):
        table.add_column(column, justify="right" if column in ("#", "max abs", "rel L2") else "left")
    for index, step in enumerate(divergence.path):
        table.add_row(
            str(index),
            step.node,
            step.op_type,
            step.source_layer,
            _format(_number(step.max_abs)),
            _format(_number(step.relative_l2)),
        )
    return table


def nodes_cell(layer) -> str:
    """`node_linear_36` for one node, `node_MatMul_436 … node_add_731 (14)` for several."""
    if layer.nodes == 1:
        return layer.first_node
    return f"{layer.first_node} … {layer.last_node} ({layer.nodes})"


def growth_text(growth: float) -> str:
    return "-" if growth is None or math.isnan(growth) else f"×{growth:.3g}"


def _output_names(candidate: CandidateResult) -> list[str]:
    return [o.name for o in candidate.runs[0].outputs] if candidate.runs else []


def _number(value: float, default: float = 0.0) -> float:
    return default if value is None or math.isnan(value) else value


def _format(value: float) -> str:
    return f"{value:.3g}"


def _finite(record: dict) -> dict:
    """JSON has no NaN: unknown figures become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
