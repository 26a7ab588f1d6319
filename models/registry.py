"""Model sets by name, with per-stage overrides, built from a resolved job.

- ``"lite"``: YOLOX-Nano (ONNX) + GrabCut + optical-flow tracker + pymatting, all on CPU.
- ``"full"``: Grounding DINO tiny (text -> boxes), SAM 2.1 (keyframe masks and propagation; base+
  on a GPU, tiny on CPU) and ViTMatte small (edges), weights from the model store
  (:mod:`models.store`).

Any stage can name another model (``{"tracker": "sam2.1-hiera-large"}``); names are checked against
the model table (:mod:`models.catalog`). Store models are resolved before anything heavy is
imported, so a missing model fails in seconds with the store's message. Every model is built from
the :class:`~rotoflow.pipeline.ResolvedJob` alone (its thresholds, trimap band, device and model
store), so what a model does is what the job's cache keys say.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from models.base import ModelSet
from models.catalog import MODELS, STAGES, choices
from models.spec import StagedModel
from models.store import ModelStore
from rotoflow.errors import ModelNotAvailable
from rotoflow.pipeline import ResolvedJob
from rotoflow.prompts import ShotPrompts

AVAILABLE = ("lite", "full")
_LITE = {"detector": "yolox-nano", "segmenter": "grabcut", "tracker": "flow", "matter": "pymatting"}


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def stage_models(
    name: str, overrides: dict[str, str] | None = None, device: str = "auto"
) -> dict[str, str]:
    """The model name of every stage for set ``name`` with ``overrides`` applied.

    Raises:
        ModelNotAvailable: unknown set, stage or model name (the message lists the choices).
    """
    if name == "lite":
        chosen = dict(_LITE)
    elif name == "full":
        gpu = device.startswith("cuda") or (device == "auto" and _cuda())
        sam2 = "sam2.1-hiera-base-plus" if gpu else "sam2.1-hiera-tiny"
        chosen = {
            "detector": "grounding-dino-tiny",
            "segmenter": sam2,
            "tracker": sam2,
            "matter": "vitmatte-small",
        }
    else:
        raise ModelNotAvailable(f"unknown model set {name!r}; available: {', '.join(AVAILABLE)}")
    for stage, model in (overrides or {}).items():
        if stage not in STAGES:
            raise ModelNotAvailable(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        if model not in choices(stage):
            raise ModelNotAvailable(
                f"{stage} {model!r} is not available; choose one of {', '.join(choices(stage))}"
            )
        chosen[stage] = model
    return chosen


def stages_needed(prompts: ShotPrompts) -> tuple[str, ...]:
    """The stages whose models a shot's prompts need: every stage but the detector when no object
    has a text prompt (boxes, clicks and masks are used as given)."""
    if any(o.text for o in prompts.objects):
        return STAGES
    return tuple(s for s in STAGES if s != "detector")


def needed_models(job: ResolvedJob) -> dict[str, str]:
    """``{stage: model name}`` of the stages the job's prompts need (:func:`stages_needed`).

    Raises:
        ModelNotAvailable: unknown set, stage or model name (the message lists the choices).
    """
    chosen = stage_models(job.models, job.overrides, job.device)
    return {s: chosen[s] for s in stages_needed(job.prompts)}


class NotNeeded:
    """Stands in for the detector of a job whose prompts have no text: its model is neither
    resolved nor loaded, provenance names it ``<model>@unused``, and any call fails."""

    version = "unused"
    picks_one_object = False

    def __init__(self, name: str) -> None:
        self.name = name

    def _fail(self):
        raise ModelNotAvailable(
            f"detector {self.name!r} was not loaded: the job's prompts have no text"
        )

    def resolve_text(self, text: str) -> list[str]:
        self._fail()

    def detect(self, image, classes=None):
        self._fail()


def model_store(job: ResolvedJob) -> ModelStore:
    """The job's model store: ``job.model_dir``, offline when ``job.offline`` (or
    ``HF_HUB_OFFLINE``)."""
    return ModelStore.open(Path(job.model_dir), offline=job.offline)


def staged_models(job: ResolvedJob) -> dict[str, StagedModel]:
    """``{model name: StagedModel}`` of the store models the job needs (its set and overrides, for
    the stages its prompts need), resolved without importing anything heavy. A model whose weights
    the job names explicitly (:func:`explicit_files`) is only checked to exist, and left out.

    Raises:
        ModelNotAvailable: unknown set, stage or model; models are missing and the hub cannot
            supply them (one message naming every one).
    """
    stored = [m for m in needed_models(job).values() if MODELS[m].stored]
    return model_store(job).resolve_all(stored, files=explicit_files(job))


def explicit_files(job: ResolvedJob) -> dict[str, Path]:
    """``{model name: file}`` of the models whose weights the job names explicitly instead of
    the store's (``job.yolox_model``, from ``ROTOFLOW_YOLOX_MODEL``; see ``ModelSpec.override``).
    """
    files = {}
    for name, entry in MODELS.items():
        path = getattr(job, entry.override) if entry.override else None
        if path:
            files[name] = Path(path)
    return files


def _key(job: ResolvedJob) -> tuple:
    """What the models of a job are built from (everything the loaders read)."""
    return (
        job.models,
        tuple(sorted(job.overrides.items())),
        job.model_dir,
        job.offline,
        job.device,
        job.yolox_model,
        job.detector_threshold,
        job.text_threshold,
        job.trimap_band,
        stages_needed(job.prompts),
    )


_loaded: OrderedDict[tuple, ModelSet] = OrderedDict()
_lock = threading.Lock()
_KEEP = 4


def load_model_set(job: ResolvedJob) -> ModelSet:
    """The model set of a resolved job (its set, overrides, thresholds, trimap band, device and
    model store), loaded once per process for the same values.

    Only the models the job's prompts need are resolved and loaded (:func:`stages_needed`): with
    no text prompt the detector is a :class:`NotNeeded`. A model serving two stages (SAM 2 as
    segmenter and tracker) is loaded once.

    Raises:
        ModelNotAvailable: unknown set, stage or model; store models missing with no hub (one
            message naming every one, see :meth:`models.store.ModelStore.resolve_all`).
    """
    chosen = stage_models(job.models, job.overrides, job.device)  # validate before the cache
    needed = needed_models(job)
    key = _key(job)
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        # Resolve every store model first: a missing one fails before torch is imported.
        staged = staged_models(job)
        built: dict[str, object] = {}
        for model in dict.fromkeys(needed.values()):
            entry = MODELS[model]
            built[model] = entry.loader(entry, staged.get(model), job)
        models = ModelSet(
            name=job.models,
            checksums={s: staged[m].sha256 for s, m in needed.items() if m in staged},
            **{s: built[m] if s in needed else NotNeeded(m) for s, m in chosen.items()},
        )
        _loaded[key] = models
        while len(_loaded) > _KEEP:
            _loaded.popitem(last=False)
        return models
