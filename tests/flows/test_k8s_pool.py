"""The Kubernetes GPU farm: ``deployments/k8s-gpu-pool.json`` (the ``rotoflow-gpu`` work pool's
base job template) rendered into a Job the way the prefect-kubernetes worker renders it for a flow
run, the Job read back through the Kubernetes API models (a misspelt or misplaced key is dropped
there), the ``roto-shot-gpu`` deployment of ``deployments/prefect.yaml``, and
``deployments/Dockerfile``, the image the Jobs run, checked statically (no Docker daemon here)."""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import json
import re
import shlex
import tomllib
from typing import Any
from uuid import uuid4

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, V1Job
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.flows import load_flow_from_entrypoint
from prefect.server.schemas.actions import WorkPoolCreate
from prefect.utilities.schema_tools import ValidationError, is_valid_schema, validate
from prefect.utilities.templating import PlaceholderType, find_placeholders
from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

from tests.conftest import REPO

DEPLOYMENTS = REPO / "deployments"
TEMPLATE = json.loads((DEPLOYMENTS / "k8s-gpu-pool.json").read_text(encoding="utf-8"))
VARIABLES = TEMPLATE["variables"]
SPEC = yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text(encoding="utf-8"))
GPU_DEPLOYMENT = next(d for d in SPEC["deployments"] if d["name"] == "roto-shot-gpu")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
GPU = "nvidia.com/gpu"
SERVER_CHECK = {"ignore_required": True, "allow_none_with_default": True}
"""How the server validates a deployment's or a flow run's job variables."""

# Prefect's default template puts these two Job fields in the pod spec, where Kubernetes ignores
# them, and the worker refuses a template without them: the only keys the API models may drop.
PREFECT_MISPLACED = {"/spec/template/spec/parallelism", "/spec/template/spec/completions"}

OVERRIDES = {
    "image": f"registry.example.com/vfx/rotoflow-worker:{VERSION}",
    "namespace": "vfx",
    "gpu_count": 2,
    "cpu_limit": "8",
    "memory_limit": "32Gi",
    "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "roto", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ],
    "database_url": "postgresql+psycopg://roto@db.studio/rotoflow",
    "storage_url": "s3://roto-out/shows",
    "model_dir": "/models",
    "env_from": [{"secretRef": {"name": "rotoflow-env"}}],
    "volumes": [
        {
            "name": "models",
            "persistentVolumeClaim": {"claimName": "rotoflow-models", "readOnly": True},
        }
    ],
    "volume_mounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
    "env": {"ROTOFLOW_MODELS": "lite", "ROTOFLOW_OUTPUT_ROOT": "/shots"},
}


def render(
    values: dict[str, Any], template: dict[str, Any] = TEMPLATE
) -> tuple[dict[str, Any], V1Job, dict[str, Any]]:
    """The Job manifest the worker submits for a flow run with these job variables, that manifest
    read as a ``V1Job``, and the ``V1Job`` written back out."""

    async def run() -> tuple[dict[str, Any], V1Job, dict[str, Any]]:
        # The API is only asked when a template names blocks or Prefect variables: this one names
        # neither, so a client of an address where nothing listens is never called.
        nowhere = PrefectClient(api="http://127.0.0.1:9/api")
        config = await KubernetesWorkerJobConfiguration.from_template_and_values(
            template, values, client=nowhere
        )
        config.prepare_for_flow_run(FlowRun(flow_id=uuid4(), name="brave-otter"))
        manifest = config.job_manifest
        async with ApiClient() as api:
            # the public deserialize() takes an HTTP response; this is its body's half
            job = api._ApiClient__deserialize(copy.deepcopy(manifest), "V1Job")
            return manifest, job, api.sanitize_for_serialization(job)

    return asyncio.run(run())


def key_paths(node: Any, prefix: str = "") -> set[str]:
    """JSON pointers of every mapping key in a manifest."""
    if isinstance(node, dict):
        return {f"{prefix}/{k}" for k in node} | {
            p for k, v in node.items() for p in key_paths(v, f"{prefix}/{k}")
        }
    if isinstance(node, list):
        return {p for i, v in enumerate(node) for p in key_paths(v, f"{prefix}/{i}")}
    return set()


def dropped(manifest: dict[str, Any], written: dict[str, Any]) -> set[str]:
    """Keys of the manifest that the Kubernetes API models did not keep (not their children)."""
    lost = key_paths(manifest) - key_paths(written)
    return {p for p in lost if not any(p.startswith(f"{q}/") for q in lost)}


def defaults() -> dict[str, Any]:
    return {k: v["default"] for k, v in VARIABLES["properties"].items() if "default" in v}


def container_env(job: V1Job) -> dict[str, str]:
    return {e.name: e.value for e in job.spec.template.spec.containers[0].env}


