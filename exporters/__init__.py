"""Export formats, one adapter per format (OpenTimelineIO-style adapters).

Each text format module defines ``NAME``, ``SUFFIXES`` and ``write_to_string(shapes, fmt, **options)``
(and, where we read it back, ``read_from_string(text)``); image formats define ``write_to_file``.
Every adapter declares what it can do in ``FEATURES`` (a frozenset of :class:`Feature`, see
:mod:`exporters.features`), which callers ask through :func:`features` and :func:`roto_formats`.
This facade finds a module by name or by file suffix and derives file writers from string writers.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from exporters.features import Feature
from rotoflow.errors import ExportError
from rotoflow.files import atomic_write_text

#: Format modules known to the facade, by module name.
_MODULES = (
    "nuke",
    "shapes_json",
    "silhouette",
    "fusion",
    "after_effects",
    "lottie",
    "svg",
    "exr",
    "cryptomatte",
    "png",
)


ROTO_FORMAT_NAMES = (
    "after_effects",
    "fusion",
    "lottie",
    "nuke",
    "shapes_json",
    "silhouette",
    "svg",
)
"""What :func:`roto_formats` returns, known without loading the adapters (whose imports take half
a second) so that help texts can list it; ``tests/exporters/test_features.py`` keeps the two
equal."""


MATTE_SHOT_FORMAT_NAMES = ("cryptomatte",)
"""What :func:`matte_shot_formats` returns, known without loading the adapters, like
:data:`ROTO_FORMAT_NAMES`."""


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"exporters.{module}")


def available() -> list[str]:
    """Names of the available export formats."""
    return sorted(_load(m).NAME for m in _MODULES)


def from_name(name: str) -> ModuleType:
    """The exporter module called ``name``.

    Raises:
        ExportError: no exporter has that name; the message lists the names.
    """
    for m in _MODULES:
        mod = _load(m)
        if name == mod.NAME:
            return mod
    raise ExportError(f"no exporter named {name!r}; available: {', '.join(available())}")


def features(name: str) -> frozenset[Feature]:
    """What the exporter called ``name`` declares it can do: its ``FEATURES``.

    Raises:
        ExportError: no exporter has that name; the message lists the names.
    """
    return from_name(name).FEATURES


def roto_formats() -> list[str]:
    """Names of the formats that write roto shapes as text (:attr:`Feature.WRITE_ROTO`: Nuke,
    Silhouette, ...), sorted as :func:`available` sorts them."""
    return [n for n in available() if Feature.WRITE_ROTO in features(n)]


def matte_shot_formats() -> list[str]:
    """Names of the formats that write a shot's mattes, a file per frame, and that jobs name
    beside the roto formats (:attr:`Feature.WRITE_MATTE_SHOT`: Cryptomatte), sorted."""
    return [n for n in available() if Feature.WRITE_MATTE_SHOT in features(n)]


def from_path(path: str | os.PathLike) -> ModuleType:
    """The exporter module for a file's suffix (the longest matching suffix wins, so
    ``shot.lottie.json`` is Lottie and ``shot.json`` is the pipeline JSON).

    Raises:
        ExportError: no exporter writes that suffix; the message lists the suffixes.
    """
    name = Path(path).name.lower()
    known: list[str] = []
    best: tuple[int, ModuleType] | None = None
    for m in _MODULES:
        mod = _load(m)
        known.extend(mod.SUFFIXES)
        for suffix in mod.SUFFIXES:
            if name.endswith(suffix) and (best is None or len(suffix) > best[0]):
                best = (len(suffix), mod)
    if best is None:
        raise ExportError(
            f"no exporter writes {Path(path).suffix!r} files; known suffixes: {', '.join(known)}"
        )
    return best[1]


def write_to_file(shapes, fmt, path: str | os.PathLike, name: str | None = None, **options) -> Path:
    """Write shapes to ``path`` with the exporter named ``name`` or, by default, chosen by suffix.

    Args:
        shapes: Sequence of :class:`rotoflow.types.RotoShape`.
        fmt: :class:`rotoflow.types.ShotFormat` of the shot.
        path: Destination file.
        name: Exporter name; None picks by the file's suffix.
        **options: Passed to the exporter's ``write_to_string``.

    Returns:
        The written path.
    """
    mod = from_name(name) if name else from_path(path)
    atomic_write_text(path, mod.write_to_string(shapes, fmt, **options))
    return Path(path)
