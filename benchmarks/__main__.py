"""``python -m benchmarks``: see ``python -m benchmarks --help``."""
from __future__ import annotations

from ._runner import main

if __name__ == "__main__":
    raise SystemExit(main())
