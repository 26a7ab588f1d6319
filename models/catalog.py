"""The models Rotoflow knows: names, hub repositories, weights files and what makes a folder
complete. Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rotoflow.errors import ModelNotAvailable

#: Transformers weights, in order of preference (single file or sharded index).
TRANSFORMERS_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


@dataclass(frozen=True)
class ModelSpec:
    """One model the pipeline can use.

    Attributes:
        name: Rotoflow's name for it (``"sam2.1-hiera-tiny"``), used on the command line.
        kind: ``"sam2"`` (a SAM 2 checkpoint + Hydra config) or ``"transformers"`` (a
            ``from_pretrained`` folder).
        repo_id: Hugging Face hub repository, also the folder under the store root.
        weights: The main weights file name in the repository.
        sam2_config: SAM 2 Hydra config name (``configs/sam2.1/sam2.1_hiera_t.yaml``); None for
            other kinds.
        stages: Pipeline stages the model serves (``"segmenter"``, ``"tracker"``, ``"detector"``,
            ``"matter"``).
        description: One line for ``rotoflow models list``.
    """

    name: str
    kind: str
    repo_id: str
    weights: str
    sam2_config: str | None
    stages: tuple[str, ...]
    description: str


def _sam2(size: str, short: str, title: str) -> ModelSpec:
    return ModelSpec(
        name=f"sam2.1-hiera-{size}",
        kind="sam2",
        repo_id=f"facebook/sam2.1-hiera-{size}",
        weights=f"sam2.1_hiera_{size.replace('-', '_')}.pt",
        sam2_config=f"configs/sam2.1/sam2.1_hiera_{short}.yaml",
        stages=("segmenter", "tracker"),
        description=f"SAM 2.1 Hiera-{title}: promptable image and video segmentation",
    )


def _hf(name: str, repo_id: str, stage: str, description: str) -> ModelSpec:
    return ModelSpec(
        name, "transformers", repo_id, "model.safetensors", None, (stage,), description
    )


#: Every model Rotoflow knows, by name.
CATALOG: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _sam2("tiny", "t", "T"),
        _sam2("small", "s", "S"),
        _sam2("base-plus", "b+", "B+"),
        _sam2("large", "l", "L"),
        _hf(
            "grounding-dino-tiny",
            "IDEA-Research/grounding-dino-tiny",
            "detector",
            "Grounding DINO (Swin-T): open-vocabulary text-prompted boxes",
        ),
        _hf(
            "grounding-dino-base",
            "IDEA-Research/grounding-dino-base",
            "detector",
            "Grounding DINO (Swin-B): open-vocabulary text-prompted boxes",
        ),
        _hf(
            "vitmatte-small",
            "hustvl/vitmatte-small-composition-1k",
            "matter",
            "ViTMatte-S (Composition-1k): trimap-based alpha matting",
        ),
        _hf(
            "vitmatte-base",
            "hustvl/vitmatte-base-composition-1k",
            "matter",
            "ViTMatte-B (Composition-1k): trimap-based alpha matting",
        ),
    )
}


def spec(name: str) -> ModelSpec:
    """The catalog entry of a model.

    Raises:
        ModelNotAvailable: unknown name; the message lists the known names.
    """
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelNotAvailable(
            f"unknown model {name!r}; choose one of: {', '.join(CATALOG)}"
        ) from None


def missing_files(kind: str, folder: Path, weights: str) -> list[str]:
    """What a folder lacks to be a complete model of its kind (empty when complete).

    Args:
        kind: ``"sam2"`` or ``"transformers"``.
        folder: The model folder.
        weights: The spec's main weights file name.

    Returns:
        Human-readable names of the missing files (``"config.json"``,
        ``"model.safetensors or pytorch_model.bin"``).
    """
    if not folder.is_dir():
        return [str(folder)]
    if kind == "sam2":
        return [] if (folder / weights).is_file() else [weights]
    lacking = [] if (folder / "config.json").is_file() else ["config.json"]
    names = dict.fromkeys((weights, *TRANSFORMERS_WEIGHTS))
    if not any((folder / n).is_file() for n in names):
        lacking.append(" or ".join(names))
    return lacking
