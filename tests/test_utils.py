"""The size and duration parsers, differential against dask's own (``dask.utils``)."""
from __future__ import annotations

import datetime

import pytest

from futurelab.utils import format_bytes, format_time, parse_bytes, parse_timedelta

dask_utils = pytest.importorskip("dask.utils")

SIZES = [0, 12, 400e6, 4.7, "4GB", "4 GiB", "5kB", "5 k", "MB", "1e3", "1.5 MiB", "512MiB",
         "2 TB", " 7 b ", "3.5kib", "1PB"]
DURATIONS = [None, 0, 3, 3.5, "1s", "200ms", "5 minutes", "3", "1.5 hours", "2us", "1 day",
             "10m", "2 weeks", "0.5 s", "100 milliseconds", datetime.timedelta(seconds=90),
             "1e-3s"]


@pytest.mark.parametrize("value", SIZES, ids=repr)
def test_parse_bytes_matches_dask(value: object) -> None:
    assert parse_bytes(value) == dask_utils.parse_bytes(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", DURATIONS, ids=repr)
def test_parse_timedelta_matches_dask(value: object) -> None:
    ours = parse_timedelta(value)  # type: ignore[arg-type]
    theirs = dask_utils.parse_timedelta(value)
    assert ours == pytest.approx(theirs) if theirs is not None else ours is None
    assert type(ours) is type(theirs)


def test_parse_timedelta_default_unit() -> None:
    assert parse_timedelta(250, default="ms") == dask_utils.parse_timedelta(250, default="ms")


@pytest.mark.parametrize("bad", ["four GB", "4 parsecs", "1..2", "GB GB"])
def test_bad_text_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match="could not interpret '"):
        parse_bytes(bad)
    with pytest.raises(ValueError, match="could not interpret '"):
        parse_timedelta(bad)


@pytest.mark.parametrize("bad", [True, [1], object()])
def test_wrong_types_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError):
        parse_bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_timedelta(bad)  # type: ignore[arg-type]


def test_formatting_for_people() -> None:
    assert format_bytes(3 * 2**30) == "3.00 GiB"
    assert format_bytes(100) == "100 B"
    assert format_time(0.0123) == "12.30 ms"
    assert format_time(7500) == "2hr 5m"
