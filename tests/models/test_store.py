"""The model store: staged folders, manifests, verification, offline errors, atomic pulls and adds.

Nothing here reaches the network: the hub is either off (``offline=True``), a closed local port, or
``huggingface_hub`` is replaced by a fake that copies a local folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest

from models import store as modelstore
from models.store import CATALOG, MANIFEST, ModelStore, files_digest, spec
from rotoflow.errors import ModelNotAvailable
from rotoflow.settings import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DINO = "grounding-dino-tiny"
SAM = "sam2.1-hiera-tiny"


def fake_transformers(folder: Path, seed: int = 0) -> Path:
    """A transformers-shaped folder: the store never loads weights, so random bytes will do."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "grounding-dino", "seed": seed}))
    (folder / "preprocessor_config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    return folder


def fake_sam2(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / spec(SAM).weights).write_bytes(os.urandom(2048))
    (folder / "rotoflow-sam2.json").write_text(json.dumps({"hydra_overrides": ["++x=1"]}))
    return folder


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    """Any probe of the real hub goes to a closed local port."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def online(monkeypatch) -> list[tuple]:
    """Pretend the hub answers; returns the list of probes made."""
    probes: list[tuple] = []

    def probe(endpoint, timeout):
        probes.append((endpoint, timeout))
        return True

    monkeypatch.setattr(modelstore, "probe_hub", probe)
    return probes


def fake_download(monkeypatch, source: Path, *, commit: str | None = COMMIT, fail_after=None):
    """Replace snapshot_download by a copy of ``source`` (with hub-style download metadata);
    ``fail_after`` = n copies n files and then raises like a dropped connection."""
    calls: list[dict] = []

    def snapshot_download(repo_id, *, revision=None, local_dir=None, ignore_patterns=None, **kw):
        calls.append(dict(repo_id=repo_id, revision=revision, ignore_patterns=ignore_patterns))
        local_dir = Path(local_dir)
        local_dir.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(sorted(source.iterdir())):
            if fail_after is not None and i == fail_after:
                raise ConnectionError("connection reset by peer\nwhile downloading")
            shutil.copy(f, local_dir / f.name)
            meta = local_dir / ".cache/huggingface/download" / f"{f.name}.metadata"
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(f"{commit or 'x'}\netag\n{time.time()}\n")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def fake_model_info(monkeypatch, files: list[str] | None, sha: str = COMMIT) -> None:
    def model_info(self, repo_id, *, revision=None, timeout=None, **kw):
        if files is None:
            raise ConnectionError("no route to host")
        return SimpleNamespace(sha=sha, siblings=[SimpleNamespace(rfilename=f) for f in files])

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)


def test_catalog_and_unknown_name():
    assert set(CATALOG) == {
        "yolox-nano",
        "sam2.1-hiera-tiny",
        "sam2.1-hiera-small",
        "sam2.1-hiera-base-plus",
        "sam2.1-hiera-large",
        "grounding-dino-tiny",
        "grounding-dino-base",
        "vitmatte-small",
        "vitmatte-base",
    }
    bp = spec("sam2.1-hiera-base-plus")
    assert (bp.repo_id, bp.weights, bp.sam2_config) == (
        "facebook/sam2.1-hiera-base-plus",
        "sam2.1_hiera_base_plus.pt",
        "configs/sam2.1/sam2.1_hiera_b+.yaml",
    )
    assert spec("vitmatte-small").repo_id == "hustvl/vitmatte-small-composition-1k"
    assert spec(DINO).sam2_config is None and spec(DINO).stages == ("detector",)
    with pytest.raises(ModelNotAvailable, match="sam2.1-hiera-tiny.*vitmatte-base"):
        spec("sam3")


def test_resolve_staged_folder_writes_manifest_and_verifies(tmp_path):
    store = ModelStore(tmp_path / "models", offline=True)
    folder = fake_transformers(tmp_path / "models" / "IDEA-Research" / "grounding-dino-tiny")
    assert store.path(DINO) == folder and store.is_staged(DINO)

    staged = store.resolve(DINO)
    expected = {f.name: sha(f) for f in folder.iterdir() if f.name != MANIFEST}
    assert staged.path == folder
    assert staged.files == expected
    assert staged.revision == "local" and staged.version == "local"
    assert staged.sha256 == files_digest(expected)
    assert staged.weights == folder / "model.safetensors"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest == {
        "name": DINO,
        "repo_id": "IDEA-Research/grounding-dino-tiny",
        "revision": "local",
        "files": expected,
        "sha256": staged.sha256,
    }
    assert store.verify(DINO) == []
    # A second resolve reads the manifest instead of hashing again.
    assert store.resolve(DINO) == staged


def test_read_only_store_resolves_without_manifest(tmp_path, monkeypatch):
    folder = fake_transformers(tmp_path / "IDEA-Research" / "grounding-dino-tiny")

    def read_only(folder, staged):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(modelstore, "write_manifest", read_only)
    staged = ModelStore(tmp_path, offline=True).resolve(DINO)
    assert staged.sha256 == files_digest({f.name: sha(f) for f in folder.iterdir()})
    assert not (folder / MANIFEST).exists()


def test_verify_reports_corruption_missing_and_extra_weights(tmp_path):
    store = ModelStore(tmp_path, offline=True)
    assert store.verify(DINO) == [f"no folder {store.path(DINO)}"]
    folder = fake_transformers(store.path(DINO))
    store.resolve(DINO)

    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    (folder / "preprocessor_config.json").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"stray")
    assert store.verify(DINO) == [
        "checksum mismatch: model.safetensors",
        "missing file preprocessor_config.json",
        "weights file not in the manifest: pytorch_model.bin",
    ]
    # resolve refuses a folder whose manifest lists files that are gone.
    with pytest.raises(ModelNotAvailable, match="damaged: missing preprocessor_config.json"):
        store.resolve(DINO)


def test_verify_without_manifest_and_incomplete(tmp_path):
    store = ModelStore(tmp_path, offline=True)
    folder = fake_transformers(store.path(DINO))
    (folder / "config.json").unlink()
    problems = store.verify(DINO)
    assert problems[0] == "missing config.json"
    assert f"no {MANIFEST}" in problems[1] and "rotoflow models add" in problems[1]


def test_missing_model_offline_fails_fast_with_instructions(tmp_path):
    store = ModelStore(tmp_path / "models", offline=True)
    t0 = time.monotonic()
    with pytest.raises(ModelNotAvailable) as info:
        store.resolve(SAM)
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert "\n" not in msg
    for part in (
        "'sam2.1-hiera-tiny'",
        "facebook/sam2.1-hiera-tiny",
        str(tmp_path / "models" / "facebook" / "sam2.1-hiera-tiny"),
        "offline",
        "rotoflow models pull sam2.1-hiera-tiny --dir DIR",
        "ROTOFLOW_MODEL_DIR",
    ):
        assert part in msg, msg


def test_missing_model_with_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    probes = []
    real = modelstore.probe_hub
    monkeypatch.setattr(modelstore, "probe_hub", lambda e, t: probes.append(e) or real(e, t))
    store = ModelStore(tmp_path, hub_timeout=3.0)
    # An incomplete folder (weights not copied yet) is not staged.
    store.path(DINO).mkdir(parents=True)
    (store.path(DINO) / "config.json").write_text("{}")
    t0 = time.monotonic()
    for name in (SAM, DINO):
        with pytest.raises(ModelNotAvailable, match="hub is unreachable") as info:
            store.resolve(name)
    assert time.monotonic() - t0 < 10
    assert "lacks model.safetensors or pytorch_model.bin" in str(info.value)
    assert probes == ["http://127.0.0.1:9"]  # probed once per store


def test_resolve_all_names_every_missing_model_in_one_line(tmp_path):
    store = ModelStore(tmp_path, offline=True)
    fake_transformers(store.path("vitmatte-small"))
    with pytest.raises(ModelNotAvailable) as one:
        store.resolve(SAM)
    with pytest.raises(ModelNotAvailable) as alone:
        store.resolve_all([SAM, "vitmatte-small"])
    assert str(alone.value) == str(one.value)  # a single missing model: resolve's own message

    with pytest.raises(ModelNotAvailable) as several:
        store.resolve_all([DINO, "vitmatte-small", SAM, DINO])
    msg = str(several.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"2 models are not available: (1) '{DINO}' (IDEA-Research/grounding-dino-tiny): no folder "
        f"{store.path(DINO)}; offline mode is on"
    )
    assert f"(2) '{SAM}' (facebook/sam2.1-hiera-tiny): no folder {store.path(SAM)}" in msg
    assert msg.endswith(
        f"run `rotoflow models pull {DINO} {SAM} --dir DIR` and copy "
        f"DIR/IDEA-Research/grounding-dino-tiny, DIR/facebook/sam2.1-hiera-tiny to the paths "
        "above (or set ROTOFLOW_MODEL_DIR)"
    )
    assert set(store.resolve_all(["vitmatte-small"])) == {"vitmatte-small"}


def test_probe_hub(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert modelstore.probe_hub(f"http://127.0.0.1:{port}", 2.0)
    t0 = time.monotonic()
    assert not modelstore.probe_hub(f"http://127.0.0.1:{port}", 2.0)  # closed now
    assert not modelstore.probe_hub("https://hub.invalid", 2.0)
    assert time.monotonic() - t0 < 5


def test_from_settings(tmp_path, monkeypatch):
    store = ModelStore.from_settings(Settings(home=tmp_path))
    assert store.root == tmp_path / "models" and not store.offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = ModelStore.from_settings(Settings(home=tmp_path, model_dir=tmp_path / "m"))
    assert store.root == tmp_path / "m" and store.offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert ModelStore.from_settings(Settings(home=tmp_path, offline=True)).offline


def test_pull_writes_manifest_with_commit(tmp_path, monkeypatch):
    source = fake_transformers(tmp_path / "hub")
    online(monkeypatch)
    fake_model_info(monkeypatch, ["config.json", "model.safetensors", "pytorch_model.bin"])
    calls = fake_download(monkeypatch, source)
    store = ModelStore(tmp_path / "models")

    staged = store.pull(DINO)
    folder = store.path(DINO)
    assert staged.path == folder and staged.revision == COMMIT and staged.version == COMMIT[:12]
    assert calls[0]["repo_id"] == "IDEA-Research/grounding-dino-tiny"
    assert calls[0]["revision"] == COMMIT  # pinned to the commit the manifest records
    assert "pytorch_model*.bin" in calls[0]["ignore_patterns"]  # no duplicate weights
    assert not (folder / ".cache").exists()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["revision"] == COMMIT
    assert manifest["files"] == {f.name: sha(f) for f in source.iterdir()}
    assert store.verify(DINO) == []
    assert [p.name for p in folder.parent.iterdir()] == ["grounding-dino-tiny"]


def test_pull_reads_commit_from_download_metadata(tmp_path, monkeypatch):
    source = fake_sam2(tmp_path / "hub")
    online(monkeypatch)
    fake_model_info(monkeypatch, None)  # the API call fails; the download still works
    calls = fake_download(monkeypatch, source)
    staged = ModelStore(tmp_path / "models").pull(SAM, revision="main")
    assert calls[0]["revision"] == "main"
    assert "*.safetensors" in calls[0]["ignore_patterns"]  # sam2 needs only the checkpoint
    assert staged.revision == COMMIT
    assert set(staged.files) == {"sam2.1_hiera_tiny.pt", "rotoflow-sam2.json"}


def test_failed_pull_leaves_nothing_finished(tmp_path, monkeypatch):
    source = fake_transformers(tmp_path / "hub")
    online(monkeypatch)
    fake_model_info(monkeypatch, ["config.json", "model.safetensors"])
    fake_download(monkeypatch, source, fail_after=2)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelNotAvailable) as info:
        store.pull(DINO)
    msg = str(info.value)
    assert "\n" not in msg and "cannot pull 'grounding-dino-tiny'" in msg
    assert "connection reset by peer" in msg
    assert not store.path(DINO).exists() and not store.is_staged(DINO)
    assert list(store.path(DINO).parent.iterdir()) == []

    # A model already staged survives a failed re-pull untouched.
    store.add(DINO, source)
    with pytest.raises(ModelNotAvailable):
        store.pull(DINO)
    assert store.verify(DINO) == []
    assert [p.name for p in store.path(DINO).parent.iterdir()] == ["grounding-dino-tiny"]


def test_pull_offline_is_one_line(tmp_path):
    with pytest.raises(ModelNotAvailable) as info:
        ModelStore(tmp_path, offline=True).pull("vitmatte-base")
    assert str(info.value) == (
        "cannot pull 'vitmatte-base' (hustvl/vitmatte-base-composition-1k): offline mode is on "
        "(ROTOFLOW_OFFLINE or HF_HUB_OFFLINE)"
    )


def test_resolve_pulls_missing_model_when_online(tmp_path, monkeypatch):
    source = fake_transformers(tmp_path / "hub")
    online(monkeypatch)
    fake_model_info(monkeypatch, ["config.json", "model.safetensors"])
    fake_download(monkeypatch, source)
    staged = ModelStore(tmp_path / "models").resolve("vitmatte-small")
    assert staged.path == tmp_path / "models/hustvl/vitmatte-small-composition-1k"
    assert staged.version == COMMIT[:12]


def test_add_copies_and_keeps_a_carried_manifest(tmp_path):
    site_a = ModelStore(tmp_path / "a", offline=True)
    site_a.add(SAM, fake_sam2(tmp_path / "src"), revision=COMMIT)
    # Carry the folder to another store (an air-gapped site): the revision comes along.
    site_b = ModelStore(tmp_path / "b", offline=True)
    staged = site_b.add(SAM, site_a.path(SAM))
    assert staged.path == tmp_path / "b/facebook/sam2.1-hiera-tiny"
    assert staged.version == COMMIT[:12] and staged.sha256 == site_a.resolve(SAM).sha256
    assert staged.weights == staged.path / "sam2.1_hiera_tiny.pt"
    assert "rotoflow-sam2.json" in staged.files
    assert site_b.verify(SAM) == []

    # A copy damaged on the way is refused.
    damaged = tmp_path / "damaged"
    shutil.copytree(site_a.path(SAM), damaged)
    (damaged / "rotoflow-sam2.json").write_text("{}")
    with pytest.raises(ModelNotAvailable, match="does not match.*rotoflow-sam2.json"):
        site_b.add(SAM, damaged)
    assert site_b.verify(SAM) == []


def test_add_in_place_writes_manifest(tmp_path):
    store = ModelStore(tmp_path, offline=True)
    folder = fake_transformers(store.path("vitmatte-base"))
    staged = store.add("vitmatte-base", folder)
    assert (folder / MANIFEST).is_file() and staged.files["model.safetensors"]
    assert store.verify("vitmatte-base") == []


def test_add_rejects_incomplete_folders(tmp_path):
    store = ModelStore(tmp_path / "models", offline=True)
    src = fake_transformers(tmp_path / "src")
    (src / "config.json").unlink()
    with pytest.raises(
        ModelNotAvailable, match=r"not a complete transformers .* lacks config\.json"
    ):
        store.add(DINO, src)
    with pytest.raises(ModelNotAvailable, match=r"lacks sam2\.1_hiera_tiny\.pt"):
        store.add(SAM, src)
    with pytest.raises(ModelNotAvailable, match="is not a folder"):
        store.add(DINO, tmp_path / "nowhere")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*"))


def test_list_rows(tmp_path):
    store = ModelStore(tmp_path, offline=True)
    store.add(SAM, fake_sam2(tmp_path / "src"), revision=COMMIT)
    rows = {r["name"]: r for r in store.list()}
    assert set(rows) == set(CATALOG)
    assert rows[SAM]["staged"] and rows[SAM]["version"] == COMMIT[:12]
    assert rows[SAM]["stages"] == ("segmenter", "tracker")
    assert rows[DINO]["staged"] is False and rows[DINO]["version"] is None
    assert rows[DINO]["path"] == str(tmp_path / "IDEA-Research/grounding-dino-tiny")


@pytest.fixture(scope="module")
def tiny_vitmatte(tmp_path_factory) -> Path:
    """A real ``save_pretrained`` folder of a tiny random ViTMatte."""
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    backbone = VitDetConfig(
        num_channels=4,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=64,
        pretrain_image_size=32,
        patch_size=16,
        out_features=["stage2"],
    )
    config = VitMatteConfig(
        backbone_config=backbone,
        convstream_hidden_sizes=[8, 16, 16],
        fusion_hidden_sizes=[16, 16, 16, 8],
        hidden_size=32,
    )
    folder = tmp_path_factory.mktemp("vitmatte") / "tiny"
    VitMatteForImageMatting(config).save_pretrained(folder)
    return folder


def test_save_pretrained_folder_round_trip(tmp_path, tiny_vitmatte):
    """What save_pretrained writes is a complete folder; the resolved path loads offline."""
    from transformers import VitMatteForImageMatting

    store = ModelStore(tmp_path, offline=True)
    store.add("vitmatte-small", tiny_vitmatte)
    staged = store.resolve("vitmatte-small")
    assert staged.weights.name in ("model.safetensors", "pytorch_model.bin")
    model = VitMatteForImageMatting.from_pretrained(staged.path, local_files_only=True)
    assert model.config.hidden_size == 32
