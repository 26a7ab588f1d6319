"""``rotoflow run --help`` and ``rotoflow export --help`` list every roto format and every matte
format (Cryptomatte) by name."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import exporters
from apps.cli import app


@pytest.mark.parametrize("command", ["run", "export"])
def test_help_lists_every_roto_format(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for name in exporters.roto_formats() + exporters.matte_shot_formats():
        assert name in text, (command, name)


@pytest.mark.parametrize("command", ["run", "export"])
def test_help_gives_the_start_frame_for_resolve_and_plate_numbers(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "240"})
    text = " ".join(result.output.split())
    assert "--start-frame" in text and "Resolve's Fusion page" in text, command


def test_export_refuses_a_negative_start_frame_for_a_host_without_negative_frames(tmp_path):
    result = CliRunner().invoke(
        app,
        ["export", "sh010", "--format", "nuke,after_effects", "--start-frame", "-1"],
        env={"ROTOFLOW_HOME": str(tmp_path)},
    )
    assert result.exit_code != 0
    assert "format 'after_effects' cannot key negative host frames" in result.output
