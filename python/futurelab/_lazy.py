"""Package attributes that import their module on first use (PEP 562).

A package whose ``__init__`` would otherwise import every submodule uses this instead, so that
importing one small submodule of it (a command-line parser, say) does not load the rest.

>>> __getattr__, __dir__ = lazy_attributes("futurelab.deploy", {"Cluster": ".cluster"}, {})
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str], namespace: dict[str, Any],
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps an attribute to the module
    (relative to ``package``) that defines it; a looked-up value is cached in ``namespace`` (the
    package's globals)."""

    def getattr_(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
