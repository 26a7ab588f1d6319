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

from flows.watch import Watcher
from flows.watch import _state as watch_state
from rotoflow import db
from rotoflow.plate import plate_signature
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


def _poller(root: Path, tmp_path: Path, **kw):
    """A watcher of ``root`` with a clock the test moves (``now[0]``) and the runs it starts."""
    now, started = [0.0], []
    url = f"sqlite:///{tmp_path / 'project.db'}"
    watcher = Watcher([root], url, "show", settle=10.0, start=started.append, clock=lambda: now[0])
    return watcher, now, started, url


def _take_ins(url: str, shot: str) -> list[db.Job]:
    with db.session(url) as s:
        sh = s.exec(select(db.Shot).where(db.Shot.name == shot)).one()
        return s.exec(select(db.Job).where(db.Job.shot_id == sh.id).order_by(db.Job.id)).all()


def test_links_out_of_the_folder_are_skipped_and_do_not_stop_the_watcher(tmp_path, caplog):
    """A link to ``/`` used to kill the watcher (PermissionError on /proc/1/cwd); a link
    ``passwd.mp4 -> /etc/passwd`` was taken in as a shot."""
    root = tmp_path / "drop"
    root.mkdir()
    (root / "everything").symlink_to("/")
    (root / "passwd.mp4").symlink_to("/etc/passwd")
    (root / "passwd.mp4.ready").write_bytes(b"")
    (root / "loop").symlink_to(root / "loop")
    (root / "sh010").mkdir()
    (root / "sh010" / "sh010.0001.jpg").write_bytes(b"frame")
    (root / "sh010" / "outside.0002.jpg").symlink_to(davis_frames("dog") / "00000.jpg")
    (root / "sh030").symlink_to(root / "sh010")  # a link inside the folder is a drop
    watcher, now, _, url = _poller(root, tmp_path)
    with caplog.at_level("WARNING", logger="flows.watch"):
        assert watcher.poll() == []
        now[0] = 20.0
        assert watcher.poll() == ["sh010", "sh030"]
        now[0] = 40.0
        assert watcher.poll() == []
    out = [r.getMessage() for r in caplog.records if "links out of the watched folder" in r.message]
    assert sorted(m.split()[1] for m in out) == [str(root / "everything"), str(root / "passwd.mp4")]
    assert len(out) == 2  # once each, not on every poll
    with db.session(url) as s:
        assert sorted(sh.name for sh in s.exec(select(db.Shot))) == ["sh010", "sh030"]
    # the link inside sh010 that leads out of it is not part of the drop
    assert [f[0] for f in watch_state(root / "sh010")] == ["sh010/sh010.0001.jpg"]


def test_redelivered_plate_and_late_prompts_are_new_versions(tmp_path, caplog):
    """The same name delivered again with other bytes, and a prompts sidecar that arrives after
    take-in, used to be ignored silently: each is logged and taken in as a new version (the shot
    row kept, a take-in job recorded, a run started when there are prompts)."""
    root = tmp_path / "drop"
    root.mkdir()
    movie = root / "sh040.mp4"
    movie.write_bytes(MOVIE.read_bytes())
    (root / "sh040.mp4.ready").write_bytes(b"")
    watcher, now, started, url = _poller(root, tmp_path)
    assert watcher.poll() == ["sh040"]
    assert watcher.poll() == [] and started == []
    with caplog.at_level("WARNING", logger="flows.watch"):
        (root / "sh040.prompts.json").write_text(json.dumps(PROMPTS))
        assert watcher.poll() == ["sh040"]
        assert watcher.poll() == []
        assert [j.prompts.objects[0].name for j in started] == ["thing"]
        data = (SHARED / "data" / "sam2" / "bedroom.mp4").read_bytes()
        movie.write_bytes(data)
        assert watcher.poll() == ["sh040"]
        assert watcher.poll() == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("prompts arrived" in m and "new version of shot sh040" in m for m in messages)
    assert any("re-delivered" in m and "new version of shot sh040" in m for m in messages)
    assert len(started) == 2
    jobs = _take_ins(url, "sh040")
    assert [j.status for j in jobs] == [db.Status.pending] * 3
    assert len({j.plate_signature for j in jobs}) == 2  # the plate changed once
    assert jobs[-1].plate_signature == plate_signature(movie)
    with db.session(url) as s:
        (shot,) = s.exec(select(db.Shot)).all()
        objects = s.exec(select(db.RotoObject)).all()
    assert shot.status == db.Status.pending and [o.name for o in objects] == ["thing"]
    assert Watcher([root], url, "show", settle=0.0).poll() == []  # a restart: nothing new


def test_stalled_movie_copy_is_not_taken_in_half_written(tmp_path, caplog):
    """A copy that stalls longer than the settle time: the half-written movie (no moov atom) is
    not taken in, and is once it is complete."""
    root = tmp_path / "drop"
    root.mkdir()
    data = MOVIE.read_bytes()
    movie = root / "sh050.mp4"
    movie.write_bytes(data[: len(data) // 2])
    watcher, now, _, url = _poller(root, tmp_path)
    with caplog.at_level("WARNING", logger="flows.watch"):
        for t in (0.0, 20.0, 40.0):
            now[0] = t
            assert watcher.poll() == []
    waiting = [r.getMessage() for r in caplog.records if "not a complete movie" in r.message]
    assert len(waiting) == 1 and "sh050.mp4.ready" in waiting[0], waiting
    movie.write_bytes(data)
    now[0] = 50.0
    assert watcher.poll() == []
    now[0] = 61.0
    assert watcher.poll() == ["sh050"]


def test_deployment_runs_are_keyed_by_version(tmp_path, monkeypatch):
    """A new version of a shot starts its own run; Prefect used to deduplicate it against the
    first version's run (the idempotency key named only project and shot)."""
    from types import SimpleNamespace

    from flows import watch_folder
    from rotoflow.pipeline import RotoJob

    keys = []
    monkeypatch.setattr(
        watch_folder,
        "run_deployment",
        lambda *a, **kw: keys.append(kw["idempotency_key"]) or SimpleNamespace(id="r"),
    )
    start = watch_folder.deployment_starter()
    movie = tmp_path / "sh060.mp4"
    movie.write_bytes(MOVIE.read_bytes())
    job = RotoJob(plate=str(movie), prompts=PROMPTS, shot="sh060", project="show")
    start(job)
    start(job)
    other = {"objects": [{"id": 1, "name": "cup", "text": "cup"}]}
    start(job.model_copy(update={"prompts": RotoJob(plate="x", prompts=other).prompts}))
    movie.write_bytes(MOVIE.read_bytes()[:1000])
    start(job)
    assert keys[0] == keys[1] and len(set(keys)) == 3
    assert all(k.startswith("watch-show-sh060-") for k in keys)
