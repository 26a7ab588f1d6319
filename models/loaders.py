"""How each model of the table (:mod:`models.catalog`) is built: one loader per wrapper, taking
everything it needs from the resolved job (thresholds, trimap band, device, an explicit YOLOX
weights file) and the store's staged files, never from the process settings.

Each loader imports its wrapper when called, as transformers' Auto classes import a model's module
only when it is asked for: the lite set never imports torch, and reading the table costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.spec import ModelSpec, StagedModel
from rotoflow.errors import ModelNotAvailable

if TYPE_CHECKING:
    from rotoflow.pipeline import ResolvedJob


def store_version(staged: StagedModel) -> str:
    """A store model's version for provenance and cache keys: the hub commit, or for weights
    staged by hand the start of their checksum (so new weights change the cache keys)."""
    return staged.version if staged.version != "local" else f"local-{staged.sha256[:12]}"


def _staged(spec: ModelSpec, staged: StagedModel | None) -> StagedModel:
    if staged is None:  # the registry resolves every stored model before loading
        raise ModelNotAvailable(f"{spec.name!r} was not resolved in the model store")
    return staged


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # Rotoflow reports progress itself


def yolox(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """YOLOX-Nano (ONNX, CPU) from the store, or from ``job.yolox_model`` when that names a file
    (``ROTOFLOW_YOLOX_MODEL``); scores above ``job.detector_threshold``."""
    from models.yolox import YoloxDetector

    path = Path(job.yolox_model) if job.yolox_model else _staged(spec, staged).weights
    return YoloxDetector(path, score_threshold=job.detector_threshold)


def grabcut(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """The GrabCut keyframe segmenter (no weights)."""
    from models.lite_segmenter import GrabCutSegmenter

    return GrabCutSegmenter()


def flow(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """The optical-flow tracker (no weights)."""
    from models.lite_tracker import FlowTracker

    return FlowTracker()


def pymatting(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """pymatting's closed-form matting with a ``job.trimap_band`` pixels wide unknown band."""
    from models.lite_matter import PymattingMatter

    return PymattingMatter(band=job.trimap_band)


def grounding_dino(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """Grounding DINO from the store on ``job.device``, with the job's box and text thresholds."""
    from models.grounding_dino import GroundingDinoDetector
    from models.sam2_video import resolve_device

    staged = _staged(spec, staged)
    _quiet_transformers()
    return GroundingDinoDetector(
        staged.path,
        name=spec.name,
        version=store_version(staged),
        device=str(resolve_device(job.device)),
        box_threshold=job.detector_threshold,
        text_threshold=job.text_threshold,
    )


def vitmatte(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """ViTMatte from the store on ``job.device``; ``job.trimap_band`` is the unknown band's whole
    width, half each side of the mask edge."""
    from models.sam2_video import resolve_device
    from models.vitmatte import VitMatteMatter

    staged = _staged(spec, staged)
    _quiet_transformers()
    return VitMatteMatter(
        staged.path,
        name=spec.name,
        version=store_version(staged),
        device=str(resolve_device(job.device)),
        erode=max(1, job.trimap_band // 2),
        dilate=max(1, job.trimap_band // 2),
    )


def sam2(spec: ModelSpec, staged: StagedModel | None, job: ResolvedJob):
    """SAM 2 from the store on ``job.device`` (one instance serves as segmenter and tracker)."""
    from models.sam2_video import Sam2Video

    staged = _staged(spec, staged)
    return Sam2Video.load(
        staged.path,
        weights=str(spec.weights),
        config=str(spec.sam2_config),
        name=spec.name,
        version=store_version(staged),
        device=job.device,
    )
