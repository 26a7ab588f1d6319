"""SAM 2 keyframe masks and video propagation, streamed from the plate with bounded memory.

Ravi et al., "SAM 2: Segment Anything in Images and Videos", arXiv:2408.00714 (2024); the model code
is the ``sam2`` package (facebookresearch/sam2 1.1.0), driven through its own
``SAM2VideoPredictor`` verbs (``add_new_points_or_box``, ``add_new_mask``, ``propagate_in_video``).

What this wrapper changes, and why results stay identical to the bare predictor's:

- **Frames are streamed.** ``init_state`` reads a ``00000.jpg`` folder and holds every frame as a
  ``(3, S, S) float32`` tensor. Here the session's ``images`` is a lazy sequence that reads one plate
  frame when SAM 2 asks for it and resizes and normalises it exactly as ``sam2.utils.misc`` does
  (PIL resize to ``S x S``, ``/255``, ImageNet mean and std).
- **State outside the memory window is released.** SAM 2 attends to the prompted (conditioning)
  frames, the last ``num_maskmem - 1`` frames' mask memories (with the temporal stride) and the last
  ``max_obj_ptrs_in_encoder - 1`` frames' object pointers. Older per-frame outputs are never read
  again while tracking one way, so they are dropped as tracking moves on.
- **Chunks are checkpointed.** Every ``chunk`` frames the session's remaining state (conditioning
  outputs, the frames inside the window, the constants) is saved with ``torch.save``; a crashed run
  restores it and goes on from the next frame, bit-identical to an uninterrupted run.

State objects stay private: only :class:`_Session` indexes SAM 2's string-keyed state dict.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.base import FrameReader, KeyPrompt, make_prompt
from rotoflow.errors import ModelNotAvailable, PromptError
from rotoflow.workspace import fingerprint

log = logging.getLogger(__name__)

#: ImageNet statistics SAM 2 normalises frames with (``sam2.utils.misc.load_video_frames``).
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def _no_bar(iterable, *args, **kwargs):
    return iterable


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_predictor(folder: Path, weights: str, config: str, device: str = "auto"):
    """Build a ``SAM2VideoPredictor`` from a model-store folder.

    Args:
        folder: Folder holding ``weights`` (Meta's ``{"model": state_dict}`` ``.pt``) and optionally
            ``rotoflow-sam2.json`` with ``{"hydra_overrides": [...]}`` (used by reduced test
            models, e.g. ``++model.image_size=256``).
        weights: File name of the checkpoint inside ``folder``.
        config: The sam2 package's hydra config, e.g. ``configs/sam2.1/sam2.1_hiera_t.yaml``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...

    Raises:
        ModelNotAvailable: the checkpoint is missing or does not match the config.
    """
    import sam2.sam2_video_predictor as svp
    from sam2.build_sam import build_sam2_video_predictor

    # sam2 draws a tqdm bar per propagation on stderr, and warns on every frame when its optional
    # CUDA extension (hole filling) is not built; Rotoflow reports progress itself.
    svp.tqdm = _no_bar
    warnings.filterwarnings("ignore", message=r"cannot import name '_C' from 'sam2'")

    ckpt = Path(folder) / weights
    if not ckpt.is_file():
        raise ModelNotAvailable(f"SAM 2 checkpoint {ckpt} is missing")
    extra = Path(folder) / "rotoflow-sam2.json"
    overrides = json.loads(extra.read_text()).get("hydra_overrides", []) if extra.is_file() else []
    try:
        return build_sam2_video_predictor(
            config,
            ckpt_path=str(ckpt),
            device=str(resolve_device(device)),
            hydra_overrides_extra=list(overrides),
        )
    except RuntimeError as exc:  # sam2 raises a bare RuntimeError on missing/unexpected keys
        raise ModelNotAvailable(f"SAM 2 checkpoint {ckpt} does not fit {config}: {exc}") from exc


class FrameTensors(Sequence):
    """The frames of a session, read from the plate when SAM 2 asks for them.

    Item ``i`` is plate frame ``frames[i]`` as a ``(3, S, S) float32`` tensor, resized and normalised
    exactly like ``sam2.utils.misc._load_img_as_tensor`` + ``load_video_frames`` (PIL's default
    resampling to ``S x S``, ``/ 255`` in float64, then ImageNet mean/std in float32). Only the most
    recent frame is kept.
    """

    def __init__(self, read: FrameReader, frames: Sequence[int], image_size: int) -> None:
        self.read = read
        self.frames = list(frames)
        self.size = image_size
        self._last: tuple[int, torch.Tensor] | None = None
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i):
        if self._last is not None and self._last[0] == i:
            return self._last[1]
        rgb = self.read(self.frames[i])
        small = np.array(Image.fromarray(rgb).resize((self.size, self.size))) / 255.0
        img = torch.from_numpy(small).permute(2, 0, 1).to(torch.float32)
        img -= self._mean
        img /= self._std
        self._last = (i, img)
        return img


class _Session:
    """One SAM 2 inference state over a run of plate frames (the only place that indexes it)."""

    def __init__(self, predictor, frames: Sequence[int], read: FrameReader, size: tuple[int, int]):
        self.p = predictor
        self.frames = list(frames)
        self.index = {f: i for i, f in enumerate(self.frames)}
        device = predictor.device
        s: dict = {
            "images": FrameTensors(read, self.frames, predictor.image_size),
            "num_frames": len(self.frames),
            "offload_video_to_cpu": True,
            "offload_state_to_cpu": False,
            "video_height": int(size[0]),
            "video_width": int(size[1]),
            "device": device,
            "storage_device": device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }
        self.state = s

    # -- prompts -------------------------------------------------------------------------------
    def add(self, prompt: KeyPrompt) -> torch.Tensor:
        """Add a prompt; returns ``(N, 1, H, W)`` logits of every object on that frame at plate
        resolution (SAM 2's conditioning-frame output)."""
        i = self.index[prompt.frame]
        if prompt.mask is not None:
            _, _, logits = self.p.add_new_mask(
                self.state, i, prompt.obj_id, torch.from_numpy(prompt.mask)
            )
            return logits
        _, _, logits = self.p.add_new_points_or_box(
            self.state,
            frame_idx=i,
            obj_id=prompt.obj_id,
            points=None if prompt.points is None else np.asarray(prompt.points, np.float32),
            labels=None if prompt.labels is None else np.asarray(prompt.labels, np.int32),
            box=None if prompt.box is None else np.asarray(prompt.box, np.float32),
        )
        return logits

    # -- memory window -------------------------------------------------------------------------
    def window(self) -> int:
        """Frames behind the current one that SAM 2 may still read while tracking one way."""
        p = self.p
        stride = max(1, int(p.memory_temporal_stride_for_eval))
        return max((p.num_maskmem - 1) * stride + 1, int(p.max_obj_ptrs_in_encoder)) + 1

    def release_behind(self, i: int, reverse: bool) -> None:
        """Drop per-frame outputs more than :meth:`window` frames behind session frame ``i``."""
        w = self.window()
        for obj_idx, out in self.state["output_dict_per_obj"].items():
            non_cond = out["non_cond_frame_outputs"]
            tracked = self.state["frames_tracked_per_obj"][obj_idx]
            for d in (non_cond, tracked):
                for t in [t for t in d if (t >= i + w if reverse else t <= i - w)]:
                    if t not in out["cond_frame_outputs"]:
                        del d[t]

    # -- checkpoint ----------------------------------------------------------------------------
    _SAVED = (
        "point_inputs_per_obj",
        "mask_inputs_per_obj",
        "constants",
        "obj_id_to_idx",
        "obj_idx_to_id",
        "obj_ids",
        "output_dict_per_obj",
        "temp_output_dict_per_obj",
        "frames_tracked_per_obj",
    )

    def snapshot(self) -> dict:
        """The state that tracking reads later (tensors moved to CPU)."""
        return {k: _moved(self.state[k], torch.device("cpu")) for k in self._SAVED}

    def restore(self, saved: dict) -> None:
        for k in self._SAVED:
            self.state[k] = _moved(saved[k], self.state["device"])

    # -- output --------------------------------------------------------------------------------
    def obj_ids(self) -> list[int]:
        return list(self.state["obj_ids"])

    def propagate(self, start: int, reverse: bool) -> Iterator[tuple[int, torch.Tensor]]:
        """SAM 2's ``propagate_in_video`` from session frame ``start``; yields
        ``(session index, (N, 1, H, W) logits at plate resolution)``."""
        for i, _, logits in self.p.propagate_in_video(
            self.state, start_frame_idx=start, reverse=reverse
        ):
            yield i, logits


def _moved(x, device: torch.device):
    """``x`` with every tensor inside its dicts, lists and tuples moved to ``device``."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device)
    if isinstance(x, dict):
        return type(x)((k, _moved(v, device)) for k, v in x.items())
    if isinstance(x, list | tuple):
        return type(x)(_moved(v, device) for v in x)
    return x


def _stepped(gen: Iterator, ctx_factory) -> Iterator:
    """Run each step of ``gen`` inside a fresh ``ctx_factory()`` context (autocast is thread
    state: it must not stay on while the caller handles a yielded frame)."""
    while True:
        with ctx_factory():
            try:
                item = next(gen)
            except StopIteration:
                return
        yield item


class Sam2Video:
    """SAM 2 as Rotoflow's segmenter (keyframe masks) and video tracker (propagation).

    Attributes:
        name: Model name in the model store (``sam2.1-hiera-tiny``...).
        version: Weights version (hub revision or ``local``).
        chunk: Frames between checkpoints of a propagation run.
        takes_mask: True: :meth:`segment` takes a mask prompt.
        mode: ``"video"``: a :class:`models.base.VideoTracker` (:meth:`propagate`).
    """

    takes_mask = True
    mode = "video"

    def __init__(self, predictor, *, name: str, version: str, chunk: int = 64) -> None:
        self.predictor = predictor
        self.name = name
        self.version = version
        self.chunk = int(chunk)

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        weights: str,
        config: str,
        name: str,
        version: str,
        device: str = "auto",
        chunk: int = 64,
    ) -> Sam2Video:
        """Load from a model-store folder (see :func:`load_predictor`)."""
        return cls(
            load_predictor(folder, weights, config, device), name=name, version=version, chunk=chunk
        )

    def _autocast(self):
        if self.predictor.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # -- Segmenter ---------------------------------------------------------------------------
    def segment(
        self,
        image: np.ndarray,
        box: tuple[float, float, float, float] | None = None,
        positive: np.ndarray | None = None,
        negative: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Mask of the prompted object on one frame (SAM 2's conditioning-frame output, the same
        mask propagation starts from).

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            box: ``(x0, y0, x1, y1)`` in plate pixels, or None.
            positive: ``(K, 2)`` clicks ``(x, y)`` on the object, plate pixels, or None.
            negative: ``(K, 2)`` clicks off the object, or None.
            mask: ``(H, W) bool`` mask prompt instead of box and clicks, or None.

        Returns:
            ``(H, W) bool`` mask at the image's resolution.

        Raises:
            PromptError: no prompt given.
        """
        prompt = make_prompt(0, 0, box, positive, negative, mask)
        h, w = image.shape[:2]
        session = _Session(self.predictor, [0], lambda _f: image, (h, w))
        with torch.inference_mode(), self._autocast():
            logits = session.add(prompt)
        return (logits[0, 0] > 0).cpu().numpy()

    # -- Video tracker -------------------------------------------------------------------------
    def propagate(
        self,
        read: FrameReader,
        frames: Sequence[int],
        prompts: Sequence[KeyPrompt],
        size: tuple[int, int],
        *,
        reverse: bool = False,
        checkpoint: Path | None = None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Track the prompted objects over a run of plate frames in one direction.

        One SAM 2 session holds ``frames``; every prompt becomes a conditioning frame; tracking
        starts at the earliest prompted frame (``reverse=False``) or the latest (``reverse=True``)
        and runs to the end of ``frames``. Objects are tracked independently (SAM 2 runs each
        object's memory separately), so grouping objects only shares the image encoder's work.

        Args:
            read: Reads a plate frame: frame number -> ``(H, W, 3) uint8`` RGB.
            frames: Consecutive plate frame numbers of the run, ascending.
            prompts: Prompts on frames inside ``frames`` (at least one per object).
            size: ``(H, W)`` of the plate; masks come out at this resolution.
            reverse: Track towards lower frame numbers.
            checkpoint: File for the run's state every :attr:`chunk` frames. If it exists and was
                written for the same model, frames and prompts, tracking resumes after the last
                checkpointed frame and only later frames are yielded.

        Yields:
            ``(plate frame, {obj_id: (H, W) bool mask})`` in tracking order, prompted frames
            included. A frame is yielded once its masks are final; the caller writes them before
            asking for the next frame (a checkpoint only covers frames already handed over).

        Raises:
            PromptError: a prompt lies outside ``frames`` or has nothing in it.
        """
        frames = list(frames)
        if not prompts:
            raise PromptError("SAM 2 propagation needs at least one prompt")
        inside = set(frames)
        for p in prompts:
            if p.frame not in inside:
                raise PromptError(
                    f"prompt on frame {p.frame} is outside the run {frames[0]}-{frames[-1]}"
                )
        key = fingerprint(
            self.name,
            self.version,
            frames,
            reverse,
            sorted((p.identity() for p in prompts), key=lambda d: (d["obj"], d["frame"])),
            list(size),
        )
        session = _Session(self.predictor, frames, read, size)
        resumed_at: int | None = None
        if checkpoint is not None and checkpoint.is_file():
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            if saved.get("key") == key:
                session.restore(saved["state"])
                resumed_at = int(saved["done"])
                log.info(
                    "resuming SAM 2 run %d-%d after frame %d",
                    frames[0],
                    frames[-1],
                    frames[resumed_at],
                )
        with torch.inference_mode(), self._autocast():
            if resumed_at is None:
                for p in sorted(prompts, key=lambda p: (p.obj_id, p.frame)):
                    session.add(p)
        if resumed_at is None:
            idx = [session.index[p.frame] for p in prompts]
            start = max(idx) if reverse else min(idx)
        else:
            start = resumed_at - 1 if reverse else resumed_at + 1
            if not 0 <= start < len(frames):
                return
        ids = session.obj_ids()

        def run():
            with torch.inference_mode():
                yield from session.propagate(start, reverse)

        for count, (i, logits) in enumerate(_stepped(run(), self._autocast), start=1):
            masks = (logits[:, 0] > 0).cpu().numpy()
            yield frames[i], {obj: masks[n] for n, obj in enumerate(ids)}
            session.release_behind(i, reverse)
            if checkpoint is not None and count % self.chunk == 0:
                _save_checkpoint(checkpoint, key, i, session)


def _save_checkpoint(path: Path, key: str, done: int, session: _Session) -> None:
    """Write ``{"key", "done", "state"}`` atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"key": key, "done": done, "state": session.snapshot()}, tmp)
    os.replace(tmp, path)
