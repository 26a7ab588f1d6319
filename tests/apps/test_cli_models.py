"""``rotoflow models``: tables, exit codes and one-line errors, with no network."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from apps import cli_models
from apps.cli_models import models_app
from models.store import MANIFEST
from tests.models.test_store import (
    COMMIT,
    fake_download,
    fake_model_info,
    fake_transformers,
    online,
)

DINO = "grounding-dino-tiny"


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("ROTOFLOW_OFFLINE", raising=False)


def invoke(*args: str):
    return CliRunner().invoke(models_app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """A wide console, so that no table cell is cut short whatever terminal (or ``COLUMNS``) the
    suite runs under."""
    monkeypatch.setattr(cli_models.out, "_width", 200)


def one_line_error(result, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_add_list_verify(tmp_path):
    store = tmp_path / "models"
    result = invoke("list", "--dir", store)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("missing") == 9 and "staged" not in result.stdout

    src = fake_transformers(tmp_path / "src")
    result = invoke("add", DINO, src, "--dir", store)
    assert result.exit_code == 0, result.output
    assert f"{DINO}: added local at {store / 'IDEA-Research' / 'grounding-dino-tiny'}" in (
        " ".join(result.stdout.split())
    )
    assert (store / "IDEA-Research/grounding-dino-tiny" / MANIFEST).is_file()

    result = invoke("list", "--dir", store)
    row = next(line for line in result.stdout.splitlines() if DINO in line)
    assert "staged" in row and "local" in row
    assert result.stdout.count("missing") == 8

    result = invoke("verify", "--dir", store)  # every model with a folder: only DINO
    assert result.exit_code == 0, result.output
    assert DINO in result.stdout and " ok " in result.stdout and "sam2" not in result.stdout


def test_verify_fails_on_damage_and_missing(tmp_path):
    store = tmp_path / "models"
    invoke("add", DINO, fake_transformers(tmp_path / "src"), "--dir", store)
    weights = store / "IDEA-Research/grounding-dino-tiny/model.safetensors"
    weights.write_bytes(b"x" + weights.read_bytes()[1:])

    result = invoke("verify", DINO, "vitmatte-small", "--dir", store)
    assert result.exit_code == 1
    assert "checksum mismatch: model.safetensors" in result.stdout
    assert "no folder" in result.stdout and "FAILED" in result.stdout
    one_line_error(result, "2 of 2 models failed verification")


def test_bad_input_exits_2(tmp_path):
    store = tmp_path / "models"
    one_line_error(r := invoke("verify", "sam3", "--dir", store), "unknown model 'sam3'")
    assert r.exit_code == 2
    r = invoke("add", DINO, tmp_path / "nowhere", "--dir", store)
    assert r.exit_code == 2
    one_line_error(r, "nowhere", "is not a folder")
    src = fake_transformers(tmp_path / "src")
    (src / "model.safetensors").unlink()
    r = invoke("add", DINO, src, "--dir", store)
    assert r.exit_code == 2
    one_line_error(r, "lacks model.safetensors or pytorch_model.bin")
    assert not (store / "IDEA-Research/grounding-dino-tiny").exists()
    r = invoke("pull", "--dir", store)
    assert r.exit_code == 2
    one_line_error(r, "--all")
    r = invoke("pull", DINO, "vitmatte-small", "--revision", "main", "--dir", store)
    assert r.exit_code == 2
    one_line_error(r, "--revision")


@pytest.mark.parametrize("offline", [True, False])
def test_pull_without_hub_is_a_one_line_error(tmp_path, monkeypatch, offline):
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    r = invoke("pull", "sam2.1-hiera-tiny", "--dir", tmp_path)
    assert time.monotonic() - t0 < 10
    assert r.exit_code == 1
    one_line_error(
        r, "cannot pull 'sam2.1-hiera-tiny'", "offline mode" if offline else "unreachable"
    )
    assert list(tmp_path.iterdir()) == []


def test_pull_and_skip_staged(tmp_path, monkeypatch):
    online(monkeypatch)
    fake_model_info(monkeypatch, ["config.json", "model.safetensors"])
    calls = fake_download(monkeypatch, fake_transformers(tmp_path / "hub"))
    store = tmp_path / "models"
    r = invoke("pull", DINO, "--dir", store)
    assert r.exit_code == 0, r.output
    assert f"{DINO}: pulled {COMMIT[:12]}" in r.stdout
    manifest = json.loads((store / "IDEA-Research/grounding-dino-tiny" / MANIFEST).read_text())
    assert manifest["revision"] == COMMIT

    r = invoke("pull", DINO, "--dir", store)
    assert r.exit_code == 0 and "already staged" in r.stdout and len(calls) == 1
    r = invoke("pull", DINO, "--force", "--dir", store)
    assert r.exit_code == 0 and len(calls) == 2
