"""Running dask collections on futurelab (``compute``, ``persist``, ``get``).

A mixin of :class:`~futurelab.client.client.Client`; dask is optional and imported lazily.
"""
from __future__ import annotations


class CollectionsMixin:
    """dask collection support for the Client (filled in by the dask-collections work)."""
