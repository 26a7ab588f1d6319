"""Numbered image sequences on disk: find the files of a sequence, check that none is missing, and
read one file with OpenImageIO.

A sequence is a set of files ``<prefix><frame><suffix>`` in one folder, for example
``sh010.1001.exr`` .. ``sh010.1100.exr`` (prefix ``sh010.``, suffix ``.exr``, padding 4), or
``00000.jpg`` .. ``00049.jpg`` (no prefix, padding 5). It can be named in any of these forms:

- a printf pattern: ``/shots/sh010.%04d.exr`` (``%d`` for unpadded numbers);
- a hash pattern: ``/shots/sh010.####.exr``, one ``#`` (or ``@``) per digit;
- one member file: ``/shots/sh010.1001.exr``;
- the folder that holds it: ``/shots/`` (the folder must hold exactly one sequence).

Padding is the number of digits on disk. Frame numbers wider than the padding are allowed when they
do not start with ``0`` (``%04d`` gives ``9999`` then ``10000``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from rotoflow.errors import PlateError

#: File suffixes (lower case) that are read as image sequences.
IMAGE_SUFFIXES = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASH = re.compile(r"#+|@+")
# The frame number is the last run of digits in the name.
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\D*)$")


@dataclass(frozen=True)
class ImageSequence:
    """The files of one numbered image sequence.

    Attributes:
        directory: Folder that holds the files.
        prefix: File name before the frame number (may be empty).
        suffix: File name after the frame number, extension included (``".exr"``).
        padding: Digits of the frame number on disk (1 for unpadded numbers).
        frames: Frame numbers found on disk, ascending.
    """

    directory: Path
    prefix: str
    suffix: str
    padding: int
    frames: tuple[int, ...]

    @property
    def name(self) -> str:
        """File name pattern in printf form, for example ``sh010.%04d.exr``."""
        number = "%d" if self.padding <= 1 else f"%0{self.padding}d"
        return f"{self.prefix}{number}{self.suffix}"

    @property
    def pattern(self) -> str:
        """Full path pattern in printf form, for example ``/shots/sh010.%04d.exr``."""
        return os.path.join(self.directory, self.name)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def path_for(self, frame: int) -> Path:
        """Path of the file of ``frame`` (whether or not it exists)."""
        return self.directory / f"{self.prefix}{frame:0{max(self.padding, 1)}d}{self.suffix}"


def format_ranges(frames: Iterable[int], limit: int = 10) -> str:
    """Frame numbers as inclusive ranges: ``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"``.

    At most ``limit`` ranges are written; the rest are counted (``"..., and 12 more ranges"``).
    """
    ordered = sorted(set(frames))
    parts: list[str] = []
    start = prev = None
    for frame in [*ordered, None]:
        if start is not None and (frame is None or frame != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if start is None:
            start = frame
        prev = frame
    if len(parts) > limit:
        parts[limit:] = [f"and {len(parts) - limit} more ranges"]
    return ", ".join(parts)


def find_sequence(path: str | os.PathLike) -> ImageSequence:
    """Find the numbered image sequence that ``path`` names and check it is complete.

    Args:
        path: A printf pattern, a hash pattern, one member file or a folder (see the module notes).

    Returns:
        The sequence, with every frame from its first to its last present on disk.

    Raises:
        PlateError: The path or its folder does not exist; the folder is empty or holds no numbered
            images; the folder holds several sequences (they are listed); no file matches the
            pattern; frames are missing between the first and the last (the gap is named).
    """
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir():
        sequence = _from_directory(p, text)
    elif _PRINTF.search(p.name) or _HASH.search(p.name):
        sequence = _from_pattern(p, text)
    elif p.is_file():
        sequence = _from_member(p, text)
    else:
        raise PlateError(f"{text}: no such file or folder")
    check_complete(sequence)
    return sequence


def check_complete(sequence: ImageSequence) -> None:
    """Raise if frames are missing between the first and last frame of ``sequence``.

    Raises:
        PlateError: Names the missing frames and the frames found, for example
            ``sh010.%04d.exr: frames 1005-1007 missing (found 1001-1004, 1008-1010)``.
    """
    missing = set(range(sequence.first, sequence.last + 1)) - set(sequence.frames)
    if missing:
        word = "frame" if len(missing) == 1 else "frames"
        raise PlateError(
            f"{sequence.pattern}: {word} {format_ranges(missing)} missing "
            f"(found {format_ranges(sequence.frames)})"
        )


def _number_regex(padding: int) -> str:
    """Regex of a frame number written with ``padding`` digits (wider numbers have no leading 0)."""
    if padding <= 1:
        return r"(0|[1-9]\d*)"
    return rf"(\d{{{padding}}}|[1-9]\d{{{padding},}})"


def _from_pattern(p: Path, text: str) -> ImageSequence:
    name = p.name
    printf = list(_PRINTF.finditer(name))
    hashes = list(_HASH.finditer(name))
    if len(printf) + len(hashes) != 1:
        raise PlateError(f"{text}: a sequence pattern needs exactly one frame number field")
    field = (printf or hashes)[0]
    padding = int(field.group(2) or 1) if printf else len(field.group(0))
    prefix, suffix = name[: field.start()], name[field.end() :]
    directory = p.parent
    if not directory.is_dir():
        raise PlateError(f"{text}: folder {directory} does not exist")
    regex = re.compile(re.escape(prefix) + _number_regex(padding) + re.escape(suffix) + "$")
    frames = sorted(int(m.group(1)) for entry in os.listdir(directory) if (m := regex.match(entry)))
    if not frames:
        raise PlateError(f"{text}: no file in {directory} matches the pattern")
    return ImageSequence(directory, prefix, suffix, padding, tuple(frames))


def _from_member(p: Path, text: str) -> ImageSequence:
    m = _NUMBERED.match(p.name)
    if m is None:
        raise PlateError(f"{text}: the file name has no frame number (not an image sequence)")
    for sequence in _sequences_in(p.parent):
        same = sequence.prefix == m["prefix"] and sequence.suffix == m["suffix"]
        if same and sequence.path_for(int(m["digits"])).name == p.name:
            return sequence
    raise PlateError(
        f"{text}: not a numbered image of a supported kind ({', '.join(IMAGE_SUFFIXES)})"
    )


def _from_directory(p: Path, text: str) -> ImageSequence:
    sequences = _sequences_in(p)
    if len(sequences) == 1:
        return sequences[0]
    if not sequences:
        if not any(p.iterdir()):
            raise PlateError(f"{text}: the folder is empty")
        raise PlateError(
            f"{text}: the folder holds no numbered images ({', '.join(IMAGE_SUFFIXES)})"
        )
    listed = ", ".join(f"{s.name} ({format_ranges(s.frames)})" for s in sequences)
    raise PlateError(
        f"{text}: the folder holds {len(sequences)} sequences: {listed}; give one as the path"
    )


def _sequences_in(directory: Path) -> list[ImageSequence]:
    """Every numbered image sequence in ``directory``, sorted by name."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in os.listdir(directory):
        m = _NUMBERED.match(entry)
        if m and os.path.splitext(entry)[1].lower() in IMAGE_SUFFIXES:
            groups[m["prefix"], m["suffix"]].append(m["digits"])
    sequences = []
    for (prefix, suffix), numbers in groups.items():
        by_padding: dict[int, list[int]] = defaultdict(list)
        padded = {len(d) for d in numbers if len(d) > 1 and d.startswith("0")}
        # A number with no leading 0 belongs to the widest padding not wider than itself.
        widths = sorted(padded) or [min(len(d) for d in numbers)]
        for digits in numbers:
            if digits == "0" or not digits.startswith("0"):
                fits = [w for w in widths if w <= len(digits)]
                width = fits[-1] if fits else len(digits)
            else:
                width = len(digits)
            by_padding[width].append(int(digits))
        for padding, frames in by_padding.items():
            sequences.append(
                ImageSequence(directory, prefix, suffix, padding, tuple(sorted(frames)))
            )
    return sorted(sequences, key=lambda s: s.name)


