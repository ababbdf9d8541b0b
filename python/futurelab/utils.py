"""Values as dask.distributed accepts them: byte sizes and durations as numbers or strings.

Every public parameter that is a size (``memory_limit=``) or a duration (``timeout=``,
``interval=``, ``wait_count`` intervals, …) goes through one of the two parsers here, so
``"4GB"``, ``"4 GiB"``, ``400e6``, ``"1s"``, ``"200ms"`` and ``"5 minutes"`` mean the same thing
everywhere, as they do in dask.  Pure: no I/O.

>>> parse_bytes("4 GiB"), parse_timedelta("200ms")
(4294967296, 0.2)
"""
from __future__ import annotations

import datetime
import math
import re

__all__ = ["format_bytes", "format_time", "parse_bytes", "parse_timedelta"]

#: byte units, lower case; SI prefixes are powers of 1000, the ``i`` ones powers of 1024
BYTE_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30,
    "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50,
}

#: duration units, lower case, in seconds
TIME_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("ns", "nanosecond", "nanoseconds"), 1e-9),
    (("us", "µs", "microsecond", "microseconds"), 1e-6),
    (("ms", "millisecond", "milliseconds"), 1e-3),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "wk", "week", "weeks"), 604800.0),
):
    for _name in _names:
        TIME_UNITS[_name] = _seconds

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?\s*([a-zµ]*)\s*$")


def _split(text: str) -> tuple[float, str] | None:
    match = _NUMBER_UNIT.match(text.lower())
    if match is None:
        return None
    number, unit = match.groups()
    return (float(number) if number else 1.0), unit


def parse_bytes(value: int | float | str) -> int:
    """A byte size as an int: ``4000``, ``4e9``, ``"4GB"``, ``"4 GiB"``, ``"512MiB"``, ``"MB"``.

    Args:
        value: a number of bytes, or a number with a unit (k/M/G/T/P, with or without ``B``,
            powers of 1000; ``KiB``/``MiB``/… powers of 1024).

    Returns:
        The number of bytes, rounded down to an int.

    Raises:
        ValueError: naming the text that is not a size.
        TypeError: for a value that is neither a number nor a string.

    >>> parse_bytes("1.5 GB"), parse_bytes(400e6), parse_bytes("2 KiB")
    (1500000000, 400000000, 2048)
    """
    if isinstance(value, bool):
        raise TypeError(f"a byte size must be a number or a string like '4GB', not {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"a byte size must be finite, not {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"a byte size must be a number or a string like '4GB', "
                        f"not {type(value).__name__}: {value!r}")
    parts = _split(value)
    if parts is None or parts[1] not in BYTE_UNITS:
        raise ValueError(f"could not interpret {value!r} as a byte size "
                         "(examples: 4000, '4kB', '4 GiB', '1.5 GB')")
    return int(parts[0] * BYTE_UNITS[parts[1]])


def parse_timedelta(value: int | float | str | datetime.timedelta | None,
                    default: str = "seconds") -> int | float | None:
    """A duration in seconds: ``3``, ``0.5``, ``"1s"``, ``"200ms"``, ``"5 minutes"``, a timedelta.

    Args:
        value: the duration; None stays None (no limit).
        default: the unit of a bare number (``"seconds"``, ``"ms"``, …).

    Returns:
        Seconds: an int when whole, else a float (as dask returns them).

    Raises:
        ValueError: naming the text that is not a duration.
        TypeError: for a value that is neither a number, a string nor a timedelta.

    >>> parse_timedelta("1s"), parse_timedelta("200ms"), parse_timedelta("5 minutes")
    (1, 0.2, 300)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"a duration must be a number, a string like '1s' or a timedelta, "
                        f"not {value!r}")
    if isinstance(value, datetime.timedelta):
        seconds: float = value.total_seconds()
    elif isinstance(value, (int, float)):
        unit = TIME_UNITS.get(default.lower())
        if unit is None:
            raise ValueError(f"unknown default time unit {default!r}")
        seconds = value * unit
    elif isinstance(value, str):
        parts = _split(value)
        unit_name = (parts[1] or default.lower()) if parts is not None else ""
        if parts is None or unit_name not in TIME_UNITS:
            raise ValueError(f"could not interpret {value!r} as a duration "
                             "(examples: 5, '1s', '200ms', '5 minutes')")
        seconds = parts[0] * TIME_UNITS[unit_name]
    else:
        raise TypeError(f"a duration must be a number, a string like '1s' or a timedelta, "
                        f"not {type(value).__name__}: {value!r}")
    if math.isnan(seconds):
        raise ValueError(f"a duration cannot be NaN: {value!r}")
    if math.isfinite(seconds) and seconds == int(seconds):
        return int(seconds)
    return seconds


def format_bytes(n: int | float) -> str:
    """A byte count for people: ``"1.50 GiB"``, ``"12.0 kiB"``, ``"512 B"``.

    >>> format_bytes(1536), format_bytes(3 * 2**30), format_bytes(100)
    ('1.50 kiB', '3.00 GiB', '100 B')
    """
    for prefix, scale in (("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20),
                          ("ki", 2**10)):
        if abs(n) >= scale * 0.9:
            return f"{n / scale:.2f} {prefix}B"
    return f"{int(n)} B"


def format_time(seconds: float) -> str:
    """A duration for people: ``"1.50 s"``, ``"12.3 ms"``, ``"5m 3s"``, ``"2hr 5m"``.

    >>> format_time(0.0123), format_time(1.5), format_time(303), format_time(7500)
    ('12.30 ms', '1.50 s', '5m 3s', '2hr 5m')
    """
    if seconds >= 3600:
        return f"{int(seconds // 3600)}hr {int(seconds % 3600 // 60)}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m {int(seconds % 60)}s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} us"
