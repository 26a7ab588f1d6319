"""The plate reader: one reader for movie files and numbered image sequences.

:func:`open_plate` takes a movie file (``.mp4``, ``.mov`` with ProRes, ``.mxf``, ``.mkv``,
``.avi``: read with PyAV/FFmpeg) or an image sequence (EXR, DPX, TIFF, PNG, JPEG: read with
OpenImageIO; named by pattern, member file or folder, see :mod:`rotoflow.sequence`) and returns a
:class:`Plate`. Frames are addressed by plate frame number and streamed one at a time:
``read(frame)`` gives display-referred ``(H, W, 3) uint8`` RGB for the models and
``read_linear(frame)`` the values as stored, as ``float32``.

Colour: movies are display-referred video (Rec.709) and used as decoded. Float EXR (and DPX whose
header says linear) is scene-linear and goes through :func:`rotoflow.colour.to_display_uint8`.
Other images are display-referred: 8-bit as is, 16-bit scaled to 8-bit with rounding, float
clipped to ``[0, 1]`` and scaled. DPX whose header says logarithmic (Cineon, printing density) is
reported as ``"Cineon"`` and used as stored (no log-to-display transform).

Movies: the stream is indexed once at open time by demuxing its packets (no decoding): one frame per
packet that is not marked for discard, in presentation-time order. A file shorter than its header
says (a truncated copy) is refused there. Forward reads reuse one sequential decoder; other reads
seek to the keyframe before the frame and decode forward to its exact timestamp. Reading backwards
keeps the frames decoded on the way in a window of at most :data:`REVERSE_WINDOW_BYTES`, so that a
long-GOP movie is decoded about once per window instead of once per frame.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import av.logging
import numpy as np

from rotoflow.colour import to_display_uint8
from rotoflow.errors import PlateError
from rotoflow.sequence import IMAGE_SUFFIXES, ImageSequence, find_sequence, read_header, read_image
from rotoflow.types import PlateInfo
from rotoflow.workspace import fingerprint

logger = logging.getLogger(__name__)

#: Movie file suffixes (lower case) read with PyAV.
MOVIE_SUFFIXES = (".mp4", ".mov", ".m4v", ".mxf", ".mkv", ".avi", ".webm")
#: Memory for decoded frames kept while reading a movie backwards.
REVERSE_WINDOW_BYTES = 256 * 2**20


def open_plate(
    path: str | os.PathLike,
    *,
    movie_first_frame: int = 1,
    ocio_config: str | os.PathLike | None = None,
) -> Plate:
    """Open a movie file or a numbered image sequence as a plate.

    Args:
        path: Movie file; or image sequence as printf pattern (``sh010.%04d.exr``), hash pattern
            (``sh010.####.exr``), one member file (``sh010.1001.exr``) or its folder.
        movie_first_frame: Frame number of a movie's first frame (sequences use their own).
        ocio_config: OpenColorIO config for scene-linear plates (see :mod:`rotoflow.colour`);
            None for the sRGB transfer function.

    Returns:
        The open plate; use it as a context manager or call :meth:`Plate.close`.

    Raises:
        PlateError: The path does not exist, is not a video or an image sequence, the movie is
            truncated or undecodable, the folder is empty or holds several sequences, or frames
            are missing from the sequence. The message names the path and the problem.
    """
    text = os.fspath(path)
    p = Path(text)
    suffix = p.suffix.lower()
    if p.is_file() and suffix not in IMAGE_SUFFIXES:
        return MoviePlate(p, first_frame=movie_first_frame)
    if not p.exists() and "%" not in p.name and "#" not in p.name and "@" not in p.name:
        raise PlateError(f"{text}: no such file or folder")
    return SequencePlate(find_sequence(p), ocio_config=ocio_config)


class Plate:
    """An open plate. Frames are plate frame numbers in ``info.frame_range``.

    Attributes:
        info: Size, pixel aspect, fps, frame range and colourspace of the plate.
    """

    info: PlateInfo

    def read(self, frame: int) -> np.ndarray:
        """Read one frame for display and the models.

        Args:
            frame: Plate frame number.

        Returns:
            ``(H, W, 3) uint8`` display-referred RGB.

        Raises:
            PlateError: The frame is outside the plate (the range is named) or cannot be read.
        """
        return self._read(self._check(frame))

    def read_linear(self, frame: int) -> np.ndarray:
        """Read one frame with its values as stored.

        Args:
            frame: Plate frame number.

        Returns:
            ``(H, W, 3) float32``: scene-linear for float EXR; integer images and movies
            normalised to ``[0, 1]`` (display-referred).

        Raises:
            PlateError: The frame is outside the plate or cannot be read.
        """
        return self._read_linear(self._check(frame))

    def iter_frames(self, frames: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Stream frames in the order given, one at a time.

        Args:
            frames: Plate frame numbers in any order (forward, backward, sparse); None for every
                frame, forward.

        Yields:
            ``(frame, rgb)`` with ``rgb`` as from :meth:`read`.

        Raises:
            PlateError: As :meth:`read`, when the frame is reached.
        """
        for frame in self.info.frame_range if frames is None else frames:
            yield frame, self.read(frame)

    def close(self) -> None:
        """Release file handles (idempotent)."""

    def __enter__(self) -> Plate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, frame: int) -> int:
        info = self.info
        if not info.first_frame <= frame <= info.last_frame:
            raise PlateError(
                f"{info.path}: frame {frame} is outside the plate "
                f"({info.first_frame}-{info.last_frame})"
            )
        return int(frame)

    def _read(self, frame: int) -> np.ndarray:
        raise NotImplementedError

    def _read_linear(self, frame: int) -> np.ndarray:
        raise NotImplementedError


