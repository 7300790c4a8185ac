"""`toolkit quantize`: write a reduced-precision variant of an ONNX model and print its report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolkit.errors import UsageError


@click.command("quantize")
@click.argument("model", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Where to write the variant (.onnx).")
@click.option(
    "--mode", type=click.Choice(["dynamic", "static"]), default=None, help="int8: dynamic or static (QDQ)."
)
@click.option("--fp16", is_flag=True, help="float16 weights and compute, float32 inputs and outputs.")
@click.option("--calibration", type=click.Path(), default=None, help="--mode static: .npz by input name.")
@click.option("--per-channel", is_flag=True, help="Per-channel weight scales (int8).")
@click.option(
    "--keep-fp32",
    default=None,
    help="NODE,NODE to leave in float32, or 'auto': the fewest worst-ranked nodes meeting --target.",
)
@click.option(
    "--target", default=None, help="For --keep-fp32 auto: top1:0.99 or cosine:0.999 (default by model)."
)
@click.option(
    "--bench-seconds", type=float, default=1.5, show_default=True, help="Latency measurement; 0 skips."
)
@click.option("--json", "json_path", type=click.Path(), default=None, help="Write the report as JSON.")
def quantize_command(
    model, output, mode, fp16, calibration, per_channel, keep_fp32, target, bench_seconds, json_path
):
    """Write an int8 (--mode dynamic|static) or fp16 (--fp16) variant of MODEL and report against the float model.

    The report gives cosine, SNR and top-1 agreement, size and latency ratios, and the node where
    the error jumps, named with its source layer. Exit 2 on a usage or input error.
    """
    from toolkit.cli import warnings_as_lines
    from toolkit.io import atomic_output, load_onnx, save_onnx
    from toolkit.quantize import parse_target, quantize_with_report
    from toolkit.quantize.report import render
    from toolkit.terminal import console

    if fp16 == (mode is not None):
        raise UsageError("choose one of --mode dynamic, --mode static or --fp16")
    if Path(output).suffix.lower() != ".onnx":
        raise UsageError(f"-o {output}: the variant is an ONNX model; name it .onnx")
    kept = "auto" if keep_fp32 == "auto" else [n for n in (keep_fp32 or "").split(",") if n]
    if target is not None and kept != "auto":
        raise UsageError("--target sets the tolerance of --keep-fp32 auto")
    source = load_onnx(model)
    with warnings_as_lines():
        variant, report = quantize_with_report(
            source,
            "fp16" if fp16 else mode,
            calibration=calibration,
            per_channel=per_channel,
            keep_fp32=kept,
            target=parse_target(target) if target else None,
            bench_seconds=bench_seconds,
            label=model,
        )
    save_onnx(variant, output)
    for renderable in render([report], model):
        console().print(renderable)
    if json_path:
        with atomic_output(json_path) as temporary:
            temporary.write_text(json.dumps(report.to_dict(), indent=2))
    click.echo(f"wrote {output} ({report.variant}; {report.variant_bytes / 1024:.1f} KB)")
