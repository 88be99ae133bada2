"""deploy/: the kustomize base and sharded overlay, and the shard alerts, checked against the code.

The kustomizations are resolved in Python (resources, ``images``, strategic-merge patches including
``$patch: delete``: all these manifests use), and, where ``kubectl`` is installed, also by
``kubectl kustomize``, whose output must be the same objects.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli import build_parser, shard_from_args
from exporter.config import parse_config
from exporter.metrics import SHARD, TOTAL_SHARDS
from exporter.sharding import ShardSpec
from exporter.sources.builtin import BUILTIN

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
BASE, SHARDED, PASSWORD = KUBE / "base", KUBE / "overlays" / "sharded", KUBE / "overlays" / "password"
DIRECTORIES = {"base": BASE, "password": PASSWORD, "sharded": SHARDED}
SECRET = "codearts-exporter-credentials"
ALERTS = ROOT / "deploy" / "prometheus" / "sharding-alerts.yml"
KUBECTL = shutil.which("kubectl")
PROMTOOL = shutil.which("promtool")
APP = {"app.kubernetes.io/name": "codearts-exporter"}


def _key(doc: dict) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _merge(target: Any, patch: Any) -> Any:
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            merged[key] = _merge(target.get(key), value) if key in target else value
        return merged
    return patch


GENERATED = "generated"  # marks a ConfigMap made by configMapGenerator until its name gets the hash suffix


def kustomize(directory: Path, top: bool = True) -> dict[tuple[str, str], dict]:
    """The objects a kustomization directory builds to, keyed by (kind, name)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "patches", "images", "configMapGenerator"}
    assert set(spec) <= known, "resolver does not know a field"
    objects: dict[tuple[str, str], dict] = {}
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        assert path.is_relative_to(directory.resolve()) or path.is_dir(), f"{resource}: outside the kustomization"
        found = (kustomize(path, top=False) if path.is_dir()
                 else {_key(d): d for d in yaml.safe_load_all(path.read_text()) if d})
        assert not set(found) & set(objects), f"{resource}: duplicate objects"
        objects.update(found)
    for generator in spec.get("configMapGenerator", []):
        generate_config_map(directory, generator, objects)
    for entry in spec.get("patches", []):
        patch = yaml.safe_load((directory / entry["path"]).read_text())
        key = _key(patch)
        assert key in objects, f"{entry['path']}: patches nothing"
        if patch.get("$patch") == "delete":
            del objects[key]
        else:
            objects[key] = _merge(objects[key], patch)
    for image in spec.get("images", []):
        for doc in objects.values():
            for container in pod_spec(doc).get("containers", []) if pod_spec(doc) else []:
                if container["image"] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if top:
        objects = with_hashed_names(objects)
    return copy.deepcopy(objects)


def generate_config_map(directory: Path, generator: dict, objects: dict) -> None:
    """A ``configMapGenerator`` entry: each file a key; ``behavior: replace`` swaps a base's data for it."""
    assert set(generator) <= {"name", "files", "behavior", "options"}, "resolver does not know a generator field"
    key = ("ConfigMap", generator["name"])
    data = {Path(name).name: (directory / name).read_text() for name in generator["files"]}
    if generator.get("behavior", "create") == "replace":
        assert objects.get(key, {}).get(GENERATED), f"{generator['name']}: replaces no generated ConfigMap"
        objects[key] = {**objects[key], "data": data}
        return
    assert key not in objects, f"{generator['name']}: generated twice"
    metadata = {"name": generator["name"], **{field: value for field, value in generator.get("options", {}).items()
                                              if field in ("labels", "annotations")}}
    objects[key] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data, GENERATED: True}


def content_hash(config_map: dict) -> str:
    """kustomize's name suffix: sha256 of the JSON of kind, name and data (kustomize 5 looks the name up by a
    path it does not find, so it hashes an empty one), first 10 hex digits with 0, 1, 3, a, e respelled."""
    encoded = json.dumps({"data": config_map["data"], "kind": "ConfigMap", "name": ""}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False)
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # Go's escaping
    return hashlib.sha256(encoded.encode()).hexdigest()[:10].translate(str.maketrans("013ae", "ghkmt"))