@dataclass(frozen=True)
class ImageHeader:
    """What Rotoflow uses of an image file's header, as plain values: no OpenImageIO object
    outlives a read (one kept alive by a traceback makes its bindings print "leaked" lines at
    exit).

    Attributes:
        width: Width of the full (display) window in pixels.
        height: Height of the full (display) window in pixels.
        channels: Channel names in file order (``("R", "G", "B", "A")``).
        alpha: Index of the alpha channel in ``channels``; -1 when the file has none.
        integer: True for 8- and 16-bit integer pixels, False for half, float and other types.
        pixel_aspect: Pixel aspect ratio (1.0 when the header gives none).
        fps: Frame rate from ``FramesPerSecond`` or ``dpx:FrameRate``; 0.0 when the header gives
            none.
        transfer: DPX transfer characteristic, lower case (``"linear"``, ``"logarithmic"``, ``""``).
        colourspace: ``oiio:ColorSpace``, lower case (``""`` when not given).
    """

    width: int
    height: int
    channels: tuple[str, ...]
    alpha: int
    integer: bool
    pixel_aspect: float
    fps: float
    transfer: str
    colourspace: str


def read_header(path: Path, frame: int) -> ImageHeader:
    """The header of one image file.

    Raises:
        PlateError: The file cannot be opened as an image (names the file, the frame and why).
    """
    header, _, error = _read(path, pixels=False)
    if error is not None:
        raise PlateError(f"{path}: frame {frame} cannot be read ({error})")
    return header