class SequencePlate(Plate):
    """A numbered image sequence read with OpenImageIO. Open with :func:`open_plate`."""

    def __init__(self, sequence: ImageSequence, *, ocio_config: str | os.PathLike | None = None):
        self._sequence = sequence
        self._ocio_config = ocio_config
        header = read_header(sequence.path_for(sequence.first), sequence.first)
        is_exr = sequence.suffix.lower().endswith(".exr")
        transfer, declared = header.transfer, header.colourspace
        if (not header.integer and is_exr) or transfer == "linear" or declared.startswith("lin"):
            colourspace = "scene_linear"
        elif "log" in transfer or "density" in transfer:
            colourspace = "Cineon"
        else:
            colourspace = "sRGB"
        self.info = PlateInfo(
            path=sequence.pattern,
            kind="sequence",
            width=header.width,
            height=header.height,
            pixel_aspect=header.pixel_aspect,
            fps=header.fps or 24.0,
            first_frame=sequence.first,
            last_frame=sequence.last,
            colourspace=colourspace,
            padding=sequence.padding,
        )

    def _read(self, frame: int) -> np.ndarray:
        if self.info.colourspace == "scene_linear":
            return to_display_uint8(self._read_linear(frame), ocio_config=self._ocio_config)
        pixels = self._read_stored(frame)
        if pixels.dtype == np.uint8:
            return pixels
        if pixels.dtype == np.uint16:  # round(x / 257), 65535 -> 255
            return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return np.rint(np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0).astype(np.uint8)

    def _read_linear(self, frame: int) -> np.ndarray:
        pixels = self._read_stored(frame)
        if pixels.dtype == np.uint8:
            return pixels.astype(np.float32) / 255.0
        if pixels.dtype == np.uint16:
            return pixels.astype(np.float32) / 65535.0
        return pixels

    def _read_stored(self, frame: int) -> np.ndarray:
        """``(H, W, 3)`` of the full (display) window: uint8, uint16 or float32 as stored."""
        pixels, header = read_image(self._sequence.path_for(frame), frame)
        if (header.width, header.height) != (self.info.width, self.info.height):
            raise PlateError(
                f"{self._sequence.path_for(frame)}: frame {frame} is {header.width}x"
                f"{header.height}, the plate is {self.info.width}x{self.info.height}"
            )
        return pixels


