"""The fuzzer, bounded for `make test` (`make fuzz` runs it longer): malformed ONNX models through
`inspect`, `convert --to torch` and `convert --to tensorflow`, every run exit 0 or 2 with one line."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import fuzz  # noqa: E402

SEED = 16
MUTANTS = 40
BUDGET_S = 40  # worker time after start-up; with start-up and one real subprocess about a minute


@pytest.mark.slow
def test_no_malformed_model_gives_an_internal_error_a_signal_a_hang_or_a_leftover(tmp_path):
    summary = fuzz.run(SEED, MUTANTS, subprocesses=1, work=tmp_path, budget_s=BUDGET_S)
    fuzz.print_summary(summary)
    assert summary["findings"] == []
    for target, counts in summary["outcomes"].items():
        ran = sum(counts.values())
        assert ran >= 5, (target, counts)  # the seeds, a real subprocess and a few mutants at least
        assert counts.get("rejected", 0) >= 1, (target, counts)
    # the unmutated seeds convert, and what they wrote is there
    for target in ("torch", "tensorflow"):
        seeds = [row for row in summary["results"][target] if row["case"].endswith(":valid")]
        assert seeds and all(row["outcome"] == "ok" for row in seeds), seeds
