"""The `toolkit` command: parse, call the API, print, map errors to exit codes (2 input, 1 check)."""

from __future__ import annotations

import functools
import os
import signal
import sys


def _interrupted_during_start_up(signum, frame) -> None:
    sys.stderr.write("toolkit: interrupted\n")
    os._exit(130)


if __name__ == "__main__":  # python -m toolkit.cli: Ctrl-C while the imports below run is a clean exit too
    signal.signal(signal.SIGINT, _interrupted_during_start_up)

import contextlib  # noqa: E402
import importlib  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

from toolkit.errors import ToolkitError, UsageError  # noqa: E402
from toolkit.options import (  # noqa: E402
    check_samples,
    check_tolerance,
    parse_batch_sizes,
    parse_dim_sizes,
    parse_dynamic,
    parse_perm,
    parse_range,
    parse_shape,
    parse_tolerance,
)

# Commands that live beside their subsystem, imported only when used (keeps --help fast).
LAZY_COMMANDS = {
    "serve": "toolkit.serve.commands:serve_command",
    "bench": "toolkit.serve.commands:bench_command",
    "deploy": "toolkit.deploy.commands:deploy_command",
    "quantize": "toolkit.quantize.command:quantize_command",
    "transfer-weights": "toolkit.training.transfer_command:transfer_weights_command",
}


class ToolkitGroup(click.Group):
    """Prints a ToolkitError as one line and exits with its code; --debug shows the traceback."""

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module_name, _, attribute = LAZY_COMMANDS[name].partition(":")
            try:
                return getattr(importlib.import_module(module_name), attribute)
            except ImportError as error:
                return _unavailable_command(name, str(error))
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ToolkitError as error:
            if _debug(ctx):
                raise
            click.echo(f"toolkit: error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("toolkit: interrupted", err=True)
            ctx.exit(130)
        except Exception as error:
            if _debug(ctx):
                raise
            if isinstance(error, OSError) and error.filename is not None:
                # A file the user named cannot be read or written (permissions, a vanished path): exit 2.
                click.echo(f"toolkit: error: {error.filename}: {error.strerror or error}", err=True)
                ctx.exit(2)
            message = str(error).strip().splitlines()
            click.echo(
                f"toolkit: internal error: {type(error).__name__}: {message[0] if message else ''} "
                "(rerun with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug"))


def _unavailable_command(name: str, reason: str) -> click.Command:
    @click.command(
        name=name, help=f"(unavailable: {reason})", context_settings={"ignore_unknown_options": True}
    )
    @click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
    def unavailable(arguments):
        raise UsageError(f"'toolkit {name}' needs the serve extra: pip install 'toolkit[serve]' ({reason})")

    return unavailable


