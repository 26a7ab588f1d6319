"""Cryptomatte, one EXR per frame: every object's soft alpha as ranked ID/coverage pairs.

Format: Psyop's "Cryptomatte Specification" 1.2.0
(https://github.com/Psyop/Cryptomatte/blob/master/specification/cryptomatte_specification.pdf),
``docs/formats.md`` section 5.3. Each object name is hashed with MurmurHash3_x86_32 (seed 0, the
UTF-8 bytes; the ``mmh3`` library) and the 32 bits become a float32 ID bit for bit, except that an
exponent field of 0 or 255 (denormals, inf, NaN) has its lowest bit flipped. Per pixel the objects
with nonzero alpha are ranked by coverage, highest first (ties: the objects' order); rank ``2k``
goes to ``<layer>0k.R`` (ID) and ``.G`` (coverage), rank ``2k+1`` to ``.B`` and ``.A``. Unused
ranks, and every rank where no object covers the pixel, hold ID 0 and coverage 0 (spec: "If there
is no object in the sample, the recorded hash value should be zero"); the background is not a
rank. Every channel is ``FLOAT`` (the IDs need all 32 bits), ZIP compressed, data window = display
window = the full plate. The header carries ``cryptomatte/<key>/name``, ``/hash``
(``MurmurHash3_32``), ``/conversion`` (``uint32_to_float32``) and ``/manifest`` (JSON, name ->
the 8 hex digits of the ID's float bits), ``<key>`` being the first 7 hex digits of the layer
name's ID, as the Psyop reference implementation derives it.

Coverage is the object's own alpha, so that keying one object by name gives back exactly its
matte; where mattes overlap the coverages of a pixel can sum above 1 (a renderer's ranking filter
normalises them, ours does not, since our mattes are per object, not a partition of the pixel).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import mmh3
import numpy as np
import OpenImageIO as oiio

from exporters.checks import Mattes, check_mattes
from exporters.features import Feature
from rotoflow.errors import ExportError
from rotoflow.mattes import atomic_target, output_name
from rotoflow.types import ShotFormat

NAME = "cryptomatte"
SUFFIXES = (".exr",)
FEATURES = frozenset({Feature.WRITE_MATTES, Feature.WRITE_MATTE_SHOT})

#: Layer (the spec's "type name") written by default: objects, as renderers name it.
LAYER = "CryptoObject"
#: Ranks written at the least: the spec's suggested default of 6 levels (layers 00, 01, 02).
DEFAULT_LEVELS = 6
HASH = "MurmurHash3_32"
CONVERSION = "uint32_to_float32"

_EXPONENT = 0xFF << 23


def id_bits(name: str) -> int:
    """The uint32 bit pattern of ``name``'s Cryptomatte ID (spec 1.2.0, "ID Generation").

    MurmurHash3_x86_32 (seed 0) of the UTF-8 bytes of ``name``; when its exponent field (bits
    23-30) is 0 or 255, bit 23 is flipped, so the float is never a denormal, inf or NaN.

    Raises:
        ExportError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise ExportError(f"a Cryptomatte name must be a string, got {name!r}")
    bits = mmh3.hash(name, 0, signed=False)
    if (bits & _EXPONENT) in (0, _EXPONENT):
        bits ^= 1 << 23
    return bits


def name_to_id(name: str) -> np.float32:
    """``name``'s Cryptomatte ID: :func:`id_bits` reinterpreted as a float32."""
    return np.array([id_bits(name)], np.uint32).view(np.float32)[0]


def id_hex(name: str) -> str:
    """The manifest's hash of ``name``: the ID's float bits as 8 lowercase hex digits."""
    return f"{id_bits(name):08x}"


def layer_key(layer: str) -> str:
    """The metadata key of a layer: the first 7 hex digits of :func:`id_hex` of its name."""
    return id_hex(layer)[:7]


def manifest(names: Sequence[str]) -> str:
    """The ``/manifest`` JSON: each name -> :func:`id_hex`, in the given order."""
    return json.dumps({n: id_hex(n) for n in names})


