"""Run the bad inputs of issue 16 through the real CLI (`python -m toolkit.cli`) and print a table:
case, exit code, the first stderr line, and whether the user's data survived / nothing was left behind.

    PYTHONPATH=$PWD .venv/bin/python scripts/probe_bad_inputs.py [--json out.json]

Run it with PYTHONPATH pointing at another checkout to see that checkout's behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_models  # noqa: E402

NOBODY = 65534
FACTORY = """
import sys
import torch

def exits():
    sys.exit(3)

def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()

def example_inputs():
    import numpy as np
    return (np.zeros((1, 3, 8, 8), np.float32),)

INPUT_NAMES = ("image",)
"""


def toolkit(*args, cwd=None, user=None, timeout=300):
    command = [sys.executable, "-m", "toolkit.cli", *map(str, args)]
    if user is not None:  # setpriv drops root's capabilities too, so file permissions apply
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "TIMEOUT", time.perf_counter() - started
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, lines, time.perf_counter() - started


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp"))


def _holds(check) -> bool:
    try:
        return bool(check())
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="probe16."))
    os.chmod(work, 0o755)
    small = work / "cnn.onnx"
    onnx.save(fuzz_models.cnn(), small)
    os.chmod(small, 0o644)
    factories = work / "factories.py"
    factories.write_text(FACTORY)
    for name, mutate in [
        ("cyclic", fuzz_models.cyclic),
        ("self_loop", fuzz_models.self_loop),
        ("undefined", fuzz_models.undefined_tensor),
        ("bad_dims", fuzz_models.wrong_initializer_dims),
        ("no_outputs", fuzz_models.no_outputs),
    ]:
        onnx.save(mutate(fuzz_models.cnn()), work / f"{name}.onnx")
    onnx.save(fuzz_models.opset(fuzz_models.cnn(), 99), work / "opset99.onnx")
    code, lines, _ = toolkit("convert", small, "--to", "torch", "-o", work / "p.pt2")
    assert code == 0, lines
    code, lines, _ = toolkit("convert", small, "--to", "tensorflow", "-o", work / "toolkit_saved_model")
    assert code == 0, lines
    foreign = work / "foreign_saved_model"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tensorflow as tf\n"
            "class M(tf.Module):\n"
            "    @tf.function(input_signature=[tf.TensorSpec([None, 2])])\n"
            "    def __call__(self, x):\n        return x * 2\n"
            "tf.saved_model.save(M(), sys.argv[1])\n",
            str(foreign),
        ],
        check=True,
        capture_output=True,
    )
    (foreign / "mine.txt").write_text("keep")
    readonly = work / "readonly"
    readonly.mkdir(mode=0o755)
    (work / "a_file").write_text("keep")

    def keep_dir(name):
        directory = work / name
        directory.mkdir()
        (directory / "important.txt").write_text("keep")
        return lambda: (directory / "important.txt").read_text() == "keep"

    def unchanged(path):
        before = Path(path).read_bytes()
        return lambda: Path(path).read_bytes() == before

    def absent(path):
        return lambda: not Path(path).exists()

    def kept(path):
        return lambda: Path(path).exists()

    mlp_factory = f"{factories}:build"
    cases = [
        ("convert -o existing dir", lambda: ("convert", small, "-o", work / "d1"), keep_dir("d1"), {}),
        (
            "convert --to tensorflow -o non-SavedModel dir",
            lambda: ("convert", small, "--to", "tensorflow", "-o", work / "d2"),
            keep_dir("d2"),
            {},
        ),
        (
            "verify-parity --json DIR",
            lambda: ("verify-parity", small, small, "--json", work / "d3"),
            keep_dir("d3"),
            {},
        ),
        (
            "verify-parity --html DIR",
            lambda: ("verify-parity", small, small, "--html", work / "d4"),
            keep_dir("d4"),
            {},
        ),
        ("convert -o . (cwd)", lambda: ("convert", small, "-o", "."), keep_dir("d5"), {"cwd": work / "d5"}),
        (
            "verify-parity a a --json a",
            lambda: ("verify-parity", small, small, "--json", small),
            unchanged(small),
            {},
        ),
        (
            "convert p.pt2 -o p.pt2",
            lambda: ("convert", work / "p.pt2", "-o", work / "p.pt2"),
            unchanged(work / "p.pt2"),
            {},
        ),
        (
            "convert --to torch -o x.onnx (suffix)",
            lambda: ("convert", small, "--to", "torch", "-o", work / "x.onnx"),
            absent(work / "x.onnx"),
            {},
        ),
        (
            "convert b.onnx --to tensorflow -o b.onnx",
            lambda: ("convert", small, "--to", "tensorflow", "-o", small),
            unchanged(small),
            {},
        ),
        (
            "convert -o readonly/x.onnx (as nobody)",
            lambda: ("convert", small, "-o", readonly / "x.onnx"),
            absent(readonly / "x.onnx"),
            {"user": NOBODY},
        ),
        ("convert -o /proc/x.onnx", lambda: ("convert", small, "-o", "/proc/x.onnx"), lambda: True, {}),
        (
            "convert -o a_file/x.onnx (parent is a file)",
            lambda: ("convert", small, "-o", work / "a_file" / "x.onnx"),
            unchanged(work / "a_file"),
            {},
        ),
        (
            "verify-parity PASS --json readonly/r.json (as nobody)",
            lambda: ("verify-parity", small, small, "--json", readonly / "r.json"),
            absent(readonly / "r.json"),
            {"user": NOBODY},
        ),
        *[
            (
                f"{name}.onnx {' '.join(extra) or 'inspect'}",
                (lambda name=name, extra=extra: ("convert", work / f"{name}.onnx", *extra))
                if extra
                else (lambda name=name: ("inspect", work / f"{name}.onnx")),
                absent(work / "y.onnx") if extra and extra[-1] == str(work / "y.onnx") else (lambda: True),
                {},
            )
            for name in ("cyclic", "self_loop", "undefined", "bad_dims", "no_outputs")
            for extra in (
                ("--to", "torch", "-o", str(work / "y.pt2")),
                ("--to", "tensorflow", "-o", str(work / "y_saved")),
                ("-o", str(work / "y.onnx")),
            )
        ],
        (
            "model with opset 99: convert --to torch",
            lambda: ("convert", work / "opset99.onnx", "--to", "torch", "-o", work / "o.pt2"),
            absent(work / "o.pt2"),
            {},
        ),
        (
            "convert --opset 99",
            lambda: ("convert", small, "-o", work / "op.onnx", "--opset", "99"),
            absent(work / "op.onnx"),
            {},
        ),
        (
            "convert factory --opset 99",
            lambda: ("convert", mlp_factory, "-o", work / "op2.onnx", "--opset", "99"),
            absent(work / "op2.onnx"),
            {},
        ),
        (
            "convert --dynamic image:9",
            lambda: ("convert", mlp_factory, "-o", work / "dyn.onnx", "--dynamic", "image:9"),
            absent(work / "dyn.onnx"),
            {},
        ),
        (
            "verify-parity --rtol -1",
            lambda: ("verify-parity", small, small, "--rtol", "-1"),
            lambda: True,
            {},
        ),
        (
            "verify-parity --atol -1e-3",
            lambda: ("verify-parity", small, small, "--atol", "-1e-3"),
            lambda: True,
            {},
        ),
        (
            "verify-parity --tol logits:-1:0",
            lambda: ("verify-parity", small, small, "--tol", "logits:-1:0"),
            lambda: True,
            {},
        ),
        (
            "verify-parity --batch-sizes 100000000",
            lambda: ("verify-parity", small, small, "--batch-sizes", "100000000"),
            lambda: True,
            {},
        ),
        (
            "factory calls sys.exit(3)",
            lambda: ("convert", f"{factories}:exits", "-o", work / "e.onnx"),
            absent(work / "e.onnx"),
            {},
        ),
        (
            "convert --to tensorflow -o toolkit's SavedModel (replace)",
            lambda: ("convert", small, "--to", "tensorflow", "-o", work / "toolkit_saved_model"),
            kept(work / "toolkit_saved_model" / "saved_model.pb"),
            {},
        ),
        (
            "convert --to tensorflow -o a foreign SavedModel",
            lambda: ("convert", small, "--to", "tensorflow", "-o", foreign),
            lambda: (foreign / "mine.txt").exists(),
            {},
        ),
    ]
    rows = []
    pristine = small.read_bytes()
    seen_leftovers: set[str] = set()
    for name, args, survived, options in cases:
        small.write_bytes(pristine)  # a case that destroyed it must not spoil the next ones
        code, lines, seconds = toolkit(*args(), **options)
        message = lines if isinstance(lines, str) else (lines[-1] if lines else "")
        rows.append(
            {
                "case": name,
                "exit": code,
                "stderr_lines": len(lines) if isinstance(lines, list) else None,
                "message": message[:160],
                "data_kept": _holds(survived),
                "leftovers": sorted(set(leftovers(work)) - seen_leftovers),
                "seconds": round(seconds, 1),
            }
        )
        seen_leftovers.update(rows[-1]["leftovers"])
        print(json.dumps(rows[-1]), flush=True)
    from rich.console import Console
    from rich.table import Table

    table = Table("case", "exit", "lines", "kept", "left", "message")
    for row in rows:
        table.add_row(
            row["case"],
            str(row["exit"]),
            str(row["stderr_lines"]),
            str(row["data_kept"]),
            str(len(row["leftovers"])),
            row["message"],
        )
    Console(width=220, emoji=False).print(table)
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
