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

#: Kinds whose folder is complete with the weights file alone (it may also be added as a file).
SINGLE_FILE_KINDS = ("sam2", "onnx")

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
            Hydra config), ``"transformers"`` (a ``from_pretrained`` folder), ``"onnx"`` (one
            ONNX file); None for a model with no files (GrabCut, the optical-flow tracker,
            pymatting), which the store does not hold.
        repo_id: Where the files come from: a Hugging Face hub repository (``source="hub"``) or
            a GitHub repository whose release holds the weights as an asset
            (``source="release"``); None for a model with no files.
        weights: The main weights file name in the repository (or the release asset's name).
        sam2_config: SAM 2 Hydra config name (``configs/sam2.1/sam2.1_hiera_t.yaml``); None for
            other kinds.
        source: ``"hub"`` (``huggingface_hub.snapshot_download``) or ``"release"`` (a GitHub
            release asset, :mod:`models.release`).
        release: The GitHub release tag holding the asset (``source="release"`` only).
        override: The :class:`~rotoflow.pipeline.ResolvedJob` field (and ``ROTOFLOW_`` setting)
            that may name an explicit weights file to use instead of the store's
            (``"yolox_model"``: ``ROTOFLOW_YOLOX_MODEL``), or None.
    """

    name: str
    stages: tuple[str, ...]
    description: str
    loader: Loader = field(repr=False, compare=False)
    kind: str | None = None
    repo_id: str | None = None
    weights: str | None = None
    sam2_config: str | None = None
    source: str = "hub"
    release: str | None = None
    override: str | None = None

    @property
    def stored(self) -> bool:
        """Whether the model has files in the model store."""
        return self.kind is not None

    @property
    def folder(self) -> str:
        """The model's folder under the store root (POSIX, relative): its hub repository, or
        ``<GitHub repository>/<name>`` for a release asset."""
        return f"{self.repo_id}/{self.name}" if self.source == "release" else str(self.repo_id)

    @property
    def origin(self) -> str:
        """Where the files come from, for messages: ``"IDEA-Research/grounding-dino-tiny"``,
        ``"Megvii-BaseDetection/YOLOX release 0.1.1rc0"``."""
        if self.source == "release":
            return f"{self.repo_id} release {self.release}"
        return str(self.repo_id)

    @property
    def override_setting(self) -> str | None:
        """The environment variable of :attr:`override` (``"ROTOFLOW_YOLOX_MODEL"``), or None."""
        return f"ROTOFLOW_{self.override.upper()}" if self.override else None


@dataclass(frozen=True)
class StagedModel:
    """A model folder in the store, checked complete, with its manifest.

    Attributes:
        spec: The table row.
        path: The model folder (``<model_dir>/<spec.folder>``): pass it to ``from_pretrained``
            or join ``spec.weights`` for a SAM 2 checkpoint or an ONNX file.
        revision: Hub commit hash the files came from, the GitHub release tag of a pulled
            release asset, or a free label (``"local"``) for files that did not come straight
            from either.
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
        """Short id for provenance: the first 12 hex digits of a hub commit, the release tag of
        a release asset pulled from GitHub, else ``"local"``."""
        if is_commit(self.revision):
            return self.revision[:12]
        if self.spec.source == "release" and self.revision == self.spec.release:
            return self.revision
        return "local"

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
        kind: ``"sam2"``, ``"onnx"`` (one weights file each) or ``"transformers"``.
        folder: The model folder.
        weights: The spec's main weights file name.

    Returns:
        Human-readable names of the missing files (``"config.json"``,
        ``"model.safetensors or pytorch_model.bin"``).
    """
    if not folder.is_dir():
        return [str(folder)]
    if kind in SINGLE_FILE_KINDS:
        return [] if (folder / weights).is_file() else [weights]
    lacking = [] if (folder / "config.json").is_file() else ["config.json"]
    names = dict.fromkeys((weights, *TRANSFORMERS_WEIGHTS))
    if not any((folder / n).is_file() for n in names):
        lacking.append(" or ".join(names))
    return lacking
