"""The Kubernetes manifests of docs/deploy/kubernetes: valid against the API schemas (offline,
strict: unknown fields fail), and consistent with each other and with futurelab's CLI."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")
yaml = pytest.importorskip("yaml")

MANIFESTS = Path(__file__).parents[2] / "docs" / "deploy" / "kubernetes"
#: the oldest Kubernetes release still supported upstream when this was written, and the newest
#: the validator knows: the manifests must be valid for both
VERSIONS = ["1.33.0", kubernetes_validate.latest_version()]


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


def by_kind(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(deployment: str) -> dict[str, Any]:
    [c] = by_kind("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return c  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_manifest_is_valid_kubernetes(where: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    """The validator really checks: a misspelt field and a wrong type both fail."""
    doc = by_kind("Deployment", "futurelab-worker")
    bad = {**doc, "spec": {**doc["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)
    bad = {**doc, "spec": {**doc["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_commands_parse_with_futurelabs_cli() -> None:
    from futurelab.cli import _parser
    env = {"$(POD_IP)": "10.0.0.5", "$(POD_NAME)": "futurelab-worker-abc"}
    for deployment in ("futurelab-scheduler", "futurelab-worker"):
        args = [env.get(a, a) for a in container(deployment)["args"]]
        parsed = _parser().parse_args(args)
        assert parsed.auth_file == "/etc/futurelab/secret"


def test_the_pieces_fit_together() -> None:
    secret = by_kind("Secret", "futurelab-secret")
    service = by_kind("Service", "futurelab-scheduler")
    scheduler = by_kind("Deployment", "futurelab-scheduler")
    worker = by_kind("Deployment", "futurelab-worker")
    assert scheduler["spec"]["replicas"] == 1
    assert isinstance(worker["spec"]["replicas"], int)  # the cluster's size
    # the Service selects the scheduler pods, and the workers reach it by name and port
    labels = scheduler["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "scheduler")
    assert f"tcp://{service['metadata']['name']}:{port}" in container("futurelab-worker")["args"]
    # both mount the Secret where --auth-file points, readable by the owner only
    for deployment in (scheduler, worker):
        spec = deployment["spec"]["template"]["spec"]
        [volume] = spec["volumes"]
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        assert volume["secret"]["defaultMode"] == 0o400
        [mount] = spec["containers"][0]["volumeMounts"]
        assert mount["name"] == volume["name"] and mount["readOnly"] is True
        key = next(iter(secret["stringData"]))
        assert f"{mount['mountPath']}/{key}" in spec["containers"][0]["args"]


def test_the_placeholder_secret_is_refused(tmp_path: Path) -> None:
    """Applied unchanged, the example Secret cannot start an insecure cluster."""
    from futurelab.security import Security
    placeholder = by_kind("Secret", "futurelab-secret")["stringData"]["secret"]
    path = tmp_path / "secret"
    path.write_text(placeholder)
    with pytest.raises(ValueError, match="expected hex"):
        Security.from_file(path)
