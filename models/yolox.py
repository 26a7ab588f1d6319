"""Lite detector: YOLOX-Nano (ONNX, COCO's 80 classes) on the CPU through onnxruntime.

Model: Ge et al., "YOLOX: Exceeding YOLO Series in 2021" (arXiv:2107.08430), Megvii's Apache-2.0
release weights ``yolox_nano.onnx``. Pre- and post-processing follow that release's ONNX demo: the
frame is letterboxed to the network's input size (aspect kept, resized into the top-left corner,
padded with grey 114), fed as BGR float 0-255 without normalisation, and the raw ``(1, N, 85)``
output is decoded over the stride 8/16/32 grids. The letterbox is undone here: boxes leave this
module in plate pixels.

Text prompts are mapped to COCO class names by :func:`resolve_text`; a closed vocabulary cannot name
everything, so :data:`NEAR_CLASSES` lists classes the detector confuses an object with (a dog seen as
a sheep), which :meth:`YoloxDetector.detect_object` falls back on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np

from rotoflow.errors import ModelNotAvailable, PromptError
from rotoflow.types import Detections

logger = logging.getLogger(__name__)

#: The 80 COCO class names in the order of the detector's class scores.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

_PERSON_WORDS = (
    "man", "woman", "person", "people", "dancer", "rider", "skater", "boy", "girl", "child", "kid",
    "player", "actor", "actress", "runner", "biker", "cyclist", "pedestrian", "human", "guy",
    "lady", "baby", "surfer", "skier", "snowboarder", "athlete", "jogger", "swimmer", "gymnast",
    "singer", "musician", "worker", "soldier", "driver", "figure", "teenager", "adult", "walker",
)  # fmt: skip

#: Common words (singular, lower case) for COCO classes. A COCO name maps to itself implicitly.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(_PERSON_WORDS, "person"),
    **dict.fromkeys(("bike", "bmx", "cycle", "pushbike"), "bicycle"),
    **dict.fromkeys(("motorbike", "motor bike", "scooter", "moped"), "motorcycle"),
    **dict.fromkeys(("auto", "vehicle", "automobile", "taxi", "cab", "suv", "jeep", "van"), "car"),
    **dict.fromkeys(("racecar", "race car", "sedan", "hatchback", "convertible"), "car"),
    **dict.fromkeys(("lorry", "pickup", "pickup truck"), "truck"),
    **dict.fromkeys(("coach", "minibus"), "bus"),
    **dict.fromkeys(("tram", "locomotive", "railcar"), "train"),
    **dict.fromkeys(("plane", "aeroplane", "aircraft", "jet", "airliner"), "airplane"),
    **dict.fromkeys(("ship", "yacht", "canoe", "kayak", "sailboat", "ferry"), "boat"),
    **dict.fromkeys(("puppy", "doggy", "hound"), "dog"),
    **dict.fromkeys(("kitten", "kitty"), "cat"),
    **dict.fromkeys(
        ("swan", "duck", "goose", "seagull", "gull", "pigeon", "parrot", "hen", "chicken"), "bird"
    ),
    **dict.fromkeys(("eagle", "crow", "sparrow", "owl", "heron", "flamingo"), "bird"),
    **dict.fromkeys(("calf", "cattle", "bull", "ox"), "cow"),
    **dict.fromkeys(("lamb", "ram", "ewe"), "sheep"),
    **dict.fromkeys(("pony", "foal", "stallion", "mare"), "horse"),
    **dict.fromkeys(("cellphone", "phone", "smartphone", "mobile phone", "mobile"), "cell phone"),
    **dict.fromkeys(("sofa", "settee"), "couch"),
    **dict.fromkeys(("television", "monitor", "screen"), "tv"),
    **dict.fromkeys(("ball", "football", "soccer ball", "basketball"), "sports ball"),
    **dict.fromkeys(("racket", "racquet"), "tennis racket"),
    **dict.fromkeys(("bag", "purse"), "handbag"),
    **dict.fromkeys(("rucksack",), "backpack"),
    **dict.fromkeys(("mug",), "cup"),
    **dict.fromkeys(("doughnut",), "donut"),
    **dict.fromkeys(("hydrant",), "fire hydrant"),
    **dict.fromkeys(("table",), "dining table"),
    **dict.fromkeys(("plant", "houseplant"), "potted plant"),
    **dict.fromkeys(("fridge",), "refrigerator"),
    **dict.fromkeys(("teddy",), "teddy bear"),
    **dict.fromkeys(("hair dryer", "hairdryer"), "hair drier"),
    **dict.fromkeys(("ski",), "skis"),
    **dict.fromkeys(("laptop computer", "notebook"), "laptop"),
}

#: Classes YOLOX-Nano tends to give an object of the key class instead (seen: the DAVIS ``dog`` as
#: ``sheep``). Used by :meth:`YoloxDetector.detect_object` when the exact class finds nothing.
NEAR_CLASSES: dict[str, tuple[str, ...]] = {
    "dog": ("sheep", "cat", "horse", "cow", "bear"),
    "cat": ("dog", "sheep", "teddy bear"),
    "sheep": ("dog", "cow", "horse"),
    "cow": ("sheep", "horse", "dog", "bear"),
    "horse": ("cow", "zebra", "sheep", "dog"),
    "bear": ("dog", "cow", "sheep"),
    "zebra": ("horse",),
    "giraffe": ("horse",),
    "elephant": ("cow", "bear"),
    "bird": ("airplane", "kite"),
    "airplane": ("bird", "kite"),
    "car": ("truck", "bus"),
    "truck": ("car", "bus"),
    "bus": ("truck", "car", "train"),
    "train": ("bus", "truck"),
    "bicycle": ("motorcycle",),
    "motorcycle": ("bicycle",),
    "boat": ("surfboard",),
}

_STRIDES = (8, 16, 32)
_PAD_VALUE = 114
_DETERMINERS = {"a", "an", "the", "this", "these", "those", "some", "my", "our", "your", "his"}
_DETERMINERS |= {"her", "its", "their", "any", "every", "each"}
# Words that end the noun phrase naming the object ("the man on the bike" names a man).
_PHRASE_END = {"on", "in", "at", "with", "near", "by", "behind", "beside", "under", "over"}
_PHRASE_END |= {"above", "below", "next", "inside", "onto", "into", "from", "to", "who", "which"}
_PHRASE_END |= {"that", "while", "where", "wearing", "holding", "riding", "carrying", "is", "are"}
_CONJUNCTIONS = {"and", "or", "plus"}
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child"}
_IRREGULAR |= {"geese": "goose", "mice": "mouse", "knives": "knife", "calves": "calf"}
_IRREGULAR |= {"oxen": "ox", "teeth": "tooth", "dice": "die", "ponies": "pony"}
_VOCAB: dict[str, str] = {**{c: c for c in COCO_CLASSES}, **SYNONYMS}


def _singulars(word: str) -> list[str]:
    """Candidate singular forms of an English plural, most specific first."""
    out = [_IRREGULAR[word]] if word in _IRREGULAR else []
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    return out


def _lookup(phrase: str) -> str | None:
    """COCO class of one word or two-word phrase (last word possibly plural), or None."""
    if phrase in _VOCAB:
        return _VOCAB[phrase]
    head, _, last = phrase.rpartition(" ")
    for cand in _singulars(last):
        key = f"{head} {cand}" if head else cand
        if key in _VOCAB:
            return _VOCAB[key]
    return None


def resolve_text(text: str) -> list[str]:
    """Map a free-text prompt to COCO class names.

    The text is lower-cased and split into words; two-word names ("traffic light", "cell phone",
    "teddy bear") are matched before single words, plurals are reduced ("cars", "people"), and
    synonyms are mapped through :data:`SYNONYMS`. Only the leading noun phrase names the object:
    it ends at a preposition, relative pronoun or participle ("the man on the bike" -> person).
    Within it, phrases joined by "and"/"or"/"," each give their last known noun, the head of an
    English noun phrase ("bmx rider" -> person, "the man and the dog" -> person, dog).

    Args:
        text: The prompt, for example ``"the dancer"`` or ``"a red car"``.

    Returns:
        Distinct COCO class names in the order they appear in the text (at least one).

    Raises:
        PromptError: nothing in the leading noun phrase names a COCO class; the message lists the
            classes and suggests a box prompt instead.
    """
    words = re.findall(r"[a-z]+|,", text.lower())
    tokens: list[str] = []  # words and two-word phrases that name a class
    i = 0
    while i < len(words):
        pair = f"{words[i]} {words[i + 1]}" if i + 1 < len(words) else ""
        if pair and _lookup(pair):
            tokens.append(pair)
            i += 2
        else:
            tokens.append(words[i])
            i += 1
    groups: list[list[str]] = [[]]
    for k, tok in enumerate(tokens):
        starts_phrase = not groups[-1]
        if tok in _DETERMINERS and starts_phrase:
            continue
        ends_phrase = tok in _PHRASE_END or (tok.endswith("ing") and not _lookup(tok))
        if k > 0 and ends_phrase:
            break
        if tok in _CONJUNCTIONS or tok == ",":
            groups.append([])
        else:
            groups[-1].append(tok)
    classes: list[str] = []
    for group in groups:
        found = [c for c in map(_lookup, group) if c]
        if found and found[-1] not in classes:
            classes.append(found[-1])
    if not classes:
        raise PromptError(
            f"no detector class matches the text {text!r}; the lite detector knows only the COCO "
            f"classes: {', '.join(COCO_CLASSES)}; give a box instead (--box x0,y0,x1,y1)"
        )
    return classes


def _sha256_prefix(path: Path, n: int = 12) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:n]


class YoloxDetector:
    """YOLOX-Nano closed-vocabulary detector (COCO classes), CPU only.

    Attributes:
        name: ``"yolox-nano"``.
        version: First 12 hex digits of the weights file's SHA-256.
        score_threshold: Minimum ``objectness * class score`` kept.
        nms_threshold: IoU above which a lower-scored box of the same class is suppressed.
        picks_one_object: True: :meth:`detect_object` finds a text prompt's object through near
            classes and weak detections (see :class:`models.base.SubjectDetector`).
    """

    name = "yolox-nano"
    picks_one_object = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        score_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        threads: int | None = None,
    ) -> None:
        """Load the ONNX weights.

        Args:
            model_path: The ``yolox_nano.onnx`` file.
            score_threshold: Minimum score in ``[0, 1]``.
            nms_threshold: Non-maximum suppression IoU threshold in ``[0, 1]``.
            threads: onnxruntime intra-op threads; None uses up to 4 of the machine's cores.

        Raises:
            ModelNotAvailable: the file is missing, cannot be loaded, or is not a YOLOX model with
                an 80-class COCO head.
        """
        import onnxruntime as ort

        path = Path(model_path)
        hint = (
            "stage it with `rotoflow models add yolox-nano FILE`, or set ROTOFLOW_YOLOX_MODEL to "
            "the yolox_nano.onnx file"
        )
        if not path.is_file():
            raise ModelNotAvailable(f"YOLOX weights not found at {path}; {hint}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Do not busy-wait between runs: the other pipeline stages share the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelNotAvailable(f"cannot load YOLOX weights {path}: {exc}; {hint}") from exc
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        shape = inp.shape
        if len(shape) != 4 or not all(isinstance(s, int) for s in shape[2:]):
            raise ModelNotAvailable(f"{path} has input shape {shape}, not [1, 3, H, W]; {hint}")
        self._input_name = inp.name
        self._input_hw = (int(shape[2]), int(shape[3]))
        self._grid, self._stride = self._make_grid(*self._input_hw)
        if out.shape[-2:] != [len(self._grid), 5 + len(COCO_CLASSES)]:
            raise ModelNotAvailable(
                f"{path} has output shape {out.shape}, expected "
                f"[1, {len(self._grid)}, {5 + len(COCO_CLASSES)}] (YOLOX, COCO); {hint}"
            )
        self.version = _sha256_prefix(path)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.path = path

    @staticmethod
    def _make_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for s in _STRIDES:
            gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
            grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
            strides.append(np.full((gx.size, 1), s))
        return (
            np.concatenate(grids).astype(np.float32),
            np.concatenate(strides).astype(np.float32),
        )

    def resolve_text(self, text: str) -> list[str]:
        """See :func:`resolve_text`."""
        return resolve_text(text)

    def detect(
        self, image: np.ndarray, classes: list[str] | None = None, *, min_score: float | None = None
    ) -> Detections:
        """Detect objects in one frame.

        Every (box, class) pair scoring at least ``min_score`` (default ``score_threshold``) is a
        candidate (class-aware, as
        YOLOX's ``multiclass_nms_class_aware``); candidates are suppressed per class with OpenCV's
        batched NMS, so one object may come out under two classes.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            classes: COCO class names to keep, or None for all 80.
            min_score: Score floor for this call (default: ``score_threshold``).

        Returns:
            Detections sorted by descending score: boxes ``(N, 4) float32`` ``(x0, y0, x1, y1)`` in
            plate pixels, clipped to the frame; scores ``(N,) float32``; labels.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8``.
            PromptError: a name in ``classes`` is not a COCO class.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        if classes is None:
            class_ids = np.arange(len(COCO_CLASSES))
        else:
            unknown = [c for c in classes if c not in COCO_CLASSES]
            if unknown:
                raise PromptError(
                    f"unknown detector classes {unknown}; valid: {', '.join(COCO_CLASSES)}"
                )
            class_ids = np.array([COCO_CLASSES.index(c) for c in dict.fromkeys(classes)], int)
        threshold = self.score_threshold if min_score is None else min_score
        h, w = image.shape[:2]
        blob, (sx, sy) = self._letterbox(image)
        raw = self._session.run(None, {self._input_name: blob})[0][0]
        cxcy = (raw[:, :2] + self._grid) * self._stride
        half = np.exp(raw[:, 2:4]) * self._stride / 2
        boxes = np.concatenate([cxcy - half, cxcy + half], axis=1)
        boxes = boxes * np.array([sx, sy, sx, sy], np.float32)  # undo the letterbox scale
        np.clip(boxes, 0, [w, h, w, h], out=boxes)
        scores = raw[:, 4:5] * raw[:, 5 + class_ids]  # (anchors, len(class_ids))
        rows, cols = np.nonzero(scores >= threshold)
        boxes, scores, ids = boxes[rows], scores[rows, cols], class_ids[cols]
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        keep = cv2.dnn.NMSBoxesBatched(
            xywh, scores, ids.astype(np.int32), threshold, self.nms_threshold
        )
        keep = np.asarray(keep, dtype=int).ravel()
        keep = keep[(xywh[keep, 2] > 0) & (xywh[keep, 3] > 0)]
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return Detections(
            boxes=boxes[keep].astype(np.float32).reshape(-1, 4),
            scores=scores[keep].astype(np.float32),
            labels=[COCO_CLASSES[i] for i in ids[keep]],
        )

    def detect_object(
        self, image: np.ndarray, classes: list[str], *, floor: float = 0.05
    ) -> Detections:
        """Detect the object of a text prompt, tolerating the detector's near-class confusions.

        First detects ``classes`` exactly. When nothing scores above ``score_threshold``, detects
        the :data:`NEAR_CLASSES` of those classes instead (a dog the network sees as a sheep) and
        logs which ones matched; those detections keep the class the network gave them, so
        ``labels`` says what was actually found. When neither is found, the user's word that the
        object is there is taken: detections of ``classes`` down to ``floor`` are returned (a car
        in motion blur scoring 0.1), with a warning.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            classes: COCO class names, as returned by :meth:`resolve_text`.
            floor: Lowest score accepted for ``classes`` when nothing passes the threshold.

        Returns:
            Detections sorted by descending score, in plate pixels; empty if nothing of the
            classes scores ``floor`` and no near class passes the threshold.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8``.
            PromptError: a name in ``classes`` is not a COCO class.
        """
        found = self.detect(image, classes)
        if len(found):
            return found
        near = [n for c in classes for n in NEAR_CLASSES.get(c, ()) if n not in classes]
        if near:
            found = self.detect(image, list(dict.fromkeys(near)))
            if len(found):
                logger.info(
                    "no %s above score %.2f; using near class %s (score %.2f)",
                    "/".join(classes),
                    self.score_threshold,
                    found.labels[0],
                    found.scores[0],
                )
                return found
        found = self.detect(image, classes, min_score=floor)
        if len(found):
            logger.warning(
                "no %s above score %.2f; taking the best one at %.2f",
                "/".join(classes),
                self.score_threshold,
                found.scores[0],
            )
        return found

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """RGB frame -> ``(1, 3, h, w) float32`` BGR 0-255 network input, and the x/y factors
        that take network-input pixels back to plate pixels."""
        h, w = image.shape[:2]
        in_h, in_w = self._input_hw
        r = min(in_h / h, in_w / w)
        nh, nw = max(1, int(h * r)), max(1, int(w * r))
        canvas = np.full((in_h, in_w, 3), _PAD_VALUE, np.uint8)
        canvas[:nh, :nw] = cv2.resize(image[..., ::-1], (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        # The resize maps pixel corners linearly, so each axis scales back by its own exact factor.
        return blob, (w / nw, h / nh)
