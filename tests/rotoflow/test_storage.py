import os

import pytest

from rotoflow.storage import ShotWorkspace, fingerprint, publish_tree, sha256_file


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
    src = tmp_path / "src"
    src.mkdir()
    (src / "m1.png").write_bytes(b"one")
    (src / "m2.png").write_bytes(b"two")
    shot = tmp_path / "shot"
    (shot / "masks" / "stale").mkdir(parents=True)
    published = publish_tree(
        {"masks/obj/obj.1.png": src / "m1.png", "roto/sh.nk": src / "m2.png"}, shot
    )
    assert sorted(p.relative_to(shot).as_posix() for p in published) == [
        "masks/obj/obj.1.png",
        "roto/sh.nk",
    ]
    assert not (shot / "masks" / "stale").exists()
    assert (shot / "masks/obj/obj.1.png").read_bytes() == b"one"
    assert os.stat(shot / "masks/obj/obj.1.png").st_ino == os.stat(src / "m1.png").st_ino
    assert sha256_file(shot / "roto/sh.nk") == sha256_file(src / "m2.png")
    assert [p.name for p in shot.iterdir() if p.name.startswith(".")] == []


def test_publish_failure_keeps_previous_outputs(tmp_path):
    shot = tmp_path / "shot"
    (shot / "masks").mkdir(parents=True)
    (shot / "masks" / "old.png").write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        publish_tree({"masks/new.png": tmp_path / "missing.png"}, shot)
    assert (shot / "masks" / "old.png").read_bytes() == b"old"
