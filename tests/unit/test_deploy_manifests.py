"""Every kustomize overlay renders, and every object validates against its schema (incl. CRDs)."""

from __future__ import annotations

import copy
import json
from functools import cache

import pytest

from deploy import checks, validate
from shotline import topics
from shotline.settings import Settings

# Scaled on the lag of (by hand, not from the code's list):
WORKERS = {"segmenter": ["videos.uploaded"], "encoder": ["shots.segmented"], "indexer": ["shots.embedded"],
           "scorer": ["shots.indexed", "categories.backfill"], "transcriber": ["shots.segmented"]}
GRPC = {"query": 50051, "encoder": 50052}
SERVICES = ("segmenter", "encoder", "indexer", "trainer", "query", "console", "scorer", "transcriber")


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(validate.render(overlay))


def objects(overlay: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def test_overlays_exist() -> None:
    assert set(validate.OVERLAYS) == {"dev", "prod", "gpu"}


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_overlay_renders_and_every_object_validates(overlay: str) -> None:
    objs = rendered(overlay)
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret", "PodDisruptionBudget", "StatefulSet",
            "Kafka", "KafkaNodePool", "KafkaTopic", "Milvus", "ScaledObject", "ServiceMonitor",
            "PrometheusRule", "Namespace"} <= kinds
    problems = [p for o in objs for p in validate.validate_object(o)]
    assert problems == []


@pytest.mark.parametrize(("kind", "mutate"), [
    ("Deployment", lambda o: o["spec"]["template"]["spec"]["containers"][0].update(livenessProbes={})),
    ("Service", lambda o: o["spec"].update(port=80)),
    ("ScaledObject", lambda o: o["spec"].update(lagThreshold="5")),
    ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(scrapeInterval="15s")),
    ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(severity="page")),
    ("KafkaTopic", lambda o: o["spec"].update(partitons=3)),
    ("Kafka", lambda o: o["spec"]["kafka"].update(listener=[])),
    ("Milvus", lambda o: o["spec"].update(mode="distributed")),
])
def test_validation_rejects_unknown_fields_and_bad_values(kind: str, mutate) -> None:
    obj = copy.deepcopy(next(o for o in rendered("dev") if o["kind"] == kind))
    assert validate.validate_object(obj) == []
    mutate(obj)
    assert validate.validate_object(obj) != []


# What each service consumes, written out by hand (not read from shotline.topics): a topic
# added to a service without its twins must fail here. The integration suite checks the same
# against the groups the running services really join.
CONSUMED_BY_HAND = {
    "segmenter": ["videos.uploaded"],
    "encoder": ["shots.segmented"],
    "transcriber": ["shots.segmented"],
    "indexer": ["shots.embedded"],
    "trainer": ["labels.submitted", "models.deployed", "categories.labels"],
    "scorer": ["shots.indexed", "categories.backfill", "videos.transcribed"],
}


def test_every_consumed_topic_has_retry_and_dead_letter_twins_in_the_manifests() -> None:
    assert topics.SUBSCRIPTIONS == CONSUMED_BY_HAND
    names = {o["spec"]["topicName"] for o in objects("dev", "KafkaTopic").values()}
    for subs in CONSUMED_BY_HAND.values():
        for t in subs:
            assert {f"shotline.{t}", f"shotline.{t}.retry", f"shotline.{t}.dlq"} <= names, t


def test_topic_manifest_is_generated_and_current() -> None:
    from deploy import topics as topic_manifest

    assert topic_manifest.OUT.read_text() == topic_manifest.render(), "run `python -m deploy.topics`"


