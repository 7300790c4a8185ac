"""Send SIGINT to real `python -m toolkit.cli` conversions at several delays; print exit code, what
stderr said, and whether anything was left (the output, a temporary sibling).

    PYTHONPATH=$PWD .venv/bin/python scripts/probe_interrupts.py [--delays 0.5,1,2,4,8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_models  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
COMMANDS = {
    "onnx -> .pt2": lambda model, out: ["convert", model, "--to", "torch", "-o", out / "x.pt2"],
    "onnx -> SavedModel": lambda model, out: ["convert", model, "--to", "tensorflow", "-o", out / "sm"],
    "torch factory -> onnx": lambda model, out: [
        "convert",
        f"{REPOSITORY}/models/torch_cnn.py:build",
        "-o",
        out / "x.onnx",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0.5,1.5,3,5,8,12")
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="interrupts16."))
    model = work / "cnn.onnx"
    onnx.save(fuzz_models.cnn(), model)
    rows = []
    for name, command in COMMANDS.items():
        for delay in (float(d) for d in arguments.delays.split(",")):
            out = work / f"{name.replace(' ', '_').replace('>', '')}_{delay}"
            out.mkdir()
            process = subprocess.Popen(
                [sys.executable, "-m", "toolkit.cli", *map(str, command(model, out))],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # A background job starts with SIGINT ignored; a user at a terminal has it delivered.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            time.sleep(delay)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=300)
            lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("W1")]
            left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
            row = {
                "command": name,
                "delay_s": delay,
                "exit": process.returncode,
                "stderr": lines[-3:],
                "left": left[:5],
                "verdict": (
                    "finished before the signal"
                    if process.returncode == 0
                    else "clean"
                    if process.returncode == 130 and lines == ["toolkit: interrupted"] and not left
                    else "NOT CLEAN"
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
