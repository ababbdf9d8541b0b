"""Marker for the slow Binder replay (``-m "not binder"`` skips it)."""
from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "binder: builds a fresh venv from binder/ as Binder does (a few minutes)")