def metadata(layer: str, names: Sequence[str]) -> dict[str, str]:
    """The header attributes of one Cryptomatte layer: ``cryptomatte/<key>/name``, ``hash``,
    ``conversion`` and ``manifest`` (spec 1.2.0, "Metadata")."""
    key = layer_key(layer)
    return {
        f"cryptomatte/{key}/name": layer,
        f"cryptomatte/{key}/hash": HASH,
        f"cryptomatte/{key}/conversion": CONVERSION,
        f"cryptomatte/{key}/manifest": manifest(names),
    }


def levels_for(n_objects: int) -> int:
    """Ranks written for a shot of ``n_objects``: every object can have its own rank, at least
    :data:`DEFAULT_LEVELS`, rounded up to an even number (two ranks per RGBA layer)."""
    return max(DEFAULT_LEVELS, n_objects + n_objects % 2)


def rank(arrays: Sequence[np.ndarray], ids: Sequence[np.float32], levels: int) -> np.ndarray:
    """Ranked ID/coverage pairs of one frame.

    Args:
        arrays: One ``(H, W)`` float32 coverage in ``[0, 1]`` per object.
        ids: The objects' float32 IDs, same order.
        levels: Ranks to write (even, ``>= len(arrays)`` so that no coverage is dropped).

    Returns:
        ``(H, W, 2 * levels)`` float32: ID rank 0, coverage rank 0, ID rank 1, ... (the channel
        order of the layers ``00.RGBA``, ``01.RGBA``, ...); ID 0 and coverage 0 where a rank is
        empty.
    """
    cover = np.stack(arrays).astype(np.float32)  # (N, H, W)
    order = np.argsort(-cover, axis=0, kind="stable")
    ranked = np.take_along_axis(cover, order, axis=0)
    id_table = np.asarray(ids, np.float32)
    out = np.zeros(cover.shape[1:] + (2 * levels,), np.float32)
    for r in range(cover.shape[0]):
        present = ranked[r] > 0
        out[..., 2 * r] = np.where(present, id_table[order[r]], np.float32(0))
        out[..., 2 * r + 1] = np.where(present, ranked[r], np.float32(0))
    return out


