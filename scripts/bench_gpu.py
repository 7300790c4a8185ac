"""On a CUDA device: imported torch modules against their native twins, and onnxruntime's CUDA
provider against torch, at batch 1 and 32 (interleaved rounds, as in bench_importers.py).

Pairs per model (the torch reference models and the BERT, ViT, LLaMA-style twins):
- "import": the torch -> ONNX -> torch round trip on the device, against the native model there;
- "onnxruntime": the exported ONNX in an onnxruntime session on the device's provider, against the
  native torch model there (inputs and outputs cross the host, as onnxruntime's `run` does).

Meant for a few minutes of device time: the defaults take about two on one GPU. Without a CUDA
device the script says so and exits 2; `--device cpu` runs the same pairs on the CPU (a check that
the script works where no device is lent, not a GPU figure).

    .venv/bin/python scripts/bench_gpu.py [--device cuda|cpu] [--rounds 5] [--models torch_mlp,bert]
                                          [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

import numpy as np  # noqa: E402
from bench_importers import BATCH_SIZES, ZOO, Pair, at_batch, measure, native_source, onnx_of, table_of  # noqa: E402

from models import references  # noqa: E402

PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def device_caller(module, inputs, device: str):
    import torch

    tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs)

    def call():
        with torch.no_grad():
            module(*tensors)
        if device == "cuda":
            torch.cuda.synchronize()  # the kernels' time, not only their launch

    return call


def session_caller(onnx_model, inputs, device: str):
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=[PROVIDERS[device]])
    if PROVIDERS[device] not in session.get_providers():
        raise RuntimeError(f"onnxruntime has no {PROVIDERS[device]} here (is onnxruntime-gpu installed?)")
    feeds = {i.name: np.ascontiguousarray(x) for i, x in zip(session.get_inputs(), inputs, strict=True)}
    return lambda: session.run(None, feeds)


def pairs(names, device: str):
    from toolkit.importers.torch import import_onnx

    for name in names:
        native, examples = native_source(name)
        onnx_model = onnx_of(native, examples)
        imported = import_onnx(onnx_model).to(device)
        native = native.to(device)
        for batch in BATCH_SIZES:
            inputs = at_batch(examples, batch)
            reference = device_caller(native, inputs, device)
            yield Pair(
                "import", f"{name} ({device})", batch, reference, device_caller(imported, inputs, device)
            )
            yield Pair(
                "onnxruntime",
                f"{name} ({device})",
                batch,
                reference,
                session_caller(onnx_model, inputs, device),
            )


def main(argv=None) -> int:
    from toolkit import progress
    from toolkit.io import atomic_output
    from toolkit.terminal import console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--models", default=None, help="comma-separated names (default: torch references and zoo)"
    )
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args(argv)
    import torch

    if arguments.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (use --device cpu to check the script)", file=sys.stderr)
        return 2
    names = (
        [m.strip() for m in arguments.models.split(",") if m.strip()]
        if arguments.models
        else [*references("torch"), *ZOO]
    )
    measurements = []
    with progress.shown():
        for pair in pairs(names, arguments.device):
            with progress.activity(f"{pair.importer}: {pair.model}, batch {pair.batch}"):
                measurements.append(measure(pair, arguments.rounds, 0))
    table = table_of(measurements, arguments.rounds)
    table.title = (
        f"On {arguments.device}: imported torch and onnxruntime vs native torch (ratio = candidate / native)"
    )
    console().print(table)
    if arguments.json:
        document = {
            "device": torch.cuda.get_device_name() if arguments.device == "cuda" else "cpu",
            "rounds": arguments.rounds,
            "pairs": [m.to_json() for m in measurements],
        }
        with atomic_output(arguments.json) as temporary:
            temporary.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