def with_hashed_names(objects: dict) -> dict:
    """Generated ConfigMaps named ``<name>-<content hash>``, and the pod volumes that mount them renamed too."""
    renamed = {}
    for (kind, name), doc in list(objects.items()):
        if doc.pop(GENERATED, False):
            renamed[name] = doc["metadata"]["name"] = f"{name}-{content_hash(doc)}"
            objects[(kind, renamed[name])] = objects.pop((kind, name))
    for doc in objects.values():
        for volume in (pod_spec(doc) or {}).get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] in renamed:
                volume["configMap"]["name"] = renamed[volume["configMap"]["name"]]
    return objects


def pod_spec(doc: dict) -> dict | None:
    return doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "StatefulSet") else None


def the(objects: dict, kind: str) -> dict:
    [doc] = [doc for (k, _), doc in objects.items() if k == kind]
    return doc


@pytest.fixture(scope="module", params=list(DIRECTORIES))
def built(request) -> tuple[str, dict]:
    return request.param, kustomize(DIRECTORIES[request.param])


def test_every_manifest_parses_and_names_its_kind():
    files = sorted(path for path in KUBE.rglob("*.yaml") if path.name != "config.yaml")  # generator inputs
    assert len(files) >= 9
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc and "kind" in doc and "apiVersion" in doc, path


def test_base_and_overlay_build_the_expected_objects(built):
    name, objects = built
    workload = "StatefulSet" if name == "sharded" else "Deployment"
    extra = {"PrometheusRule"} if name == "sharded" else {"PersistentVolumeClaim"}
    kinds = {"ConfigMap", "Service", "ServiceMonitor", workload} | extra
    assert {kind for kind, _ in objects} == kinds
    assert the(objects, "Service")["spec"].get("clusterIP") == ("None" if name == "sharded" else None)


def test_selectors_labels_and_ports_line_up(built):
    _, objects = built
    workload = next(doc for doc in objects.values() if pod_spec(doc))
    service, monitor = the(objects, "Service"), the(objects, "ServiceMonitor")
    assert workload["spec"]["selector"]["matchLabels"] == APP
    assert workload["spec"]["template"]["metadata"]["labels"].items() >= APP.items()
    assert service["spec"]["selector"] == APP
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [container] = pod_spec(workload)["containers"]
    [port] = container["ports"]
    [service_port] = service["spec"]["ports"]
    assert port == {"name": "http-metrics", "containerPort": 9877}
    assert service_port["targetPort"] == port["name"] and service_port["port"] == 9877
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == [port["name"]]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"] == f"codearts-exporter:{version}"


def workload_config(objects: dict, pod_root: Path) -> tuple[dict, dict]:
    """The workload's container and its configuration, validated as the pod would see it: the Secret's keys
    are files under its mount (laid out below ``pod_root``), and its env references are set."""
    workload = next(doc for doc in objects.values() if pod_spec(doc))
    spec = pod_spec(workload)
    [container] = spec["containers"]
    args = build_parser().parse_args(container["args"])
    config_dir, config_name = os.path.split(args.config_file)
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == config_dir]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    data = yaml.safe_load(objects[("ConfigMap", volume["configMap"]["name"])]["data"][config_name])
    [secret_volume] = [v for v in spec["volumes"] if "secret" in v]
    [secret_mount] = [m for m in container["volumeMounts"] if m["name"] == secret_volume["name"]]
    assert secret_volume["secret"]["secretName"] == SECRET and secret_mount["readOnly"] is True
    pod_view = copy.deepcopy(data)  # the configuration with the pod's paths laid out below pod_root
    [(mode, settings)] = pod_view["auth"].items()
    for key, value in list(settings.items()):
        if key.endswith("_file"):
            directory, secret_key = os.path.split(value)
            assert directory == secret_mount["mountPath"], f"{key} is not a key of the mounted Secret"
            assert secret_key == key.removesuffix("_file"), "the Secret's key is named after the setting"
            (pod_root / secret_key).write_text("from-secret\n")
            settings[key] = str(pod_root / secret_key)
    state_dir, state_file = os.path.split(data["state"]["path"])
    [state_mount] = [m for m in container["volumeMounts"] if m["mountPath"] == state_dir]
    assert state_mount["name"] in state_volumes(workload) and not state_mount.get("readOnly")
    pod_view["state"]["path"] = str(pod_root / state_file)
    parse_config(pod_view, env={}, source="configmap", sources=BUILTIN)
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    return container, data


