"""Detect: resolve every object's prompt into keyframes (a box and/or clicks on given frames).

Text prompts go through the detector on the object's prompt frame (the plate's first frame unless
the prompt names one); boxes and clicks are kept as given. The result, ``keyframes.json``, is what
segment and propagate read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models.base import Detector
from rotoflow import progress
from rotoflow.errors import PromptError
from rotoflow.prompts import ObjectPrompt, ShotPrompts, check_object_count
from rotoflow.types import PlateInfo
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks import shape_prompts
from tasks.stages import ingest

log = logging.getLogger(__name__)

STAGE = "detect"
KEYFRAMES = "keyframes.json"


@dataclass
class Keyframe:
    """A prompted frame of one object (image space, plate frame number)."""

    frame: int
    box: list[float] | None = None
    positive: list[list[float]] = field(default_factory=list)
    negative: list[list[float]] = field(default_factory=list)
    mask: str | None = None
    shape_file: str | None = None  # a shapes prompt: the roto shape file (absolute path)
    shape_name: str | None = None  # and its object's name there
    source: str = "user"
    score: float | None = None


@dataclass
class ObjectKeys:
    """One object's detector classes and keyframes (sorted by frame).

    ``parent`` is the id of the prompt an ``all_matches`` text prompt split into this object.
    """

    id: int
    name: str
    classes: list[str]
    keyframes: list[Keyframe]
    parent: int | None = None


def load(out: StageOutput) -> list[ObjectKeys]:
    """Read ``keyframes.json`` from a finished detect folder."""
    raw = json.loads((out.dir / KEYFRAMES).read_text())
    return [
        ObjectKeys(
            o["id"],
            o["name"],
            o["classes"],
            [Keyframe(**k) for k in o["keyframes"]],
            o.get("parent"),
        )
        for o in raw["objects"]
    ]


def _user_keyframes(obj: ObjectPrompt, info: PlateInfo) -> dict[int, Keyframe]:
    """Keyframes of an object's boxes, clicks, masks and shapes prompts (a shapes prompt gives
    one on each key frame of its shape inside the plate, :mod:`tasks.shape_prompts`).

    Raises:
        PromptError: a shapes prompt's file or shape cannot be used (see
            :func:`tasks.shape_prompts.read_object` and :func:`~tasks.shape_prompts.shape_key_frames`).
    """
    keys: dict[int, Keyframe] = {}
    for b in obj.boxes:
        keys.setdefault(b.frame, Keyframe(frame=b.frame)).box = list(b.as_tuple())
    for p in obj.points:
        k = keys.setdefault(p.frame, Keyframe(frame=p.frame))
        (k.positive if p.positive else k.negative).append([p.x, p.y])
    for m in obj.masks:
        keys.setdefault(m.frame, Keyframe(frame=m.frame)).mask = str(Path(m.path).resolve())
    for sp in obj.shapes:
        contours = shape_prompts.read_object(sp.path, sp.shape, info, obj.name)
        for f in shape_prompts.shape_key_frames(contours, info, obj.name):
            k = keys.setdefault(f, Keyframe(frame=f, source="shape"))
            k.shape_file, k.shape_name = str(Path(sp.path).resolve()), contours[0].name
    return keys


def _classes(detector: Detector, obj: ObjectPrompt, *, has_keyframes: bool) -> list[str]:
    """Detector classes of an object's text; text beside a box or clicks may match nothing (it
    then only names the object)."""
    if not obj.text:
        return []
    try:
        return detector.resolve_text(obj.text)
    except PromptError:
        if has_keyframes and obj.frame is None:
            log.warning(
                "%s: %r matches no detector class; tracking without re-anchoring",
                obj.name,
                obj.text,
            )
            return []
        raise


def _detect_box(detector: Detector, image, name: str, classes: list[str], key: Keyframe) -> None:
    """Set ``key.box`` to the best detection of ``classes`` on ``image``.

    Raises:
        PromptError: nothing of those classes is found.
    """
    find = detector.detect_object if detector.picks_one_object else detector.detect
    dets = find(image, classes)
    if len(dets) == 0:
        raise PromptError(
            f"object {name!r}: no {' or '.join(classes)} found on frame {key.frame}; "
            "give a box instead (--box x0,y0,x1,y1)"
        )
    i = pick_subject(dets.boxes, dets.scores)
    key.box = [float(v) for v in dets.boxes[i]]
    key.source, key.score = f"text:{dets.labels[i]}", float(dets.scores[i])
    log.info("%s: %s %.2f at %s on frame %d", name, dets.labels[i], key.score, key.box, key.frame)


def _all_matches(detector: Detector, image, obj: ObjectPrompt, classes, frame: int):
    """One keyframe per detection of ``classes`` on ``image`` (highest score first).

    Raises:
        PromptError: nothing found.
    """
    dets = detector.detect(image, classes)
    if len(dets) == 0:
        raise PromptError(
            f"object {obj.name!r}: no {' or '.join(classes)} found on frame {frame}; "
            "give a box instead (--box x0,y0,x1,y1)"
        )
    log.info("%s: %d matches on frame %d", obj.name, len(dets), frame)
    return [
        Keyframe(
            frame=frame,
            box=[float(v) for v in dets.boxes[i]],
            source=f"text:{dets.labels[i]}",
            score=float(dets.scores[i]),
        )
        for i in range(len(dets))
    ]


def pick_subject(boxes: np.ndarray, scores: np.ndarray, ratio: float = 0.5) -> int:
    """Index of the detection a text prompt means: the largest box among those scoring at least
    ``ratio`` times the best score.

    A shot's subject is usually the largest instance of its class in frame (the dancer, not the
    onlookers behind), while the detector's best score often goes to a smaller, sharper one.

    Args:
        boxes: ``(N, 4)`` boxes ``(x0, y0, x1, y1)`` in plate pixels, ``N >= 1``.
        scores: ``(N,)`` scores.
    """
    strong = np.flatnonzero(scores >= ratio * scores.max())
    areas = (boxes[strong, 2] - boxes[strong, 0]) * (boxes[strong, 3] - boxes[strong, 1])
    return int(strong[np.argmax(areas)])


def run(
    prompts: ShotPrompts,
    ingest_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    detector: Detector,
    *,
    max_objects: int = 100,
) -> StageOutput:
    """Resolve prompts into keyframes.

    Args:
        max_objects: Most objects the shot may have, ``all_matches`` detections included (the
            ``max_objects`` setting).

    Raises:
        PromptError: a text prompt matches no detector class, or nothing of its class is found on
            the prompt frame (the message suggests giving a box); more than ``max_objects``
            objects.
    """
    info = ingest.plate_info(ingest_out)
    check_object_count(len(prompts.objects), max_objects)
    prompts.check_against(info)
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    prompts = prompts.with_default_frame(info.first_frame)
    objects: list[ObjectKeys] = []
    next_id = max(o.id for o in prompts.objects) + 1
    with ingest.open_proxies(ingest_out) as plate:
        for n_done, obj in enumerate(prompts.objects):
            progress.report("detect", n_done, len(prompts.objects))
            keys = _user_keyframes(obj, info)
            classes = _classes(detector, obj, has_keyframes=bool(keys))
            text_frame = obj.frame if obj.frame is not None else info.first_frame
            if obj.all_matches:
                found = _all_matches(detector, plate.read(text_frame), obj, classes, text_frame)
                check_object_count(
                    len(objects) + len(found) + len(prompts.objects) - n_done - 1,
                    max_objects,
                    f"{obj.name!r}'s text prompt {obj.text!r} found {len(found)} matches on frame "
                    f"{text_frame}: the shot would have",
                )
                for i, match in enumerate(found, start=1):
                    objects.append(
                        ObjectKeys(next_id, f"{obj.name}_{i}", classes, [match], parent=obj.id)
                    )
                    next_id += 1
                continue
            needs_box = text_frame not in keys or keys[text_frame].box is None
            if obj.text and (obj.frame is not None or not keys) and needs_box:
                keys.setdefault(text_frame, Keyframe(frame=text_frame))
                _detect_box(detector, plate.read(text_frame), obj.name, classes, keys[text_frame])
            objects.append(ObjectKeys(obj.id, obj.name, classes, [keys[f] for f in sorted(keys)]))
        progress.report("detect", len(prompts.objects), len(prompts.objects))
    with run.staging() as tmp:
        (tmp / KEYFRAMES).write_text(
            json.dumps({"objects": [asdict(o) for o in objects]}, indent=1)
        )
        return run.commit(
            tmp,
            n_frames=sum(len(o.keyframes) for o in objects),
            details={"detector": f"{detector.name}@{detector.version}"},
        )
