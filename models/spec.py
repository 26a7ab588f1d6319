"""The shape of one row of the model table (:mod:`models.catalog`) and of a model staged in the
store (:mod:`models.store`): what a model is called, which stages it serves, which files it needs
and where they come from, and how it is built. Imports nothing heavy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.hub import is_commit

if TYPE_CHECKING:
    from rotoflow.pipeline import ResolvedJob

#: Transformers weights, in order of preference (single file or sharded index).
TRANSFORMERS_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)

#: Builds a stage model: ``(its table row, its staged files or None, the resolved job) -> model``.
Loader = Callable[["ModelSpec", "StagedModel | None", "ResolvedJob"], Any]


@dataclass(frozen=True)
class ModelSpec:
    """One model the pipeline can use: a row of the model table.

    Attributes:
        name: Rotoflow's name for it (``"sam2.1-hiera-tiny"``), used on the command line.
        stages: Pipeline stages the model serves (``"detector"``, ``"segmenter"``, ``"tracker"``,
            ``"matter"``).
        description: One line for ``rotoflow models list``.
        loader: Builds the model from the resolved job (see :mod:`models.loaders`).
        kind: What makes its store folder complete: ``"sam2"`` (a SAM 2 checkpoint, with its
            Hydra config), ``"transformers"`` (a ``from_pretrained`` folder); None for a model
            with no files (GrabCut, the optical-flow tracker, pymatting), which the store
            does not hold.
        repo_id: Hugging Face hub repository, also the folder under the store root; None for a
            model with no files.
        weights: The main weights file name in the repository.
        sam2_config: SAM 2 Hydra config name (``configs/sam2.1/sam2.1_hiera_t.yaml``); None for
            other kinds.
    """

    name: str
    stages: tuple[str, ...]
    description: str
    loader: Loader = field(repr=False, compare=False)
    kind: str | None = None
    repo_id: str | None = None
    weights: str | None = None
    sam2_config: str | None = None

    @property
    def stored(self) -> bool:
        """Whether the model has files in the model store."""
        return self.kind is not None

    @property
    def folder(self) -> str:
        """The model's folder under the store root (POSIX, relative): its hub repository."""
        return str(self.repo_id)


@dataclass(frozen=True)
class StagedModel:
    """A model folder in the store, checked complete, with its manifest.

    Attributes:
        spec: The table row.
        path: The model folder (``<model_dir>/<repo_id>``): pass it to ``from_pretrained`` or
            join ``spec.weights`` for a SAM 2 checkpoint.
        revision: Hub commit hash the files came from, or a free label (``"local"``) for a folder
            that did not come straight from the hub.
        sha256: Digest of the manifest's file map (see :func:`models.store.files_digest`):
            identifies the exact weights, kept whole for the job record.
        files: Relative POSIX path -> hex sha256 of every file of the model.
    """

    spec: ModelSpec
    path: Path
    revision: str
    sha256: str
    files: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def version(self) -> str:
        """Short id for provenance: the first 12 hex digits of a hub commit, else ``"local"``."""
        return self.revision[:12] if is_commit(self.revision) else "local"

    @property
    def weights(self) -> Path:
        """The main weights file (for transformers, whichever of the accepted names is present)."""
        if self.spec.kind == "transformers":
            for candidate in (self.spec.weights, *TRANSFORMERS_WEIGHTS):
                if candidate and (self.path / candidate).is_file():
                    return self.path / candidate
        return self.path / str(self.spec.weights)


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