def test_args_are_real_flags_and_the_config_they_name_is_mounted_and_valid(built, tmp_path):
    workload_config(built[1], tmp_path)


def test_base_and_sharded_default_to_aksk_and_the_password_overlay_to_a_password_file(built, tmp_path):
    name, objects = built
    container, data = workload_config(objects, tmp_path)
    [mode] = data["auth"]
    assert mode == ("password" if name == "password" else "aksk"), "a token expires in 24 h: never the default"
    settings = data["auth"][mode]
    secret_keys = {"aksk": {"ak", "sk"}, "password": {"password"}}[mode]
    assert {key.removesuffix("_file") for key in settings if key.endswith("_file")} == secret_keys
    assert not secret_keys & set(settings), "secrets are read from the mounted Secret, never written inline"
    base = yaml.safe_load(the(kustomize(BASE), "ConfigMap")["data"]["config.yaml"])
    assert {**data, "auth": None} == {**base, "auth": None}, "the variants differ in their auth section only"


def test_credentials_come_from_one_mounted_secret_and_no_secret_is_committed(built):
    _, objects = built
    assert "Secret" not in {kind for kind, _ in objects}
    workload = next(doc for doc in objects.values() if pod_spec(doc))
    [container] = pod_spec(workload)["containers"]
    # AK and SK are files of the one Secret volume, swapped together by the kubelet: an AK taken from the
    # environment would stay the old one after a rotation
    assert "env" not in container and "envFrom" not in container
    [secret] = [volume["secret"] for volume in pod_spec(workload)["volumes"] if "secret" in volume]
    assert secret == {"secretName": SECRET, "defaultMode": 0o440}


def state_volumes(workload: dict) -> set[str]:
    """The names of the workload's volumes backed by a PersistentVolumeClaim (its own, or a template's)."""
    claims = {volume["name"] for volume in pod_spec(workload)["volumes"] if "persistentVolumeClaim" in volume}
    return claims | {template["metadata"]["name"] for template in workload["spec"].get("volumeClaimTemplates", [])}


