"""The parity verdict: truthy when every candidate matches, a rich table when printed, JSON on demand."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field

from toolkit.parity.compare import OutputComparison

SCHEMA_VERSION = 1


@dataclass
class RunComparison:
    """One sample (seed) at one batch size: every output compared."""

    batch_size: int | None
    seed: int
    outputs: list[OutputComparison]

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

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.runs) and all(run.passed for run in self.runs)

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
            "seconds": round(self.seconds, 3),
            "reference": {"label": self.reference_label, "framework": self.reference_framework},
            "candidates": [
                {
                    "label": c.label,
                    "framework": c.framework,
                    "passed": c.passed,
                    "error": c.error,
                    "notes": c.notes,
                    "runs": [
                        {
                            "batch_size": run.batch_size,
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

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def rich_table(self):
        from rich.table import Table

        verdict = "[bold green]PASS[/]" if self else "[bold red]FAIL[/]"
        table = Table(title=f"Parity against {self.reference_label} ({self.reference_framework}): {verdict}")
        for column in (
            "candidate",
            "output",
            "batch",
            "max abs",
            "max rel",
            "cosine",
            "outside",
            "rtol/atol",
            "verdict",
        ):
            table.add_column(
                column, justify="right" if column not in ("candidate", "output", "verdict") else "left"
            )
        for candidate in self.candidates:
            if candidate.error:
                table.add_row(
                    candidate.label, "-", "-", "-", "-", "-", "-", "-", f"[red]ERROR[/] {candidate.error}"
                )
                continue
            for output_index, name in enumerate(_output_names(candidate)):
                rows = [
                    run.outputs[output_index] for run in candidate.runs if output_index < len(run.outputs)
                ]
                batches = ",".join(
                    str(run.batch_size) for run in candidate.runs if run.batch_size is not None
                )
                worst = max(rows, key=lambda o: (not o.passed, _number(o.max_abs)))
                ok = all(o.passed for o in rows)
                verdict_cell = "[green]pass[/]" if ok else f"[red]FAIL[/] {worst.problem}".rstrip()
                table.add_row(
                    candidate.label,
                    name,
                    batches or "-",
                    _format(max(_number(o.max_abs) for o in rows)),
                    _format(max(_number(o.max_rel) for o in rows)),
                    f"{min(_number(o.cosine, 1.0) for o in rows):.6f}",
                    f"{100 * max(_number(o.outside_share) for o in rows):.2f}%",
                    f"{worst.rtol:g}/{worst.atol:g}",
                    verdict_cell,
                )
        return table

    def __str__(self) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, width=140, force_terminal=False).print(self.rich_table())
        return buffer.getvalue()


def _output_names(candidate: CandidateResult) -> list[str]:
    return [o.name for o in candidate.runs[0].outputs] if candidate.runs else []


def _number(value: float, default: float = 0.0) -> float:
    return default if value is None or math.isnan(value) else value


def _format(value: float) -> str:
    return f"{value:.3g}"


def _finite(record: dict) -> dict:
    """JSON has no NaN: unknown figures become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
