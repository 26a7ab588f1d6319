"""Production detector: Grounding DINO (open vocabulary, text prompt -> boxes) through transformers.

Model: Liu et al., "Grounding DINO: Marrying DINO with Grounded Pre-Training for Open-Set Object
Detection" (arXiv:2303.05499), run through transformers' ``GroundingDinoForObjectDetection`` and
``GroundingDinoProcessor`` (``IDEA-Research/grounding-dino-tiny`` or ``-base`` snapshots, or the tiny
random-weight model of :mod:`models.tiny.grounding_dino`). The model card's prompt convention is
followed: lower-case phrases, each ending with a dot (``"car. person."``). The processor's resize and
normalisation and the model's normalised ``(cx, cy, w, h)`` boxes are undone here by
``post_process_grounded_object_detection`` with ``target_sizes=[(H, W)]`` (height first): boxes leave
this module in plate pixels.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch

from rotoflow.errors import ModelNotAvailable, PromptError
from rotoflow.types import Detections

logger = logging.getLogger(__name__)

_ARTICLES = {"a", "an", "the"}
# Phrase separators in free text: Grounding DINO's own dot, and commas, semicolons, bars, new lines.
_SEPARATORS = re.compile(r"[.,;|\n]+")
# Tokenizer markers that post-processing may leave in a decoded label.
_SPECIAL_TOKENS = re.compile(r"\[(?:CLS|SEP|PAD)\]")


def _normalise_phrase(phrase: str) -> str:
    """Lower-case words of one phrase, punctuation and articles removed."""
    words = re.findall(r"\w+(?:['-]\w+)*", phrase.lower())
    return " ".join(w for w in words if w not in _ARTICLES)


def _clean_label(raw: str) -> str:
    """A decoded label without special tokens, dots and word-piece markers."""
    text = _SPECIAL_TOKENS.sub(" ", raw).replace(".", " ").replace("##", "")
    return " ".join(text.split())


class GroundingDinoDetector:
    """Grounding DINO open-vocabulary detector.

    Attributes:
        name: Model name for provenance (default ``"grounding-dino-tiny"``).
        version: Model version for provenance and cache keys (default ``"local"``).
        path: The model folder.
        device: Torch device the model runs on.
        box_threshold: Minimum box score (highest token probability of a query) kept.
        text_threshold: Minimum token probability for a token to enter a box's label.
        picks_one_object: False: open vocabulary, a text prompt's object is picked from
            :meth:`detect` (which :meth:`detect_object` returns as it is).
    """

    picks_one_object = False

    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "grounding-dino-tiny",
        version: str = "local",
        device: str = "cpu",
        box_threshold: float = 0.25,
        text_threshold: float = 0.25,
    ) -> None:
        """Load the model and processor from a local folder (a hub snapshot), offline.

        Args:
            path: Folder holding what ``save_pretrained`` writes for the model and the processor.
            name: Model name for provenance.
            version: Model version for provenance.
            device: Torch device, ``"cpu"`` or ``"cuda"``/``"cuda:N"``. On CUDA the forward pass
                runs under bfloat16 autocast; on CPU in float32.
            box_threshold: Box score threshold in ``[0, 1]``.
            text_threshold: Token probability threshold in ``[0, 1]`` for labels.

        Raises:
            ModelNotAvailable: the folder is missing, cannot be loaded, or holds another model.
        """
        self.path = Path(path)
        hint = (
            "point the model store at a Grounding DINO snapshot folder "
            "(config.json, model weights and processor files)"
        )
        if not self.path.is_dir():
            raise ModelNotAvailable(f"Grounding DINO model folder not found: {self.path}; {hint}")
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        try:
            self._processor = AutoProcessor.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForZeroShotObjectDetection.from_pretrained(
                self.path, local_files_only=True
            )
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ...
            raise ModelNotAvailable(
                f"cannot load Grounding DINO from {self.path}: {exc}; {hint}"
            ) from exc
        if model.config.model_type != "grounding-dino":
            raise ModelNotAvailable(
                f"{self.path} holds a {model.config.model_type!r} model, not Grounding DINO; {hint}"
            )
        self.device = torch.device(device)
        self._model = model.to(self.device).eval()
        self._max_text_len = int(model.config.max_text_len)
        self.name = name
        self.version = version
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self._last_classes: list[str] | None = None

    def resolve_text(self, text: str) -> list[str]:
        """Normalise free text into Grounding DINO phrases.

        The vocabulary is open, so any words are accepted. The text is split into phrases at dots,
        commas, semicolons, bars and new lines; each phrase is lower-cased and loses its
        punctuation and articles (``"The Dancer!"`` -> ``"dancer"``, ``"car . person"`` ->
        ``"car"``, ``"person"``). Duplicates are dropped. The result is remembered as the classes
        :meth:`detect` uses when given none.

        Args:
            text: The prompt, for example ``"the dancer"`` or ``"car, person"``.

        Returns:
            Distinct phrases in the order they appear (at least one).

        Raises:
            PromptError: nothing is left after normalising, or the phrases are longer than the
                model's text length.
        """
        phrases = [_normalise_phrase(p) for p in _SEPARATORS.split(text)]
        phrases = list(dict.fromkeys(p for p in phrases if p))
        if not phrases:
            raise PromptError(
                f"the text {text!r} names nothing once articles and punctuation are removed; "
                "give a phrase such as 'car' or 'the dancer', or a box instead (--box x0,y0,x1,y1)"
            )
        self._caption(phrases)  # checks the length
        self._last_classes = phrases
        return phrases

    def _caption(self, classes: list[str]) -> str:
        """The model's text: lower-case phrases each ending with a dot (``"car. person."``)."""
        caption = " ".join(f"{c.strip().lower()}." for c in classes)
        n_tokens = len(self._processor.tokenizer(caption).input_ids)
        if n_tokens > self._max_text_len:
            raise PromptError(
                f"the phrases {classes} take {n_tokens} tokens, more than Grounding DINO's "
                f"{self._max_text_len}; give fewer or shorter phrases"
            )
        return caption

    def detect(self, image: np.ndarray, classes: list[str] | None = None) -> Detections:
        """Detect the phrases ``classes`` in one frame.

        Every query whose highest token probability exceeds ``box_threshold`` is a detection
        (Grounding DINO does no NMS). Its label is the phrase of ``classes`` that the tokens above
        ``text_threshold`` fall in; when they span several phrases it is those tokens' text
        (``"car person"``), and when no token passes it is the phrase with the most probable
        token.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            classes: Phrases to detect, normally from :meth:`resolve_text` (others are normalised
                the same way, and labels use the normalised form); None uses the phrases of the
                last :meth:`resolve_text` call.

        Returns:
            Detections sorted by descending score: boxes ``(N, 4) float32`` ``(x0, y0, x1, y1)`` in
            plate pixels, clipped to the frame; scores ``(N,) float32`` in ``[0, 1]``; labels.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8``.
            PromptError: ``classes`` is None and no text was resolved yet, or ``classes`` is
                empty or too long for the model.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        if classes is None:
            if self._last_classes is None:
                raise PromptError(
                    "no phrases to detect: pass classes or call resolve_text first; "
                    "or give a box instead (--box x0,y0,x1,y1)"
                )
            classes = self._last_classes
        classes = list(dict.fromkeys(p for p in map(_normalise_phrase, classes) if p))
        if not classes:
            raise PromptError("empty list of phrases to detect; give a phrase or a box instead")
        h, w = image.shape[:2]
        if not image.flags.writeable:
            image = image.copy()  # torch.from_numpy warns on read-only arrays
        inputs = self._processor(
            images=image,
            text=self._caption(classes),
            return_tensors="pt",
            input_data_format="channels_last",
        ).to(self.device)
        cuda = self.device.type == "cuda"
        with (
            torch.inference_mode(),
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=cuda),
        ):
            outputs = self._model(**inputs)
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        result = self._processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(h, w)],
        )[0]
        boxes = result["boxes"].detach().float().cpu().numpy().reshape(-1, 4)
        scores = result["scores"].detach().float().cpu().numpy()
        # The kept queries, in post-processing's order, for the no-token fallback of the labels.
        probs = outputs.logits[0].sigmoid()
        probs = probs[probs.max(dim=-1).values > self.box_threshold].cpu()
        spans = self._phrase_spans(inputs["input_ids"][0].cpu(), len(classes))
        labels = [
            self._label(raw, classes, probs[i], spans)
            for i, raw in enumerate(result["text_labels"])
        ]
        np.clip(boxes, 0, [w, h, w, h], out=boxes)
        logger.debug("%d detections of %s on a %dx%d frame", len(labels), classes, w, h)
        order = np.argsort(-scores, kind="stable")
        return Detections(
            boxes=boxes[order].astype(np.float32),
            scores=scores[order].astype(np.float32),
            labels=[labels[i] for i in order],
        )

    def detect_object(self, image: np.ndarray, classes: list[str]) -> Detections:
        """Detect the object of a text prompt.

        Grounding DINO is open vocabulary, so there is no near-class or low-score fallback as
        for a closed-vocabulary detector: this is :meth:`detect` with the prompt's phrases (and
        ``picks_one_object`` is False, so the detect stage calls :meth:`detect` itself).

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            classes: Phrases, as returned by :meth:`resolve_text`.

        Returns:
            As :meth:`detect`.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8``.
            PromptError: ``classes`` is empty or too long for the model.
        """
        return self.detect(image, classes)

    def _phrase_spans(self, input_ids: torch.Tensor, n: int) -> list[tuple[int, int]]:
        """Token index ranges ``[start, end)`` of the ``n`` phrases of a caption's ``input_ids``.

        The caption is ``[CLS] p1 . p2 . ... [SEP]``; phrases hold no dot, so dots end them.
        """
        dot = self._processor.tokenizer.convert_tokens_to_ids(".")
        ids = input_ids.tolist()
        spans, start = [], 1
        for i, tok in enumerate(ids[1:], start=1):
            if tok == dot:
                spans.append((start, i))
                start = i + 1
        return spans[:n]

    @staticmethod
    def _label(
        raw: str, classes: list[str], probs: torch.Tensor, spans: list[tuple[int, int]]
    ) -> str:
        """The phrase of ``classes`` a decoded label belongs to (see :meth:`detect`)."""
        text = _clean_label(raw)
        if text:
            # Compare without spaces: decoding spaces out word pieces and hyphens ("bmx - rider").
            squashed = text.replace(" ", "")
            for c in sorted(classes, key=lambda c: c.replace(" ", "") != squashed):
                if squashed in c.replace(" ", ""):  # the phrase itself or a sub-span of it
                    return c
            return text
        best = [float(probs[a:b].max()) if b > a else -1.0 for a, b in spans]
        return classes[int(np.argmax(best))] if best else raw
