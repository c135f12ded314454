"""The Helm chart (charts/deja), rendered offline by Helm itself (helm-python-sdk) for both value sets
and every manifest validated against Kubernetes' own schemas (kubernetes-validate, strict: unknown
fields are errors). No cluster and no registry are needed."""
import copy
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helm_python import Chart, HelmRenderError, lint

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "deja"
KUBE_VERSION = "1.30.0"
VALUE_SETS = {
    "embedded": {},
    "cluster": yaml.safe_load((CHART / "values-cluster.yaml").read_text()),
}


def render(values: dict) -> list[dict]:
    rendered = Chart.load(str(CHART)).render(values or None, name="deja", namespace="deja")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def problems(manifests: list[dict]) -> list[str]:
    """What is wrong with `manifests`: schema errors of the built-in kinds (strict), and for the
    Prometheus Operator's ServiceMonitor (a CRD, no bundled schema) that it names a Service port."""
    found = []
    ports = {port["name"] for doc in manifests if doc["kind"] == "Service" for port in doc["spec"]["ports"]}
    for doc in manifests:
        where = f'{doc.get("kind")}/{doc.get("metadata", {}).get("name")}'
        if doc.get("kind") == "ServiceMonitor":
            endpoints = doc.get("spec", {}).get("endpoints") or []
            if doc.get("apiVersion") != "monitoring.coreos.com/v1" or not endpoints:
                found.append(f"{where}: not a monitoring.coreos.com/v1 ServiceMonitor with endpoints")
            found += [f"{where}: port {e.get('port')!r} is no Service's" for e in endpoints if e.get("port") not in ports]
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            found.append(f"{where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{where}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return found


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_manifest_is_valid(value_set):
    manifests = render(VALUE_SETS[value_set])
    assert problems(manifests) == []
    kinds = sorted(doc["kind"] for doc in manifests)
    if value_set == "embedded":
        assert kinds == ["ConfigMap", "Deployment", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "Service"]
    else:
        assert kinds == ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy",
                         "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceMonitor"]


def test_helm_lint_finds_no_error():
    report = lint(str(CHART), strict=True)
    assert report["errors"] == [] and not [m for m in report["messages"] if m["severity"] > 1], report


@pytest.mark.parametrize("breakage", ["unknown field", "wrong type", "missing selector", "dangling monitor port"])
def test_a_broken_manifest_fails_the_check(breakage):
    manifests = copy.deepcopy(render(VALUE_SETS["cluster"]))
    gateway = next(doc for doc in manifests if doc["kind"] == "Deployment" and doc["metadata"]["name"].endswith("-gateway"))
    if breakage == "unknown field":
        gateway["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    elif breakage == "wrong type":
        gateway["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "two minutes"
    elif breakage == "missing selector":
        del gateway["spec"]["selector"]
    else:
        next(doc for doc in manifests if doc["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]["port"] = "metrics"
    assert problems(manifests), breakage


def test_the_gateway_pods_are_shaped_for_production():
    for value_set, values in VALUE_SETS.items():
        manifests = render(values)
        gateway = next(doc for doc in manifests if doc["kind"] == "Deployment" and doc["metadata"]["name"].endswith("-gateway"))
        pod = gateway["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert "startupProbe" in container
        assert pod["securityContext"]["runAsNonRoot"] is True
        config = yaml.safe_load(next(doc for doc in manifests if doc["kind"] == "ConfigMap")["data"]["deja.yaml"])
        assert pod["terminationGracePeriodSeconds"] > max(task["timeoutSeconds"] for task in config["tasks"]), \
            "longer than the longest model call"
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
        # Secrets come from the Secret, never the ConfigMap.
        config = next(doc for doc in manifests if doc["kind"] == "ConfigMap")["data"]["deja.yaml"]
        assert "adminToken" not in config and "postgres://" not in config and "sealSecrets" not in config


def test_values_that_cannot_work_are_refused_at_render_time():
    many_on_sqlite = {"gateway": {"replicas": 3}}
    with pytest.raises(HelmRenderError, match="one gateway replica"):
        render(many_on_sqlite)
    with pytest.raises(HelmRenderError, match="terminationGracePeriodSeconds"):
        render({"gateway": {"terminationGracePeriodSeconds": 30}})
    shared_without_secret = copy.deepcopy(VALUE_SETS["cluster"])
    shared_without_secret["secrets"]["sealSecrets"] = ""
    with pytest.raises(HelmRenderError, match="sealSecrets"):
        render(shared_without_secret)


@pytest.mark.skipif(not os.environ.get("DEJA_BIN"), reason="needs DEJA_BIN (the real deja binary)")
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_rendered_configuration_is_one_deja_accepts(value_set, tmp_path):
    """The ConfigMap's deja.yaml is read by the real binary (unknown keys are errors there)."""
    manifests = render(VALUE_SETS[value_set])
    config = tmp_path / "deja.yaml"
    config.write_text(next(doc for doc in manifests if doc["kind"] == "ConfigMap")["data"]["deja.yaml"])
    config.chmod(0o600)
    result = subprocess.run([os.environ["DEJA_BIN"], "explain", "--config", str(config), "--jsonl"],
                            input='{"file": "aGVsbG8=", "fileType": 1}\n', capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"key"' in result.stdout
