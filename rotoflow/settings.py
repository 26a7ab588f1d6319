"""Typed settings, read from the environment (``ROTOFLOW_`` prefix) or a ``.env`` file, in one place.

Nothing here runs at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_LIST_SEPARATOR = re.compile(rf"[,{re.escape(os.pathsep)}](?!//)")  # not the ':' of s3://


def folder_list(value: object) -> object:
    """A list setting from the environment: a JSON list, or entries separated by commas or
    ``os.pathsep`` (``/shots:/mnt/plates``, ``/shots,s3://plates/incoming``); other values pass
    through to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in _LIST_SEPARATOR.split(text) if part.strip()]


class Settings(BaseSettings):
    """Rotoflow settings.

    Attributes:
        home: Folder for the default SQLite project database.
        database_url: SQLAlchemy URL of the project database (SQLite file by default, PostgreSQL in
            a studio: ``postgresql+psycopg://user@host/rotoflow``).
        output_root: Folder that receives one sub-folder per shot.
        output_roots: Further folders (besides ``output_root``) that a run's own output root may
            be in (``ROTOFLOW_OUTPUT_ROOTS``: a JSON list, or folders separated by ``:`` or
            ``,``); a run asking for any other is refused (see :mod:`rotoflow.roots`).
        plate_roots: Folders and ``s3://bucket/prefix`` locations that plates must be in
            (``ROTOFLOW_PLATE_ROOTS``, the same format); empty (the default): any plate.
        project: Project name that new shots are filed under.
        models: Model set name: ``"lite"`` (runs on any CPU) or ``"full"`` (SAM 2, Grounding DINO,
            ViTMatte; weights from the model store).
        model_dir: The local model store (``ROTOFLOW_MODEL_DIR``): one folder per model, laid out
            as its hub repository (``<model_dir>/IDEA-Research/grounding-dino-tiny/...``). Default
            ``<home>/models``.
        offline: Never try the hub; a model missing from the store is an error at once. Also on
            when ``HF_HUB_OFFLINE=1``.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``/``"cuda:N"``.
        yolox_model: An explicit YOLOX-Nano ONNX weights file for the lite detector, used
            instead of the model store's ``yolox-nano`` entry (None, the default: the store).
        detector_threshold: Minimum detector score for a text prompt to match (Grounding DINO's
            box threshold).
        text_threshold: Grounding DINO's text threshold: minimum score of a prompt word for it to
            label a box.
        movie_first_frame: Frame number given to the first frame of a movie file.
        ocio_config: OpenColorIO config used to turn scene-linear plates into display-referred
            8-bit for the models; None means the built-in sRGB transfer function.
        trimap_band: Width in pixels of the unknown band around the mask edge for matting.
        shape_min_area: Islands and holes whose outline never encloses this fraction of the plate
            area (``ROTOFLOW_SHAPE_MIN_AREA``; at least 16 px²) get no roto shape; the masks and
            alpha keep them. The default ``1e-4`` is 207 px² on a 1920 x 1080 plate (a 14 x 14
            pixel speck), 829 px² at UHD, 41 px² at 854 x 480: specks an artist would not draw a
            shape for, the same size on screen at any resolution. 0 keeps every contour. See
            :func:`rotoflow.geometry.specks.drop_specks`.
        shape_min_frames: Islands and holes living fewer frames get no roto shape
            (``ROTOFLOW_SHAPE_MIN_FRAMES``; the masks and alpha keep them). The default 4 (a sixth
            of a second at 24 fps) leaves out flashes of one to three frames (a gap between legs
            opening for a frame, a branch crossing the object), too brief to key by hand and
            better painted in the matte. A contour alive on the shot's first or last frame is cut
            by the frame range, not brief, and is spared. 0 keeps every contour. The largest
            outline of each frame is always kept.
        shape_max_loss: The most of an object's mask area over the shot (pixel-frames), as a
            fraction, that the contours left out by ``shape_min_area`` and ``shape_min_frames``
            may hold (``ROTOFLOW_SHAPE_MAX_LOSS``): where they would take more, the largest are
            kept as shapes. The default ``0.002`` lets go of flashes (a gap between arm and body
            for two frames is far less) while an object seen in pieces on every frame (through
            branches, a fence) keeps its pieces. 0: no bound (the two limits alone).
        shape_tolerance: Mean distance in pixels from the mask's outline to its roto shape that
            every key must meet (``ROTOFLOW_SHAPE_TOLERANCE``), and the most linear interpolation
            between kept keys may move a control point or tangent: smaller fits the matte closer
            with more control points and keys. The default ``0.75`` keeps the shapes' region
            accuracy on DAVIS (mean J 0.984 with the default speck limits) at the cost of about
            a tenth more control points than 1 px (J 0.980); see ``benchmarks/shapes_davis.py``.
        storage_url: Where published shot outputs also go, as ``s3://bucket/prefix``: each shot's
            ``masks/``, ``alpha/`` and ``roto/`` are uploaded to ``s3://bucket/prefix/<shot>/``
            with the same layout as the local shot folder (see :mod:`rotoflow.objectstore`).
            None (the default) keeps outputs in local folders only.
        s3_endpoint_url: Endpoint of an S3-compatible server (MinIO, a loopback test server:
            ``http://127.0.0.1:9000``); None for AWS S3. Credentials and region come from boto3's
            usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
            ``AWS_DEFAULT_REGION``, ...), never from Rotoflow's settings. Plates given as
            ``s3://`` URLs are read through the same endpoint.
        heartbeat_timeout: Seconds without a heartbeat after which a running job of a worker on
            another host is marked crashed (a worker on this host is checked by its process id at
            once); a running job beats every tenth of it. See :mod:`rotoflow.liveness`.
        max_objects: Most objects one shot may have (``ROTOFLOW_MAX_OBJECTS``), counted from its
            prompts and again once an ``all_matches`` text prompt has become one object per
            detection; more is a prompt error before the work starts.
    """

    model_config = SettingsConfigDict(env_prefix="ROTOFLOW_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".rotoflow")
    database_url: str | None = None
    output_root: Path = Path("rotoflow_output")
    output_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    plate_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    project: str = "default"
    models: str = "lite"
    model_dir: Path | None = None
    offline: bool = False
    device: str = "auto"
    yolox_model: Path | None = None
    detector_threshold: float = 0.25
    text_threshold: float = 0.25
    movie_first_frame: int = 1
    ocio_config: str | None = None
    trimap_band: int = 12
    shape_min_area: float = Field(default=1e-4, ge=0, lt=1)
    shape_min_frames: int = Field(default=4, ge=0)
    shape_max_loss: float = Field(default=0.002, ge=0, lt=1)
    shape_tolerance: float = Field(default=0.75, gt=0)
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    heartbeat_timeout: float = Field(default=300.0, gt=0)

    _lists = field_validator("output_roots", "plate_roots", mode="before")(folder_list)
    max_objects: int = Field(default=100, ge=1)

    def resolved_model_dir(self) -> Path:
        """The model store folder, defaulting to ``<home>/models``."""
        return self.model_dir if self.model_dir is not None else self.home / "models"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/rotoflow.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'rotoflow.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
