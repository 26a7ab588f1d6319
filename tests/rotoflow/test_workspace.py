import os
import subprocess

import pytest

from rotoflow.errors import LockTimeout, UnsafePath
from rotoflow.files import HOST, locked
from rotoflow.workspace import ShotWorkspace, fingerprint, publish_tree, sha256_file, shot_lock


def test_failed_stage_leaves_no_finished_folder(tmp_path):
    ws = ShotWorkspace(tmp_path / "sh010")
    with pytest.raises(ValueError), ws.staging("matte", "k" * 64) as tmp:
        (tmp / "a.exr").write_bytes(b"half")
        raise ValueError("solver failed")
    assert ws.finished("matte", "k" * 64) is None
    assert list(ws.work.iterdir()) == []


def test_committed_stage_is_found_by_its_key_only(tmp_path):
    ws = ShotWorkspace(tmp_path / "sh010")
    key = fingerprint("matte", 1)
    with ws.staging("matte", key) as tmp:
        (tmp / "a.exr").write_bytes(b"half")
        out = ws.commit(tmp, "matte", key, started=0.0, n_frames=3)
    assert (out.dir / "a.exr").read_bytes() == b"half"
    assert ws.finished("matte", key).n_frames == 3
    assert ws.finished("matte", fingerprint("matte", 2)) is None


def test_fingerprint_is_order_independent_for_dicts_and_sensitive_to_values():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_publish_replaces_folders_whole_and_links(tmp_path):
    shot = tmp_path / "shot"
    src = shot / ".rotoflow" / "export-x"
    src.mkdir(parents=True)
    (src / "m1.png").write_bytes(b"one")
    (src / "m2.png").write_bytes(b"two")
    (shot / "masks" / "stale").mkdir(parents=True)
    with shot_lock(ShotWorkspace(shot)):
        pub = publish_tree(
            {"masks/obj/obj.1.png": src / "m1.png", "roto/sh.nk": src / "m2.png"}, shot
        )
        pub.commit()
    assert sorted(p.relative_to(shot).as_posix() for p in pub.published) == [
        "masks/obj/obj.1.png",
        "roto/sh.nk",
    ]
    assert not (shot / "masks" / "stale").exists()
    assert (shot / "masks/obj/obj.1.png").read_bytes() == b"one"
    assert os.stat(shot / "masks/obj/obj.1.png").st_ino == os.stat(src / "m1.png").st_ino
    assert sha256_file(shot / "roto/sh.nk") == sha256_file(src / "m2.png")
    assert [p.name for p in shot.iterdir() if p.name.startswith(".")] == [".rotoflow"]


def test_publish_failure_keeps_previous_outputs(tmp_path):
    shot = tmp_path / "shot"
    (shot / "masks").mkdir(parents=True)
    (shot / "masks" / "old.png").write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        publish_tree({"masks/new.png": shot / ".rotoflow" / "missing.png"}, shot)
    assert (shot / "masks" / "old.png").read_bytes() == b"old"
    assert [p.name for p in shot.iterdir()] == ["masks"]


def _shot_with_outputs(tmp_path):
    """A shot folder with an earlier publication and a new stage file to publish."""
    shot = tmp_path / "proj" / "sh010"
    new = shot / ".rotoflow" / "export-new"
    new.mkdir(parents=True)
    (new / "m.png").write_bytes(b"new")
    (shot / "masks").mkdir()
    (shot / "masks" / "m.png").write_bytes(b"old")
    return shot, {"masks/m.png": new / "m.png", "roto/sh010.nk": new / "m.png"}


def test_a_withdrawn_publication_puts_the_earlier_one_back(tmp_path):
    shot, sources = _shot_with_outputs(tmp_path)
    pub = publish_tree(sources, shot)
    assert (shot / "masks" / "m.png").read_bytes() == b"new" and (shot / "roto").is_dir()
    pub.withdraw()  # the job failed after publishing (database locked at record)
    assert (shot / "masks" / "m.png").read_bytes() == b"old"
    assert not (shot / "roto").exists()  # did not exist before
    assert sorted(p.name for p in shot.iterdir()) == [".rotoflow", "masks"]


