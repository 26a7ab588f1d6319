import cv2
import numpy as np
import pytest

from rotoflow.errors import InvalidName, UnsafePath
from rotoflow.files import MAX_NAME, check_name
from rotoflow.pipeline import RotoJob, default_shot_name, input_digests, resolve, stage_keys
from rotoflow.prompts import ShotPrompts
from rotoflow.settings import Settings


@pytest.mark.parametrize(
    "plate, name",
    [
        ("/plates/sh010.####.exr", "sh010"),
        ("/plates/sh010.%04d.exr", "sh010"),
        ("/plates/sh010.1001.exr", "sh010"),
        ("/plates/sh010_plate_v002.1001.dpx", "sh010_plate_v002"),
        ("/footage/bedroom.mp4", "bedroom"),
        ("/davis/blackswan/%05d.jpg", "blackswan"),
    ],
)
def test_default_shot_name(plate, name):
    assert default_shot_name(plate) == name


def test_default_shot_name_of_a_folder(tmp_path):
    (tmp_path / "cows").mkdir()
    assert default_shot_name(str(tmp_path / "cows")) == "cows"


@pytest.mark.parametrize(
    "plate, name",
    [
        ("/plates/...mp4", "shot"),
        ("/plates/..mov", "shot"),
        ("/plates/.hidden.mp4", "hidden"),
        ("/plates/-rf.mp4", "rf"),
        ("/plates/shöt 01 ✓.mp4", "shot_01_"),
        ("/plates/" + "x" * 300 + ".mp4", "x" * MAX_NAME),
        ("s3://bucket/shots/../", "shot"),
    ],
)
def test_a_derived_shot_name_is_one_safe_path_component(plate, name):
    assert default_shot_name(plate) == name
    assert check_name(name, "shot") == name


def test_a_folder_plate_ending_in_dots_is_named_by_the_folder_it_resolves_to(tmp_path):
    (tmp_path / "sh020" / "sub").mkdir(parents=True)
    assert default_shot_name(str(tmp_path / "sh020" / "sub" / "..")) == "sh020"
    assert default_shot_name(str(tmp_path / "sh020" / ".")) == "sh020"


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", ".rotoflow", "-x", "a b", "s" * 101])
def test_an_unsafe_given_name_is_refused(name):
    with pytest.raises(InvalidName):
        check_name(name, "shot")


def _job(tmp_path, **kw) -> RotoJob:
    return RotoJob(
        plate=str(tmp_path / "p.mp4"),
        prompts={"objects": [{"id": 1, "name": "car", "text": "car"}]},
        **kw,
    )


def test_resolve_puts_each_project_in_its_own_folder_inside_the_root(tmp_path):
    settings = Settings(home=tmp_path, output_root=tmp_path / "out")
    a = resolve(_job(tmp_path, shot="sh010", project="showA"), settings)
    b = resolve(_job(tmp_path, shot="sh010", project="showB"), settings)
    assert a.shot_dir == str((tmp_path / "out" / "showA" / "sh010").resolve())
    assert b.shot_dir != a.shot_dir
    assert a.shot_from_plate is False and resolve(_job(tmp_path), settings).shot_from_plate
    assert (a.shape_min_area, a.shape_min_frames, a.shape_max_loss) == (1e-4, 4, 0.002)
    assert a.settings_used()["shape_max_loss"] == 0.002
    assert a.shape_tolerance == 0.75 and a.settings_used()["shape_tolerance"] == 0.75
    assert a.settings_used()["shape_min_frames"] == 4
    strict = Settings(home=tmp_path, output_root=tmp_path / "out", shape_min_frames=8)
    assert resolve(_job(tmp_path, shot="sh010"), strict).settings_used()["shape_min_frames"] == 8


def test_the_start_frame_reaches_the_settings_the_export_key_is_made_of(tmp_path):
    settings = Settings(home=tmp_path, output_root=tmp_path / "out")
    assert resolve(_job(tmp_path, start_frame=0), settings).settings_used()["start_frame"] == 0
    assert resolve(_job(tmp_path), settings).settings_used()["start_frame"] is None


def test_resolve_refuses_a_shot_folder_a_symlink_leads_out_of_the_root(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "show").symlink_to(tmp_path / "elsewhere")
    settings = Settings(home=tmp_path, output_root=tmp_path / "out")
    with pytest.raises(UnsafePath):
        resolve(_job(tmp_path, shot="sh010", project="show"), settings)


