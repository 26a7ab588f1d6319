"""A tiny random-weight SAM 2.1 checkpoint in the real format.

The model is the real ``sam2`` Hiera-tiny architecture built from the package's hydra config with
``++model.image_size=256`` (a quarter of the real resolution), saved as ``{"model": state_dict}`` like
Meta's released ``.pt`` files, beside a ``rotoflow-sam2.json`` holding the hydra overrides the loader
must apply. Speed per pixel is the real model's; mask quality is noise.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Hydra overrides of the tiny model (applied on top of the model's config when loading).
OVERRIDES = ["++model.image_size=256"]
CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
WEIGHTS = "sam2.1_hiera_tiny.pt"


def build(
    dest: Path,
    seed: int = 0,
    overrides: list[str] | None = None,
    *,
    config: str = CONFIG,
    weights: str = WEIGHTS,
) -> Path:
    """Write a random SAM 2.1 checkpoint (Hiera-tiny unless ``config`` names another) into
    ``dest`` and return ``dest``.

    Args:
        dest: Folder to create (the model store's ``facebook/sam2.1-hiera-tiny`` layout).
        seed: torch seed of the random weights.
        overrides: Hydra overrides (default :data:`OVERRIDES`).
        config: The sam2 package's hydra config of the architecture.
        weights: File name of the checkpoint.
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    overrides = list(OVERRIDES if overrides is None else overrides)
    torch.manual_seed(seed)
    model = build_sam2_video_predictor(
        config, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides
    )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, dest / weights)
    (dest / "rotoflow-sam2.json").write_text(json.dumps({"hydra_overrides": overrides}, indent=1))
    return dest
