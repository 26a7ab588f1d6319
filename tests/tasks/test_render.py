"""The render stage's read-ahead: order kept, errors raised where the frames are used, and
at most a few frames held."""

from __future__ import annotations

import threading

import pytest

from tasks.stages.render import ahead


def test_frames_come_in_order_and_only_a_few_are_read_ahead():
    made = []

    def items():
        for i in range(50):
            made.append(i)
            yield i

    got = []
    for item in ahead(items(), depth=2):
        got.append(item)
        assert len(made) <= len(got) + 2  # never more than depth frames ahead
    assert got == list(range(50))


def test_an_error_reading_a_frame_is_raised_to_the_caller():
    def items():
        yield 1
        raise OSError("frame 2 unreadable")

    out = ahead(items())
    assert next(out) == 1
    with pytest.raises(OSError, match="frame 2"):
        next(out)
    assert not [t for t in threading.enumerate() if t.name.startswith("render-read")]
