"""Detect: resolve every object's prompt into keyframes (a box and/or clicks on given frames).

Text prompts go through the detector on the object's prompt frame (the plate's first frame unless
the prompt names one); boxes and clicks are kept as given. The result, ``keyframes.json``, is what
segment and propagate read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

from models.base import Detector
from rotoflow.errors import PromptError
from rotoflow.prompts import ObjectPrompt, ShotPrompts
from rotoflow.stages import ingest
from rotoflow.storage import ShotWorkspace, StageOutput

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
    source: str = "user"
    score: float | None = None


@dataclass
class ObjectKeys:
    """One object's detector classes and keyframes (sorted by frame)."""

    id: int
    name: str
    classes: list[str]
    keyframes: list[Keyframe]


def load(out: StageOutput) -> list[ObjectKeys]:
    """Read ``keyframes.json`` from a finished detect folder."""
    raw = json.loads((out.dir / KEYFRAMES).read_text())
    return [
        ObjectKeys(o["id"], o["name"], o["classes"], [Keyframe(**k) for k in o["keyframes"]])
        for o in raw["objects"]
    ]


def _user_keyframes(obj: ObjectPrompt) -> dict[int, Keyframe]:
    keys: dict[int, Keyframe] = {}
    for b in obj.boxes:
        keys.setdefault(b.frame, Keyframe(frame=b.frame)).box = list(b.as_tuple())
    for p in obj.points:
        k = keys.setdefault(p.frame, Keyframe(frame=p.frame))
        (k.positive if p.positive else k.negative).append([p.x, p.y])
    return keys


def run(
    prompts: ShotPrompts,
    ingest_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    detector: Detector,
) -> StageOutput:
    """Resolve prompts into keyframes.

    Raises:
        PromptError: a text prompt matches no detector class, or nothing of its class is found on
            the prompt frame (the message suggests giving a box).
    """
    info = ingest.plate_info(ingest_out)
    prompts.check_against(info)
    if done := ws.finished(STAGE, key):
        return done
    t0 = time.perf_counter()
    prompts = prompts.with_default_frame(info.first_frame)
    objects: list[ObjectKeys] = []
    with ingest.open_proxies(ingest_out) as plate:
        for obj in prompts.objects:
            classes = detector.resolve_text(obj.text) if obj.text else []
            keys = _user_keyframes(obj)
            text_frame = obj.frame if obj.frame is not None else info.first_frame
            if obj.text and (obj.frame is not None or not keys):
                if text_frame not in keys or keys[text_frame].box is None:
                    image = plate.read(text_frame)
                    find = getattr(detector, "detect_object", None)
                    dets = find(image, classes) if find else detector.detect(image, classes)
                    if len(dets) == 0:
                        raise PromptError(
                            f"object {obj.name!r}: no {' or '.join(classes)} found on frame "
                            f"{text_frame}; give a box instead (--box x0,y0,x1,y1)"
                        )
                    k = keys.setdefault(text_frame, Keyframe(frame=text_frame))
                    k.box = [float(v) for v in dets.boxes[0]]
                    k.source = f"text:{dets.labels[0]}"
                    k.score = float(dets.scores[0])
                    log.info(
                        "object %s: %s %.2f at %s on frame %d",
                        obj.name, dets.labels[0], k.score, k.box, text_frame,
                    )
            objects.append(
                ObjectKeys(obj.id, obj.name, classes, [keys[f] for f in sorted(keys)])
            )
    with ws.staging(STAGE, key) as tmp:
        (tmp / KEYFRAMES).write_text(
            json.dumps({"objects": [asdict(o) for o in objects]}, indent=1)
        )
        out = StageOutput(
            stage=STAGE,
            key=key,
            path=str(tmp),
            n_frames=sum(len(o.keyframes) for o in objects),
            seconds=time.perf_counter() - t0,
            details={"detector": f"{detector.name}@{detector.version}"},
        )
        return ws.commit(tmp, out)
