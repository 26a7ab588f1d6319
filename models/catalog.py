"""The model table: every model Rotoflow knows, by name, with the stages it serves, the files it
needs from the model store and where they come from, and its loader (as transformers' Auto
mappings map a model type to its config and model classes, in one place).

The sets (:mod:`models.registry`), the stage choices of the command line and the model store
(:mod:`models.store`) all read this table. Imports nothing heavy.
"""

from __future__ import annotations

from models import loaders
from models.spec import ModelSpec
from rotoflow.errors import ModelNotAvailable

STAGES = ("detector", "segmenter", "tracker", "matter")


def _sam2(size: str, short: str, title: str) -> ModelSpec:
    return ModelSpec(
        name=f"sam2.1-hiera-{size}",
        stages=("segmenter", "tracker"),
        description=f"SAM 2.1 Hiera-{title}: promptable image and video segmentation",
        loader=loaders.sam2,
        kind="sam2",
        repo_id=f"facebook/sam2.1-hiera-{size}",
        weights=f"sam2.1_hiera_{size.replace('-', '_')}.pt",
        sam2_config=f"configs/sam2.1/sam2.1_hiera_{short}.yaml",
    )


def _hf(name: str, repo_id: str, stage: str, description: str, loader) -> ModelSpec:
    return ModelSpec(
        name=name,
        stages=(stage,),
        description=description,
        loader=loader,
        kind="transformers",
        repo_id=repo_id,
        weights="model.safetensors",
    )


#: Every model Rotoflow knows, by name: the lite (CPU) models first, then the full set's. A stage's
#: choices are the models serving it, in this order; ``rotoflow models`` lists those with files.
MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            name="yolox-nano",
            stages=("detector",),
            description="YOLOX-Nano (ONNX, CPU): COCO classes, text mapped with synonyms",
            loader=loaders.yolox,
            kind="onnx",
            repo_id="Megvii-BaseDetection/YOLOX",
            weights="yolox_nano.onnx",
            source="release",
            release="0.1.1rc0",
            override="yolox_model",
        ),
        ModelSpec(
            "grabcut", ("segmenter",), "GrabCut (OpenCV): box and clicks -> mask", loaders.grabcut
        ),
        ModelSpec(
            "flow",
            ("tracker",),
            "Optical flow with bilateral colour models (OpenCV): mask propagation",
            loaders.flow,
        ),
        ModelSpec(
            "pymatting",
            ("matter",),
            "Closed-form matting (pymatting): trimap-based alpha",
            loaders.pymatting,
        ),
        _sam2("tiny", "t", "T"),
        _sam2("small", "s", "S"),
        _sam2("base-plus", "b+", "B+"),
        _sam2("large", "l", "L"),
        _hf(
            "grounding-dino-tiny",
            "IDEA-Research/grounding-dino-tiny",
            "detector",
            "Grounding DINO (Swin-T): open-vocabulary text-prompted boxes",
            loaders.grounding_dino,
        ),
        _hf(
            "grounding-dino-base",
            "IDEA-Research/grounding-dino-base",
            "detector",
            "Grounding DINO (Swin-B): open-vocabulary text-prompted boxes",
            loaders.grounding_dino,
        ),
        _hf(
            "vitmatte-small",
            "hustvl/vitmatte-small-composition-1k",
            "matter",
            "ViTMatte-S (Composition-1k): trimap-based alpha matting",
            loaders.vitmatte,
        ),
        _hf(
            "vitmatte-base",
            "hustvl/vitmatte-base-composition-1k",
            "matter",
            "ViTMatte-B (Composition-1k): trimap-based alpha matting",
            loaders.vitmatte,
        ),
    )
}

#: The models with files in the model store, by name (what ``rotoflow models`` lists).
CATALOG: dict[str, ModelSpec] = {n: s for n, s in MODELS.items() if s.stored}


def choices(stage: str) -> tuple[str, ...]:
    """The names of the models serving ``stage``, in table order (empty for an unknown stage)."""
    return tuple(n for n, s in MODELS.items() if stage in s.stages)


def spec(name: str) -> ModelSpec:
    """The table row of a model with files in the store.

    Raises:
        ModelNotAvailable: unknown name, or a model without files; the message lists the store's
            names.
    """
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelNotAvailable(
            f"unknown model {name!r}; choose one of: {', '.join(CATALOG)}"
        ) from None
