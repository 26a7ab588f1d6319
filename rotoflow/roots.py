"""Where a run may write its shot folder and read its plate: the allow-lists of the settings.

A run started through the Prefect API (a deployment, ``rotoflow submit``, the UI's form) names its
own ``output_root`` and ``plate``; the worker that runs it writes only below the output roots its
settings allow (``output_root`` and ``ROTOFLOW_OUTPUT_ROOTS``) and reads plates only from
``ROTOFLOW_PLATE_ROOTS`` when that is set (any plate when it is empty). Local paths are compared
after :meth:`pathlib.Path.resolve`, so neither ``..`` nor a symbolic link leads out of an allowed
folder; ``s3://`` plates are compared with the ``s3://`` entries, bucket and key prefix by whole
key components.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rotoflow.errors import RootNotAllowed
from rotoflow.s3url import S3Url, is_s3_url, parse_url


def allowed_output_roots(settings: Any) -> list[Path]:
    """The folders a run's output root may be in: ``output_root`` and ``output_roots``.

    Args:
        settings: :class:`rotoflow.settings.Settings`.

    Returns:
        The folders, resolved (symbolic links followed, relative ones from the working folder),
        without repeats.
    """
    roots = [Path(settings.output_root), *map(Path, settings.output_roots)]
    return list(dict.fromkeys(r.resolve() for r in roots))


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def check_output_root(root: str | Path, settings: Any) -> Path:
    """Check that an output root is one of :func:`allowed_output_roots` or inside one.

    Args:
        root: The run's output root (absolute, or relative to the working folder).
        settings: :class:`rotoflow.settings.Settings` of the process that writes.

    Returns:
        ``root`` resolved.

    Raises:
        RootNotAllowed: ``root`` resolves outside every allowed folder (the message names it,
            what it resolves to, and the allowed folders).
    """
    resolved = Path(root).resolve()
    allowed = allowed_output_roots(settings)
    if _inside(resolved, allowed):
        return resolved
    shown = str(root) if str(root) == str(resolved) else f"{root} (resolves to {resolved})"
    raise RootNotAllowed(
        f"output root {shown} is not allowed: output roots must be in "
        f"{', '.join(map(str, allowed))} (the output_root setting and ROTOFLOW_OUTPUT_ROOTS of "
        "the process that runs the shot)"
    )


def _s3_inside(url: S3Url, root: S3Url) -> bool:
    if url.bucket != root.bucket:
        return False
    prefix = root.folder_prefix()
    return not prefix or url.key.rstrip("/") == prefix.rstrip("/") or url.key.startswith(prefix)


def check_plate(plate: str, settings: Any, what: str = "plate") -> str:
    """Check that a plate (or another input file: a mask prompt) is in one of the
    ``plate_roots`` (any plate when there are none).

    Args:
        plate: Movie, sequence pattern, member file or folder (absolute, or relative to the
            working folder), or an ``s3://bucket/key`` URL.
        settings: :class:`rotoflow.settings.Settings` of the process that reads.
        what: What ``plate`` is, for the message (``"mask prompt"``).

    Returns:
        ``plate``, unchanged.

    Raises:
        RootNotAllowed: ``plate_roots`` is set and the plate is in none of them (a local path
            after resolving it; a URL by bucket and key prefix).
        StorageError: The plate, or an ``s3://`` entry of ``plate_roots``, is a malformed URL.
    """
    roots = list(settings.plate_roots)
    if not roots:
        return plate
    if is_s3_url(plate):
        url = parse_url(plate)
        if any(_s3_inside(url, parse_url(r)) for r in roots if is_s3_url(r)):
            return plate
        shown = plate
    else:
        resolved = Path(plate).resolve()
        if _inside(resolved, [Path(r).resolve() for r in roots if not is_s3_url(r)]):
            return plate
        shown = plate if plate == str(resolved) else f"{plate} (resolves to {resolved})"
    raise RootNotAllowed(
        f"{what} {shown} is not allowed: plates and prompt files must be in {', '.join(roots)} "
        "(ROTOFLOW_PLATE_ROOTS of the process that runs the shot)"
    )
