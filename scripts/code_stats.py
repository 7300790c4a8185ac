"""Size figures for the importers: lines per module, handler sizes, long functions, as a table.

Run from the repository root: `python scripts/code_stats.py [--limit 60]`. A handler is a function
decorated with a `register(...)` call (either operator table); its size is its lines from `def` to
its last line, decorators left out. A long function is any function or method in toolkit/ past
`--limit` lines counted the same way.
"""

from __future__ import annotations

import argparse
import ast
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTERS = {"torch": "toolkit/importers/torch/ops", "tensorflow": "toolkit/importers/tensorflow/ops"}


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _is_handler(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        call = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = call.attr if isinstance(call, ast.Attribute) else getattr(call, "id", "")
        if name == "register":
            return True
    return False


def _length(function: ast.FunctionDef) -> int:
    return function.end_lineno - function.lineno + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60, help="a function longer than this is long")
    limit = parser.parse_args().limit

    importer_lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "toolkit/importers").rglob("*.py"))
    print(f"lines in toolkit/importers (*.py): {importer_lines}")
    print(f"{'importer':<12}{'handlers':>9}{'median':>8}{'max':>6}  longest")
    for importer, folder in IMPORTERS.items():
        sizes = []
        for path in sorted((ROOT / folder).rglob("*.py")):
            sizes.extend((_length(f), f"{path.name}:{f.name}") for f in _functions(path) if _is_handler(f))
        longest = max(sizes)
        median = statistics.median(size for size, _ in sizes)
        print(f"{importer:<12}{len(sizes):>9}{median:>8g}{longest[0]:>6}  {longest[1]}")

    long_functions = sorted(
        (
            (_length(f), f"{path.relative_to(ROOT)}:{f.name}")
            for path in sorted((ROOT / "toolkit").rglob("*.py"))
            for f in _functions(path)
            if _length(f) > limit
        ),
        reverse=True,
    )
    print(f"functions over {limit} lines in toolkit/: {len(long_functions)}")
    for size, where in long_functions:
        print(f"  {size:>4}  {where}")


if __name__ == "__main__":
    main()
