"""Identifiers for shape, layer and tool names that every host accepts.

Nuke, Fusion, Silhouette, After Effects and Lottie all take ``[A-Za-z_][A-Za-z0-9_]*``; one helper
keeps the names the same in every format.
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... the first not in ``taken``; added to ``taken``."""
    unique, n = base, 1
    while unique in taken:
        n += 1
        unique = f"{base}_{n}"
    taken.add(unique)
    return unique


def sanitize_name(name: str, taken: set[str], fallback: str = "Shape") -> str:
    """A Nuke identifier ``[A-Za-z_][A-Za-z0-9_]*`` for ``name``, not in ``taken``.

    Other characters become ``_``; a leading digit gets a ``_`` prefix; a clash gets ``_2``,
    ``_3``, ... The result is added to ``taken``.
    """
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name.strip()) or fallback
    if not _IDENT.fullmatch(ident):
        ident = "_" + ident
    return unique_name(ident, taken)


def shape_names(shapes) -> list[str]:
    """Unique identifiers for shapes, in order: each :attr:`~rotoflow.types.RotoShape.label`
    through :func:`sanitize_name` (``dancer``, ``dancer_hole1``, ``dancer_part2``, ...)."""
    taken: set[str] = set()
    return [sanitize_name(shape.label, taken) for shape in shapes]


def by_object(shapes) -> list[list]:
    """Shapes grouped by ``object_id``, groups in order of first appearance, each group in its
    given (paint) order."""
    groups: dict[int, list] = {}
    for shape in shapes:
        groups.setdefault(shape.object_id, []).append(shape)
    return list(groups.values())
