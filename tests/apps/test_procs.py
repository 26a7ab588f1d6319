"""The starter lock of ``rotoflow up`` (:func:`apps.procs.exclusive`)."""

import pytest

from apps import procs
from rotoflow.files import locked


def test_exclusive_raises_lock_timeout_while_the_file_is_locked(tmp_path):
    path = tmp_path / "up.lock"
    with (
        locked(path),
        pytest.raises(procs.LockTimeout, match="still locked after 0.3 s"),
        procs.exclusive(path, 0.3),
    ):
        pytest.fail("took a held lock")
    with procs.exclusive(path, 0):  # free again
        assert path.is_file()
