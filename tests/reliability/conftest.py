"""Fixtures of the reliability tests: ``net``, a network of test hosts (see ``_netns``)."""
from __future__ import annotations

from _netns import net as net  # noqa: F401 - a fixture, found by pytest here
