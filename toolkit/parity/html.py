"""The parity report as one self-contained HTML page: figures, plots (embedded PNG) and the divergence path.

Plots are drawn with matplotlib's Agg backend, so no display is needed and nothing is fetched
when the page is opened: a CI artefact that reads the same everywhere.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from toolkit.parity.report import (
    CandidateResult,
    ParityReport,
    growth_text,
    nodes_cell,
    run_label,
    runs_summary,
)

# Names longer than this are shortened in the middle; the full name is the cell's title (tooltip).
NAME_LIMIT = 56
# The page never scrolls sideways: prose wraps anywhere, and a wide table scrolls inside its own box.
STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1.5em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
h1, h2, h3, p, figcaption, summary { overflow-wrap: anywhere; }
.verdict { font-size: 1.1em; font-weight: bold; padding: .6em 1em; border-radius: 6px; overflow-wrap: anywhere; }
.pass { background: #e6f4ea; color: #137333; } .fail { background: #fce8e6; color: #a50e0e; }
.scroll { max-width: 100%; overflow-x: auto; margin: .5em 0 1em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
td.name { white-space: normal; overflow-wrap: anywhere; min-width: 12em; max-width: 32em; }
tr.summary td { font-weight: bold; background: #fafafa; }
td.bad { color: #a50e0e; font-weight: bold; } td.good { color: #137333; }
.note { color: #555; font-size: .9em; } img { max-width: 100%; height: auto; }
figure { margin: 0; max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
details { margin: .5em 0 1em; } summary { cursor: pointer; color: #1a4d8f; }
"""


def render_html(report: ParityReport) -> str:
    """The whole page as a string (write it with atomic_output)."""
    css_class = "pass" if report else "fail"
    user_inputs = bool(report.settings.get("user_inputs"))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Parity: {_e(report.reference_label)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Parity against {_e(report.reference_label)} ({_e(report.reference_framework)})</h1>",
        f"<div class='verdict {css_class}'>{_e(report.verdict)}</div>",
        f"<p class='note'>{report.seconds:.2f} s; settings: {_e(_settings(report.settings))}</p>",
    ]
    if report.candidates:
        parts.append("<h2>Summary</h2>")
        parts.append(_summary_table(report.candidates, user_inputs))
    for candidate in report.candidates:
        parts.append(_candidate_section(candidate, user_inputs))
    parts.append("</body></html>")
    return "\n".join(parts)


def _candidate_section(candidate: CandidateResult, user_inputs: bool) -> str:
    state = "pass" if candidate.passed else "fail"
    parts = [
        f"<h2>{_e(candidate.label)} ({_e(candidate.framework)})</h2>",
        f"<div class='verdict {state}'>{_e(candidate.verdict)}</div>",
    ]
    for line in [*candidate.layout, *candidate.notes]:
        parts.append(f"<p class='note'>{_e(line)}</p>")
    if candidate.runs:
        parts.append(f"<h3>Runs ({len(candidate.runs)})</h3>")
        parts.append(_runs_table(candidate, user_inputs))
    if candidate.divergence is not None:
        parts.append(_divergence_section(candidate.divergence))
    if candidate.plots:
        parts.append("<h3>Errors per output (worst run)</h3><div class='plots'>")
        tolerances = {o.name: (o.rtol, o.atol) for run in candidate.runs for o in run.outputs}
        for name, (reference, value) in candidate.plots.items():
            if np.array_equal(reference, value, equal_nan=True):
                parts.append(
                    f"<p class='note'>{_e(name)}: every sampled element is bitwise equal; nothing to plot.</p>"
                )
                continue
            image = _error_plots(name, reference, value, tolerances.get(name))
            parts.append(f"<figure><img alt='errors of {_e(name)}' src='{image}'>")
            parts.append(f"<figcaption>{_e(name)}</figcaption></figure>")
        parts.append("</div>")
    return "\n".join(parts)


def _summary_table(candidates, user_inputs: bool) -> str:
    """One compact row per candidate and output: its runs in a few words and the worst figures."""
    header = ["candidate", "output", "runs", "max abs", "max rel", "cosine", "outside", "verdict"]
    rows = [_header(header)]
    for candidate in candidates:
        if candidate.error:
            cells = [_name(candidate.label), _name("-"), _text("-"), *[_cell("-")] * 4]
            rows.append(_row([*cells, _text(f"ERROR {candidate.error}", "bad")]))
            continue
        names = [o.name for o in candidate.runs[0].outputs] if candidate.runs else []
        for index, name in enumerate(names):
            runs = [run for run in candidate.runs if index < len(run.outputs)]
            outputs = [run.outputs[index] for run in runs]
            failing = sum(1 for o in outputs if not o.passed)
            verdict = "pass" if not failing else f"FAIL {failing}/{len(outputs)}"
            rows.append(
                _row(
                    [
                        _name(candidate.label),
                        _name(name),
                        _text(runs_summary(runs, user_inputs)),
                        _cell(_g(max(_number(o.max_abs) for o in outputs))),
                        _cell(_g(max(_number(o.max_rel) for o in outputs))),
                        _cell(_g(min(_number(o.cosine, 1.0) for o in outputs), 6)),
                        _cell(f"{100 * max(_number(o.outside_share) for o in outputs):.3f}%"),
                        _text(verdict, "bad" if failing else "good"),
                    ]
                )
            )
    return _table(rows)


