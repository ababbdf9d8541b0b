"""Version information of a process (client, scheduler or worker), and comparing it (pure).

:func:`get_versions` answers what one process runs — Python, the host, and the versions of the
packages a cluster needs to agree on — in the shape ``Client.get_versions`` returns for each
part of the cluster.  :func:`mismatches` compares those answers and renders a table of what
differs.  Package versions come from installed metadata: nothing is imported to learn them.
"""
from __future__ import annotations

import functools
import os
import platform
import struct
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: packages every process of a cluster needs, in versions that agree
REQUIRED_PACKAGES = ("futurelab", "cloudpickle", "msgpack")
#: packages reported when installed (user code often needs them to agree as well)
OPTIONAL_PACKAGES = ("numpy", "pandas", "dask", "psutil")


@functools.cache
def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    if name == "futurelab":
        from . import __version__
        return __version__
    try:
        return version(name)
    except (PackageNotFoundError, ValueError):
        return None


def get_versions(packages: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """This process's ``{"host": {...}, "packages": {name: version | None}}``.

    Args:
        packages: extra distribution names to report besides the usual ones.

    >>> sorted(get_versions()["packages"])[:3]
    ['cloudpickle', 'dask', 'futurelab']
    """
    uname = platform.uname()
    host = {
        "python": "%d.%d.%d.%s.%s" % sys.version_info,  # noqa: UP031 - a version tuple
        "python-bits": struct.calcsize("P") * 8,
        "OS": uname.system,
        "OS-release": uname.release,
        "machine": uname.machine,
        "processor": uname.processor,
        "byteorder": sys.byteorder,
        "LC_ALL": os.environ.get("LC_ALL", "None"),
        "LANG": os.environ.get("LANG", "None"),
    }
    names = dict.fromkeys([*REQUIRED_PACKAGES, *OPTIONAL_PACKAGES, *packages])
    pkgs: dict[str, str | None] = {"python": ".".join(map(str, sys.version_info[:3]))}
    pkgs.update({name: package_version(name) for name in names})
    return {"host": host, "packages": pkgs}


def mismatches(client: Mapping[str, Any], scheduler: Mapping[str, Any] | None,
               workers: Mapping[str, Mapping[str, Any] | None]) -> str:
    """A table of the packages whose versions differ across the cluster ("" when none do).

    Each argument is what :func:`get_versions` returned there (None: that process did not
    answer, shown as ``UNKNOWN``).

    >>> same = get_versions()
    >>> mismatches(same, same, {"tcp://w:1": same})
    ''
    """
    def packages(info: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return info.get("packages") if info else None

    parts: list[tuple[str, Mapping[str, Any] | None]] = [
        ("client", packages(client)), ("scheduler", packages(scheduler)),
        *((address, packages(info)) for address, info in sorted(workers.items()))]
    names = sorted({n for _, pk in parts if pk for n in pk})
    rows = []
    for name in names:
        seen = {where: (str(pk.get(name, "MISSING")) if pk else "UNKNOWN")
                for where, pk in parts}
        if len(set(seen.values())) > 1:
            worker_versions = sorted({v for w, v in seen.items()
                                      if w not in ("client", "scheduler")})
            rows.append((name, seen["client"], seen["scheduler"], ", ".join(worker_versions)))
    if not rows:
        return ""
    header = ("Package", "Client", "Scheduler", "Workers")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "Mismatched versions found\n\n" + "\n".join(lines)