def test_an_edited_mask_prompt_or_ocio_config_changes_the_keys(tmp_path):
    hero = tmp_path / "hero.png"
    cv2.imwrite(str(hero), np.full((4, 4), 255, np.uint8))
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "hero", "masks": [{"path": str(hero), "frame": 1}]}]}
    )
    config = tmp_path / "config.ocio"
    config.write_text("ocio_profile_version: 2\n")
    plate = {"path": "/p", "files": [["a", 1, 2]]}

    def k():
        inputs = input_digests(prompts, str(config))
        return stage_keys(plate, prompts, PROV, SET, "sh010", inputs).model_dump()

    first = k()
    assert k() == first
    cv2.imwrite(str(hero), np.zeros((4, 4), np.uint8))  # same path, new content
    second = k()
    assert second["ingest"] == first["ingest"] and second["detect"] != first["detect"]
    config.write_text("ocio_profile_version: 2\n# edited\n")
    assert k()["ingest"] != second["ingest"]


PROV = {"detector": "d@1", "segmenter": "s@1", "tracker": "t@1", "matter": "m@1"}
SET = {"movie_first_frame": 1, "ocio_config": None, "detector_threshold": 0.25, "trimap_band": 12}


def keys(**changes):
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "car", "text": changes.pop("text", "car")}]}
    )
    prov = {**PROV, **changes.pop("prov", {})}
    settings = {**SET, **changes.pop("settings", {})}
    plate = changes.pop("plate", {"path": "/p", "files": [["a", 1, 2]]})
    return stage_keys(plate, prompts, prov, settings, "sh010").model_dump()


def test_keys_are_stable_and_chain_downstream():
    base = keys()
    assert base == keys()
    matter = keys(prov={"matter": "m@2"})
    assert [s for s in base if base[s] != matter[s]] == ["matte", "vectorize", "export"]
    tracker = keys(prov={"tracker": "t@2"})
    assert [s for s in base if base[s] != tracker[s]] == [
        "propagate",
        "matte",
        "vectorize",
        "export",
    ]
    plate = keys(plate={"path": "/p", "files": [["a", 1, 3]]})
    assert base["render"] is None  # no renders asked: no render key
    assert all(base[s] != plate[s] for s in base if s != "render")
    text = keys(text="the car")
    assert base["ingest"] == text["ingest"] and base["detect"] != text["detect"]
    band = keys(settings={"trimap_band": 20})
    assert [s for s in base if base[s] != band[s]] == ["matte", "vectorize", "export"]
    for speck in (
        {"shape_min_area": 1e-3},
        {"shape_min_frames": 2},
        {"shape_max_loss": 0.05},
        {"shape_tolerance": 0.5},
    ):
        other = keys(settings=speck)
        assert [s for s in base if base[s] != other[s]] == ["vectorize", "export"]
    start = keys(settings={"start_frame": 0})
    assert [s for s in base if base[s] != start[s]] == ["export"]
    assert keys(settings={"start_frame": 1})["export"] != start["export"]
    assert keys(settings={"start_frame": None}) == base  # the default keeps earlier exports
    rendered = keys(settings={"renders": ["rgba"]})
    assert [s for s in base if base[s] != rendered[s]] == ["render"]
    assert rendered["render"] != keys(settings={"renders": ["rgba", "overlay"]})["render"]
    for other in (
        {"renders": ["rgba"], "render_objects": ["car"]},
        {"renders": ["rgba"], "key_colour": "0,0,255"},
        {"renders": ["rgba"], "trimap_band": 20},  # a new matte renders again
    ):
        assert keys(settings=other)["render"] != rendered["render"], other
    assert keys(settings={"renders": ["rgba"], "formats": ["svg"]})["render"] == rendered["render"]


def test_a_linked_folder_keeps_its_own_name(tmp_path):
    (tmp_path / "sh010").mkdir()
    (tmp_path / "sh030").symlink_to(tmp_path / "sh010")
    assert default_shot_name(str(tmp_path / "sh030")) == "sh030"


def test_an_edited_shape_file_changes_the_detect_key(tmp_path):
    shape = tmp_path / "hero.nk"
    shape.write_text("Roto {\n name Roto1\n}\n")
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "hero", "shapes": [{"path": str(shape)}]}]}
    )
    plate = {"path": "/p", "files": [["a", 1, 2]]}

    def k():
        return stage_keys(plate, prompts, PROV, SET, "sh010", input_digests(prompts, None))

    first = k()
    shape.write_text("Roto {\n name Roto2\n}\n")  # same path, new content
    second = k()
    assert second.ingest == first.ingest and second.detect != first.detect