def read_channels(path: Path, frame: int | None = None) -> tuple[np.ndarray, ImageHeader]:
    """Read every channel of one image file as stored, placed into the full (display) window.

    Args:
        path: Image file.
        frame: Its frame number (for messages); None for a file outside a sequence.

    Returns:
        ``(height, width, channels)`` pixels over the full window, 0 outside the data window
        (``uint8`` or ``uint16`` for 8/16-bit integer files, 10/12-bit DPX scaled to ``uint16``
        by OpenImageIO; ``float32`` for half, float and other types) and the file's header.

    Raises:
        PlateError: The file cannot be opened or decoded (names the file, the frame and why).
    """
    header, pixels, error = _read(path, pixels=True)
    if error is not None:
        which = "" if frame is None else f" frame {frame}"
        raise PlateError(f"{path}:{which} cannot be read ({error})")
    return pixels, header


def read_image(path: Path, frame: int) -> tuple[np.ndarray, ImageHeader]:
    """Read the RGB pixels of one image file as stored.

    Channels ``R, G, B`` are taken by name when present, else the first three; one or two channels
    (grey, grey + alpha) are replicated. The data window is placed into the full (display) window,
    with 0 outside it.

    Args:
        path: Image file.
        frame: Its frame number (for messages).

    Returns:
        ``(height, width, 3)`` pixels over the full window, typed as in :func:`read_channels`,
        and the file's header.

    Raises:
        PlateError: The file cannot be opened or decoded (names the file, the frame and why).
    """
    pixels, header = read_channels(path, frame)
    names = list(header.channels)
    if all(c in names for c in "RGB"):
        channels = [names.index(c) for c in "RGB"]
    else:
        channels = [0, 1, 2] if len(names) >= 3 else [0, 0, 0]
    if channels != [0, 1, 2] or len(names) != 3:
        pixels = pixels[..., channels]
    return pixels, header


def _read(path: Path, *, pixels: bool) -> tuple[ImageHeader | None, np.ndarray | None, str | None]:
    """Header (and pixels) of one image file, or why it cannot be read, as ``(header, pixels,
    error)``. OpenImageIO objects stay inside this function; callers raise once it returned."""
    try:
        inp = oiio.ImageInput.open(str(path))
        if inp is None:
            return None, None, _oiio_error()
        try:
            spec = inp.spec()
            header = _header(spec)
            data = None
            if pixels:
                fmt = spec.format if header.integer else "float"
                data = inp.read_image(0, 0, 0, spec.nchannels, fmt)
                if data is None or inp.has_error:
                    return None, None, _oiio_error(inp)
                data = data.reshape(spec.height, spec.width, spec.nchannels)
                data = _to_display_window(data, spec)
        finally:
            inp.close()
    except UnicodeDecodeError as exc:  # a name or message holding the file's undecodable bytes
        return None, None, f"damaged header: {_decoded(exc)}"
    return header, data, None


def _header(spec: oiio.ImageSpec) -> ImageHeader:
    return ImageHeader(
        width=spec.full_width,
        height=spec.full_height,
        channels=tuple(spec.channelnames),
        alpha=spec.alpha_channel,
        integer=spec.format.basetype in (oiio.UINT8, oiio.UINT16),
        pixel_aspect=spec.get_float_attribute("PixelAspectRatio", 1.0) or 1.0,
        fps=spec.get_float_attribute("FramesPerSecond", 0.0)
        or spec.get_float_attribute("dpx:FrameRate", 0.0),
        transfer=spec.get_string_attribute("dpx:Transfer").lower(),
        colourspace=spec.get_string_attribute("oiio:ColorSpace").lower(),
    )


def _oiio_error(inp: oiio.ImageInput | None = None) -> str:
    """OpenImageIO's pending error message as one line (cleared). Its bindings decode messages
    strictly, and a damaged header's message quotes the file's bytes: those are replaced."""
    try:
        message = (inp.geterror() if inp is not None else "") or oiio.geterror()
    except UnicodeDecodeError as exc:
        message = _decoded(exc)
    with contextlib.suppress(UnicodeDecodeError):
        oiio.geterror()  # a second pending message would be reported with the next file
    return " ".join(message.split()) or "unknown error"


def _decoded(exc: UnicodeDecodeError) -> str:
    """The text a strict UTF-8 decode failed on, with the undecodable bytes replaced."""
    raw = exc.object if isinstance(exc.object, bytes) else bytes(exc.object)
    return " ".join(raw.decode("utf-8", "replace").split())


def _to_display_window(pixels: np.ndarray, spec: oiio.ImageSpec) -> np.ndarray:
    """Place the data window into the full (display) window; pixels outside it are 0."""
    data = (spec.x, spec.y, spec.width, spec.height)
    if data == (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        return pixels
    out = np.zeros((spec.full_height, spec.full_width, pixels.shape[2]), dtype=pixels.dtype)
    x0, y0 = max(spec.x, spec.full_x), max(spec.y, spec.full_y)
    x1 = min(spec.x + spec.width, spec.full_x + spec.full_width)
    y1 = min(spec.y + spec.height, spec.full_y + spec.full_height)
    if x1 > x0 and y1 > y0:
        out[y0 - spec.full_y : y1 - spec.full_y, x0 - spec.full_x : x1 - spec.full_x] = pixels[
            y0 - spec.y : y1 - spec.y, x0 - spec.x : x1 - spec.x
        ]
    return out
