"""The deployment files checked offline (issue #16, decision 0017): every Kubernetes manifest against
the API's schemas (`kubernetes-validate`) or, for KEDA's kinds, their CRDs' schemas; the Compose file
against the Compose Specification's schema; and what refers to what (selectors, scale targets,
the kustomization's list) agrees."""

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
KUBERNETES = "1.33"  # a version the ministry's clusters run; autoscaling/v2 and policy/v1 are GA since 1.23
CRDS = {"ScaledObject": "keda.sh_scaledobjects.yaml", "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def crd_schema(kind: str, version: str) -> dict:
    crd = yaml.safe_load((SCHEMAS / CRDS[kind]).read_text())
    return next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)


@pytest.mark.parametrize("name,doc", manifests(), ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"])
def test_each_manifest_is_valid(name, doc):
    if doc["kind"] in CRDS:
        jsonschema.validate(doc, crd_schema(doc["kind"], doc["apiVersion"].split("/")[1]))
    else:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secrets_template():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(listed) == sorted(on_disk)


def test_what_refers_to_a_deployment_finds_it():
    docs = [doc for _, doc in manifests()]
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Deployment"
    }

    def selects(selector: dict) -> list[str]:
        return [n for n, labels in deployments.items() if selector.items() <= labels.items()]

    for doc in docs:
        kind, spec = doc["kind"], doc.get("spec", {})
        if kind == "Service":
            assert len(selects(spec["selector"])) == 1, doc["metadata"]["name"]
        elif kind == "PodDisruptionBudget":
            assert selects(spec["selector"]["matchLabels"]) == [doc["metadata"]["name"]]
        elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            assert spec["scaleTargetRef"]["name"] in deployments
    targets = [
        d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
    ]
    # Every Deployment scales by one autoscaler (two on one Deployment fight each other).
    assert sorted(targets) == sorted(deployments)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"} == set(deployments)


def test_the_compose_file_follows_the_compose_specification():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    schema = __import__("json").loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)
    # Files it mounts exist.
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_a_broken_manifest_is_refused():
    deployment = next(doc for _, doc in manifests() if doc["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    scaled = next(doc for _, doc in manifests() if doc["kind"] == "ScaledObject")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**scaled, "spec": {**scaled["spec"], "minReplicaCount": "one"}}, crd_schema("ScaledObject", "v1alpha1")
        )
