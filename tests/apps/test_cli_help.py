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
