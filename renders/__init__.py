"""Finished pictures from a plate and its recorded mattes, with no model run.

Each kind (:data:`KINDS`) turns one plate frame and the objects' alphas into one movie frame
(:mod:`renders.composite`); :func:`check_kinds` checks names given by a user. The stage that
streams a shot through them and writes the movies is :mod:`tasks.stages.render`.
"""

from __future__ import annotations

from renders.composite import KINDS, RenderKind, RenderOptions, check_kinds, parse_colour

__all__ = ["KINDS", "RenderKind", "RenderOptions", "check_kinds", "parse_colour"]
