"""Model sets by name, with per-stage overrides.

- ``"lite"``: YOLOX-Nano (ONNX) + GrabCut + optical-flow tracker + pymatting, all on CPU.
- ``"full"``: Grounding DINO tiny (text -> boxes), SAM 2.1 (keyframe masks and propagation; base+
  on a GPU, tiny on CPU) and ViTMatte small (edges), weights from the model store
  (:mod:`models.store`).

Any stage can name another model (``{"tracker": "sam2.1-hiera-large"}``); names are checked against
what each stage accepts. Store models are resolved before anything heavy is imported, so a missing
model fails in seconds with the store's message.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from models.base import ModelSet
from rotoflow.errors import ModelNotAvailable
from rotoflow.settings import Settings

STAGES = ("detector", "segmenter", "tracker", "matter")
SAM2_MODELS = (
    "sam2.1-hiera-tiny",
    "sam2.1-hiera-small",
    "sam2.1-hiera-base-plus",
    "sam2.1-hiera-large",
)
#: Model names each stage accepts.
CHOICES: dict[str, tuple[str, ...]] = {
    "detector": ("yolox-nano", "grounding-dino-tiny", "grounding-dino-base"),
    "segmenter": ("grabcut", *SAM2_MODELS),
    "tracker": ("flow", *SAM2_MODELS),
    "matter": ("pymatting", "vitmatte-small", "vitmatte-base"),
}
AVAILABLE = ("lite", "full")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def stage_models(
    name: str, overrides: dict[str, str] | None = None, device: str = "auto"
) -> dict[str, str]:
    """The model name of every stage for set ``name`` with ``overrides`` applied.

    Raises:
        ModelNotAvailable: unknown set, stage or model name (the message lists the choices).
    """
    if name == "lite":
        chosen = {
            "detector": "yolox-nano",
            "segmenter": "grabcut",
            "tracker": "flow",
            "matter": "pymatting",
        }
    elif name == "full":
        gpu = device.startswith("cuda") or (device == "auto" and _cuda())
        sam2 = "sam2.1-hiera-base-plus" if gpu else "sam2.1-hiera-tiny"
        chosen = {
            "detector": "grounding-dino-tiny",
            "segmenter": sam2,
            "tracker": sam2,
            "matter": "vitmatte-small",
        }
    else:
        raise ModelNotAvailable(f"unknown model set {name!r}; available: {', '.join(AVAILABLE)}")
    for stage, model in (overrides or {}).items():
        if stage not in CHOICES:
            raise ModelNotAvailable(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        if model not in CHOICES[stage]:
            raise ModelNotAvailable(
                f"{stage} {model!r} is not available; choose one of {', '.join(CHOICES[stage])}"
            )
        chosen[stage] = model
    return chosen


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


def _version(staged) -> str:
    """A store model's version for provenance and cache keys: the hub commit, or for weights
    staged by hand the start of their checksum (so new weights change the cache keys)."""
    return staged.version if staged.version != "local" else f"local-{staged.sha256[:12]}"


def _load(stage: str, model: str, settings: Settings, staged, cache: dict):
    """Instantiate one stage model (``staged``: the store's entry, None for lite models)."""
    if model == "yolox-nano":
        from models.yolox import YoloxDetector

        path = settings.yolox_model
        if path is not None and Path(path).is_file():
            return YoloxDetector(path, score_threshold=settings.detector_threshold)
        return MissingDetector(path)
    if model == "grabcut":
        from models.lite_segmenter import GrabCutSegmenter

        return GrabCutSegmenter()
    if model == "flow":
        from models.lite_tracker import FlowTracker

        return FlowTracker()
    if model == "pymatting":
        from models.lite_matter import PymattingMatter

        return PymattingMatter(band=settings.trimap_band)
    device = settings.device
    if not model.startswith("sam2"):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # Rotoflow reports progress itself
    if model.startswith("grounding-dino"):
        from models.grounding_dino import GroundingDinoDetector
        from models.sam2_video import resolve_device

        return GroundingDinoDetector(
            staged.path,
            name=model,
            version=_version(staged),
            device=str(resolve_device(device)),
            box_threshold=settings.detector_threshold,
            text_threshold=settings.text_threshold,
        )
    if model.startswith("vitmatte"):
        from models.sam2_video import resolve_device
        from models.vitmatte import VitMatteMatter

        return VitMatteMatter(
            staged.path,
            name=model,
            version=_version(staged),
            device=str(resolve_device(device)),
            # trimap_band is the unknown band's whole width, half each side of the mask edge
            erode=max(1, settings.trimap_band // 2),
            dilate=max(1, settings.trimap_band // 2),
        )
    if model in SAM2_MODELS:
        if model not in cache:  # segmenter and tracker share one SAM 2
            from models.sam2_video import Sam2Video

            cache[model] = Sam2Video.load(
                staged.path,
                weights=staged.spec.weights,
                config=staged.spec.sam2_config,
                name=model,
                version=_version(staged),
                device=device,
            )
        return cache[model]
    raise ModelNotAvailable(f"{stage} {model!r} has no loader")  # pragma: no cover


def staged_models(chosen: dict[str, str], settings: Settings) -> dict:
    """``{model name: StagedModel}`` of the store models among ``chosen`` (stage -> model),
    resolved without importing anything heavy.

    Raises:
        ModelNotAvailable: a model is missing and the hub cannot supply it.
    """
    from models.store import CATALOG, ModelStore

    store = ModelStore.from_settings(settings)
    return {m: store.resolve(m) for m in dict.fromkeys(chosen.values()) if m in CATALOG}


@lru_cache(maxsize=4)
def _cached(name: str, overrides: tuple[tuple[str, str], ...], settings_json: str) -> ModelSet:
    settings = Settings.model_validate_json(settings_json)
    chosen = stage_models(name, dict(overrides), settings.device)
    # Resolve every store model first: a missing one fails before torch is imported.
    staged = staged_models(chosen, settings)
    cache: dict = {}
    loaded = {s: _load(s, m, settings, staged.get(m), cache) for s, m in chosen.items()}
    return ModelSet(
        name=name,
        checksums={s: staged[m].sha256 for s, m in chosen.items() if m in staged},
        **loaded,
    )


def load_model_set(
    name: str, settings: Settings, overrides: dict[str, str] | None = None
) -> ModelSet:
    """The model set ``name`` with per-stage ``overrides``, loaded once per process and settings.

    Raises:
        ModelNotAvailable: unknown set, stage or model; a store model missing with no hub (see
            :meth:`models.store.ModelStore.resolve`).
    """
    stage_models(name, overrides, settings.device)  # validate before touching the cache
    key = tuple(sorted((overrides or {}).items()))
    return _cached(name, key, settings.model_dump_json())
