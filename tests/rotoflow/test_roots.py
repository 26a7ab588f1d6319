"""The allow-lists of output roots and plates (:mod:`rotoflow.roots`), their settings and their
check in :func:`rotoflow.pipeline.resolve`."""

from __future__ import annotations

import pytest

from rotoflow.errors import RootNotAllowed, StorageError
from rotoflow.pipeline import RotoJob, resolve
from rotoflow.prompts import ShotPrompts
from rotoflow.roots import allowed_output_roots, check_output_root, check_plate
from rotoflow.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for name in ("ROTOFLOW_OUTPUT_ROOTS", "ROTOFLOW_PLATE_ROOTS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "other").mkdir()
    return Settings(home=tmp_path / "home", output_root=tmp_path / "out", _env_file=None)


def test_the_output_root_and_folders_inside_it_are_allowed(settings, tmp_path):
    assert check_output_root(tmp_path / "out", settings) == (tmp_path / "out").resolve()
    inside = tmp_path / "out" / "show" / "seq010"  # need not exist yet
    assert check_output_root(str(inside), settings) == inside.resolve()
    # `..` that stays inside is fine
    assert (
        check_output_root(tmp_path / "out" / "a" / ".." / "b", settings)
        == (tmp_path / "out" / "b").resolve()
    )


def test_an_output_root_outside_is_refused_naming_it_and_the_allowed_ones(settings, tmp_path):
    with pytest.raises(RootNotAllowed) as caught:
        check_output_root(tmp_path / "other", settings)
    message = str(caught.value)
    assert f"output root {tmp_path / 'other'} is not allowed" in message
    assert str((tmp_path / "out").resolve()) in message and "ROTOFLOW_OUTPUT_ROOTS" in message
    assert "\n" not in message
    with pytest.raises(RootNotAllowed):
        check_output_root("/", settings)
    # a sibling whose name starts like the root is not inside it
    with pytest.raises(RootNotAllowed):
        check_output_root(tmp_path / "out-evil", settings)


def test_dotdot_out_of_the_output_root_is_refused(settings, tmp_path):
    escape = tmp_path / "out" / ".." / "other"
    with pytest.raises(RootNotAllowed, match=r"resolves to .*other"):
        check_output_root(escape, settings)


def test_a_symlink_leading_out_of_the_output_root_is_refused(settings, tmp_path):
    (tmp_path / "out" / "link").symlink_to(tmp_path / "other", target_is_directory=True)
    with pytest.raises(RootNotAllowed, match=f"resolves to {tmp_path.resolve() / 'other'}"):
        check_output_root(tmp_path / "out" / "link" / "shots", settings)


def test_an_output_root_given_through_a_symlink_to_an_allowed_one_is_allowed(settings, tmp_path):
    (tmp_path / "alias").symlink_to(tmp_path / "out", target_is_directory=True)
    assert (
        check_output_root(tmp_path / "alias" / "x", settings) == (tmp_path / "out" / "x").resolve()
    )


def test_output_roots_add_folders(settings, tmp_path):
    settings = settings.model_copy(update={"output_roots": [tmp_path / "other"]})
    assert allowed_output_roots(settings) == [
        (tmp_path / "out").resolve(),
        (tmp_path / "other").resolve(),
    ]
    assert check_output_root(tmp_path / "other" / "x", settings) == (tmp_path / "other" / "x")
    with pytest.raises(RootNotAllowed):
        check_output_root(tmp_path / "third", settings)


def test_any_plate_is_allowed_without_plate_roots(settings):
    for plate in ("/anywhere/dog.mp4", "s3://bucket/shots/dog.mp4", "rel/sh010.####.exr"):
        assert check_plate(plate, settings) == plate


def test_local_plates_must_be_in_a_plate_root(settings, tmp_path):
    plates = tmp_path / "plates"
    (plates / "dog").mkdir(parents=True)
    settings = settings.model_copy(update={"plate_roots": [str(plates)]})
    assert check_plate(str(plates / "dog"), settings) == str(plates / "dog")
    assert check_plate(str(plates / "sh010.####.exr"), settings) == str(plates / "sh010.####.exr")
    with pytest.raises(RootNotAllowed, match=f"plates and prompt files must be in {plates}"):
        check_plate(str(plates / ".." / "other" / "dog.mp4"), settings)
    (plates / "link").symlink_to(tmp_path / "other", target_is_directory=True)
    with pytest.raises(RootNotAllowed, match="resolves to"):
        check_plate(str(plates / "link" / "dog.mp4"), settings)
    with pytest.raises(RootNotAllowed):  # an s3:// plate with only local roots
        check_plate("s3://plates/dog.mp4", settings)


def test_s3_plates_must_be_under_an_s3_plate_root(settings, tmp_path):
    roots = ["s3://plates/incoming", "s3://whole-bucket", str(tmp_path)]
    settings = settings.model_copy(update={"plate_roots": roots})
    for plate in (
        "s3://plates/incoming/dog.mp4",
        "s3://plates/incoming/show/dog/",
        "s3://plates/incoming",
        "s3://whole-bucket/any/key.mov",
    ):
        assert check_plate(plate, settings) == plate
    for plate in (
        "s3://plates/incoming-other/dog.mp4",  # a key prefix is matched by whole components
        "s3://plates/dog.mp4",
        "s3://other-bucket/incoming/dog.mp4",
    ):
        with pytest.raises(RootNotAllowed, match="s3://plates/incoming, s3://whole-bucket"):
            check_plate(plate, settings)
    with pytest.raises(StorageError):  # `..` in a key never gets as far as the comparison
        check_plate("s3://plates/incoming/../secret/dog.mp4", settings)


def test_lists_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ROTOFLOW_OUTPUT_ROOTS", f"{tmp_path}/a:{tmp_path}/b,{tmp_path}/c")
    monkeypatch.setenv("ROTOFLOW_PLATE_ROOTS", "s3://plates/in:/mnt/plates,s3://b2")
    s = Settings(_env_file=None)
    assert s.output_roots == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    assert s.plate_roots == ["s3://plates/in", "/mnt/plates", "s3://b2"]
    monkeypatch.setenv("ROTOFLOW_OUTPUT_ROOTS", '["/with:colon", "/with,comma"]')
    monkeypatch.delenv("ROTOFLOW_PLATE_ROOTS")
    s = Settings(_env_file=None)
    assert [str(p) for p in s.output_roots] == ["/with:colon", "/with,comma"]
    assert s.plate_roots == []


def _job(plate: str, **kw) -> RotoJob:
    return RotoJob(
        plate=plate, prompts={"objects": [{"id": 1, "name": "dog", "text": "dog"}]}, shot="sh", **kw
    )


def test_resolve_refuses_an_output_root_or_a_plate_outside_the_allow_lists(settings, tmp_path):
    rj = resolve(_job(str(tmp_path / "p.mp4"), output_root=str(tmp_path / "out" / "x")), settings)
    assert rj.shot_dir == str((tmp_path / "out" / "x" / "default" / "sh").resolve())
    assert resolve(_job(str(tmp_path / "p.mp4")), settings).shot_dir == str(
        (tmp_path / "out" / "default" / "sh").resolve()
    )
    with pytest.raises(RootNotAllowed, match="output root"):
        resolve(_job(str(tmp_path / "p.mp4"), output_root=str(tmp_path / "other")), settings)
    limited = settings.model_copy(update={"plate_roots": [str(tmp_path / "plates")]})
    with pytest.raises(RootNotAllowed, match="plate"):
        resolve(_job(str(tmp_path / "p.mp4")), limited)


def test_a_mask_prompt_outside_the_plate_roots_is_refused(settings, tmp_path):
    plates = tmp_path / "plates"
    plates.mkdir()
    limited = settings.model_copy(update={"plate_roots": [str(plates)]})
    job = RotoJob(
        plate=str(plates / "p.mp4"),
        prompts={
            "objects": [{"id": 1, "name": "dog", "masks": [{"path": "/etc/passwd", "frame": 1}]}]
        },
        shot="sh",
    )
    with pytest.raises(RootNotAllowed, match="'dog': mask prompt /etc/passwd is not allowed"):
        resolve(job, limited)
    inside = job.model_copy(
        update={
            "prompts": ShotPrompts.model_validate(
                {
                    "objects": [
                        {
                            "id": 1,
                            "name": "dog",
                            "masks": [{"path": str(plates / "dog.png"), "frame": 1}],
                        }
                    ]
                }
            )
        }
    )
    assert resolve(inside, limited).shot == "sh"


def test_a_shapes_prompt_outside_the_plate_roots_is_refused(settings, tmp_path):
    plates, elsewhere = tmp_path / "plates", tmp_path / "elsewhere"
    plates.mkdir()
    elsewhere.mkdir()
    (elsewhere / "hero.nk").write_text("Root {}\n")
    (plates / "hero.nk").write_text("Root {}\n")
    limited = settings.model_copy(update={"plate_roots": [str(plates)]})

    def job(path):
        prompts = {"objects": [{"id": 1, "name": "hero", "shapes": [{"path": str(path)}]}]}
        return RotoJob(plate=str(plates / "p.mp4"), prompts=prompts, shot="sh")

    with pytest.raises(RootNotAllowed, match="'hero': shapes prompt .*hero.nk is not allowed"):
        resolve(job(elsewhere / "hero.nk"), limited)
    assert resolve(job(plates / "hero.nk"), limited).shot == "sh"
