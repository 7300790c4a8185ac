"""EmbeddingBag in onnxruntime: toolkit's Loop-free export against torch.onnx's own Loop lowering.

    .venv/bin/python scripts/bench_embedding_bag.py [--repeats 7] [--json out.json]

For each mode, an nn.EmbeddingBag(50,000 x 64) over a batch of bags (2-D ids: 256 bags of 20),
exported twice with the dynamo exporter: as toolkit exports it (toolkit/export/translations.py: a
gather and ScatterElements) and with torch.onnx's torchlib lowering (a Loop appending one row per
bag to a sequence). Both run in onnxruntime (CPU, one thread) on the same inputs, interleaved;
torch eager is the third column. Prints the median and the p10-p90 spread of each, and the ratio
Loop / Loop-free (above 1: the Loop-free graph is faster). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NUM_EMBEDDINGS, EMBEDDING_DIM = 50_000, 64
BAGS, BAG_LENGTH = 256, 20
CALLS_PER_SAMPLE = 20


def _export(bag, ids, translations):
    import torch

    from toolkit.export.translations import translation_table

    program = torch.onnx.export(
        bag,
        (ids,),
        dynamo=True,
        verbose=False,
        input_names=["input"],
        dynamic_shapes=({0: torch.export.Dim.DYNAMIC},),
        custom_translation_table=translation_table() if translations else None,
    )
    return program.model_proto


def _session(model):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _seconds_per_call(run) -> float:
    started = time.perf_counter()
    for _ in range(CALLS_PER_SAMPLE):
        run()
    return (time.perf_counter() - started) / CALLS_PER_SAMPLE


def _spread(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"median": statistics.median(ordered), "p10": pick(0.1), "p90": pick(0.9)}


def _measure(mode: str, ids, repeats: int) -> tuple[dict, int, int]:
    """Spreads per run kind and of the paired ratio; node counts of both exports."""
    import torch

    torch.manual_seed(0)
    bag = torch.nn.EmbeddingBag(NUM_EMBEDDINGS, EMBEDDING_DIM, mode=mode).eval()
    models = {"loop_free": _export(bag, ids, True), "loop": _export(bag, ids, False)}
    assert "Loop" not in {node.op_type for node in models["loop_free"].graph.node}
    sessions = {name: _session(model) for name, model in models.items()}
    feeds = {"input": ids.numpy()}
    expected = bag(ids).detach().numpy()
    for name, session in sessions.items():
        np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-4, atol=1e-5, err_msg=name)
    runs = {name: (lambda s=session: s.run(None, feeds)) for name, session in sessions.items()}
    runs["torch"] = lambda: bag(ids)
    samples = {name: [] for name in runs}
    with torch.no_grad():
        for run in runs.values():
            run()  # warm-up
        for _ in range(repeats):  # interleaved: drift on a shared machine hits all alike
            for name, run in runs.items():
                samples[name].append(_seconds_per_call(run))
    spreads = {name: _spread(values) for name, values in samples.items()}
    spreads["ratio"] = _spread([a / b for a, b in zip(samples["loop"], samples["loop_free"], strict=True)])
    return spreads, len(models["loop_free"].graph.node), len(models["loop"].graph.node)


def _milliseconds(spread: dict[str, float]) -> str:
    return f"{spread['median'] * 1e3:.3f} ({spread['p10'] * 1e3:.3f}-{spread['p90'] * 1e3:.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from toolkit.quiet import quiet_frameworks

    quiet_frameworks()
    torch.set_num_threads(1)
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, NUM_EMBEDDINGS, (BAGS, BAG_LENGTH)))
    table = Table(
        title=f"EmbeddingBag({NUM_EMBEDDINGS}, {EMBEDDING_DIM}), {BAGS} bags of {BAG_LENGTH}: "
        f"ms per call, median (p10-p90) of {arguments.repeats}"
    )
    for column in (
        "mode",
        "Loop-free (toolkit)",
        "Loop (torchlib)",
        "torch eager",
        "Loop / Loop-free",
        "nodes",
    ):
        table.add_column(column)
    results = {}
    for mode in ("sum", "mean", "max"):
        spreads, loop_free_nodes, loop_nodes = _measure(mode, ids, arguments.repeats)
        results[mode] = {**spreads, "nodes": {"loop_free": loop_free_nodes, "loop": loop_nodes}}
        ratio = spreads["ratio"]
        table.add_row(
            mode,
            _milliseconds(spreads["loop_free"]),
            _milliseconds(spreads["loop"]),
            _milliseconds(spreads["torch"]),
            f"{ratio['median']:.1f}x ({ratio['p10']:.1f}-{ratio['p90']:.1f})",
            f"{loop_free_nodes} / {loop_nodes} + Loop body",
        )
    Console().print(table)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
