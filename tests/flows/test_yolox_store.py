"""A lite text prompt with no ``ROTOFLOW_YOLOX_MODEL``: the YOLOX-Nano weights come from the model
store entry that ``make setup`` stages (``rotoflow models add yolox-nano FILE --skip-staged`` into
the default store, ``<ROTOFLOW_HOME>/models``)."""

from __future__ import annotations

import os

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from rotoflow import db
from rotoflow.settings import get_settings
from tests.conftest import YOLOX
from tests.flows.helpers import frame_folder, use_home

pytestmark = pytest.mark.e2e


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_a_text_prompt_uses_the_staged_yolox_with_no_env_var(tmp_path, monkeypatch):
    for name in ("ROTOFLOW_HOME", "ROTOFLOW_OUTPUT_ROOT", "ROTOFLOW_YOLOX_MODEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    use_home(tmp_path / "home")
    for name in ("ROTOFLOW_YOLOX_MODEL", "ROTOFLOW_MODEL_DIR", "ROTOFLOW_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    plate = frame_folder("dog", tmp_path / "dog", range(6))
    try:
        staged = invoke("models", "add", "yolox-nano", str(YOLOX), "--skip-staged")
        assert staged.exit_code == 0, staged.output
        store = tmp_path / "home" / "models" / "Megvii-BaseDetection/YOLOX/yolox-nano"
        assert (store / "yolox_nano.onnx").is_file()

        result = invoke("run", str(plate), "--prompt", "dog")
        assert result.exit_code == 0, result.output
        with db.session(get_settings().resolved_database_url()) as s:
            job = s.exec(select(db.Job).order_by(db.Job.id.desc())).first()
        assert job.status == db.Status.done
        assert job.models["detector"] == "yolox-nano@4903c9058f6e"  # the staged file's sha256
        assert len(job.models["detector_sha256"]) == 64
        assert job.parameters["yolox_model"] is None
        assert job.parameters["model_dir"] == str(tmp_path / "home" / "models")
        assert sorted((tmp_path / "home" / "out" / "default" / "dog" / "masks").iterdir())
    finally:
        get_settings.cache_clear()
