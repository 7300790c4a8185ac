"""Fuzz the CLI with malformed ONNX models: every run must exit 0 or 2 with one line, never an internal
error, a signal or a hang, and a failed run must leave no output and no temporary file.

    PYTHONPATH=$PWD .venv/bin/python scripts/fuzz.py --seed 16 --count 300 [--json fuzz.json]

Mutants (scripts/fuzz_models.py) are byte flips of valid small models and structured breakages
(deleted inputs, renamed initializers, wrong dims, wrong attribute types, extreme opsets, no
outputs, cycles, ...). Each target (`inspect`, `convert --to torch`, `convert --to tensorflow`)
gets one long-lived worker process that calls the public entry `toolkit.cli.main(argv)` per file
(click's standalone mode: it ends in SystemExit with the exit code), so torch and TensorFlow start
once; `--subprocesses N` runs the last N mutants per target as real `python -m toolkit.cli` instead.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_models  # noqa: E402

TARGETS = {
    "inspect": lambda model, out: ["inspect", str(model)],
    "torch": lambda model, out: ["convert", str(model), "--to", "torch", "-o", str(out / "out.pt2")],
    "tensorflow": lambda model, out: ["convert", str(model), "--to", "tensorflow", "-o", str(out / "saved")],
}
CASE_TIMEOUT_S = 120  # a hang, on a shared machine where one conversion takes a few seconds


# --------------------------------------------------------------------------- the worker (one per target)


def worker() -> None:
    """Read one JSON argv per line from stdin; answer one JSON {exit, stderr, escaped} per line."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # whatever the commands print stays off the protocol
    from toolkit.cli import main

    for line in sys.stdin:
        argv = json.loads(line)
        captured = io.StringIO()
        previous = sys.stderr
        sys.stderr = captured
        escaped = None
        code = None
        try:
            main(argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException as error:  # noqa: BLE001 - anything escaping main is the finding
            escaped = f"{type(error).__name__}: {error}"
        finally:
            sys.stderr = previous
        protocol.write(json.dumps({"exit": code, "stderr": captured.getvalue(), "escaped": escaped}) + "\n")
        protocol.flush()


class Worker:
    def __init__(self, log: Path):
        self.log = log
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child holds it
            text=True,
        )

    def run(self, argv: list[str]) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.start()
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        answer: list[str] = []
        reader = threading.Thread(target=lambda: answer.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(CASE_TIMEOUT_S)
        if not answer:
            self.process.kill()
            self.process.wait()
            self.process = None
            return {"exit": None, "stderr": "", "escaped": None, "hang": True}
        if not answer[0]:  # the worker died: a signal (SIGABRT, SIGSEGV) or an exit from C++
            code = self.process.wait()
            self.process = None
            return {"exit": code, "stderr": "", "escaped": None, "died": True}
        return json.loads(answer[0])

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def run_subprocess(argv: list[str]) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", *argv],
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"exit": None, "stderr": "", "escaped": None, "hang": True}
    return {"exit": done.returncode, "stderr": done.stderr, "escaped": None, "died": done.returncode < 0}


# --------------------------------------------------------------------------- judging one run


def judge(result: dict, case_dir: Path, output: Path | None) -> tuple[str, str]:
    """(outcome, detail): 'converted'/'inspected' and 'rejected' are fine; anything else is a finding."""
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    if result.get("hang"):
        return "hang", f"no answer within {CASE_TIMEOUT_S} s"
    if result.get("died"):
        return "signal", f"process ended with {result['exit']}"
    if result["escaped"]:
        return "escaped", result["escaped"]
    if "internal error" in result["stderr"] or "Traceback" in result["stderr"]:
        return "internal error", message
    leftovers = sorted(p.name for p in case_dir.rglob(".*.tmp"))
    if result["exit"] == 0:
        if output is not None and not output.exists():
            return "no output", "exit 0 without the output"
        return ("ok", "") if not leftovers else ("leftover", ", ".join(leftovers))
    if result["exit"] != 2:
        return f"exit {result['exit']}", message
    if output is not None and output.exists():
        return "leftover", f"{output.name} written although the run failed"
    if leftovers:
        return "leftover", ", ".join(leftovers)
    error_lines = [line for line in lines if line.startswith("toolkit: error:")]
    if len(error_lines) != 1:
        return "not one line", " | ".join(lines)[:300]
    return "rejected", message


def _output_of(argv: list[str]) -> Path | None:
    return Path(argv[argv.index("-o") + 1]) if "-o" in argv else None


# --------------------------------------------------------------------------- the campaign


