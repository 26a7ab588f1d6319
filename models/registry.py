"""Model sets by name. ``"lite"``: YOLOX-Nano (ONNX) + GrabCut + optical-flow tracker + pymatting,
all on CPU. Other sets plug in here under their own names."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from models.base import ModelSet
from rotoflow.errors import ModelNotAvailable
from rotoflow.settings import Settings

AVAILABLE = ("lite",)


class MissingDetector:
    """Stands in for a detector whose weights are absent: box and click prompts still work, and a
    text prompt fails with a message saying which setting to fix."""

    name = "yolox-nano"
    version = "missing"

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _fail(self):
        where = f"no file at {self.path}" if self.path else "ROTOFLOW_YOLOX_MODEL is not set"
        raise ModelNotAvailable(
            f"text prompts need the YOLOX-Nano weights ({where}); set ROTOFLOW_YOLOX_MODEL to "
            "yolox_nano.onnx, or prompt with --box/--point"
        )

    def resolve_text(self, text: str) -> list[str]:
        self._fail()

    def detect(self, image, classes=None):
        self._fail()


def _lite(settings: Settings) -> ModelSet:
    from models.lite_matter import PymattingMatter
    from models.lite_segmenter import GrabCutSegmenter
    from models.lite_tracker import FlowTracker
    from models.yolox import YoloxDetector

    path = settings.yolox_model
    detector = (
        YoloxDetector(path, score_threshold=settings.detector_threshold)
        if path is not None and Path(path).is_file()
        else MissingDetector(path)
    )
    return ModelSet(
        name="lite",
        detector=detector,
        segmenter=GrabCutSegmenter(),
        tracker=FlowTracker(),
        matter=PymattingMatter(band=settings.trimap_band),
    )


@lru_cache(maxsize=4)
def _cached(name: str, settings_json: str) -> ModelSet:
    settings = Settings.model_validate_json(settings_json)
    if name == "lite":
        return _lite(settings)
    raise ModelNotAvailable(f"unknown model set {name!r}; available: {', '.join(AVAILABLE)}")


def load_model_set(name: str, settings: Settings) -> ModelSet:
    """The model set ``name``, loaded once per process and settings.

    Raises:
        ModelNotAvailable: unknown set name (the message lists the available sets).
    """
    if name not in AVAILABLE:
        raise ModelNotAvailable(f"unknown model set {name!r}; available: {', '.join(AVAILABLE)}")
    return _cached(name, settings.model_dump_json())
