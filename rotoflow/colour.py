"""Scene-linear to display-referred 8-bit: what the models see of a linear plate.

The models are trained on display-referred 8-bit images (sRGB photographs and video), so a
scene-linear plate (a float EXR) is turned into one first. There is one place that does it,
:func:`to_display_uint8`:

- with an OpenColorIO config, the config's display/view transform is applied (its default display
  and view unless named), from the source colourspace (the ``scene_linear`` role by default);
- without one, the sRGB transfer function of IEC 61966-2-1:1999 is applied to the values clipped to
  ``[0, 1]`` (no tone mapping: values above 1.0 clip, as on a plain sRGB viewer).

The config can be a file path or a built-in OCIO 2.2+ URI such as ``ocio://default`` or
``ocio://studio-config-latest`` (these need no files).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

import numpy as np

from rotoflow.errors import ConfigError
from rotoflow.files import sha256_file

logger = logging.getLogger(__name__)


def srgb_oetf(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1:1999, section 5.2), linear to encoded.

    ``12.92 * x`` for ``x <= 0.0031308``, else ``1.055 * x ** (1 / 2.4) - 0.055``.

    Args:
        linear: Linear light values, any shape; expected in ``[0, 1]`` (clip first).

    Returns:
        Encoded values, same shape, ``float32``.
    """
    x = np.asarray(linear, dtype=np.float32)
    return np.where(
        x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055
    ).astype(np.float32)


def to_display_uint8(
    rgb_linear: np.ndarray,
    *,
    ocio_config: str | os.PathLike | None = None,
    src: str = "scene_linear",
    display: str | None = None,
    view: str | None = None,
) -> np.ndarray:
    """Turn scene-linear RGB into display-referred 8-bit RGB.

    Args:
        rgb_linear: ``(H, W, 3)`` float array (``float16``/``float32``/``float64``) of scene-linear
            values as stored in the plate (1.0 = diffuse white). NaN counts as 0.
        ocio_config: OpenColorIO config (file path or ``ocio://`` URI). None applies the sRGB
            transfer function (IEC 61966-2-1) instead.
        src: Source colourspace or role name in the config (OCIO only).
        display: Display name in the config; None for the config's default display (OCIO only).
        view: View name of that display; None for the display's default view (OCIO only).

    Returns:
        ``(H, W, 3) uint8`` display-referred RGB, rounded to the nearest code value.

    Raises:
        ConfigError: The config cannot be loaded, ``src``/``display``/``view`` is not in it (the
            message lists the valid names), or a display or view is named without a config.
    """
    rgb = np.nan_to_num(np.asarray(rgb_linear, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {rgb.shape}")
    if ocio_config is None:
        if display is not None or view is not None:
            raise ConfigError(f"display={display!r} view={view!r} need an OCIO config")
        encoded = srgb_oetf(np.clip(rgb, 0.0, 1.0))
    else:
        processor = _processor(_config_name(ocio_config), src, display, view)
        encoded = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        processor.applyRGB(encoded)
    return np.rint(np.clip(encoded, 0.0, 1.0) * 255.0).astype(np.uint8)


def _config_name(ocio_config: str | os.PathLike) -> str:
    """The config as OCIO expects it; repairs ``ocio:/x`` (a URI that went through ``Path``)."""
    name = os.fspath(ocio_config)
    if name.startswith("ocio:/") and not name.startswith("ocio://"):
        name = "ocio://" + name[len("ocio:/") :]
    return name


def config_digest(ocio_config: str | os.PathLike | None) -> str | None:
    """What an OCIO config's results depend on, for stage keys: a built-in ``ocio://`` URI as it
    is; a config file as the sha256 of its bytes plus OCIO's cache id (``Config.getCacheID``,
    which covers the LUT files the config references by their file system identity). None for no
    config. A config that does not load is keyed by its bytes alone (ingest reports why).

    Raises:
        ConfigError: The config file cannot be read.
    """
    if ocio_config is None:
        return None
    name = _config_name(ocio_config)
    if name.startswith("ocio://"):
        return name
    try:
        digest = sha256_file(name)
    except OSError as exc:
        raise ConfigError(f"OCIO config {name}: cannot be read ({exc.strerror})") from exc
    try:
        import PyOpenColorIO as ocio

        return f"{digest}:{ocio.Config.CreateFromFile(name).getCacheID()}"
    except Exception:  # noqa: BLE001 (a config that does not load fails at ingest, named)
        return digest


def _file_state(name: str) -> tuple | None:
    """Size and times of a config file (None for a URI), so that an edited config gets a new
    processor in a long-running worker."""
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _processor(config_name: str, src: str, display: str | None, view: str | None) -> Any:
    return _cpu_processor(config_name, _file_state(config_name), src, display, view)


@lru_cache(maxsize=8)
def _cpu_processor(
    config_name: str, state: tuple | None, src: str, display: str | None, view: str | None
) -> Any:
    """A cached OCIO CPU processor for ``src -> display/view`` of ``config_name`` (``state``:
    :func:`_file_state`, part of the cache key only)."""
    try:
        import PyOpenColorIO as ocio
    except ImportError as exc:
        raise ConfigError(f"OCIO config {config_name}: the opencolorio package is missing") from exc

    try:
        config = ocio.Config.CreateFromFile(config_name)
    except Exception as exc:  # OCIO raises its own Exception type
        raise ConfigError(f"OCIO config {config_name}: cannot be loaded ({exc})") from exc
    if config.getColorSpace(src) is None:
        names = ", ".join(list(config.getColorSpaceNames())[:20])
        raise ConfigError(f"OCIO config {config_name}: no colourspace or role {src!r} ({names})")
    displays = list(config.getDisplays())
    display = display or config.getDefaultDisplay()
    if display not in displays:
        raise ConfigError(
            f"OCIO config {config_name}: no display {display!r} ({', '.join(displays)})"
        )
    views = list(config.getViews(display))
    view = view or config.getDefaultView(display)
    if view not in views:
        raise ConfigError(
            f"OCIO config {config_name}: display {display!r} has no view {view!r} "
            f"({', '.join(views)})"
        )
    logger.debug("OCIO %s: %s -> %s / %s", config_name, src, display, view)
    transform = ocio.DisplayViewTransform(src=src, display=display, view=view)
    try:
        return config.getProcessor(transform).getDefaultCPUProcessor()
    except Exception as exc:
        raise ConfigError(f"OCIO config {config_name}: {src} -> {display}/{view}: {exc}") from exc