def channel_names(layer: str, levels: int) -> list[str]:
    """``<layer>00.R``, ``<layer>00.G``, ``<layer>00.B``, ``<layer>00.A``, ``<layer>01.R``, ... for
    ``levels`` ranks (``levels // 2`` layers)."""
    return [f"{layer}{i:02d}.{c}" for i in range(levels // 2) for c in "RGBA"]


def write_to_file(
    mattes: Mattes,
    fmt: ShotFormat,
    path: str | os.PathLike,
    *,
    layer: str = LAYER,
    levels: int | None = None,
) -> Path:
    """Write one frame's mattes as a Cryptomatte EXR (module notes, ``docs/formats.md`` 5.3).

    The file is written to a temporary name beside ``path`` and renamed, so a failure leaves no
    file under the final name.

    Args:
        mattes: Object name to ``(H, W)`` float32 alpha in ``[0, 1]`` or bool mask, a mapping or
            ``(name, array)`` pairs, in plate pixels, row 0 at the top; the names are the
            Cryptomatte names artists key by (every object of the shot, empty ones included, so
            that every frame has the same manifest).
        fmt: The shot's format: size and pixel aspect.
        path: Destination file (e.g. ``cryptomatte/sh010.1001.exr``); its folder is created if
            missing.
        layer: The Cryptomatte layer (type) name, ``[A-Za-z][A-Za-z0-9_]*``.
        levels: Ranks to write, even and at least the number of objects; default
            :func:`levels_for` of the number of objects (the same on every frame of a shot).

    Returns:
        The written path.

    Raises:
        ExportError: mattes that fail :func:`~exporters.checks.check_mattes`, two objects with
            the same name (they would share an ID), a bad layer name or level count, or a failed
            write.
    """
    names, arrays = check_mattes(mattes, fmt)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ExportError(f"two objects are named {name!r}; Cryptomatte keys objects by name")
        seen.add(name)
    if not isinstance(layer, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", layer):
        raise ExportError(f"Cryptomatte layer name must match [A-Za-z][A-Za-z0-9_]*, got {layer!r}")
    levels = levels_for(len(names)) if levels is None else levels
    if (
        isinstance(levels, bool)
        or not isinstance(levels, int | np.integer)
        or levels < len(names)
        or levels < 2
        or levels % 2
    ):
        raise ExportError(
            f"Cryptomatte levels must be an even number >= the {len(names)} objects, got {levels!r}"
        )
    pixels = rank(arrays, [name_to_id(n) for n in names], int(levels))
    channels = channel_names(layer, int(levels))
    spec = oiio.ImageSpec(fmt.width, fmt.height, len(channels), "float")
    spec.channelnames = tuple(channels)
    spec.attribute("compression", "zip")
    spec.attribute("PixelAspectRatio", float(fmt.pixel_aspect))
    spec.attribute("DateTime", "")  # OIIO would stamp the time: keep bytes reproducible
    for key, value in metadata(layer, names).items():
        spec.attribute(key, value)
    with atomic_target(path) as tmp:
        out = oiio.ImageOutput.create("exr")
        if out is None or not out.open(str(tmp), spec):
            raise ExportError(f"cannot open {str(path)!r} for EXR writing: {oiio.geterror()}")
        try:
            if not out.write_image(np.ascontiguousarray(pixels)):
                raise ExportError(f"EXR write failed for {str(path)!r}: {out.geterror()}")
        finally:
            out.close()
    return Path(path)


def write_matte_shot(
    frames: Iterable[tuple[int, Mattes]],
    fmt: ShotFormat,
    folder: str | os.PathLike,
    stem: str,
    *,
    padding: int = 4,
) -> Path:
    """Write a shot's mattes as ``folder/<stem>.<frame>.exr``, one Cryptomatte file per frame
    (what ``--format cryptomatte`` publishes as ``cryptomatte/<shot>.<frame>.exr``).

    Every frame gets the same objects' names (so the same manifest) and the same number of ranks,
    :func:`levels_for` of the first frame's object count, as the spec asks of a sequence.

    Args:
        frames: ``(plate frame, mattes)`` per frame, mattes as :func:`write_to_file` takes them.
        fmt: The shot's format: size, pixel aspect and frame range.
        folder: Destination folder; created if missing.
        stem: File name stem, the shot's name (made one safe path component by
            :func:`rotoflow.mattes.output_name`).
        padding: Digits of the frame number (the plate's padding).

    Returns:
        ``folder``.

    Raises:
        ExportError: a frame outside the shot's range or given twice, a frame whose objects
            differ from the first frame's, no frames, or anything :func:`write_to_file` refuses.
    """
    folder = Path(folder)
    names: list[str] | None = None
    done: set[int] = set()
    for frame, mattes in frames:
        if isinstance(frame, bool) or not isinstance(frame, int | np.integer):
            raise ExportError(f"frame must be a whole plate frame number, got {frame!r}")
        if not fmt.first_frame <= frame <= fmt.last_frame or frame in done:
            raise ExportError(
                f"frame {frame} is outside the shot's frames {fmt.first_frame}-{fmt.last_frame}"
                " or given twice"
            )
        frame_names, _ = check_mattes(mattes, fmt)
        if names is None:
            names = frame_names
        elif frame_names != names:
            raise ExportError(
                f"frame {frame} has the objects {frame_names}, the shot {names}; every frame of a"
                " Cryptomatte sequence needs the same objects"
            )
        write_to_file(
            mattes,
            fmt,
            folder / output_name(stem, int(frame), padding, "exr"),
            levels=levels_for(len(names)),
        )
        done.add(int(frame))
    if names is None:
        raise ExportError("no frames to write as Cryptomatte")
    return folder
