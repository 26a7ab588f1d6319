"""Typed settings, read from the environment (``ROTOFLOW_`` prefix) or a ``.env`` file, in one place.

Nothing here runs at import time: call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Rotoflow settings.

    Attributes:
        home: Folder for the default SQLite project database.
        database_url: SQLAlchemy URL of the project database (SQLite file by default, PostgreSQL in
            a studio: ``postgresql+psycopg://user@host/rotoflow``).
        output_root: Folder that receives one sub-folder per shot.
        project: Project name that new shots are filed under.
        models: Model set name: ``"lite"`` (runs on any CPU) or ``"full"`` (SAM 2, Grounding DINO,
            ViTMatte; weights from the model store).
        model_dir: The local model store (``ROTOFLOW_MODEL_DIR``): one folder per model, laid out
            as its hub repository (``<model_dir>/IDEA-Research/grounding-dino-tiny/...``). Default
            ``<home>/models``.
        offline: Never try the hub; a model missing from the store is an error at once. Also on
            when ``HF_HUB_OFFLINE=1``.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``/``"cuda:N"``.
        yolox_model: Path to the YOLOX-Nano ONNX weights used by the lite detector.
        detector_threshold: Minimum detector score for a text prompt to match (Grounding DINO's
            box threshold).
        text_threshold: Grounding DINO's text threshold: minimum score of a prompt word for it to
            label a box.
        movie_first_frame: Frame number given to the first frame of a movie file.
        ocio_config: OpenColorIO config used to turn scene-linear plates into display-referred
            8-bit for the models; None means the built-in sRGB transfer function.
        trimap_band: Width in pixels of the unknown band around the mask edge for matting.
        storage_url: Where published shot outputs also go, as ``s3://bucket/prefix``: each shot's
            ``masks/``, ``alpha/`` and ``roto/`` are uploaded to ``s3://bucket/prefix/<shot>/``
            with the same layout as the local shot folder (see :mod:`rotoflow.objectstore`).
            None (the default) keeps outputs in local folders only.
        s3_endpoint_url: Endpoint of an S3-compatible server (MinIO, a loopback test server:
            ``http://127.0.0.1:9000``); None for AWS S3. Credentials and region come from boto3's
            usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
            ``AWS_DEFAULT_REGION``, ...), never from Rotoflow's settings. Plates given as
            ``s3://`` URLs are read through the same endpoint.
        max_objects: Most objects one shot may have (``ROTOFLOW_MAX_OBJECTS``), counted from its
            prompts and again once an ``all_matches`` text prompt has become one object per
            detection; more is a prompt error before the work starts.
    """

    model_config = SettingsConfigDict(env_prefix="ROTOFLOW_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".rotoflow")
    database_url: str | None = None
    output_root: Path = Path("rotoflow_output")
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
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
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
