"""Progress reporting for long loops, without tying library code to a UI.

Stages call :func:`report`; whoever runs them (the CLI's rich progress bars, a Prefect progress
artifact) registers a reporter with :func:`reporting`. With no reporter, reporting costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: ``(label, done, total)``: ``done`` of ``total`` units (frames) finished for the task ``label``.
Reporter = Callable[[str, int, int], None]

_reporters: list[Reporter] = []


def report(label: str, done: int, total: int) -> None:
    """Tell every registered reporter that ``done`` of ``total`` frames of ``label`` are finished."""
    for fn in list(_reporters):
        fn(label, done, total)


@contextmanager
def reporting(fn: Reporter) -> Iterator[None]:
    """Register ``fn`` for the duration of the ``with`` block."""
    _reporters.append(fn)
    try:
        yield
    finally:
        _reporters.remove(fn)
