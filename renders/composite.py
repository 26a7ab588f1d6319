"""The render kinds: one plate frame and the objects' alphas to one movie frame.

Every kind reads the plate's display-referred 8-bit RGB (the ingest proxies: sRGB, or the OCIO
display transform of a scene-linear plate) and each object's soft alpha (the matte stage's EXR,
``(H, W)`` float in ``[0, 1]``). Objects are combined as one matte with the ``over`` rule of
Porter & Duff (1984) for coverage: ``1 - prod(1 - alpha_i)``.

- ``greenscreen``: the objects over a flat key colour, ``rgb * a + key * (1 - a)`` in display
  values (the key colour is given in the plate's display space, default pure green
  ``0,255,0``); H.264 for review.
- ``rgba``: the plate unchanged with the objects' matte as a straight alpha; ProRes 4444.
- ``overlay``: the review movie: each object's matte tinted at half strength in its colour
  (:data:`PALETTE`, by object id) with its outline (the alpha's 0.5 contour, 2 px), and burn-ins
  of the shot, the plate frame number and the object names; H.264.

Coordinate frame: image space, ``(H, W)`` arrays, row 0 at the top.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from rotoflow.errors import RenderError

PALETTE = (
    (255, 64, 64),
    (64, 160, 255),
    (255, 200, 0),
    (64, 220, 120),
    (220, 90, 255),
    (0, 220, 220),
    (255, 140, 40),
    (160, 255, 64),
)
"""Overlay colours (RGB, 8-bit) of objects by id: object ``i`` gets ``PALETTE[(i - 1) % 8]``."""

TINT = 0.5
"""How much of its colour the overlay lays over an object where its alpha is 1."""


@dataclass(frozen=True)
class RenderOptions:
    """What a render is given besides the pictures.

    Attributes:
        shot: The shot's name (overlay burn-in).
        key_colour: The greenscreen's key colour, RGB 8-bit display values.
    """

    shot: str = ""
    key_colour: tuple[int, int, int] = (0, 255, 0)


class Frame(Protocol):
    """What a kind needs of one frame."""

    number: int
    rgb: np.ndarray
    alphas: Mapping[tuple[int, str], np.ndarray]


@dataclass
class PlateFrame:
    """One plate frame with its objects' alphas.

    Attributes:
        number: The plate frame number.
        rgb: ``(H, W, 3) uint8`` display-referred RGB.
        alphas: ``(object id, object name) -> (H, W) float32`` alpha in ``[0, 1]``.
    """

    number: int
    rgb: np.ndarray
    alphas: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderKind:
    """A render kind: its name, the movie codec it is written with (a key of
    :data:`rotoflow.movie.CODECS`), whether the movie carries alpha, and its frame function
    ``draw(frame, options) -> (rgb, alpha or None)``."""

    name: str
    codec: str
    help: str
    draw: object

    @property
    def has_alpha(self) -> bool:
        return self.codec == "prores4444"


def union(alphas: Iterable[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """``(H, W) float32`` coverage of several alphas together, ``1 - prod(1 - a)``; zeros for
    none, the alpha itself (clipped to ``[0, 1]``) for one."""
    alphas = [np.clip(np.asarray(a, np.float32), 0.0, 1.0) for a in alphas]
    if not alphas:
        return np.zeros(shape, np.float32)
    if len(alphas) == 1:
        return alphas[0]
    rest = 1.0 - alphas[0]
    for a in alphas[1:]:
        rest *= 1.0 - a
    return 1.0 - rest


def _blend(rgb: np.ndarray, colour, weight: np.ndarray) -> np.ndarray:
    """``rgb * (1 - weight) + colour * weight`` as ``uint8``, to within one step (OpenCV's
    ``blendLinear``): ``(H, W, 3) uint8`` RGB, an RGB colour, ``(H, W) float32`` weight."""
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    rest = np.subtract(np.float32(1.0), weight, dtype=np.float32)
    return cv2.blendLinear(
        np.ascontiguousarray(rgb), _flat(rgb.shape, tuple(int(c) for c in colour)), rest, weight
    )


@functools.lru_cache(maxsize=16)
def _flat(shape: tuple[int, ...], colour: tuple[int, int, int]) -> np.ndarray:
    """A read-only ``uint8`` image of one colour (kept: every frame of a render needs it)."""
    flat = np.empty(shape, np.uint8)
    flat[...] = np.asarray(colour, np.uint8)
    flat.flags.writeable = False
    return flat


def _matte(frame: Frame) -> np.ndarray:
    return union(frame.alphas.values(), frame.rgb.shape[:2])


def greenscreen(frame: Frame, options: RenderOptions) -> tuple[np.ndarray, None]:
    """The objects over ``options.key_colour``: ``(H, W, 3) uint8``."""
    return _blend(frame.rgb, options.key_colour, 1.0 - _matte(frame)), None


def rgba(frame: Frame, options: RenderOptions) -> tuple[np.ndarray, np.ndarray]:
    """The plate's RGB unchanged and the objects' matte as straight alpha ``(H, W) float32``."""
    return frame.rgb, _matte(frame)


def colour_of(object_id: int) -> tuple[int, int, int]:
    """The overlay colour of an object (:data:`PALETTE`)."""
    return PALETTE[(int(object_id) - 1) % len(PALETTE)]


def _label(image: np.ndarray, text: str, origin: tuple[int, int], colour, scale: float) -> int:
    """Burn ``text`` in with a dark box behind it at ``origin`` (top-left, pixels); returns the
    box's height."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    x, y = origin
    pad = max(2, round(4 * scale))
    cv2.rectangle(image, (x, y), (x + w + 2 * pad, y + h + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(image, text, (x + pad, y + pad + h), font, scale, colour, thick, cv2.LINE_AA)
    return h + base + 2 * pad


def overlay(frame: Frame, options: RenderOptions) -> tuple[np.ndarray, None]:
    """The review frame (module docstring): ``(H, W, 3) uint8``."""
    image = frame.rgb
    h, w = frame.rgb.shape[:2]
    for (object_id, _), alpha in sorted(frame.alphas.items()):
        a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0) * TINT
        image = _blend(image, colour_of(object_id), a)
    if image is frame.rgb:
        image = frame.rgb.copy()
    line = max(2, round(min(h, w) / 540))
    for (object_id, _), alpha in sorted(frame.alphas.items()):
        edge = cv2.compare(np.asarray(alpha, np.float32), 0.5, cv2.CMP_GE)
        contours, _ = cv2.findContours(edge, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, colour_of(object_id), line, cv2.LINE_AA)
    scale = max(0.4, min(h, w) / 1080)
    white = (255, 255, 255)
    margin = round(8 * scale) + 2
    _label(image, options.shot, (margin, margin), white, scale)
    text = f"{frame.number}"
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, round(scale * 2)))
    _label(image, text, (max(margin, w - tw - 3 * margin), margin), white, scale)
    y = h - margin
    for object_id, name in sorted(frame.alphas, reverse=True):
        (_, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        y -= th + base + 2 * max(2, round(4 * scale))
        _label(image, name, (margin, max(0, y)), colour_of(object_id), scale)
    return image, None


KINDS = {
    k.name: k
    for k in (
        RenderKind("greenscreen", "h264", "the objects over a flat key colour, H.264", greenscreen),
        RenderKind("rgba", "prores4444", "the plate with the objects' alpha, ProRes 4444", rgba),
        RenderKind(
            "overlay",
            "h264",
            "review movie of tinted mattes, outlines and burn-ins, H.264",
            overlay,
        ),
    )
}
"""The render kinds by name."""


def check_kinds(kinds: Iterable[str]) -> list[str]:
    """The kinds named, in order and once each.

    Raises:
        RenderError: A name is not in :data:`KINDS` (the message lists them), or none is given.
    """
    out: list[str] = []
    for kind in kinds:
        name = str(kind).strip()
        if name not in KINDS:
            raise RenderError(f"unknown render kind {name!r}; choose from {', '.join(KINDS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise RenderError(f"no render kind given; choose from {', '.join(KINDS)}")
    return out


def parse_colour(text: str) -> tuple[int, int, int]:
    """``"R,G,B"`` (0-255 each) or ``"#RRGGBB"`` to an RGB tuple.

    Raises:
        RenderError: Anything else.
    """
    value = str(text).strip()
    try:
        if value.startswith("#") and len(value) == 7:
            rgb = tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        else:
            rgb = tuple(int(v) for v in value.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise RenderError(f"key colour must be R,G,B (0-255 each) or #RRGGBB, got {text!r}")
    return rgb  # type: ignore[return-value]