@click.group(cls=ToolkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="toolkit")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Move models between PyTorch, TensorFlow/Keras and ONNX, prove they compute the same, serve them."""
    ctx.ensure_object(dict)["debug"] = debug


# --------------------------------------------------------------------------- commands


@cli.command()
@click.argument("source")
@click.option(
    "--to",
    "target",
    type=click.Choice(["onnx", "torch", "tensorflow", "tflite"]),
    default="onnx",
    show_default=True,
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=True), help="Where to write the result."
)
@click.option("--opset", type=int, default=None, help="ONNX opset for the export (default: the exporter's).")
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    help="NAME:1x3x224x224 when the source has no example inputs.",
)
@click.option(
    "--dynamic",
    "dynamic",
    multiple=True,
    help="NAME:AXIS[=DIM][,AXIS] dynamic axes, optionally named (x:0=batch; default: axis 0 of every "
    "input, named batch); 'none' for static.",
)
@click.option(
    "--trainable/--no-trainable",
    default=None,
    help="Export for training: every parameter kept, BatchNorm/Dropout follow train/eval (default for "
    "--to torch/tensorflow from a torch or Keras model; --no-trainable: the inference-optimised graph).",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing SavedModel directory that toolkit did not write."
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16", "int8", "int8-full"]),
    default=None,
    help="--to tflite: fp32, fp16 weights, int8 weights (dynamic range) or int8-full (calibrated).",
)
@click.option(
    "--calibration", type=click.Path(), default=None, help="--to tflite int8-full: .npz by input name."
)
@click.option(
    "--io-layout",
    type=click.Choice(["nchw", "nhwc"]),
    default=None,
    help="--to tflite: device tensor layout.",
)
@click.option(
    "--static-batch",
    type=click.IntRange(min=1),
    default=None,
    help="--to tflite: fix the batch (default: dynamic, or 1 where TFLite needs static shapes).",
)
def convert(
    source,
    target,
    output,
    opset,
    input_shapes,
    dynamic,
    trainable,
    force,
    precision,
    calibration,
    io_layout,
    static_batch,
):
    """Convert SOURCE (file.py:factory, module:factory, .pt2, TorchScript, .keras/.h5, SavedModel, .onnx).

    \b
    --to onnx        -o model.onnx   a checked ONNX model
    --to torch       -o model.pt2    a torch.export program (or -o model.py: generated Python + .safetensors)
    --to tensorflow  -o saved_model  a SavedModel with a serving_default signature
    --to tflite      -o model.tflite a LiteRT flatbuffer keeping the ONNX input/output names and order
    """
    from toolkit import api

    tflite_options = {
        "precision": precision,
        "calibration": calibration,
        "io_layout": io_layout,
        "static_batch": static_batch,
    }
    if target != "tflite" and any(v is not None for v in tflite_options.values()):
        raise UsageError(
            "--precision, --calibration, --io-layout and --static-batch apply to --to tflite only"
        )
    tflite_options = {k: v for k, v in tflite_options.items() if v is not None}

    shapes = dict(parse_shape(text) for text in input_shapes)
    axes = parse_dynamic(dynamic)
    api.check_opset(opset)
    started = time.perf_counter()
    with _status(f"converting {source} to {target}"), warnings_as_lines():
        result = api.convert(
            source,
            to=target,
            input_spec=shapes or None,
            opset=opset,
            output=output,
            dynamic_axes=axes,
            force=force,
            trainable=trainable,
            **tflite_options,
        )
    click.echo(_conversion_line(result, target, output, time.perf_counter() - started))


def _conversion_line(result, target: str, output: str, seconds: float) -> str:
    """What `convert` wrote: the file, what it is, its size and how long it took."""
    from toolkit import api

    if target == "onnx":
        exporter = api.exporter_of(result)
        opsets = ", ".join(f"{e.domain or 'ai.onnx'} {e.version}" for e in result.opset_import)
        return (
            f"wrote {output} ({exporter}; opset {opsets}; {len(result.graph.node)} nodes; "
            f"{_size(Path(output))}) in {seconds:.1f} s"
        )
    if target == "tflite":
        batch = (
            "dynamic batch"
            if result.interface.static_batch is None
            else f"batch {result.interface.static_batch}"
        )
        notes = "".join(f"; {note}" for note in result.notes)
        return (
            f"wrote {output} (tflite {result.interface.precision}; {result.interface.io_layout}; {batch}; "
            f"{_size(Path(output))}{notes}) in {seconds:.1f} s"
        )
    return f"wrote {output} ({target}) in {seconds:.1f} s"


@cli.command("verify-parity")
@click.argument("reference")
@click.argument("candidates", nargs=-1, required=True)
@click.option(
    "--provider", default="auto", show_default=True, help="onnxruntime provider: auto, cpu, cuda, tensorrt."
)
@click.option(
    "--rtol", type=float, default=None, help="Relative tolerance for every output (default per dtype)."
)
@click.option(
    "--atol", type=float, default=None, help="Absolute tolerance for every output (default per dtype)."
)
@click.option("--tol", "tolerances", multiple=True, help="NAME:RTOL:ATOL for one output.")
@click.option(
    "--inputs",
    "inputs_file",
    type=click.Path(),
    default=None,
    help="User data: .npz keyed by input name, or .npy.",
)
@click.option(
    "--input-range", "input_ranges", multiple=True, help="NAME:LOW:HIGH value range of a random input."
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Random samples (seeds) per batch size.",
)
@click.option(
    "--batch-sizes", default=None, help="Comma-separated batch sizes for a dynamic batch (default: two)."
)
@click.option(
    "--dim-sizes",
    "dim_sizes",
    multiple=True,
    help="SYMBOL=8,64 sizes of a dynamic non-batch axis, by dim_param or INPUT.AXIS (default: a second size).",
)
@click.option(
    "--input-perm",
    "input_perms",
    multiple=True,
    help="NAME:0,2,3,1 permutes a reference input into a candidate's layout (NCHW to NHWC).",
)
@click.option(
    "--output-perm",
    "output_perms",
    multiple=True,
    help="NAME:0,2,3,1 the reference-to-candidate permutation of an output; undone before comparing.",
)
@click.option(
    "--localize/--no-localize",
    default=None,
    help="Find the first diverging ONNX node (default: on a failure, below 5,000 nodes).",
)
@click.option("--json", "json_path", type=click.Path(), default=None, help="Write every figure as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(),
    default=None,
    help="Write a self-contained HTML report with plots.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also list every run and the per-node divergence path.")
@click.option(
    "--train",
    is_flag=True,
    help="Training parity: gradients, SGD and Adam steps, BatchNorm, a 20-step fine-tune.",
)
@click.pass_context
def verify_parity(
    ctx,
    reference,
    candidates,
    provider,
    rtol,
    atol,
    tolerances,
    inputs_file,
    input_ranges,
    samples,
    batch_sizes,
    dim_sizes,
    input_perms,
    output_perms,
    localize,
    json_path,
    html_path,
    verbose,
    train,
):
    """Run REFERENCE and each CANDIDATE on the same inputs and compare every output.

    Exit 0 when every candidate matches, 1 on a parity failure, 2 on a usage or input error.
    """
    from toolkit import api
    from toolkit.parity.run import ParityOptions

    # Every option and output is checked before the run: a PASS is never followed by an exit for a bad path.
    check_tolerance(rtol, "--rtol")
    check_tolerance(atol, "--atol")
    check_samples(samples)
    options = ParityOptions(
        rtol=rtol,
        atol=atol,
        samples=samples,
        batch_sizes=parse_batch_sizes(batch_sizes),
        input_ranges=dict(parse_range(text) for text in input_ranges) or None,
        tolerances=dict(parse_tolerance(text) for text in tolerances) or None,
        dim_sizes=dict(parse_dim_sizes(text) for text in dim_sizes) or None,
        input_perm=dict(parse_perm(text, "--input-perm") for text in input_perms) or None,
        output_perm=dict(parse_perm(text, "--output-perm") for text in output_perms) or None,
        localize="auto" if localize is None else localize,
    )
    _check_report_paths([reference, *candidates, inputs_file], json_path, html_path)
    if train:
        with _status(f"training parity of {', '.join(candidates)} against {reference}"):
            report = api.verify_parity(reference, list(candidates), train=True)
        _show_and_write(report, report.renderables(), json_path, html_path, report.html)
        ctx.exit(0 if report else 1)
    with _status(f"verifying {len(candidates)} candidate(s) against {reference}"):
        report = api.verify_parity(
            reference, list(candidates), inputs=inputs_file, options=options, provider=provider
        )
    html = functools.partial(_parity_html, report)
    _show_and_write(report, report.renderables(verbose=verbose), json_path, html_path, html)
    ctx.exit(0 if report else 1)


def _parity_html(report) -> str:
    from toolkit.parity.html import render_html

    return render_html(report)


def _check_report_paths(specs, json_path, html_path) -> None:
    """--json and --html are writable, distinct, and none of the models or inputs read."""
    from toolkit import api
    from toolkit.io import check_output

    read = [path for spec in specs for path in api.paths_read_by(spec)]
    if json_path and html_path and Path(json_path).resolve() == Path(html_path).resolve():
        raise UsageError(f"--json and --html are both {json_path}; give them different paths")
    for option, path in (("--json", json_path), ("--html", html_path)):
        if path:
            check_output(path, "report", inputs=read, option=option)


def _show_and_write(report, renderables, json_path, html_path, html) -> None:
    """Print a parity report, then write its JSON and HTML where asked (both paths checked before the run)."""
    from toolkit.io import atomic_output
    from toolkit.terminal import console

    for renderable in renderables:
        console().print(renderable)
    if json_path:
        with atomic_output(json_path) as temporary:
            temporary.write_text(report.to_json())
    if html_path:
        with atomic_output(html_path) as temporary:
            temporary.write_text(html(), encoding="utf-8")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(model, as_json):
    """Show an ONNX model's inputs, outputs, opsets, producer, operators and parameter count."""
    from toolkit.inspection import describe, render

    summary = describe(model)
    if as_json:
        import json

        click.echo(json.dumps(summary, indent=2))
    else:
        render(summary)


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _status(message: str):
    """Progress on a terminal (a pulsing bar, and per-node bars while an importer builds a big graph)."""
    from toolkit import progress

    with progress.shown(), progress.activity(message):
        yield


@contextlib.contextmanager
def warnings_as_lines():
    """The toolkit's own warnings (random calibration data) as one line each on stderr."""
    import warnings

    from toolkit.calibration import CalibrationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        yield
    for warning in caught:
        if issubclass(warning.category, CalibrationWarning):
            click.echo(f"toolkit: warning: {warning.message}", err=True)


def _size(path: Path) -> str:
    if not path.exists():
        return "?"
    size = (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def main(argv: list[str] | None = None) -> None:
    """The process entry point: runs one command and ends in SystemExit with its exit code."""
    from toolkit.quiet import quiet_tensorflow_import

    if signal.getsignal(signal.SIGINT) is _interrupted_during_start_up:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # TensorFlow's C++ start-up chatter drowns the one-line messages users should see.
        quiet_tensorflow_import()
        cli.main(args=argv, prog_name="toolkit")
    except KeyboardInterrupt:  # outside a command (the commands map it themselves): same line, same code
        click.echo("toolkit: interrupted", err=True)
        sys.exit(130)
    finally:
        # The command is over: a Ctrl-C while torch and TensorFlow tear down (seconds) must not turn
        # a finished run, or a clean exit 130, into death by SIGINT.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
