"""The model store: weights resolved by name from a local folder, else from where they come from
(the Hugging Face hub, or a GitHub release for a release asset such as YOLOX-Nano's ONNX file).

Layout of the store (``Settings.resolved_model_dir()``, ``ROTOFLOW_MODEL_DIR``)::

    <model_dir>/<repo_id>/                      the repository's files, as the hub has them
        config.json, model.safetensors, ...     (transformers models, from ``save_pretrained``)
        sam2.1_hiera_tiny.pt, ...               (SAM 2 checkpoints)
        rotoflow-sam2.json                      optional SAM 2 Hydra overrides (tiny test models)
        rotoflow-model.json                     our manifest: revision and sha256 of every file
    <model_dir>/<github repo>/<name>/           a release asset (yolox_nano.onnx) and its manifest
    <model_dir>/.<leaf>.partial-<pid>-<rand>/   a pull or add being written (never looks finished)

A model is *staged* when its folder is complete for its kind (a SAM 2 checkpoint or an ONNX file; a
transformers ``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin``).
:meth:`ModelStore.resolve` uses a staged folder as is, pulls a missing one when its source is
reachable, and otherwise raises :class:`~rotoflow.errors.ModelNotAvailable` at once with the
command that stages it. Pulls and adds are written beside the target and renamed into place, so a
failure leaves nothing finished-looking (:mod:`models.manifest`).

It imports no torch/transformers/sam2, and imports ``huggingface_hub`` only inside the functions
that download. The models are the rows of the model table (:mod:`models.catalog`) that have files;
talking to the hub is :mod:`models.hub`, to GitHub :mod:`models.release`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models import release
from models.catalog import CATALOG, spec
from models.hub import HF_METADATA_DIR, hub_endpoint, probe_hub, snapshot
from models.manifest import (  # noqa: F401  (re-exported: the store's public names)
    MANIFEST,
    files_digest,
    folder_names,
    hash_folder,
    one_line,
    partial,
    publish,
    read_manifest,
    write_manifest,
)
from models.spec import (  # noqa: F401  (re-exported: the store's public names)
    SINGLE_FILE_KINDS,
    TRANSFORMERS_WEIGHTS,
    ModelSpec,
    StagedModel,
    missing_files,
)
from rotoflow.errors import ModelNotAvailable
from rotoflow.files import sha256_file

log = logging.getLogger(__name__)

SAM2_OVERRIDES = "rotoflow-sam2.json"
#: File suffixes that hold weights: an unlisted one in a model folder is a problem.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack")


class ModelMissing(ModelNotAvailable):
    """A store model that is not staged and that its source (the hub, GitHub) could not supply.

    Attributes:
        spec: The model's table row.
        problem: What the store lacks (``"no folder ..."``, ``"folder ... lacks ..."``).
        why: Why it was not pulled (offline, hub unreachable, the pull's error).
    """

    def __init__(self, spec: ModelSpec, problem: str, why: str) -> None:
        self.spec, self.problem, self.why = spec, problem, why
        super().__init__(
            f"model {spec.name!r} ({spec.origin}) is not in the model store: {problem}; {why}. "
            f"On a machine with internet run `rotoflow models pull {spec.name} --dir DIR` and "
            f"copy DIR/{spec.folder} to that path{_other_ways(spec)}"
        )


def _other_ways(s: ModelSpec) -> str:
    text = ""
    if s.source == "release":
        text += f", or stage a copy of {s.weights} with `rotoflow models add {s.name} FILE`"
    alternatives = ["set ROTOFLOW_MODEL_DIR"]
    if s.override_setting:
        alternatives.append(f"{s.override_setting} to the file")
    return f"{text} (or {', or '.join(alternatives)})"


def _several(failed: list[ModelNotAvailable]) -> str:
    """One line for several models that cannot be resolved."""
    missing = [e for e in failed if isinstance(e, ModelMissing)]
    parts = [
        f"({i}) "
        + (f"{e.spec.name!r} ({e.spec.origin}): {e.problem}; {e.why}" if e in missing else str(e))
        for i, e in enumerate(failed, start=1)
    ]
    text = f"{len(failed)} models are not available: {' '.join(parts)}"
    if missing:
        names = " ".join(e.spec.name for e in missing)
        folders = ", ".join(f"DIR/{e.spec.folder}" for e in missing)
        text += (
            f". On a machine with internet run `rotoflow models pull {names} --dir DIR` and copy "
            f"{folders} to the paths above (or set ROTOFLOW_MODEL_DIR)"
        )
    return text


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class ModelStore:
    """The local model store, with the hub (or GitHub, for release assets) as fallback.

    Args:
        root: Store folder; model ``m`` lives in ``root / m.folder``.
        offline: Never contact the hub or GitHub.
        hub_timeout: Seconds allowed for the reachability probe of a source (a TCP connection to
            ``HF_ENDPOINT`` or huggingface.co, or to github.com); its result is cached for the
            store's lifetime.
    """

    def __init__(self, root: Path, *, offline: bool = False, hub_timeout: float = 3.0) -> None:
        self.root = Path(root)
        self.offline = offline
        self.hub_timeout = hub_timeout
        self._reachable: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: Any = None) -> ModelStore:
        """The store of :class:`~rotoflow.settings.Settings` (``get_settings()`` when None):
        root ``settings.resolved_model_dir()``, offline when ``settings.offline`` or
        ``HF_HUB_OFFLINE`` is truthy."""
        if settings is None:
            from rotoflow.settings import get_settings

            settings = get_settings()
        return cls.open(settings.resolved_model_dir(), offline=bool(settings.offline))

    @classmethod
    def open(cls, root: Path, *, offline: bool = False) -> ModelStore:
        """The store at ``root``, offline when ``offline`` or ``HF_HUB_OFFLINE`` is truthy."""
        return cls(root, offline=offline or _truthy(os.environ.get("HF_HUB_OFFLINE")))

    # -- where things are -------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """Folder of model ``name`` (whether or not it exists).

        Raises:
            ModelNotAvailable: unknown name.
        """
        return self.root / spec(name).folder

    def is_staged(self, name: str) -> bool:
        """Whether the model's folder is present and complete for its kind."""
        s = spec(name)
        return not missing_files(str(s.kind), self.root / s.folder, str(s.weights))

    def reachable(self, name: str) -> bool:
        """False when offline; else whether the source of model ``name`` (the hub, or GitHub for
        a release asset) answered a TCP probe (cached per store)."""
        return self._answers(_endpoint(spec(name)))

    def _answers(self, endpoint: str) -> bool:
        if self.offline:
            return False
        if endpoint not in self._reachable:
            self._reachable[endpoint] = probe_hub(endpoint, self.hub_timeout)
            log.debug("%s reachable: %s", endpoint, self._reachable[endpoint])
        return self._reachable[endpoint]

    def _why_not(self, s: ModelSpec) -> str:
        if self.offline:
            return "offline mode is on (ROTOFLOW_OFFLINE or HF_HUB_OFFLINE)"
        if s.source == "release":
            return f"GitHub is unreachable ({release.GITHUB})"
        return f"the hub is unreachable ({hub_endpoint()})"

    # -- reading ----------------------------------------------------------------------------

    def resolve(self, name: str) -> StagedModel:
        """The staged model ``name``, pulling it from its source (the hub, or GitHub for a release
        asset) when it is missing and the source is reachable.

        A complete folder without a manifest is hashed and its manifest written (a read-only store
        is fine: the manifest is then only kept in memory).

        Raises:
            ModelNotAvailable: unknown name; the folder is missing or incomplete and the source
                cannot be reached or the pull failed (:class:`ModelMissing`: one line naming the
                model, the repository, the folder and the ``rotoflow models pull`` command that
                stages it); a manifest lists files that are gone.
        """
        s = spec(name)
        folder = self.root / s.folder
        lacking = missing_files(str(s.kind), folder, str(s.weights))
        if not lacking:
            return self._staged(s, folder)
        problem = (
            f"no folder {folder}"
            if not folder.is_dir()
            else f"folder {folder} lacks {', '.join(lacking)}"
        )
        if self.reachable(name):
            try:
                return self.pull(name)
            except ModelNotAvailable as exc:
                why = str(exc)
        else:
            why = self._why_not(s)
        raise ModelMissing(s, problem, why)

    def resolve_all(
        self, names: Iterable[str], files: dict[str, Path] | None = None
    ) -> dict[str, StagedModel]:
        """:meth:`resolve` every model of ``names``; ``{name: StagedModel}``.

        Args:
            names: Model names.
            files: Explicit weights files to use instead of the store's, by model name
                (``ROTOFLOW_YOLOX_MODEL``): such a model is not looked up in the store, only its
                file checked to exist, and it is left out of the result.

        Raises:
            ModelNotAvailable: one or more models cannot be resolved: one line naming every one of
                them (for a single model, :meth:`resolve`'s message), with one ``rotoflow models
                pull`` command for all the missing ones.
        """
        found: dict[str, StagedModel] = {}
        failed: list[ModelNotAvailable] = []
        for name in dict.fromkeys(names):
            explicit = (files or {}).get(name)
            if explicit is not None:
                if not Path(explicit).is_file():
                    failed.append(_no_file(spec(name), Path(explicit)))
                continue
            try:
                found[name] = self.resolve(name)
            except ModelNotAvailable as exc:
                failed.append(exc)
        if len(failed) == 1:
            raise failed[0]
        if failed:
            raise ModelNotAvailable(_several(failed))
        return found

    def _staged(self, s: ModelSpec, folder: Path) -> StagedModel:
        manifest = read_manifest(folder)
        if manifest is None:
            log.info("hashing %s (no %s yet)", folder, MANIFEST)
            files = hash_folder(folder)
            staged = StagedModel(s, folder, "local", files_digest(files), files)
            try:
                write_manifest(folder, staged)
            except OSError as exc:
                log.info("cannot write %s in %s (%s); going on", MANIFEST, folder, exc.strerror)
            return staged
        gone = sorted(rel for rel in manifest["files"] if not (folder / rel).is_file())
        if gone:
            raise ModelNotAvailable(
                f"model {s.name!r} in {folder} is damaged: missing {', '.join(gone)}; run "
                f"`rotoflow models verify {s.name}` and pull or add it again"
            )
        return StagedModel(
            s, folder, str(manifest["revision"]), str(manifest["sha256"]), dict(manifest["files"])
        )

    def verify(self, name: str) -> list[str]:
        """Check a model folder against its manifest, re-hashing every file.

        Returns:
            One line per problem (missing folder, incomplete folder, no or unreadable manifest,
            manifest for another model, missing file, checksum mismatch, manifest digest mismatch,
            weights file not in the manifest); empty when the folder is good.

        Raises:
            ModelNotAvailable: unknown name.
        """
        s = spec(name)
        folder = self.root / s.folder
        if not folder.is_dir():
            return [f"no folder {folder}"]
        problems = [f"missing {m}" for m in missing_files(str(s.kind), folder, str(s.weights))]
        try:
            manifest = read_manifest(folder)
        except ModelNotAvailable as exc:
            return [*problems, str(exc)]
        if manifest is None:
            return [
                *problems,
                f"no {MANIFEST} in {folder} (run `rotoflow models add {s.name} {folder}`)",
            ]
        if manifest.get("repo_id") != s.repo_id:
            problems.append(f"{MANIFEST} is for {manifest.get('repo_id')!r}, not {s.repo_id!r}")
        listed: dict[str, str] = manifest["files"]
        if files_digest(listed) != manifest.get("sha256"):
            problems.append(f"{MANIFEST} digest does not match its file list")
        for rel, digest in sorted(listed.items()):
            path = folder / rel
            if not path.is_file():
                problems.append(f"missing file {rel}")
            elif sha256_file(path) != digest:
                problems.append(f"checksum mismatch: {rel}")
        for rel in sorted(set(folder_names(folder)) - set(listed)):
            if rel.lower().endswith(WEIGHT_SUFFIXES):
                problems.append(f"weights file not in the manifest: {rel}")
        return problems

    def list(self) -> list[dict[str, Any]]:
        """One row per catalog model for ``rotoflow models list``.

        Returns:
            Dicts with ``name``, ``kind``, ``stages`` (tuple), ``repo_id``, ``origin`` (the
            repository, with the release tag for a release asset), ``staged`` (bool), ``path``
            (str), ``version`` (short id from the manifest; None when not staged or no manifest
            yet) and ``description``.
        """
        rows = []
        for s in CATALOG.values():
            folder = self.root / s.folder
            staged = not missing_files(str(s.kind), folder, str(s.weights))
            version = None
            if staged:
                try:
                    manifest = read_manifest(folder)
                except ModelNotAvailable:
                    manifest = None
                if manifest is not None:
                    version = StagedModel(s, folder, str(manifest["revision"]), "").version
            rows.append(
                {
                    "name": s.name,
                    "kind": s.kind,
                    "stages": s.stages,
                    "repo_id": s.repo_id,
                    "origin": s.origin,
                    "staged": staged,
                    "path": str(folder),
                    "version": version,
                    "description": s.description,
                }
            )
        return rows

    # -- writing ----------------------------------------------------------------------------

    def pull(self, name: str, revision: str | None = None) -> StagedModel:
        """Download model ``name`` from its source into the store, replacing any folder there.

        A hub model runs ``huggingface_hub.snapshot_download(repo_id, revision=...,
        local_dir=...)`` (:func:`models.hub.snapshot`: files of other frameworks, and duplicate
        weights the kind does not load, are skipped) and records the snapshot's commit hash; a
        release asset is downloaded from its GitHub release (:mod:`models.release`) and records
        the release tag. Either is written into a temporary sibling folder and renamed into place.

        Args:
            name: Catalog name.
            revision: Branch, tag or commit (default: the repository's default branch), or for a
                release asset the release tag (default: the table's).

        Raises:
            ModelNotAvailable: unknown name; offline or the source unreachable; the download
                failed (one line each).
        """
        s = spec(name)
        if not self.reachable(name):
            raise ModelNotAvailable(f"cannot pull {s.name!r} ({s.origin}): {self._why_not(s)}")
        folder = self.root / s.folder
        tmp = partial(folder)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            if s.source == "release":
                revision = revision or str(s.release)
                tmp.mkdir()
                url = release.asset_url(str(s.repo_id), revision, str(s.weights))
                release.download(url, tmp / str(s.weights), max(self.hub_timeout, 30.0))
            else:
                revision = snapshot(
                    str(s.repo_id), str(s.kind), str(s.weights), tmp, revision, self.hub_timeout
                )
            lacking = missing_files(str(s.kind), tmp, str(s.weights))
            if lacking:
                raise ModelNotAvailable(
                    f"pulled {s.repo_id} at {revision[:12]} but it lacks {', '.join(lacking)}"
                )
            files = hash_folder(tmp)
            staged = StagedModel(s, folder, revision, files_digest(files), files)
            write_manifest(tmp, staged)
            publish(tmp, folder)
        except ModelNotAvailable:
            raise
        except Exception as exc:
            raise ModelNotAvailable(
                f"cannot pull {s.name!r} ({s.origin}): {one_line(exc)}"
            ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("pulled %s (%s) into %s", s.name, staged.version, folder)
        return staged

    def add(self, name: str, source: Path, revision: str = "local") -> StagedModel:
        """Copy a model folder into the store with a fresh manifest, replacing any folder there.

        For a pulled model carried to an air-gapped site, a copy of a release asset, or a tiny
        test model. When ``source`` holds a manifest of its own, every file is checked against it
        and, unless ``revision`` is given, its revision is kept.

        Args:
            name: Catalog name.
            source: Folder laid out as the hub repository (or as ``save_pretrained`` writes); for
                a model whose folder is one weights file (a SAM 2 checkpoint, an ONNX file), that
                file itself will do (it is stored under the table's weights name).
            revision: Label recorded in the manifest (a hub commit hash where known).

        Raises:
            ModelNotAvailable: unknown name; ``source`` is not a folder (nor, for a one-file
                model, a file), is incomplete for the model's kind, or does not match its own
                manifest.
            OSError: the store cannot be written (nothing finished-looking is left behind).
        """
        s = spec(name)
        source = Path(source)
        folder = self.root / s.folder
        one_file = s.kind in SINGLE_FILE_KINDS and source.is_file()
        if one_file and source.name == s.weights and source.parent.resolve() == folder.resolve():
            source, one_file = folder, False  # the store's own file: add its folder in place
        if not one_file:
            self._check_source(s, source)
        theirs = None if one_file else read_manifest(source)
        if theirs is not None and theirs.get("repo_id") not in (None, s.repo_id):
            raise ModelNotAvailable(
                f"cannot add {s.name!r}: {source} holds {theirs['repo_id']!r}, not {s.repo_id!r}"
            )
        same = not one_file and folder.is_dir() and folder.resolve() == source.resolve()
        tmp = source if same else partial(folder)
        try:
            if one_file:
                tmp.mkdir(parents=True)
                shutil.copyfile(source, tmp / str(s.weights))
            elif not same:
                shutil.copytree(
                    source, tmp, ignore=shutil.ignore_patterns(MANIFEST, HF_METADATA_DIR)
                )
            files = hash_folder(tmp)
            if theirs is not None:
                bad = sorted(r for r, d in theirs["files"].items() if files.get(r) != d)
                if bad:
                    raise ModelNotAvailable(
                        f"cannot add {s.name!r}: {source} does not match its {MANIFEST} "
                        f"(missing or changed: {', '.join(bad)}); delete that manifest to add "
                        "the folder as it is"
                    )
                if revision == "local":
                    revision = str(theirs.get("revision") or "local")
            staged = StagedModel(s, folder, revision, files_digest(files), files)
            write_manifest(tmp, staged)
            if not same:
                publish(tmp, folder)
        finally:
            if not same:
                shutil.rmtree(tmp, ignore_errors=True)
        log.info("added %s (%s) from %s into %s", s.name, staged.version, source, folder)
        return staged

    @staticmethod
    def _check_source(s: ModelSpec, source: Path) -> None:
        if not source.is_dir():
            also = f" or a {s.weights} file" if s.kind in SINGLE_FILE_KINDS else ""
            raise ModelNotAvailable(f"cannot add {s.name!r}: {source} is not a folder{also}")
        lacking = missing_files(str(s.kind), source, str(s.weights))
        if lacking:
            raise ModelNotAvailable(
                f"cannot add {s.name!r}: {source} is not a complete {s.kind} model folder, it "
                f"lacks {', '.join(lacking)}"
            )


def _endpoint(s: ModelSpec) -> str:
    return release.GITHUB if s.source == "release" else hub_endpoint()


def _no_file(s: ModelSpec, path: Path) -> ModelNotAvailable:
    return ModelNotAvailable(
        f"model {s.name!r}: {s.override_setting} names no file at {path}; point it at the "
        f"{s.weights} file, or unset it to use the model store"
    )