def run(
    seed: int,
    count: int,
    subprocesses: int = 0,
    work: Path | None = None,
    targets=None,
    budget_s: float | None = None,
) -> dict:
    """Fuzz `count` mutants through every target; returns counts, per-case outcomes and the findings.

    With `budget_s`, no new worker case starts that many seconds after the worker's first answer
    (start-up of torch and TensorFlow is not counted; the machine may be slow): the summary says
    how many ran. The cases are fixed by the seed, so a shorter run is a prefix.
    """
    work = Path(work or tempfile.mkdtemp(prefix="fuzz16."))
    targets = list(targets or TARGETS)
    cases = fuzz_models.mutants(seed, count)
    models = []
    for index, (_, data) in enumerate(cases):
        path = work / "models" / f"{index}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        models.append(path)
    results: dict[str, list[dict]] = {target: [] for target in targets}
    started = time.perf_counter()

    # The last `subprocesses` cases run as real processes, after the worker's share, whatever the budget.
    subprocess_indices = set(range(max(count - subprocesses, 0), count))

    def campaign(target: str) -> None:
        runner = Worker(work / f"{target}.log")
        clock = None  # starts once the worker has imported torch/TensorFlow and answered its first case
        order = [i for i in range(count) if i not in subprocess_indices] + sorted(subprocess_indices)
        try:
            for index in order:
                description, model = cases[index][0], models[index]
                via_subprocess = index in subprocess_indices
                if not via_subprocess and clock is not None and budget_s is not None:
                    if time.perf_counter() - clock > budget_s:
                        continue
                case_dir = work / target / str(index)
                case_dir.mkdir(parents=True)
                argv = TARGETS[target](model, case_dir)
                case_started = time.perf_counter()
                result = run_subprocess(argv) if via_subprocess else runner.run(argv)
                if clock is None and not via_subprocess:
                    clock = time.perf_counter()
                outcome, detail = judge(result, case_dir, _output_of(argv))
                results[target].append(
                    {
                        "case": description,
                        "via": "subprocess" if via_subprocess else "worker",
                        "exit": result["exit"],
                        "outcome": outcome,
                        "detail": detail[:300],
                        "seconds": round(time.perf_counter() - case_started, 2),
                    }
                )
        finally:
            runner.close()

    threads = [threading.Thread(target=campaign, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fine = {"ok", "rejected"}
    return {
        "seed": seed,
        "mutants": count,
        "runs": sum(len(r) for r in results.values()),
        "subprocess_runs": sum(1 for r in results.values() for row in r if row["via"] == "subprocess"),
        "seconds": round(time.perf_counter() - started, 1),
        "outcomes": {
            target: dict(Counter(row["outcome"] for row in rows)) for target, rows in results.items()
        },
        "exit_codes": {
            target: dict(Counter(str(row["exit"]) for row in rows)) for target, rows in results.items()
        },
        "findings": [
            {"target": target, **row}
            for target, rows in results.items()
            for row in rows
            if row["outcome"] not in fine
        ],
        "results": results,
        "work": str(work),
    }


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"fuzz: seed {summary['seed']}, {summary['mutants']} mutants, {summary['runs']} runs "
        f"({summary['subprocess_runs']} as real subprocesses), {summary['seconds']} s"
    )
    outcomes = sorted({o for counts in summary["outcomes"].values() for o in counts})
    table.add_column("target")
    for outcome in outcomes:
        table.add_column(outcome, justify="right")
    table.add_column("exit codes")
    for target, counts in summary["outcomes"].items():
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(summary["exit_codes"][target].items()))
        table.add_row(target, *(str(counts.get(o, 0)) for o in outcomes), codes)
    console = Console(width=200, emoji=False)
    console.print(table)
    for finding in summary["findings"]:
        console.print(
            f"FINDING {finding['target']} {finding['case']}: {finding['outcome']}: {finding['detail']}"
        )
    if not summary["findings"]:
        console.print("no findings: every run exited 0 or 2 with one line and left nothing behind")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--count", type=int, default=300, help="mutants; each runs through every target")
    parser.add_argument(
        "--subprocesses", type=int, default=3, help="mutants per target run as real subprocesses"
    )
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument(
        "--budget-s", type=float, default=None, help="start no new case after this many seconds"
    )
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    if arguments.worker:
        worker()
        return
    summary = run(
        arguments.seed, arguments.count, arguments.subprocesses, targets=arguments.targets.split(",")
    )
    print_summary(summary)
    if arguments.json:
        arguments.json.write_text(json.dumps(summary, indent=1))
    sys.exit(1 if summary["findings"] else 0)


if __name__ == "__main__":
    main()
