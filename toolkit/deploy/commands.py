"""`toolkit deploy`: parse, write a Triton repository or a KServe InferenceService, print what was written."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.errors import InputError, UsageError


def _int_list(option: str, text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        values = tuple(int(item) for item in text.split(","))
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers such as 4,8") from None
    if any(value < 0 for value in values):
        raise UsageError(f"{option} {text!r}: values must be non-negative")
    return values


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["triton", "kserve"]), required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="Triton: the repository directory; kserve: isvc.yaml.",
)
@click.option("--name", "names", multiple=True, help="Model name (default: the file stem); once per model.")
@click.option("--force", is_flag=True, help="Replace an output that toolkit deploy wrote before.")
@click.option(
    "--backend",
    type=click.Choice(["onnxruntime", "python"]),
    default="onnxruntime",
    show_default=True,
    help="Triton backend: onnxruntime, or python (Triton's python backend running onnxruntime).",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=0),
    default=None,
    help="Triton max_batch_size [default: 8 for a dynamic batch axis, 0 for a static one].",
)
@click.option(
    "--preferred-batch-sizes", help="Dynamic batching's preferred sizes, e.g. 4,8 [default: powers of 2]."
)
@click.option(
    "--max-queue-delay-us",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Dynamic batching: longest wait for a fuller batch.",
)
@click.option(
    "--instances", type=click.IntRange(min=1), default=1, show_default=True, help="Model instances."
)
@click.option("--gpus", help="KIND_GPU instances on these device ids, e.g. 0,1 [default: KIND_CPU].")
@click.option("--accelerator", type=click.Choice(["cuda", "tensorrt"]), help="onnxruntime GPU accelerator.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True)
@click.option("--intra-op-threads", type=click.IntRange(min=1), help="onnxruntime intra_op_thread_count.")
@click.option("--inter-op-threads", type=click.IntRange(min=1), help="onnxruntime inter_op_thread_count.")
@click.option("--storage-uri", help="kserve: where the Triton repository lives (s3://, gs://, pvc://...).")
@click.option(
    "--runtime-version", default=None, help="kserve: kserve-tritonserver image tag [default: pinned]."
)
@click.option("--min-replicas", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--max-replicas", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--scale-metric",
    type=click.Choice(["concurrency", "rps", "cpu", "memory"]),
    default="concurrency",
    show_default=True,
)
@click.option("--scale-target", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--cpu", default="2", show_default=True, help="kserve: CPU request and limit.")
@click.option("--memory", default="4Gi", show_default=True, help="kserve: memory request and limit.")
def deploy_command(models, target, output, names, force, **options):
    """Hand ONNX MODELS to a serving engine: a Triton model repository, or a KServe InferenceService.

    \b
    toolkit deploy cnn.onnx bert.onnx --target triton -o repo/
    toolkit deploy cnn.onnx --target kserve --storage-uri s3://bucket/repo -o isvc.yaml
    """
    paths = [Path(model) for model in models]
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
    if target == "triton":
        from toolkit.deploy.triton import TritonOptions, write_repository

        triton_options = TritonOptions(
            backend=options["backend"],
            max_batch_size=options["max_batch_size"],
            preferred_batch_sizes=_int_list("--preferred-batch-sizes", options["preferred_batch_sizes"]),
            max_queue_delay_us=options["max_queue_delay_us"],
            instances=options["instances"],
            gpus=_int_list("--gpus", options["gpus"]) or (),
            accelerator=options["accelerator"],
            precision=options["precision"],
            intra_op_threads=options["intra_op_threads"],
            inter_op_threads=options["inter_op_threads"],
            names=tuple(names),
        )
        configs = write_repository(paths, output, triton_options, force=force)
        for name in configs:
            click.echo(f"wrote {Path(output) / name}/config.pbtxt and {Path(output) / name}/1/model.onnx")
        return
    from toolkit.deploy.kserve import KServeOptions, write_inference_service

    if not options["storage_uri"]:
        raise UsageError("--target kserve needs --storage-uri: where the Triton repository is stored")
    kserve_options = KServeOptions(
        storage_uri=options["storage_uri"],
        name=names[0] if names else None,
        runtime_version=options["runtime_version"],
        min_replicas=options["min_replicas"],
        max_replicas=options["max_replicas"],
        scale_metric=options["scale_metric"],
        scale_target=options["scale_target"],
        cpu=options["cpu"],
        memory=options["memory"],
        gpus=len(_int_list("--gpus", options["gpus"]) or ()),
    )
    if len(names) > 1:
        raise UsageError("--target kserve takes one --name: the InferenceService's")
    write_inference_service(paths, output, kserve_options, force=force)
    click.echo(f"wrote {output} (serving.kserve.io/v1beta1 InferenceService, validated with the kserve SDK)")
