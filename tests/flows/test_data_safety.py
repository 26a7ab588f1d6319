"""A run never destroys, aliases or silently reuses another shot's work: the severe findings of the
data-safety review, each reproduced as it was found (real ``rotoflow run`` on real footage)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from rotoflow import db
from rotoflow.geometry import iou
from rotoflow.mattes import read_mask_png
from rotoflow.settings import get_settings
from tests.conftest import davis_masks
from tests.flows.helpers import frame_folder, published_files, use_home
from tests.flows.test_cli import short_movie

pytestmark = pytest.mark.e2e

BOX = "150,80,600,450"


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    use_home(home)
    return home


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_a_plate_named_dots_cannot_escape_the_output_root(home, tmp_path):
    """Finding 1: ``...mp4`` was named ``..`` and its outputs replaced the output root's parent's
    ``roto/``; a folder path ending in ``sub/..`` likewise."""
    plates = tmp_path / "plates"
    plates.mkdir()
    clip = short_movie(plates / "...mp4", 3)
    root = tmp_path / "trav" / "root"
    (tmp_path / "trav" / "roto").mkdir(parents=True)
    precious = tmp_path / "trav" / "roto" / "comp_v012.nk"
    precious.write_text("Root { }\n")
    result = invoke("run", str(clip), "--box", BOX, "--out", str(root))
    assert result.exit_code == 0, result.output
    assert precious.read_text() == "Root { }\n"
    assert sorted(p.name for p in (tmp_path / "trav").iterdir()) == ["root", "roto"]
    (shot,) = (root / "default").iterdir()
    assert shot.name == "shot" and (shot / "roto" / "shot.nk").is_file()

    folder = frame_folder("dog", tmp_path / "sub", range(2))
    (folder / "x").mkdir()
    result = invoke("run", str(folder / "x" / ".."), "--box", BOX, "--out", str(root))
    assert result.exit_code == 0, result.output
    assert precious.read_text() == "Root { }\n"
    assert sorted(p.name for p in (root / "default").iterdir()) == ["shot", "sub"]


@pytest.mark.parametrize(
    "option, value",
    [("--shot", ".."), ("--shot", "a/b"), ("--project", ".."), ("--shot", "s" * 250)],
)
def test_a_given_name_that_is_not_one_path_component_is_refused_before_any_work(
    home, tmp_path, option, value
):
    plate = frame_folder("dog", tmp_path / "dog", range(2))
    result = invoke("run", str(plate), "--box", BOX, option, value)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "error:" in result.stderr
    assert not (home / "out").exists()


def test_a_symlinked_project_folder_that_leads_out_is_refused(home, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (home / "out").mkdir(parents=True)
    (home / "out" / "default").symlink_to(outside)
    plate = frame_folder("dog", tmp_path / "dog", range(2))
    result = invoke("run", str(plate), "--box", BOX)
    assert result.exit_code == 2, result.output
    assert "outside" in result.stderr
    assert list(outside.iterdir()) == []


def test_two_shots_of_one_plate_share_no_files(home, tmp_path):
    """Finding 2: the same plate and prompts under two shot names made B's published masks hard
    links into A's ``.rotoflow/``; after ``rm -rf A`` rerunning B failed."""
    plate = frame_folder("dog", tmp_path / "dog", range(3))
    for shot in ("A", "B", "B"):
        assert invoke("run", str(plate), "--box", BOX, "--shot", shot).exit_code == 0
    a, b = home / "out" / "default" / "A", home / "out" / "default" / "B"
    inodes_a = {p.stat().st_ino for p in a.rglob("*") if p.is_file()}
    assert inodes_a and not inodes_a & {p.stat().st_ino for p in b.rglob("*") if p.is_file()}
    before = published_files(b)
    shutil.rmtree(a)
    result = invoke("run", str(plate), "--box", BOX, "--shot", "B")
    assert result.exit_code == 0, result.output
    assert published_files(b) == before


def test_an_edited_mask_prompt_is_used_on_the_rerun(home, tmp_path):
    """Finding 3: overwriting ``hero.png`` and re-running reused every stage (IoU 0.088 with the
    new mask)."""
    plate = frame_folder("dog", tmp_path / "dog", range(3))
    hero = tmp_path / "hero.png"
    gt = cv2.imread(str(davis_masks("dog") / "00000.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(hero), gt)
    assert invoke("run", str(plate), "--mask", str(hero), "--name", "hero").exit_code == 0
    moved = np.zeros_like(gt)
    moved[40:200, 60:300] = 255  # another object: a box in the top-left
    cv2.imwrite(str(hero), moved)
    assert invoke("run", str(plate), "--mask", str(hero), "--name", "hero").exit_code == 0
    key = read_mask_png(home / "out/default/dog/masks/hero/hero.00000.png")
    assert iou(key, moved > 0) > 0.95


def test_three_concurrent_runs_of_one_shot_all_finish(home, tmp_path):
    """Finding 4: three ``rotoflow run`` of the same shot at once; two failed reading a matte
    folder that a finishing run deleted and replaced."""
    plate = frame_folder("dog", tmp_path / "dog", range(4))
    cmd = [sys.executable, "-m", "apps.cli", "run", str(plate), "--box", BOX]
    procs = [
        subprocess.Popen(
            cmd,
            env={**os.environ, "PREFECT_HOME": str(tmp_path / f"prefect{i}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0, 0], [err[-2000:] for _, _, err in results]
    shot = home / "out" / "default" / "dog"
    assert len(list((shot / "masks").glob("*/*.png"))) == 4
    assert not [p for p in shot.iterdir() if p.name.startswith(".publish-")]
    assert not list(shot.glob(".rotoflow/*.partial-*"))
    with db.session(get_settings().resolved_database_url()) as s:
        jobs = s.exec(select(db.Job)).all()
    assert [j.status for j in jobs] == [db.Status.done] * 3


def test_one_shot_name_in_two_projects_has_two_folders(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "dog", range(2))
    for project in ("showA", "showB"):
        result = invoke("run", str(plate), "--box", BOX, "--project", project)
        assert result.exit_code == 0, result.output
    for project in ("showA", "showB"):
        assert (home / "out" / project / "dog" / "roto" / "dog.nk").is_file()


def test_published_files_follow_the_umask(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "dog", range(2))
    old = os.umask(0o022)
    try:
        assert invoke("run", str(plate), "--box", BOX).exit_code == 0
    finally:
        os.umask(old)
    shot = home / "out" / "default" / "dog"
    modes = {
        stat.S_IMODE(p.stat().st_mode)
        for top in ("masks", "alpha", "roto", "qc")
        for p in (shot / top).rglob("*")
        if p.is_file()
    }
    assert modes == {0o644}


def test_two_plates_whose_names_clean_alike_never_replace_each_other(home, tmp_path):
    first = frame_folder("dog", tmp_path / "shot 01 ✓", range(2))
    second = frame_folder("dog", tmp_path / "shot 01 ✗", range(2), start=10)
    assert invoke("run", str(first), "--box", BOX).exit_code == 0
    shot = home / "out" / "default" / "shot_01_"
    before = published_files(shot)
    result = invoke("run", str(second), "--box", BOX)
    assert result.exit_code == 2, result.output
    assert "--shot" in result.stderr and "already" in result.stderr
    assert published_files(shot) == before
    assert invoke("run", str(second), "--box", BOX, "--shot", "shot_01_b").exit_code == 0