class MoviePlate(Plate):
    """A movie file read with PyAV. Open with :func:`open_plate`."""

    def __init__(self, path: Path, *, first_frame: int = 1):
        self._path = path
        self._container = None
        pts, keyframes, declared = self._index()
        self._pts = pts
        self._index_of = {t: i for i, t in enumerate(pts)}
        self._keyframes = keyframes
        self._container = self._open()
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_type = "AUTO"
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._next = 0  # index the sequential decoder yields next
        self._window: dict[int, av.VideoFrame] = {}
        self._window_size = 1
        self._last = -1
        self._first = first_frame
        try:
            first = self._frame_at(0)
        except PlateError:
            self.close()
            raise
        stream = self._stream
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        rate = stream.average_rate or stream.guessed_rate
        self.info = PlateInfo(
            path=str(path),
            kind="movie",
            width=first.width,
            height=first.height,
            pixel_aspect=float(sar) if sar else 1.0,
            fps=float(rate) if rate else 24.0,
            first_frame=first_frame,
            last_frame=first_frame + len(pts) - 1,
            colourspace="Rec.709",
            padding=max(4, len(str(first_frame + len(pts) - 1))),
        )
        frame_bytes = 3 * first.width * first.height
        self._window_size = max(2, REVERSE_WINDOW_BYTES // frame_bytes)
        logger.debug(
            "%s: %d frames (header: %d), %d keyframes", path, len(pts), declared, len(keyframes)
        )

    def close(self) -> None:
        if self._container is not None:
            self._decoder = None
            self._window.clear()
            self._container.close()
            self._container = None

    def _read(self, frame: int) -> np.ndarray:
        return _rgb(self._frame_at(frame - self.info.first_frame), "rgb24")

    def _read_linear(self, frame: int) -> np.ndarray:
        return _rgb(self._frame_at(frame - self.info.first_frame), "rgb48le").astype(
            np.float32
        ) / np.float32(65535.0)

    def _open(self) -> av.container.InputContainer:
        """Open the file, turning FFmpeg's errors (with its last log line) into a PlateError."""
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logs:
                try:
                    container = av.open(str(self._path), mode="r")
                except (av.error.FFmpegError, OSError) as exc:
                    detail = logs[-1][2].strip() if logs else exc.strerror or str(exc)
                    if "moov atom" not in detail and _lacks_moov(self._path):
                        detail = "moov atom not found"
                    hint = " (truncated or unfinished file)" if "moov atom" in detail else ""
                    what = "not a readable movie"
                    if self._path.suffix.lower() not in MOVIE_SUFFIXES:
                        what = "neither a movie nor an image sequence"
                    raise PlateError(f"{self._path}: {what}: {detail}{hint}") from exc
        finally:
            av.logging.set_level(level)
        if not container.streams.video:
            container.close()
            raise PlateError(f"{self._path}: the file has no video stream")
        return container

    def _index(self) -> tuple[list[int], list[int], int]:
        """Presentation timestamps of every frame, keyframe indices and the header's count."""
        container = self._open()
        stream = container.streams.video[0]
        pts, keys = [], set()
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                if packet.pts is None:
                    raise PlateError(f"{self._path}: the video stream has no timestamps")
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.add(packet.pts)
        except av.error.FFmpegError as exc:
            raise PlateError(f"{self._path}: cannot read the video stream ({exc})") from exc
        finally:
            declared = stream.frames
            container.close()
        pts.sort()
        if not pts:
            raise PlateError(f"{self._path}: the video stream holds no frames")
        if declared and len(pts) < declared:
            raise PlateError(
                f"{self._path}: truncated movie: the header declares {declared} frames, "
                f"the file holds {len(pts)}"
            )
        keyframes = sorted(i for i, t in enumerate(pts) if t in keys) or [0]
        return pts, keyframes, declared

    def _frame_at(self, index: int) -> av.VideoFrame:
        """The decoded frame at 0-based ``index`` (presentation order)."""
        if index in self._window:
            self._last = index
            return self._window[index]
        backward = index < self._last
        keyframe = self._keyframes[max(bisect.bisect_right(self._keyframes, index) - 1, 0)]
        if self._decoder is None or not (
            self._next <= index and index - self._next <= index - keyframe
        ):
            self._seek(keyframe)
        keep = self._window_size if backward else 1
        self._window.clear()
        for attempt in range(2):
            while (frame := self._decode_next()) is not None:
                i = self._index_of.get(frame.pts)
                if i is None:
                    continue
                self._next = i + 1
                if index - keep < i <= index:
                    self._window[i] = frame
                if i >= index:
                    break
            if index in self._window:
                self._last = index
                return self._window[index]
            if attempt == 0:  # the seek landed after the frame, or the decoder ended: from the top
                self._seek(0)
                self._window.clear()
        raise PlateError(f"{self._path}: frame {index + self._first} cannot be decoded")

    def _seek(self, keyframe: int) -> None:
        self._container.seek(self._pts[keyframe], stream=self._stream, backward=True)
        self._decoder = None
        self._next = keyframe

    def _decode_next(self) -> av.VideoFrame | None:
        """The next frame of the sequential decoder, or None at the end of the stream."""
        if self._decoder is None:
            self._decoder = self._container.decode(self._stream)
        try:
            return next(self._decoder)
        except StopIteration:
            self._decoder = None
            return None
        except av.error.FFmpegError as exc:
            self._decoder = None
            raise PlateError(f"{self._path}: cannot decode ({exc})") from exc


def _rgb(frame: av.VideoFrame, fmt: str) -> np.ndarray:
    """``(H, W, 3)`` RGB of a decoded frame; unspecified YUV matrices follow FFmpeg players
    (BT.709 from 720 lines up, else BT.601)."""
    options = {}
    if frame.colorspace == 2 and frame.height >= 720:  # AVCOL_SPC_UNSPECIFIED
        options["src_colorspace"] = av.video.reformatter.Colorspace.ITU709
    return frame.to_ndarray(format=fmt, **options)


def _lacks_moov(path: Path) -> bool:
    """True for an ISO base media file (MP4, MOV) whose top-level boxes hold no ``moov`` box, the
    index a recorder writes last: the file was cut short (ISO/IEC 14496-12, section 4.2)."""
    if path.suffix.lower() not in {".mp4", ".mov", ".m4v"}:
        return False
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 0
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return False
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                break
            if length < 8:
                break
            pos += length
    return True


def plate_fingerprint(path: str | os.PathLike) -> dict:
    """Identity of a plate's bytes on disk, cheap to compute: resolved path, sizes and mtimes.

    For a sequence or folder every file beside the named one that shares its prefix counts.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file())
    elif p.is_file():
        files = [p]
    else:
        parent = p.parent if p.parent.is_dir() else None
        stem = p.name.split("%")[0].split("#")[0].split("@")[0]
        files = sorted(f for f in parent.iterdir() if f.name.startswith(stem)) if parent else []
    return {
        "path": str(p.resolve()),
        "files": [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files],
    }


def plate_signature(path: str | os.PathLike) -> str:
    """A hex digest of :func:`plate_fingerprint`: changes when any file of the plate is added,
    removed, resized or touched. An empty plate (no files) has a signature too."""
    return fingerprint("plate", plate_fingerprint(path))
