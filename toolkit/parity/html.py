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

from toolkit.parity.report import CandidateResult, ParityReport

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
.verdict { font-size: 1.3em; font-weight: bold; padding: .6em 1em; border-radius: 6px; }
.pass { background: #e6f4ea; color: #137333; } .fail { background: #fce8e6; color: #a50e0e; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
td.bad { color: #a50e0e; font-weight: bold; } td.good { color: #137333; }
.note { color: #555; font-size: .9em; } img { max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
"""


def render_html(report: ParityReport) -> str:
    """The whole page as a string (write it with atomic_output)."""
    css_class = "pass" if report else "fail"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Parity: {_e(report.reference_label)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Parity against {_e(report.reference_label)} ({_e(report.reference_framework)})</h1>",
        f"<div class='verdict {css_class}'>{_e(report.verdict)}</div>",
        f"<p class='note'>{report.seconds:.2f} s; settings: {_e(_settings(report.settings))}</p>",
    ]
    for candidate in report.candidates:
        parts.append(_candidate_section(candidate))
    parts.append("</body></html>")
    return "\n".join(parts)


def _candidate_section(candidate: CandidateResult) -> str:
    state = "pass" if candidate.passed else "fail"
    parts = [
        f"<h2>{_e(candidate.label)} ({_e(candidate.framework)})</h2>",
        f"<div class='verdict {state}'>{_e(candidate.verdict)}</div>",
    ]
    for line in [*candidate.layout, *candidate.notes]:
        parts.append(f"<p class='note'>{_e(line)}</p>")
    if candidate.runs:
        parts.append(_runs_table(candidate))
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


def _runs_table(candidate: CandidateResult) -> str:
    header = [
        "output",
        "batch",
        "dims",
        "seed",
        "max abs",
        "max rel",
        "mean abs",
        "cosine",
        "outside",
        "NaN/Inf",
        "rtol/atol",
        "verdict",
    ]
    rows = ["<table><tr>" + "".join(_th(h) for h in header) + "</tr>"]
    for run in candidate.runs:
        for output in run.outputs:
            verdict = "pass" if output.passed else f"FAIL {output.problem}".strip()
            cells = [
                (output.name, "text"),
                ("-" if run.batch_size is None else str(run.batch_size), ""),
                (", ".join(f"{k}={v}" for k, v in run.dims.items()) or "-", "text"),
                (str(run.seed), ""),
                (_g(output.max_abs), ""),
                (_g(output.max_rel), ""),
                (_g(output.mean_abs), ""),
                (_g(output.cosine, 6), ""),
                (f"{100 * _number(output.outside_share):.3f}%", ""),
                (str(output.nan_mismatch), ""),
                (f"{output.rtol:g}/{output.atol:g}", ""),
                (verdict, "text " + ("good" if output.passed else "bad")),
            ]
            rows.append("<tr>" + "".join(f"<td class='{c}'>{_e(v)}</td>" for v, c in cells) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _divergence_section(divergence) -> str:
    parts = [f"<h3>Where it diverges ({_e(divergence.method)}, {divergence.seconds:.2f} s)</h3>"]
    parts.append(f"<p>{_e(divergence.summary())}</p>")
    if divergence.note:
        parts.append(f"<p class='note'>{_e(divergence.note)}</p>")
    if not divergence.found:
        return "\n".join(parts)
    parts.append(
        "<table><tr>"
        + "".join(_th(h) for h in ("", "value", "max abs", "max rel", "rel L2", "within tolerance"))
        + "</tr>"
    )
    for role, errors in (("input", divergence.input_errors), ("output", divergence.output_errors)):
        for error in errors:
            parts.append(
                f"<tr><td class='text'>{role}</td><td class='text'>{_e(error.value)}</td><td>{_g(error.max_abs)}</td>"
                f"<td>{_g(error.max_rel)}</td><td>{_g(error.relative_l2)}</td>"
                f"<td class='{'good' if error.passed else 'bad'}'>{'yes' if error.passed else 'no'}</td></tr>"
            )
    parts.append("</table>")
    if divergence.path:
        parts.append("<h3>Error growth along the path to the output</h3>")
        parts.append(
            "<table><tr>"
            + "".join(_th(h) for h in ("#", "node", "op", "source layer", "max abs", "rel L2"))
            + "</tr>"
        )
        for index, step in enumerate(divergence.path):
            parts.append(
                f"<tr><td>{index}</td><td class='text'>{_e(step.node)}</td><td class='text'>{_e(step.op_type)}</td>"
                f"<td class='text'>{_e(step.source_layer)}</td><td>{_g(step.max_abs)}</td><td>{_g(step.relative_l2)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(f"<img alt='error growth' src='{_growth_plot(divergence.path)}'>")
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


def _growth_plot(path) -> str:
    figure_class = _figure()
    figure = figure_class(figsize=(10, 3.2), dpi=90)
    axes = figure.subplots()
    values = [max(_number(step.relative_l2), 1e-300) for step in path]
    axes.plot(range(len(values)), values, marker="o", color="#c44e52")
    axes.set_yscale("log")
    axes.set_xticks(range(len(values)))
    axes.set_xticklabels([step.op_type for step in path], rotation=60, fontsize=7)
    axes.set_ylabel("relative L2 error")
    axes.set_title("error growth from the first diverging node to the output", fontsize=9)
    figure.tight_layout()
    return _png(figure)


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- formatting


def _settings(settings: dict) -> str:
    shown = {k: v for k, v in settings.items() if v not in (None, {}, [], False)}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"


def _th(text: str) -> str:
    css = (
        " class='text'"
        if text in ("output", "value", "node", "op", "source layer", "verdict", "dims", "")
        else ""
    )
    return f"<th{css}>{_e(text)}</th>"


def _e(text) -> str:
    return html.escape(str(text))


def _number(value, default: float = 0.0) -> float:
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _g(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"
