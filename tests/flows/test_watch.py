"""Watched folder: 50 shots dropped (sequence folders and movie files, some copied slowly in
pieces, some with prompts), the watcher killed and restarted midway: every shot is taken in exactly
once, none before its copy was complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from rotoflow import db
from rotoflow.watch import Watcher
from tests.conftest import SHARED, davis_frames
from tests.flows.conftest import BIN

pytestmark = pytest.mark.e2e

SETTLE = 1.5
MOVIE = SHARED / "data" / "sam2" / "04_coffee.mp4"
PROMPTS = {"objects": [{"id": 1, "name": "thing", "text": "person"}]}


def _copy(src: Path, dest: Path, slow: bool) -> None:
    """Copy a file; ``slow`` writes it in 64 KiB pieces with pauses (shorter than the settle)."""
    data = src.read_bytes()
    with open(dest, "wb") as fh:
        step = 64 * 1024 if slow else len(data)
        for i in range(0, len(data), step):
            fh.write(data[i : i + step])
            fh.flush()
            if slow:
                time.sleep(0.05)


def _drop(root: Path, n: int, done: dict[str, datetime]) -> None:
    """Drop shot ``n``: a movie file every fifth shot, else a folder of three frames; every third
    shot copied slowly; every fourth with a prompts sidecar. Records when each copy completed."""
    slow = n % 3 == 0
    prompts = n % 4 == 0
    if n % 5 == 0:
        name = f"mv{n:02d}"
        if prompts:
            (root / f"{name}.prompts.json").write_text(json.dumps(PROMPTS))
        _copy(MOVIE, root / f"{name}.mp4", slow)
    else:
        name = f"sq{n:02d}"
        folder = root / name
        folder.mkdir()
        if prompts:
            (folder / "prompts.json").write_text(json.dumps(PROMPTS))
        for i, frame in enumerate(sorted(davis_frames("car-shadow").glob("*.jpg"))[:3]):
            _copy(frame, folder / f"{name}.{i:04d}.jpg", slow)
            if slow:
                time.sleep(0.3)
    done[name] = datetime.now(UTC)


def _watcher(env: dict, root: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "rotoflow"), "watch", str(root), "--settle", str(SETTLE), "--interval", "0.2"],
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )


def test_fifty_drops_each_taken_in_once_across_a_restart(tmp_path):
    root = tmp_path / "drop"
    root.mkdir()
    url = f"sqlite:///{tmp_path / 'project.db'}"
    env = {**os.environ, "ROTOFLOW_DATABASE_URL": url, "ROTOFLOW_PROJECT": "show"}
    done: dict[str, datetime] = {}
    copier = threading.Thread(target=lambda: [_drop(root, n, done) for n in range(50)])
    log = tmp_path / "watch.log"
    first = _watcher(env, root, log)
    copier.start()
    while len(done) < 25:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # a crash, mid-copy
    first.wait()
    second = _watcher(env, root, log)
    copier.join()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.session(url) as s:
            if len(s.exec(select(db.Shot)).all()) == 50:
                break
        time.sleep(0.5)
    time.sleep(2 * SETTLE)  # anything taken in twice would show by now
    second.terminate()
    second.wait()
    with db.session(url) as s:
        shots = s.exec(select(db.Shot)).all()
        objects = s.exec(select(db.RotoObject)).all()
    assert sorted(sh.name for sh in shots) == sorted(done), log.read_text()[-2000:]
    assert len({sh.plate_path for sh in shots}) == 50
    for sh in shots:
        taken = sh.updated_at if sh.updated_at.tzinfo else sh.updated_at.replace(tzinfo=UTC)
        assert taken > done[sh.name], (sh.name, taken, done[sh.name])
        assert sh.status == db.Status.pending
    assert sorted(o.shot_id for o in objects) == sorted(
        sh.id for sh in shots if int(sh.name[2:]) % 4 == 0
    )


def test_ready_marker_takes_a_drop_in_at_once_and_prompts_start_a_run(tmp_path):
    root = tmp_path / "drop"
    (root / "sh010").mkdir(parents=True)
    (root / "sh010" / "sh010.0001.jpg").write_bytes(b"frame")
    (root / "sh010" / "prompts.json").write_text(json.dumps(PROMPTS))
    (root / "sh020.mov").write_bytes(b"movie")
    started = []
    now = [0.0]
    url = f"sqlite:///{tmp_path / 'project.db'}"
    watcher = Watcher([root], url, "show", settle=10.0, start=started.append, clock=lambda: now[0])
    assert watcher.poll() == []  # first sight: not settled, no marker
    (root / "sh020.mov.ready").write_bytes(b"")
    assert watcher.poll() == ["sh020"]  # the marker: at once
    now[0] = 9.0
    assert watcher.poll() == []
    now[0] = 10.5
    assert watcher.poll() == ["sh010"]  # unchanged for the settle time
    assert [(j.shot, j.prompts.objects[0].name) for j in started] == [("sh010", "thing")]
    now[0] = 100.0
    assert Watcher([root], url, "show", settle=0.0, start=started.append).poll() == []
    assert len(started) == 1
    with pytest.raises(FileNotFoundError, match="watched folder"):
        Watcher([tmp_path / "nowhere"], url, "show").poll()
