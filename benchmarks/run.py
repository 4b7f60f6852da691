"""`make bench`: run every benchmarks/bench_*.py module's ``run()`` and print its figures."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the targets state
    for path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        print(f"## {path.stem}")
        for name, value in module.run().items():
            print(f"  {name:<72s} {value:>14,.4g}")


if __name__ == "__main__":
    main()