def _runs_table(candidate: CandidateResult, user_inputs: bool) -> str:
    """One row per run and output: the run in words (seed and batch size, or user inputs)."""
    header = [
        "output",
        "run",
        "max abs",
        "max rel",
        "mean abs",
        "cosine",
        "outside",
        "NaN/Inf",
        "rtol/atol",
        "verdict",
    ]
    rows = [_header(header)]
    for run in candidate.runs:
        for output in run.outputs:
            verdict = "pass" if output.passed else f"FAIL {output.problem}".strip()
            rows.append(
                _row(
                    [
                        _name(output.name),
                        _text(run_label(run, user_inputs)),
                        _cell(_g(output.max_abs)),
                        _cell(_g(output.max_rel)),
                        _cell(_g(output.mean_abs)),
                        _cell(_g(output.cosine, 6)),
                        _cell(f"{100 * _number(output.outside_share):.3f}%"),
                        _cell(str(output.nan_mismatch)),
                        _cell(f"{output.rtol:g}/{output.atol:g}"),
                        _text(verdict, "good" if output.passed else "bad"),
                    ]
                )
            )
    return _table(rows)


def _divergence_section(divergence) -> str:
    parts = [f"<h3>Where it diverges ({_e(divergence.method)}, {divergence.seconds:.2f} s)</h3>"]
    parts.append(f"<p>{_e(divergence.summary())}</p>")
    if divergence.note:
        parts.append(f"<p class='note'>{_e(divergence.note)}</p>")
    if not divergence.found:
        return "\n".join(parts)
    rows = [_header(["", "value", "max abs", "max rel", "rel L2", "within tolerance"])]
    for role, errors in (("input", divergence.input_errors), ("output", divergence.output_errors)):
        for error in errors:
            rows.append(
                _row(
                    [
                        _text(role),
                        _name(error.value),
                        _cell(_g(error.max_abs)),
                        _cell(_g(error.max_rel)),
                        _cell(_g(error.relative_l2)),
                        _text("yes" if error.passed else "no", "good" if error.passed else "bad"),
                    ]
                )
            )
    parts.append(_table(rows))
    layers = getattr(divergence, "layers", None) or []
    if divergence.path:
        parts.append("<h3>Error growth along the path to the output, by source layer</h3>")
        rows = [_header(["#", "source layer", "nodes", "max abs", "rel L2", "growth"])]
        for index, layer in enumerate(layers):
            rows.append(
                _row(
                    [
                        _cell(str(index)),
                        _name(layer.source_layer or "-"),
                        _name(nodes_cell(layer)),
                        _cell(_g(layer.max_abs)),
                        _cell(_g(layer.relative_l2)),
                        _cell(growth_text(layer.growth)),
                    ]
                )
            )
        parts.append(_table(rows))
        parts.append(f"<img alt='error growth' src='{_growth_plot(divergence.path, layers)}'>")
        parts.append(f"<details><summary>Per-node path ({len(divergence.path)} nodes)</summary>")
        rows = [_header(["#", "node", "op", "source layer", "max abs", "rel L2"])]
        for index, step in enumerate(divergence.path):
            rows.append(
                _row(
                    [
                        _cell(str(index)),
                        _name(step.node),
                        _text(step.op_type),
                        _name(step.source_layer),
                        _cell(_g(step.max_abs)),
                        _cell(_g(step.relative_l2)),
                    ]
                )
            )
        parts.append(_table(rows))
        parts.append("</details>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- plots


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def _error_plots(name: str, reference: np.ndarray, candidate: np.ndarray, tolerance=None) -> str:
    """Histogram of |error| (log scale) and |error| against |reference|, side by side."""
    figure_class = _figure()
    figure = figure_class(figsize=(10, 3.6), dpi=90)
    histogram, scatter = figure.subplots(1, 2)
    finite = np.isfinite(reference) & np.isfinite(candidate)
    error = np.abs(candidate[finite] - reference[finite])
    magnitude = np.abs(reference[finite])
    positive = error[error > 0]
    if positive.size:
        bins = np.logspace(math.log10(max(positive.min(), 1e-300)), math.log10(positive.max()) + 1e-9, 50)
        histogram.hist(positive, bins=bins, color="#4c72b0")
        histogram.set_xscale("log")
    histogram.set_title(f"{name}: |error| ({error.size - positive.size} exact of {error.size})", fontsize=9)
    histogram.set_xlabel("|candidate - reference|")
    histogram.set_ylabel("elements")
    shown = (error > 0) & (magnitude > 0)  # log axes: exact elements are counted in the histogram title
    scatter.scatter(magnitude[shown], error[shown], s=2, alpha=0.4, color="#dd8452", label="elements")
    if tolerance is not None and shown.any():
        rtol, atol = tolerance
        line = np.logspace(math.log10(magnitude[shown].min()), math.log10(magnitude[shown].max()) + 1e-9, 50)
        scatter.plot(line, atol + rtol * line, color="#55a868", label=f"tolerance {atol:g} + {rtol:g}|ref|")
        scatter.legend(fontsize=7, loc="lower right")
    if shown.any():
        scatter.set_xscale("log")
        scatter.set_yscale("log")
    scatter.set_title(f"{name}: error vs magnitude", fontsize=9)
    scatter.set_xlabel("|reference|")
    scatter.set_ylabel("|error|")
    figure.tight_layout()
    return _png(figure)


def _growth_plot(path, layers=()) -> str:
    """Relative error per path node (log scale), with the source layers' boundaries marked and numbered."""
    figure_class = _figure()
    figure = figure_class(figsize=(10, 3.4), dpi=90)
    axes = figure.subplots()
    values = [max(_number(step.relative_l2), 1e-300) for step in path]
    axes.plot(range(len(values)), values, marker="o", markersize=3, color="#c44e52")
    axes.set_yscale("log")
    spans = _layer_spans(path, layers)
    if spans:
        for index, (start, stop, _) in enumerate(spans):
            if index:
                axes.axvline(start - 0.5, color="#888", linestyle="--", linewidth=0.8)
            axes.text(
                (start + stop - 1) / 2,
                1.0,
                f"#{index}",
                transform=axes.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
                color="#444",
            )
        axes.set_xticks([(start + stop - 1) / 2 for start, stop, _ in spans])
        axes.set_xticklabels(
            [_tail(layer.source_layer) for _, _, layer in spans], rotation=25, fontsize=7, ha="right"
        )
        axes.set_xlabel("source layer (dashed: layer boundary; #: row of the table above)", fontsize=8)
    else:
        axes.set_xticks(range(len(values)))
        axes.set_xticklabels([step.op_type for step in path], rotation=60, fontsize=7)
    axes.set_ylabel("relative L2 error")
    axes.set_title("error growth from the first diverging node to the output", fontsize=9, pad=14)
    figure.tight_layout()
    return _png(figure)


def _tail(layer: str) -> str:
    """A layer's own name for a plot label: `query (Linear)`, `layer.6 (BertLayer)`, `proj (Dense)`."""
    path, separator, layer_class = layer.partition(" (")
    parts = path.replace("/", ".").split(".")
    tail = ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]
    return _short(tail + separator + layer_class, 28) if layer else "-"