def test_kafka_topics_match_the_code() -> None:
    s = Settings()
    want = set(topics.all_topics(s.topic_prefix))
    for overlay in validate.OVERLAYS:
        found = {o["spec"]["topicName"] for o in objects(overlay, "KafkaTopic").values()}
        assert found == want, overlay
        for t in objects(overlay, "KafkaTopic").values():
            assert t["spec"]["partitions"] >= 1 and int(t["spec"]["config"]["retention.ms"]) > 0
    assert {t["spec"]["replicas"] for t in objects("prod", "KafkaTopic").values()} == {3}


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_app_deployments_are_hardened_and_probed(overlay: str) -> None:
    deployments = objects(overlay, "Deployment")
    for service in SERVICES:
        pod = deployments[f"shotline-{service}"]["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert c["image"] == "shotline:0.1.0"
        assert c["command"] == ["python", "-m", f"services.{service}"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        assert mounts["/tmp"] in empty and mounts["/var/run/shotline"] in empty
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        # HTTP even for the gRPC services: their gRPC port speaks (m)TLS, which kubelet's grpc probe can't.
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        if service in GRPC:
            env_from = {e.get("configMapRef", {}).get("name") for e in c["envFrom"]}
            tls_volume = {v["name"]: v for v in pod["volumes"]}[mounts["/etc/shotline/tls"]]
            assert "shotline-tls-config" in env_from and tls_volume["secret"]["secretName"].startswith("shotline-tls")
        # Longer than the drain: worker batch <= ~60 s, gRPC grace 10 s.
        drain = 60 if service != "query" else 10
        assert pod["terminationGracePeriodSeconds"] > drain


def test_encoder_requests_a_gpu_only_in_the_gpu_overlay() -> None:
    def limits(overlay: str) -> dict:
        dep = objects(overlay, "Deployment")["shotline-encoder"]
        return dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]

    assert "nvidia.com/gpu" not in limits("dev") and "nvidia.com/gpu" not in limits("prod")
    assert limits("gpu")["nvidia.com/gpu"] == 1


def test_keda_scales_the_workers_on_their_own_consumer_group() -> None:
    s = Settings()
    for overlay in validate.OVERLAYS:
        partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in objects(overlay, "KafkaTopic").values()}
        scaled = objects(overlay, "ScaledObject")
        assert set(scaled) == {f"shotline-{w}" for w in WORKERS}
        for worker, lagging in WORKERS.items():
            so = scaled[f"shotline-{worker}"]
            triggers = so["spec"]["triggers"]
            assert so["spec"]["scaleTargetRef"]["name"] == f"shotline-{worker}"
            assert {t["type"] for t in triggers} == {"kafka"}
            assert {t["metadata"]["consumerGroup"] for t in triggers} == {s.group(worker)}
            assert [t["metadata"]["topic"] for t in triggers] == [s.topic(t) for t in lagging]
            # more consumers than partitions would idle; retried records need the same spread
            for t in lagging:
                assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions[s.topic(t)]
                assert partitions[s.topic(t) + ".retry"] == partitions[s.topic(t)]


def test_milvus_standalone_in_dev_cluster_in_prod() -> None:
    assert objects("dev", "Milvus")["shotline"]["spec"]["mode"] == "standalone"
    assert objects("prod", "Milvus")["shotline"]["spec"]["mode"] == "cluster"


def test_services_reach_the_infrastructure_the_overlay_creates() -> None:
    config = objects("dev", "ConfigMap")["shotline-config"]["data"]
    services = objects("dev", "Service")
    assert config["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == f"{objects('dev', 'Kafka').popitem()[0]}-kafka-bootstrap"
    assert f"{objects('dev', 'Milvus').popitem()[0]}-milvus" in config["MILVUS_URI"]
    assert "shotline-redis" in services
    assert config["SHOTLINE_ENCODER_ADDRESS"] == "shotline-encoder:50052"


def test_dashboard_is_provisioned_for_grafana() -> None:
    cm = objects("prod", "ConfigMap")["shotline-grafana-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = cm["data"].values()
    assert json.loads(content) == json.loads(checks.DASHBOARD_FILE.read_text())


def test_every_app_service_is_scraped() -> None:
    (monitor,) = objects("prod", "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in objects("prod", "Service").values()
               if selector.items() <= s["metadata"].get("labels", {}).items()]
    assert {s["metadata"]["name"] for s in scraped} == {f"shotline-{n}" for n in SERVICES}
    assert all(any(p["name"] == "metrics" for p in s["spec"]["ports"]) for s in scraped)
