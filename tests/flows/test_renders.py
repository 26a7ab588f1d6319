"""``rotoflow run --render``: movies from the plate and the mattes, checked by FFmpeg's own
ffprobe and ffmpeg; bad render input refused before any work."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from rotoflow import db
from rotoflow.mattes import read_alpha_exr
from rotoflow.settings import get_settings
from rotoflow.workspace import sha256_file
from tests.conftest import davis_masks
from tests.ffprobe import decoded_alpha, decoded_rgb, probe
from tests.flows.helpers import frame_folder, use_home

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("renders")
    use_home(home)
    return home


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def centre(seq: str) -> str:
    gt = cv2.imread(str(davis_masks(seq) / "00000.png"), cv2.IMREAD_GRAYSCALE) > 127
    ys, xs = np.nonzero(gt)
    return f"{int(np.median(xs))},{int(np.median(ys))}"


N = 6


@pytest.fixture(scope="module")
def clicked(home, tmp_path_factory):
    """A click on frame 1001 of a 1001-based plate (854 x 480, 24 fps) with three renders: the
    shot folder and the plate."""
    plate = frame_folder(
        "dog", tmp_path_factory.mktemp("plates") / "dogclick", range(N), start=1001
    )
    result = invoke(
        "run",
        str(plate),
        "--point",
        centre("dog"),
        "--frame",
        "1001",
        "--name",
        "dog",
        "--render",
        "rgba,greenscreen,overlay",
    )
    assert result.exit_code == 0, result.output
    assert str(home / "out" / "default" / "dogclick") in result.stdout
    return home / "out" / "default" / "dogclick", plate


def test_one_click_renders_every_kind_at_the_plates_size_rate_and_frames(clicked):
    """ffprobe sees ProRes 4444 with alpha and H.264 twice, each at the plate's size, rate and
    frame count, timecode from frame 1001; the ProRes alpha decodes to the published alpha EXRs
    within 10-bit quantisation on every frame; the movies are published and recorded with their
    sha256."""
    n = N
    shot, plate = clicked
    renders = shot / "renders"
    assert sorted(p.name for p in renders.iterdir()) == [
        "dogclick_greenscreen.mp4",
        "dogclick_overlay.mp4",
        "dogclick_rgba.mov",
    ]
    rgba = probe(renders / "dogclick_rgba.mov")
    assert rgba["codec_name"] == "prores" and rgba["profile"] == "4444"
    assert rgba["pix_fmt"].startswith("yuva")
    for name in ("dogclick_rgba.mov", "dogclick_greenscreen.mp4", "dogclick_overlay.mp4"):
        info = probe(renders / name)
        assert (info["width"], info["height"]) == (854, 480), name
        assert info["r_frame_rate"] == "24/1" and int(info["nb_read_frames"]) == n, name
        assert info["tags"]["timecode"] == "00:00:41:17", name
    decoded = decoded_alpha(renders / "dogclick_rgba.mov", 854, 480)
    assert len(decoded) == n
    for i, got in enumerate(decoded):
        want = read_alpha_exr(shot / "alpha" / "dog" / f"dog.{1001 + i:05d}.exr")
        assert np.abs((got >> 6) / 1023.0 - want).max() <= 0.5 / 1023 + 1e-6, 1001 + i
        if i == 0:
            assert want.max() == 1.0 and want.min() == 0.0  # a real matte, not an empty one
    first = cv2.imread(str(plate / "01001.jpg"))[..., ::-1]
    rgb = decoded_rgb(renders / "dogclick_rgba.mov", 854, 480)[0]
    assert np.abs(rgb.astype(int) - first).mean() < 2.0  # the plate itself, straight alpha
    green = decoded_rgb(renders / "dogclick_greenscreen.mp4", 854, 480)[0].astype(int)
    outside = read_alpha_exr(shot / "alpha" / "dog" / "dog.01001.exr") == 0
    assert np.abs(green[outside] - [0, 255, 0]).mean() < 3.0
    with db.session(get_settings().resolved_database_url()) as s:
        kinds = ("greenscreen", "overlay", "rgba")
        rows = s.exec(select(db.Output).where(db.Output.kind.in_(kinds))).all()
    assert sorted(r.kind for r in rows) == list(kinds)
    for r in rows:
        assert r.path == str(renders / f"dogclick_{r.kind}{'.mov' if r.kind == 'rgba' else '.mp4'}")
        assert r.sha256 == sha256_file(r.path)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--render", "greenscren"], ["greenscren", "greenscreen, rgba, overlay"]),
        (["--render", "rgba", "--objects", "cat"], ["'cat'", "dog"]),
        (["--render", "greenscreen", "--key-colour", "green"], ["R,G,B"]),
        (["--objects", "dog"], ["--render"]),
    ],
)
def test_bad_render_input_is_one_line_exit_2_and_nothing_written(home, tmp_path, args, words):
    plate = frame_folder("dog", tmp_path / "dogbad", range(2))
    result = invoke("run", str(plate), "--point", centre("dog"), "--name", "dog", *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for w in words:
        assert w in line, line
    assert not (home / "out" / "default" / "dogbad").exists()


def test_render_again_from_the_published_mattes(clicked):
    """``rotoflow render`` rewrites the chosen movies from the plate and the alpha EXRs, with no
    model run: the same alpha, another key colour, recorded again."""
    shot, _ = clicked
    before = (shot / "renders" / "dogclick_rgba.mov").read_bytes()
    result = invoke(
        "render",
        "dogclick",
        "--kind",
        "greenscreen,rgba",
        "--objects",
        "dog",
        "--key-colour",
        "#0000ff",
    )
    assert result.exit_code == 0, result.output
    assert "greenscreen: " in result.stdout and "recorded on job" in result.stdout
    renders = shot / "renders"
    decoded = decoded_alpha(renders / "dogclick_rgba.mov", 854, 480)
    before_path = renders / "before.mov"
    before_path.write_bytes(before)
    np.testing.assert_array_equal(decoded, decoded_alpha(before_path, 854, 480))
    before_path.unlink()
    outside = read_alpha_exr(shot / "alpha" / "dog" / "dog.01002.exr") == 0
    blue = decoded_rgb(renders / "dogclick_greenscreen.mp4", 854, 480)[1].astype(int)
    assert np.abs(blue[outside] - [0, 0, 255]).mean() < 3.0
    with db.session(get_settings().resolved_database_url()) as s:
        rows = s.exec(select(db.Output).where(db.Output.kind == "greenscreen")).all()
    assert len(rows) == 2 and rows[-1].sha256 == sha256_file(renders / "dogclick_greenscreen.mp4")


@pytest.mark.parametrize(
    ("shot", "args", "words"),
    [
        ("dogclick", ["--kind", "rgb"], ["'rgb'", "greenscreen, rgba, overlay"]),
        ("dogclick", ["--kind", "rgba", "--objects", "cat"], ["'cat'", "dog"]),
        ("nosuch", ["--kind", "rgba"], ["'nosuch'", "rotoflow status"]),
    ],
)
def test_render_again_refuses_bad_input_in_one_line(clicked, shot, args, words):
    folder = clicked[0] / "renders"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    result = invoke("render", shot, *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    for w in words:
        assert w in line, line
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_render_again_without_mattes_is_one_line_and_writes_nothing(clicked, tmp_path):
    """A shot whose alpha EXRs are gone (moved away here, put back after)."""
    shot, _ = clicked
    alpha = shot / "alpha" / "dog" / "dog.01003.exr"
    moved = tmp_path / alpha.name
    alpha.rename(moved)
    try:
        result = invoke("render", "dogclick", "--kind", "overlay", "--out", str(tmp_path / "o"))
    finally:
        moved.rename(alpha)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "no matte of 'dog' on frame 1003" in line
    assert not (tmp_path / "o").exists()
