import pytest

from rotoflow.pipeline import default_shot_name, stage_keys
from rotoflow.prompts import ShotPrompts


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


PROV = {"detector": "d@1", "segmenter": "s@1", "tracker": "t@1", "matter": "m@1"}
SET = {"movie_first_frame": 1, "ocio_config": None, "detector_threshold": 0.25, "trimap_band": 12}


def keys(**changes):
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "car", "text": changes.pop("text", "car")}]}
    )
    prov = {**PROV, **changes.pop("prov", {})}
    settings = {**SET, **changes.pop("settings", {})}
    plate = changes.pop("plate", {"path": "/p", "files": [["a", 1, 2]]})
    return stage_keys(plate, prompts, prov, settings, "sh010")


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
    assert all(base[s] != plate[s] for s in base)
    text = keys(text="the car")
    assert base["ingest"] == text["ingest"] and base["detect"] != text["detect"]
    band = keys(settings={"trimap_band": 20})
    assert [s for s in base if base[s] != band[s]] == ["matte", "vectorize", "export"]
