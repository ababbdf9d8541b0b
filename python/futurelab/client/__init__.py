"""The client side: Client, Future, waiting helpers and the sync facade."""
from __future__ import annotations