def _layer_spans(path, layers) -> list[tuple[int, int, object]]:
    """(first index, end index, layer) of each layer row along the per-node path, when they line up."""
    if not layers or sum(layer.nodes for layer in layers) != len(path):
        return []
    spans, start = [], 0
    for layer in layers:
        spans.append((start, start + layer.nodes, layer))
        start += layer.nodes
    return spans


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- formatting


def _settings(settings: dict) -> str:
    shown = {k: v for k, v in settings.items() if v not in (None, {}, [], False)}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"


def _table(rows: list[str]) -> str:
    """A table in its own horizontally scrolling box, so a wide one never widens the page."""
    return "<div class='scroll'><table>" + "".join(rows) + "</table></div>"


def _header(names) -> str:
    return (
        "<tr>"
        + "".join(
            f"<th class='text'>{_e(n)}</th>" if n in _TEXT_HEADERS else f"<th>{_e(n)}</th>" for n in names
        )
        + "</tr>"
    )


_TEXT_HEADERS = {
    "",
    "candidate",
    "output",
    "runs",
    "run",
    "value",
    "node",
    "nodes",
    "op",
    "source layer",
    "verdict",
    "within tolerance",
}


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(cells) + "</tr>"


def _cell(text) -> str:
    return f"<td>{_e(text)}</td>"


def _text(text, css: str = "") -> str:
    classes = f"text {css}" if css else "text"
    return f"<td class='{classes}'>{_e(text)}</td>"


def _name(text) -> str:
    """A name cell: wraps where it must, shortened in the middle when long, the full name as its title."""
    text = str(text)
    shown = _short(text, NAME_LIMIT)
    title = f" title='{_e(text)}'" if shown != text else ""
    return f"<td class='text name'{title}>{_e(shown)}</td>"


def _short(text: str, limit: int) -> str:
    """`encoder.layer.6.atte…self.query (Linear)`: both ends kept, the middle elided."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


def _e(text) -> str:
    return html.escape(str(text))


def _number(value, default: float = 0.0) -> float:
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _g(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"