def test_a_source_in_another_shot_is_refused(tmp_path):
    shot, _ = _shot_with_outputs(tmp_path)
    other = tmp_path / "proj" / "sh020" / ".rotoflow" / "export-x"
    other.mkdir(parents=True)
    (other / "m.png").write_bytes(b"other")
    with pytest.raises(UnsafePath):
        publish_tree({"masks/m.png": other / "m.png"}, shot)
    with pytest.raises(UnsafePath):
        publish_tree({"../sh020/masks/m.png": shot / ".rotoflow" / "export-new" / "m.png"}, shot)
    assert (shot / "masks" / "m.png").read_bytes() == b"old"
    assert not (tmp_path / "proj" / "sh020" / "masks").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_what_a_killed_run_left_is_cleaned_and_its_publication_withdrawn(tmp_path):
    shot, sources = _shot_with_outputs(tmp_path)
    ws = ShotWorkspace(shot)
    dead = f"{HOST}-{_dead_pid()}"
    # a run killed after swapping its outputs in, before recording them
    pub = publish_tree(sources, shot)
    pub.staging.rename(shot / f".publish-{dead}")
    (ws.work / f"matte-abc.partial-{dead}").mkdir()
    (ws.work / f"matte-abc.partial-{HOST}-{os.getpid()}").mkdir()  # alive: this process
    (ws.work / "matte-abc.partial-farm07-1234").mkdir()  # another host's: cannot tell
    (ws.work / "propagate-abc.partial").mkdir()  # resumable, kept
    removed = ws.clean_stale()
    assert sorted(p.name for p in removed) == [f".publish-{dead}", f"matte-abc.partial-{dead}"]
    assert (shot / "masks" / "m.png").read_bytes() == b"old"
    assert not (shot / "roto").exists()
    assert sorted(p.name for p in ws.work.iterdir()) == sorted(
        [
            "export-new",
            f"matte-abc.partial-{HOST}-{os.getpid()}",
            "matte-abc.partial-farm07-1234",
            "propagate-abc.partial",
        ]
    )


def test_a_second_commit_of_a_key_keeps_the_first_folder(tmp_path):
    ws = ShotWorkspace(tmp_path / "sh010")
    key = fingerprint("matte", 1)
    with ws.staging("matte", key) as tmp:
        (tmp / "a.exr").write_bytes(b"first")
        first = ws.commit(tmp, "matte", key, started=0.0, n_frames=3)
    inode = os.stat(first.dir / "a.exr").st_ino
    with ws.staging("matte", key) as tmp:
        (tmp / "a.exr").write_bytes(b"second")
        second = ws.commit(tmp, "matte", key, started=0.0, n_frames=3)
    assert second.path == first.path
    assert (first.dir / "a.exr").read_bytes() == b"first"
    assert os.stat(first.dir / "a.exr").st_ino == inode  # never replaced under a reader
    assert sorted(p.name for p in ws.work.iterdir()) == [first.dir.name]


def test_a_symlinked_work_folder_that_leads_out_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shot = tmp_path / "sh010"
    shot.mkdir()
    (shot / ".rotoflow").symlink_to(outside)
    with pytest.raises(UnsafePath), ShotWorkspace(shot).staging("matte", "k" * 64):
        pass
    assert list(outside.iterdir()) == []


def test_shot_lock_gives_up_after_its_timeout_while_another_run_holds_it(tmp_path):
    ws = ShotWorkspace(tmp_path / "sh010")
    with shot_lock(ws):
        assert (ws.work / "publish.lock").is_file()
        with (
            pytest.raises(TimeoutError, match=r"sh010: another run holds the shot's lock"),
            shot_lock(ws, timeout=0.2),
        ):
            pytest.fail("took a held shot lock")
    with shot_lock(ws, timeout=0):  # released
        pass


def test_resumable_staging_holds_the_stage_key_lock(tmp_path):
    ws = ShotWorkspace(tmp_path / "sh010")
    key = fingerprint("propagate", 1)
    lock = ws.stage_dir("propagate", key).with_name(f"propagate-{key[:20]}.lock")
    with ws.staging("propagate", key, resumable=True) as tmp:
        assert tmp.name.endswith(".partial")
        with pytest.raises(LockTimeout), locked(lock, timeout=0):
            pass
    with locked(lock, timeout=0):  # released with the block
        pass
