"""Tiny random-weight models in the real formats, for tests, benchmarks and offline smoke runs.

``python -m models.tiny DIR`` stages the full set (SAM 2.1 Hiera-tiny at image size 256, Grounding
DINO tiny, ViTMatte small, all random) into the model store folder ``DIR`` under the names the
``full`` set asks for, so ``ROTOFLOW_MODEL_DIR=DIR rotoflow run ... --models full`` runs the real
model code end to end offline. Masks and mattes from random weights are noise.
"""

from __future__ import annotations

from pathlib import Path


def stage(model_dir: Path, sam2_overrides: list[str] | None = None) -> dict[str, Path]:
    """Build the tiny models into the store at ``model_dir``; returns ``{name: folder}``.

    Args:
        model_dir: Model store root (``ROTOFLOW_MODEL_DIR``).
        sam2_overrides: Hydra overrides of the SAM 2 model (default ``++model.image_size=256``).
    """
    from models.store import ModelStore
    from models.tiny import grounding_dino, sam2, vitmatte

    store = ModelStore(Path(model_dir), offline=True)
    builders = {
        "sam2.1-hiera-tiny": lambda d: sam2.build(d, overrides=sam2_overrides),
        "grounding-dino-tiny": grounding_dino.build,
        "vitmatte-small": vitmatte.build,
    }
    out = {}
    for name, build in builders.items():
        folder = store.path(name)
        if not store.is_staged(name):
            build(folder)
        out[name] = store.resolve(name).path  # writes the manifest
    return out
