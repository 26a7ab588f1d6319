"""``rotoflow export --start-frame``: a finished shot's shapes re-exported in host frames, the
files keyed from the start frame and each roto file's output row recording it (local layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

import exporters
from exporters import shapes_json
from rotoflow import db, records
from rotoflow.errors import ExportError
from rotoflow.types import OutputRecord, PlateInfo
from tasks.reexport import reexport
from tests.exporters.helpers import CANONICAL_FORMAT, canonical_shape
from tests.rotoflow.test_db_migrations import PROMPT


class _Settings:
    def __init__(self, url: str) -> None:
        self.url = url

    def resolved_database_url(self) -> str:
        return self.url


def _finished_shot(tmp_path) -> tuple[str, int]:
    """A SQLite project with shot sh010 done, its shapes (plate frames 1001..1010) recorded."""
    url = f"sqlite:///{tmp_path / 'project.db'}"
    shot_dir = tmp_path / "show" / "sh010"
    (shot_dir / "roto").mkdir(parents=True)
    text = shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    (shot_dir / "roto" / "sh010.shapes.json").write_text(text)
    job = records.open_job(url, "show", "sh010", "/p/sh010.####.exr", [PROMPT], {}, {})
    plate = PlateInfo("/p/sh010.%04d.exr", "sequence", 1920, 1080, 1.0, 24.0, 1001, 1010, "sRGB")
    rows = [OutputRecord("shapes", None, None, "roto/sh010.shapes.json")]
    records.record_outputs(url, job, shot_dir, plate, rows, {})
    return url, job


def _starts(url: str) -> dict[str, int | None]:
    with db.session(url) as s:
        return {o.kind: o.start_frame for o in s.exec(db.select(db.Output))}


def test_reexport_keys_from_the_start_frame_and_records_it(tmp_path):
    url, job = _finished_shot(tmp_path)
    done = reexport(_Settings(url), "show", "sh010", ["nuke", "after_effects"], start_frame=0)
    assert done.job_id == job
    fmt, shapes = exporters.from_name("nuke").read_from_string(
        Path(done.files["nuke"][0]).read_text()
    )
    assert (fmt.first_frame, shapes[0].keys[0].frame) == (0, 0)
    assert "var FIRST = 0, LAST = 9;" in Path(done.files["after_effects"][0]).read_text()
    assert _starts(url) == {"shapes": None, "nuke": 0, "after_effects": 0}


def test_reexport_default_records_the_plate_first_frame(tmp_path):
    url, _ = _finished_shot(tmp_path)
    done = reexport(_Settings(url), "show", "sh010", ["silhouette"])
    fmt, shapes = exporters.from_name("silhouette").read_from_string(
        Path(done.files["silhouette"][0]).read_text()
    )
    assert (fmt.first_frame, shapes[0].keys[0].frame) == (1001, 1001)
    assert _starts(url) == {"shapes": None, "silhouette": 1001}


def test_reexport_refuses_a_negative_start_for_after_effects_and_writes_nothing(tmp_path):
    url, _ = _finished_shot(tmp_path)
    with pytest.raises(ExportError, match="'after_effects' cannot key negative host frames"):
        reexport(_Settings(url), "show", "sh010", ["nuke", "after_effects"], start_frame=-1)
    assert sorted(p.name for p in (tmp_path / "show" / "sh010" / "roto").iterdir()) == [
        "sh010.shapes.json"
    ]
    assert _starts(url) == {"shapes": None}