def test_run_counters_survive_pods_on_a_volume_of_their_own(built):
    name, objects = built
    workload = next(doc for doc in objects.values() if pod_spec(doc))
    [state] = state_volumes(workload)
    if name == "sharded":  # one claim per shard: each shard's counters are its own targets'
        [template] = workload["spec"]["volumeClaimTemplates"]
        assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert "PersistentVolumeClaim" not in {kind for kind, _ in objects}
        return
    [volume] = [volume for volume in pod_spec(workload)["volumes"] if volume["name"] == state]
    claim = objects[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert workload["spec"]["replicas"] == 1
    assert workload["spec"]["strategy"] == {"type": "Recreate"}, "a rolling update would wait for the volume"


def test_the_config_map_name_carries_a_hash_of_the_configuration(built, tmp_path):
    name, objects = built
    [config_map] = [doc for (kind, _), doc in objects.items() if kind == "ConfigMap"]
    assert config_map["metadata"]["name"] == f"codearts-exporter-config-{content_hash(config_map)}"
    workload = next(doc for doc in objects.values() if pod_spec(doc))
    assert config_map["metadata"]["name"] in {volume.get("configMap", {}).get("name")
                                              for volume in pod_spec(workload)["volumes"]}
    changed = {**config_map, "data": {"config.yaml": config_map["data"]["config.yaml"] + "# edited\n"}}
    assert content_hash(changed) != content_hash(config_map), "a changed configuration gets a new name: pods roll"


def test_the_service_monitor_honours_the_job_label_of_the_job_metrics(built):
    _, objects = built
    [endpoint] = the(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True


def test_statefulset_replicas_equal_total_shards_and_shard_comes_from_the_pod_name(monkeypatch):
    objects = kustomize(SHARDED)
    statefulset, service = the(objects, "StatefulSet"), the(objects, "Service")
    [container] = pod_spec(statefulset)["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.shard_from_hostname and args.shard is None
    assert statefulset["spec"]["replicas"] == args.total_shards == 3
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    for ordinal in range(statefulset["spec"]["replicas"]):  # the pod names a StatefulSet gives
        monkeypatch.setenv("HOSTNAME", f"{statefulset['metadata']['name']}-{ordinal}")
        assert shard_from_args(args) == ShardSpec(ordinal, 3)


def test_the_overlay_rule_carries_the_alert_file_groups_and_metric_names_exist():
    rule = the(kustomize(SHARDED), "PrometheusRule")
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert rule["spec"]["groups"] == groups
    text = ALERTS.read_text()
    assert SHARD.name in text and TOTAL_SHARDS.name in text


def test_prometheus_rules_in_the_base_directory_are_listed_as_resources():
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    for path in BASE.glob("*.yaml"):
        kinds = {doc.get("kind") for doc in yaml.safe_load_all(path.read_text()) if doc}
        if kinds & {"PrometheusRule", "Deployment", "Service", "ServiceMonitor", "ConfigMap", "PersistentVolumeClaim"}:
            assert path.name in listed, f"{path.name} is not in base/kustomization.yaml resources"


needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: the Python resolution above ran")


@needs_kubectl
@pytest.mark.parametrize("directory", list(DIRECTORIES.values()), ids=list(DIRECTORIES))
def test_kubectl_kustomize_builds_the_same_objects(directory):
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    built = {_key(doc): doc for doc in yaml.safe_load_all(result.stdout) if doc}
    assert built == kustomize(directory)


needs_promtool = pytest.mark.skipif(PROMTOOL is None and os.environ.get("CI") != "true",
                                    reason="promtool not installed (apt-get install prometheus)")

SERIES = {  # job -> [(shard, instance, total_shards)]
    "ok": [("0", "a", 1)],
    "missing": [("0", "a", 3), ("1", "b", 3)],
    "duplicated": [("0", "a", 2), ("0", "b", 2), ("1", "c", 2)],
    "miscounted": [("0", "a", 2), ("1", "b", 3)],
}
EXPECTED = [  # (alert, labels, $value)
    ("CodeArtsExporterShardMissing", {"job": "missing"}, "2"),
    ("CodeArtsExporterShardMissing", {"job": "miscounted"}, "2"),
    ("CodeArtsExporterShardDuplicated", {"job": "duplicated", "shard": "0"}, "2"),
    ("CodeArtsExporterShardCountMismatch", {"job": "duplicated"}, "3"),
    ("CodeArtsExporterShardCountMismatch", {"job": "miscounted"}, "1"),
]


def rule_tests() -> dict:
    """A promtool unit test: the alerts above fire after their 10m, and no others."""
    rules = {rule["alert"]: rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    series = []
    for job, replicas in SERIES.items():
        for shard, instance, total in replicas:
            series.append({"series": f'codearts_exporter_shard{{job="{job}",shard="{shard}",instance="{instance}"}}',
                           "values": "1x20"})
            series.append({"series": f'codearts_exporter_total_shards{{job="{job}",instance="{instance}"}}',
                           "values": f"{total}x20"})

    def expanded(text: str, labels: dict[str, str], value: str) -> str:
        text = text.replace("{{ $value }}", value)
        for name, label in labels.items():
            text = text.replace(f"{{{{ $labels.{name} }}}}", label)
        return text

    checks = []
    for alert, rule in rules.items():
        checks.append({"eval_time": "5m", "alertname": alert, "exp_alerts": []})
        fired = [(labels, value) for name, labels, value in EXPECTED if name == alert]
        checks.append({"eval_time": "15m", "alertname": alert, "exp_alerts": [
            {"exp_labels": {**rule["labels"], **labels},
             "exp_annotations": {key: expanded(text, labels, value) for key, text in rule["annotations"].items()}}
            for labels, value in fired]})
    return {"rule_files": [str(ALERTS)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]}


def test_shard_alert_unit_tests_are_the_generated_ones():
    committed = yaml.safe_load((ALERTS.parent / "sharding-alerts_test.yml").read_text())
    assert committed == {**rule_tests(), "rule_files": [ALERTS.name]}
    assert {name for name, _, _ in EXPECTED} == {c["alertname"] for c in rule_tests()["tests"][0]["alert_rule_test"]}


@needs_promtool
def test_shard_alerts_fire_for_a_missing_a_duplicated_and_a_miscounted_shard():
    assert PROMTOOL, "promtool must be installed on CI"
    check = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run([PROMTOOL, "test", "rules", str(ALERTS.parent / "sharding-alerts_test.yml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