def test_the_server_accepts_the_template_and_its_defaults():
    WorkPoolCreate(name="rotoflow-gpu", type="kubernetes", base_job_template=TEMPLATE)
    assert set(TEMPLATE) == {"job_configuration", "variables"}
    is_valid_schema(VARIABLES, preprocess=False)
    # as the server checks a pool's defaults, and a deployment's job variables over them
    validate(defaults(), VARIABLES, raise_on_error=True, **SERVER_CHECK)
    merged = {**defaults(), **GPU_DEPLOYMENT["work_pool"]["job_variables"], **OVERRIDES}
    validate(merged, VARIABLES, raise_on_error=True, **SERVER_CHECK)


@pytest.mark.parametrize(
    "bad",
    [
        {"gpu_count": 0},
        {"gpu_count": "2"},
        {"tolerations": [{"keys": "nvidia.com/gpu", "operator": "Exists"}]},
        {"tolerations": [{"key": "nvidia.com/gpu", "effect": "NoSchedul"}]},
        {"node_selector": {"nvidia.com/gpu.count": 2}},
    ],
)
def test_the_schema_refuses_wrong_job_variables(bad):
    with pytest.raises(ValidationError):
        validate({**defaults(), **bad}, VARIABLES, raise_on_error=True, **SERVER_CHECK)


def test_every_placeholder_is_a_variable_and_every_variable_is_used():
    placeholders = find_placeholders(TEMPLATE["job_configuration"])
    assert {p.type for p in placeholders} == {PlaceholderType.STANDARD}
    assert {p.name for p in placeholders} == set(VARIABLES["properties"])


def test_the_template_keeps_the_workers_default():
    """Everything of prefect-kubernetes' own template is there unchanged, but the env (which gains
    Rotoflow's settings) and the defaults Rotoflow sets."""
    default = KubernetesWorker.get_default_base_job_template()

    def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            return {
                p: v for k, sub in node.items() for p, v in leaves(sub, f"{prefix}/{k}").items()
            }
        if isinstance(node, list):
            return {
                p: v for i, sub in enumerate(node) for p, v in leaves(sub, f"{prefix}/{i}").items()
            }
        return {prefix: node}

    ours = leaves(TEMPLATE["job_configuration"])
    changed = {p: v for p, v in leaves(default["job_configuration"]).items() if ours.get(p) != v}
    assert changed == {"/env": "{{ env }}"}
    assert TEMPLATE["job_configuration"]["env"]["ROTOFLOW_MODELS"] == "full"
    props = VARIABLES["properties"]
    assert VARIABLES["definitions"] == default["variables"]["definitions"]
    for name, prop in default["variables"]["properties"].items():
        if name in {"image", "cpu_request", "memory_request"}:
            assert props[name]["default"] is not None
        else:
            assert props[name] == prop, name


def test_the_gpu_deployment_gets_a_gpu_job():
    manifest, job, written = render(GPU_DEPLOYMENT["work_pool"]["job_variables"])
    assert dropped(manifest, written) == PREFECT_MISPLACED
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert container.image == f"rotoflow-worker:{VERSION}"
    assert container.args == ["prefect", "flow-run", "execute"]
    assert container.resources.limits == {GPU: "1"}
    assert container.resources.requests == {GPU: "1", "cpu": "4", "memory": "16Gi"}
    assert pod.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [
        (GPU, "Exists", "NoSchedule")
    ]
    assert pod.restart_policy == "Never" and job.spec.backoff_limit == 0
    assert pod.security_context.run_as_non_root is True
    env = container_env(job)
    assert env["ROTOFLOW_MODELS"] == "full" and env["ROTOFLOW_DEVICE"] == "cuda"
    assert "PREFECT__FLOW_RUN_ID" in env
    # unset variables leave their settings out, not empty
    assert not {"ROTOFLOW_DATABASE_URL", "ROTOFLOW_STORAGE_URL", "ROTOFLOW_MODEL_DIR"} & set(env)
    assert not container.volume_mounts and not pod.volumes and not container.env_from


def test_overrides_reach_the_job():
    manifest, job, written = render(OVERRIDES)
    assert dropped(manifest, written) == PREFECT_MISPLACED
    assert manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 2
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert job.metadata.namespace == "vfx"
    assert container.image == OVERRIDES["image"]
    assert container.resources.limits == {GPU: "2", "cpu": "8", "memory": "32Gi"}
    assert container.resources.requests[GPU] == "2"
    assert pod.node_selector == OVERRIDES["node_selector"]
    written_pod = written["spec"]["template"]["spec"]
    assert written_pod["tolerations"] == OVERRIDES["tolerations"]
    assert written_pod["volumes"] == OVERRIDES["volumes"]
    assert written_pod["containers"][0]["volumeMounts"] == OVERRIDES["volume_mounts"]
    assert container.env_from[0].secret_ref.name == "rotoflow-env"
    env = container_env(job)
    assert env["ROTOFLOW_DATABASE_URL"] == OVERRIDES["database_url"]
    assert env["ROTOFLOW_STORAGE_URL"] == OVERRIDES["storage_url"]
    assert env["ROTOFLOW_MODEL_DIR"] == "/models"
    # the deployment's env is merged over the template's
    assert env["ROTOFLOW_MODELS"] == "lite" and env["ROTOFLOW_OUTPUT_ROOT"] == "/shots"
    assert env["ROTOFLOW_DEVICE"] == "cuda"


