"""The Jupyter side: reprs, widgets, magics and the bridge to the JupyterLab sidebar.

Imported lazily: the core never imports this package.
"""
from __future__ import annotations
