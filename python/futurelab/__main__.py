"""``python -m futurelab``: the same as the ``futurelab`` command."""
from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
