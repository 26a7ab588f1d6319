"""Model sets built from a resolved job: only the models the prompts need are resolved and loaded,
and a run missing several models names all of them at once. Tiny random-weight models in the real
formats (``models.tiny``), an offline store, no network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models import catalog, registry
from models.store import ModelStore
from models.tiny import sam2 as tiny_sam2
from models.tiny import vitmatte as tiny_vitmatte
from rotoflow.errors import ModelNotAvailable
from rotoflow.pipeline import RotoJob, resolve
from rotoflow.prompts import ShotPrompts
from rotoflow.settings import Settings

BOX = {"id": 1, "name": "car", "boxes": [{"x0": 10, "y0": 10, "x1": 60, "y1": 50}]}
TEXT = {"id": 2, "name": "dog", "text": "dog"}


def job(tmp_path: Path, objects: list[dict], models: str = "full", **settings):
    """A resolved job of ``objects`` with the model store at ``tmp_path / "models"``, offline, and
    no YOLOX override (whatever ``ROTOFLOW_YOLOX_MODEL`` an earlier test left in the environment)."""
    settings.setdefault("yolox_model", None)
    s = Settings(
        home=tmp_path,
        output_root=tmp_path / "out",
        model_dir=tmp_path / "models",
        offline=True,
        device="cpu",
        **settings,
    )
    prompts = ShotPrompts.model_validate({"objects": objects})
    return resolve(RotoJob(plate=str(tmp_path / "plate.mp4"), prompts=prompts, models=models), s)


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def store_without_detector(tmp_path_factory) -> Path:
    """A model store holding the full set's SAM 2 (image size 128) and ViTMatte, not its
    detector."""
    home = tmp_path_factory.mktemp("registry")
    store = ModelStore(home / "models", offline=True)
    tiny_sam2.build(store.path("sam2.1-hiera-tiny"), overrides=["++model.image_size=128"])
    tiny_vitmatte.build(store.path("vitmatte-small"))
    return home


def test_stages_needed():
    boxes = ShotPrompts.model_validate({"objects": [BOX]})
    both = ShotPrompts.model_validate({"objects": [BOX, TEXT]})
    assert registry.stages_needed(boxes) == ("segmenter", "tracker", "matter")
    assert registry.stages_needed(both) == ("detector", "segmenter", "tracker", "matter")


def test_box_prompts_neither_demand_nor_load_the_detector(store_without_detector, monkeypatch):
    def never(*args):
        raise AssertionError("the detector was loaded")

    dino = catalog.MODELS["grounding-dino-tiny"]
    monkeypatch.setitem(catalog.MODELS, dino.name, dataclasses.replace(dino, loader=never))
    rj = job(store_without_detector, [BOX])
    assert set(registry.staged_models(rj)) == {"sam2.1-hiera-tiny", "vitmatte-small"}

    models = registry.load_model_set(rj)
    assert isinstance(models.detector, registry.NotNeeded)
    assert models.segmenter is models.tracker and models.tracker.name == "sam2.1-hiera-tiny"
    assert models.matter.name == "vitmatte-small"
    assert models.provenance()["detector"] == "grounding-dino-tiny@unused"
    assert set(models.checksums) == {"segmenter", "tracker", "matter"}
    with pytest.raises(ModelNotAvailable, match="no text"):
        models.detector.resolve_text("car")

    # A text prompt needs the detector, which the store lacks.
    with pytest.raises(ModelNotAvailable, match="'grounding-dino-tiny'") as err:
        registry.load_model_set(job(store_without_detector, [BOX, TEXT]))
    assert "sam2" not in str(err.value)


def test_a_run_missing_several_models_names_them_all(tmp_path):
    rj = job(tmp_path, [TEXT])
    with pytest.raises(ModelNotAvailable) as err:
        registry.staged_models(rj)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("3 models are not available: (1) 'grounding-dino-tiny'")
    for name, folder in (
        ("grounding-dino-tiny", "IDEA-Research/grounding-dino-tiny"),
        ("sam2.1-hiera-tiny", "facebook/sam2.1-hiera-tiny"),
        ("vitmatte-small", "hustvl/vitmatte-small-composition-1k"),
    ):
        assert f"'{name}'" in message and str(tmp_path / "models" / folder) in message
    assert "offline mode is on" in message
    assert (
        "rotoflow models pull grounding-dino-tiny sam2.1-hiera-tiny vitmatte-small --dir DIR"
        in message
    )
    with pytest.raises(ModelNotAvailable, match="3 models are not available"):
        registry.load_model_set(rj)

    # Box prompts need two of them.
    with pytest.raises(ModelNotAvailable, match=r"^2 models are not available: \(1\) 'sam2"):
        registry.staged_models(job(tmp_path, [BOX]))


def test_models_are_built_from_the_job(tmp_path):
    rj = job(tmp_path, [BOX], models="lite", detector_threshold=0.4, trimap_band=20)
    assert (rj.model_dir, rj.offline, rj.device) == (str(tmp_path / "models"), True, "cpu")
    models = registry.load_model_set(rj)
    assert models.matter.band == 20
    assert registry.load_model_set(rj) is models  # loaded once per process
    other = registry.load_model_set(rj.model_copy(update={"trimap_band": 16}))
    assert other.matter.band == 16


def test_the_yolox_store_entry_is_found_with_no_env_var(tmp_path, monkeypatch, yolox_path):
    """What ``make setup`` does (``rotoflow models add yolox-nano FILE --skip-staged`` into the
    default store, ``<ROTOFLOW_HOME>/models``) is enough for a lite text prompt: no
    ROTOFLOW_YOLOX_MODEL, no ROTOFLOW_MODEL_DIR."""
    from typer.testing import CliRunner

    from apps.cli_models import models_app
    from models.yolox import YoloxDetector
    from rotoflow.settings import get_settings

    for name in ("ROTOFLOW_YOLOX_MODEL", "ROTOFLOW_MODEL_DIR", "ROTOFLOW_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROTOFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROTOFLOW_OUTPUT_ROOT", str(tmp_path / "out"))
    get_settings.cache_clear()
    try:
        for _ in range(2):  # the second is a no-op
            staged = CliRunner().invoke(
                models_app, ["add", "yolox-nano", str(yolox_path), "--skip-staged"]
            )
            assert staged.exit_code == 0, staged.output
        assert "already staged" in staged.stdout
        weights = tmp_path / "home/models/Megvii-BaseDetection/YOLOX/yolox-nano/yolox_nano.onnx"
        assert weights.is_file()

        prompts = ShotPrompts.model_validate({"objects": [TEXT]})
        rj = resolve(RotoJob(plate=str(tmp_path / "dog"), prompts=prompts), get_settings())
        assert rj.models == "lite" and rj.yolox_model is None
        assert rj.model_dir == str(tmp_path / "home" / "models")
        models = registry.load_model_set(rj)
    finally:
        get_settings.cache_clear()
    assert isinstance(models.detector, YoloxDetector) and models.detector.path == weights
    assert models.provenance()["detector"] == "yolox-nano@4903c9058f6e"  # the weights' sha256
    assert set(models.checksums) == {"detector"}


def test_lite_box_prompts_need_no_yolox(tmp_path):
    rj = job(tmp_path, [BOX], models="lite")
    assert registry.staged_models(rj) == {}
    assert registry.load_model_set(rj).provenance()["detector"] == "yolox-nano@unused"
    with pytest.raises(ModelNotAvailable, match="'yolox-nano' .*offline mode is on"):
        registry.load_model_set(job(tmp_path, [TEXT], models="lite"))
    with pytest.raises(ModelNotAvailable, match="ROTOFLOW_YOLOX_MODEL names no file"):
        registry.staged_models(
            job(tmp_path, [TEXT], models="lite", yolox_model=tmp_path / "gone.onnx")
        )


def test_every_wrapper_declares_its_capabilities():
    from models import base
    from models.grounding_dino import GroundingDinoDetector
    from models.lite_matter import PymattingMatter
    from models.lite_segmenter import GrabCutSegmenter
    from models.lite_tracker import FlowTracker
    from models.sam2_video import Sam2Video
    from models.yolox import YoloxDetector

    assert (YoloxDetector.picks_one_object, GroundingDinoDetector.picks_one_object) == (True, False)
    assert registry.NotNeeded.picks_one_object is False
    assert (GrabCutSegmenter.takes_mask, Sam2Video.takes_mask) == (False, True)
    assert (FlowTracker.mode, Sam2Video.mode) == ("frames", "video")
    assert isinstance(FlowTracker(), base.FrameTracker) and isinstance(FlowTracker(), base.Tracker)
    assert isinstance(GrabCutSegmenter(), base.Segmenter)
    assert isinstance(PymattingMatter(), base.Matter)
    # A detector that picks one object is a SubjectDetector (it has detect_object).
    assert callable(YoloxDetector.detect_object)