def test_a_misspelt_key_would_be_dropped_by_the_api_models():
    """The check the two tests above rely on: a key Kubernetes does not know does not survive."""
    template = copy.deepcopy(TEMPLATE)
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    pod["nodeSelectors"] = pod.pop("nodeSelector")
    manifest, job, written = render({}, template)
    assert dropped(manifest, written) == {"/spec/template/spec/nodeSelectors", *PREFECT_MISPLACED}
    assert job.spec.template.spec.node_selector is None


def test_the_gpu_deployment_runs_roto_shot_from_the_image():
    roto_shot = next(d for d in SPEC["deployments"] if d["name"] == "roto-shot")
    assert GPU_DEPLOYMENT["entrypoint"] == roto_shot["entrypoint"]
    flow = load_flow_from_entrypoint(str(REPO / GPU_DEPLOYMENT["entrypoint"]))
    assert flow.name == "roto-shot"
    assert GPU_DEPLOYMENT["enforce_parameter_schema"] is True
    pool = GPU_DEPLOYMENT["work_pool"]
    assert pool == SPEC["definitions"]["work_pools"]["gpu"] and pool["name"] == "rotoflow-gpu"
    assert pool["job_variables"]["image"] == VARIABLES["properties"]["image"]["default"]
    assert pool["job_variables"]["gpu_count"] == 1
    (step,) = GPU_DEPLOYMENT["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    # the image holds the whole checkout at that directory
    dockerfile = dockerfile_instructions()
    assert [a for w, a in dockerfile if w == "WORKDIR"] == [directory]
    assert ("COPY", ". .") in dockerfile
    assert f"ROTOFLOW_REPO={directory}" in env_of(dockerfile)


# --- deployments/Dockerfile, statically ---------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of ``deployments/Dockerfile``, continuation lines joined."""
    text = (DEPLOYMENTS / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def env_of(instructions: list[tuple[str, str]]) -> list[str]:
    return [kv for word, args in instructions if word == "ENV" for kv in shlex.split(args)]


def pip_installs(command: str) -> list[list[str]]:
    """The words of each ``pip install`` in a shell command, from ``install`` on."""
    out = []
    for part in re.split(r"&&|;", command):
        words = shlex.split(part)
        if "install" in words and any(w == "pip" or w.endswith("/pip") for w in words):
            out.append(words[words.index("install") :])
    return out


def test_the_base_image_is_pinned_to_a_tag():
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for w, a in instructions if w == "ARG" and "=" in a)
    (base,) = [a for w, a in instructions if w == "FROM"]
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag and tag not in {"", "latest"}, image
    assert "ENTRYPOINT" not in {w for w, _ in instructions}  # Prefect's args are the command


def test_the_image_installs_with_the_pins_and_sam2_as_the_makefile_does():
    runs = [a for w, a in dockerfile_instructions() if w == "RUN"]
    installs = [words for run in runs for words in pip_installs(run)]
    assert installs and all(
        "-c" in w and w[w.index("-c") + 1] == "constraints.txt" for w in installs
    )
    assert ["install", "-c", "constraints.txt", "-e", ".[models]"] in installs
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    (make_sam2,) = [ln.strip() for ln in make.splitlines() if "sam2==" in ln]
    (docker_sam2,) = [run for run in runs if "sam2==" in run]
    expected = [w for w in pip_installs(make_sam2)[0] if w != "--quiet"]
    assert pip_installs(docker_sam2) == [expected]
    assert "SAM2_BUILD_CUDA=0" in shlex.split(make_sam2) and "SAM2_BUILD_CUDA=0" in docker_sam2
    copied = {f for w, a in dockerfile_instructions() if w == "COPY" for f in a.split()[:-1]}
    assert {"pyproject.toml", "constraints.txt"} <= copied


def test_the_image_runs_as_a_non_root_user_the_pool_expects():
    instructions = dockerfile_instructions()
    words = [w for w, _ in instructions]
    (user,) = [a for w, a in instructions if w == "USER"]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes can check runAsNonRoot
    pod = TEMPLATE["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == int(gid or uid)


def test_the_build_context_leaves_out_local_state():
    ignore = (DEPLOYMENTS / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    patterns = [ln.strip() for ln in ignore.splitlines() if ln.strip() and not ln.startswith("#")]
    for local in (".venv", ".git", "rotoflow_output", "test-artifacts", ".pytest_cache", ".env"):
        assert any(fnmatch.fnmatch(local, p) for p in patterns), local
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "flows", "rotoflow"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed
