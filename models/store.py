"""The model store: weights resolved by name from a local folder, else from the Hugging Face hub.

Layout of the store (``Settings.resolved_model_dir()``, ``ROTOFLOW_MODEL_DIR``)::

    <model_dir>/<repo_id>/                      the repository's files, as the hub has them
        config.json, model.safetensors, ...     (transformers models, from ``save_pretrained``)
        sam2.1_hiera_tiny.pt, ...               (SAM 2 checkpoints)
        rotoflow-sam2.json                      optional SAM 2 Hydra overrides (tiny test models)
        rotoflow-model.json                     our manifest: revision and sha256 of every file
    <model_dir>/.<leaf>.partial-<pid>-<rand>/   a pull or add being written (never looks finished)

A model is *staged* when its folder is complete for its kind (a SAM 2 checkpoint; a transformers
``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin``). :meth:`ModelStore.resolve`
uses a staged folder as is, pulls a missing one when the hub is reachable, and otherwise raises
:class:`~rotoflow.errors.ModelNotAvailable` at once with the command that stages it. Pulls and adds
are written beside the target and renamed into place, so a failure leaves nothing finished-looking.

It imports no torch/transformers/sam2, and imports ``huggingface_hub`` only
inside the functions that download. The catalog of models is :mod:`models.catalog`; talking
to the hub is :mod:`models.hub`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models.catalog import CATALOG, spec
from models.hub import (
    HF_METADATA_DIR,
    NOT_PYTORCH,
    hub_endpoint,
    local_dir_commit,
    probe_hub,
    remote_listing,
)
from models.spec import (  # noqa: F401  (re-exported: the store's public names)
    TRANSFORMERS_WEIGHTS,
    ModelSpec,
    StagedModel,
    missing_files,
)
from rotoflow.errors import ModelNotAvailable
from rotoflow.files import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "rotoflow-model.json"
SAM2_OVERRIDES = "rotoflow-sam2.json"
#: File suffixes that hold weights: an unlisted one in a model folder is a problem.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack")


class ModelMissing(ModelNotAvailable):
    """A store model that is not staged and that the hub could not supply.

    Attributes:
        spec: The model's table row.
        problem: What the store lacks (``"no folder ..."``, ``"folder ... lacks ..."``).
        why: Why it was not pulled (offline, hub unreachable, the pull's error).
    """

    def __init__(self, spec: ModelSpec, problem: str, why: str) -> None:
        self.spec, self.problem, self.why = spec, problem, why
        super().__init__(
            f"model {spec.name!r} ({spec.repo_id}) is not in the model store: {problem}; {why}. "
            f"On a machine with internet run `rotoflow models pull {spec.name} --dir DIR` and "
            f"copy DIR/{spec.folder} to that path (or set ROTOFLOW_MODEL_DIR)"
        )


def _several(failed: list[ModelNotAvailable]) -> str:
    """One line for several models that cannot be resolved."""
    missing = [e for e in failed if isinstance(e, ModelMissing)]
    parts = [
        f"({i}) "
        + (f"{e.spec.name!r} ({e.spec.repo_id}): {e.problem}; {e.why}" if e in missing else str(e))
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


def files_digest(files: dict[str, str]) -> str:
    """Hex sha256 of a manifest's file map: the compact JSON of the map with its keys sorted."""
    import hashlib

    blob = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    """Relative POSIX path -> hex sha256 of every file under ``folder``, except our manifest and
    the hub's download metadata (``.cache/``)."""
    return {rel: sha256_file(folder / rel) for rel in sorted(_folder_names(folder))}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class ModelStore:
    """The local model store, with the hub as fallback.

    Args:
        root: Store folder; model ``m`` lives in ``root / m.repo_id``.
        offline: Never contact the hub.
        hub_timeout: Seconds allowed for the reachability probe of the hub (a TCP connection to
            ``HF_ENDPOINT`` or huggingface.co); its result is cached for the store's lifetime.
    """

    def __init__(self, root: Path, *, offline: bool = False, hub_timeout: float = 3.0) -> None:
        self.root = Path(root)
        self.offline = offline
        self.hub_timeout = hub_timeout
        self._hub_ok: bool | None = None

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
        return self.root / spec(name).repo_id

    def is_staged(self, name: str) -> bool:
        """Whether the model's folder is present and complete for its kind."""
        s = spec(name)
        return not missing_files(s.kind, self.root / s.repo_id, s.weights)

    def hub_reachable(self) -> bool:
        """False when offline; else whether the hub answered a TCP probe (cached per store)."""
        if self.offline:
            return False
        if self._hub_ok is None:
            self._hub_ok = probe_hub(hub_endpoint(), self.hub_timeout)
            log.debug("hub %s reachable: %s", hub_endpoint(), self._hub_ok)
        return self._hub_ok

    def _why_no_hub(self) -> str:
        if self.offline:
            return "offline mode is on (ROTOFLOW_OFFLINE or HF_HUB_OFFLINE)"
        return f"the hub is unreachable ({hub_endpoint()})"

    # -- reading ----------------------------------------------------------------------------

    def resolve(self, name: str) -> StagedModel:
        """The staged model ``name``, pulling it from the hub when it is missing and the hub is
        reachable.

        A complete folder without a manifest is hashed and its manifest written (a read-only store
        is fine: the manifest is then only kept in memory).

        Raises:
            ModelNotAvailable: unknown name; the folder is missing or incomplete and the hub cannot
                be reached or the pull failed (one line naming the model, the repository, the
                folder and the ``rotoflow models pull`` command that stages it); a manifest lists
                files that are gone.
        """
        s = spec(name)
        folder = self.root / s.repo_id
        lacking = missing_files(s.kind, folder, s.weights)
        if not lacking:
            return self._staged(s, folder)
        problem = (
            f"no folder {folder}"
            if not folder.is_dir()
            else f"folder {folder} lacks {', '.join(lacking)}"
        )
        if self.hub_reachable():
            try:
                return self.pull(name)
            except ModelNotAvailable as exc:
                why = str(exc)
        else:
            why = self._why_no_hub()
        raise ModelMissing(s, problem, why)

    def resolve_all(self, names: Iterable[str]) -> dict[str, StagedModel]:
        """:meth:`resolve` every model of ``names``; ``{name: StagedModel}``.

        Raises:
            ModelNotAvailable: one or more models cannot be resolved: one line naming every one of
                them (for a single model, :meth:`resolve`'s message), with one ``rotoflow models
                pull`` command for all the missing ones.
        """
        found: dict[str, StagedModel] = {}
        failed: list[ModelNotAvailable] = []
        for name in dict.fromkeys(names):
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
        manifest = _read_manifest(folder)
        if manifest is None:
            log.info("hashing %s (no %s yet)", folder, MANIFEST)
            files = hash_folder(folder)
            staged = StagedModel(s, folder, "local", files_digest(files), files)
            try:
                _write_manifest(folder, staged)
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
        folder = self.root / s.repo_id
        if not folder.is_dir():
            return [f"no folder {folder}"]
        problems = [f"missing {m}" for m in missing_files(s.kind, folder, s.weights)]
        try:
            manifest = _read_manifest(folder)
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
        for rel in sorted(set(_folder_names(folder)) - set(listed)):
            if rel.lower().endswith(WEIGHT_SUFFIXES):
                problems.append(f"weights file not in the manifest: {rel}")
        return problems

    def list(self) -> list[dict[str, Any]]:
        """One row per catalog model for ``rotoflow models list``.

        Returns:
            Dicts with ``name``, ``kind``, ``stages`` (tuple), ``repo_id``, ``staged`` (bool),
            ``path`` (str), ``version`` (short id from the manifest; None when not staged or no
            manifest yet) and ``description``.
        """
        rows = []
        for s in CATALOG.values():
            folder = self.root / s.repo_id
            staged = not missing_files(s.kind, folder, s.weights)
            version = None
            if staged:
                try:
                    manifest = _read_manifest(folder)
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
                    "staged": staged,
                    "path": str(folder),
                    "version": version,
                    "description": s.description,
                }
            )
        return rows

    # -- writing ----------------------------------------------------------------------------

    def pull(self, name: str, revision: str | None = None) -> StagedModel:
        """Download model ``name`` from the hub into the store, replacing any folder there.

        Runs ``huggingface_hub.snapshot_download(repo_id, revision=..., local_dir=...)`` into a
        temporary sibling folder (files of other frameworks, and duplicate weights the kind does
        not load, are skipped), records the snapshot's commit hash in the manifest and renames the
        folder into place.

        Args:
            name: Catalog name.
            revision: Branch, tag or commit (default: the repository's default branch).

        Raises:
            ModelNotAvailable: unknown name; offline or hub unreachable; the download failed
                (one line each).
        """
        s = spec(name)
        if not self.hub_reachable():
            raise ModelNotAvailable(f"cannot pull {s.name!r} ({s.repo_id}): {self._why_no_hub()}")
        import huggingface_hub

        commit, remote_files = remote_listing(s.repo_id, revision, self.hub_timeout)
        ignore = list(NOT_PYTORCH)
        if s.kind == "sam2":
            ignore += ["*.safetensors", "*.bin", "*.pth", "*.ckpt"]
        elif remote_files is not None and s.weights in remote_files:
            ignore += ["pytorch_model*.bin", "pytorch_model.bin.index.json"]
        folder = self.root / s.repo_id
        tmp = _partial(folder)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            huggingface_hub.snapshot_download(
                s.repo_id,
                revision=commit or revision,
                local_dir=tmp,
                ignore_patterns=ignore,
            )
            commit = commit or local_dir_commit(tmp) or revision or "unknown"
            shutil.rmtree(tmp / HF_METADATA_DIR, ignore_errors=True)
            lacking = missing_files(s.kind, tmp, s.weights)
            if lacking:
                raise ModelNotAvailable(
                    f"pulled {s.repo_id} at {commit[:12]} but it lacks {', '.join(lacking)}"
                )
            files = hash_folder(tmp)
            staged = StagedModel(s, folder, commit, files_digest(files), files)
            _write_manifest(tmp, staged)
            _publish(tmp, folder)
        except ModelNotAvailable:
            raise
        except Exception as exc:
            raise ModelNotAvailable(
                f"cannot pull {s.name!r} ({s.repo_id}): {_one_line(exc)}"
            ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("pulled %s (%s) into %s", s.name, staged.version, folder)
        return staged

    def add(self, name: str, source: Path, revision: str = "local") -> StagedModel:
        """Copy a model folder into the store with a fresh manifest, replacing any folder there.

        For a pulled model carried to an air-gapped site, or a tiny test model. When ``source``
        holds a manifest of its own, every file is checked against it and, unless ``revision`` is
        given, its revision is kept.

        Args:
            name: Catalog name.
            source: Folder laid out as the hub repository (or as ``save_pretrained`` writes).
            revision: Label recorded in the manifest (a hub commit hash where known).

        Raises:
            ModelNotAvailable: unknown name; ``source`` is not a folder, is incomplete for the
                model's kind, or does not match its own manifest.
            OSError: the store cannot be written (nothing finished-looking is left behind).
        """
        s = spec(name)
        source = Path(source)
        if not source.is_dir():
            raise ModelNotAvailable(f"cannot add {s.name!r}: {source} is not a folder")
        lacking = missing_files(s.kind, source, s.weights)
        if lacking:
            raise ModelNotAvailable(
                f"cannot add {s.name!r}: {source} is not a complete {s.kind} model folder, it "
                f"lacks {', '.join(lacking)}"
            )
        theirs = _read_manifest(source)
        if theirs is not None and theirs.get("repo_id") not in (None, s.repo_id):
            raise ModelNotAvailable(
                f"cannot add {s.name!r}: {source} holds {theirs['repo_id']!r}, not {s.repo_id!r}"
            )
        folder = self.root / s.repo_id
        same = folder.is_dir() and folder.resolve() == source.resolve()
        tmp = source if same else _partial(folder)
        try:
            if not same:
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
            _write_manifest(tmp, staged)
            if not same:
                _publish(tmp, folder)
        finally:
            if not same:
                shutil.rmtree(tmp, ignore_errors=True)
        log.info("added %s (%s) from %s into %s", s.name, staged.version, source, folder)
        return staged


def _folder_names(folder: Path) -> list[str]:
    # The files hash_folder() would hash, without hashing them.
    names = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if here == folder and HF_METADATA_DIR in dirnames:
            dirnames.remove(HF_METADATA_DIR)
        names += [(here / f).relative_to(folder).as_posix() for f in filenames]
    return [n for n in names if n != MANIFEST and not n.startswith(f".{MANIFEST}.")]


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(f"unreadable {path}: {_one_line(exc)}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ModelNotAvailable(f"unreadable {path}: no 'files' map")
    data.setdefault("revision", "local")
    data.setdefault("sha256", files_digest(data["files"]))
    return data


def _write_manifest(folder: Path, staged: StagedModel) -> None:
    body = {
        "name": staged.spec.name,
        "repo_id": staged.spec.repo_id,
        "revision": staged.revision,
        "files": dict(sorted(staged.files.items())),
        "sha256": staged.sha256,
    }
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    os.replace(tmp, folder / MANIFEST)


def _partial(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"


def _publish(tmp: Path, folder: Path) -> None:
    """Rename the finished ``tmp`` folder to ``folder``, moving an existing one aside first."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except OSError:
        if old is not None and not folder.exists():
            os.rename(old, folder)
            old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
