"""Make the benchmark scripts importable: ``report``, ``run``, ``ssl_bench``, ...

They live in ``benchmarks/`` and import each other as siblings, as they do when
run as scripts from the repository root.
"""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
