"""Apache Kafka (KRaft, single node) for the local stack.

No broker ships on PyPI or Debian, so the jars come from Maven Central through
`mvn dependency:copy-dependencies` on a small pom, cached under the user cache directory,
and the broker runs as `java … kafka.Kafka server.properties` on the machine's Java 17.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from shotline import logs

log = logs.get("shotline.stack.kafka")

DEFAULT_VERSION = "3.9.1"


def jars_dir(cache_dir: Path, version: str = DEFAULT_VERSION) -> Path:
    return cache_dir / "kafka" / version / "libs"


def ensure_jars(cache_dir: Path, version: str = DEFAULT_VERSION) -> Path:
    """Download the broker's jars once (idempotent; a marker file records completion)."""
    libs = jars_dir(cache_dir, version)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    libs.mkdir(parents=True, exist_ok=True)
    pom = libs.parent / "pom.xml"
    pom.write_text(resources.files("shotline.stack").joinpath("kafka-pom.xml").read_text())
    log.info("fetching Kafka jars from Maven Central", version=version, dest=str(libs))
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), f"-Dkafka.version={version}",
         "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
        check=True,
    )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    marker.touch()
    return libs


def server_properties(data_dir: Path, port: int, controller_port: int, partitions: int) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={partitions}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "message.max.bytes=16777216",
        "log.retention.hours=168",
        "",
    ])


LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def prepare(run_dir: Path, cache_dir: Path, port: int, controller_port: int, partitions: int,
            version: str = DEFAULT_VERSION) -> list[str]:
    """Write config, format storage once, and return the broker's command line."""
    libs = ensure_jars(cache_dir, version)
    home = run_dir / "kafka"
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(server_properties(data, port, controller_port, partitions))
    (home / "log4j.properties").write_text(LOG4J)
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("Java 17 is needed to run Kafka: apt-get install openjdk-17-jre-headless")
    base = [java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{home / 'log4j.properties'}",
            f"-Dkafka.logs.dir={home / 'logs'}", "-cp", f"{libs}/*"]
    if not (data / "meta.properties").exists():
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the storage tool would read a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        log.info("formatting Kafka storage", cluster_id=cluster_id)
        subprocess.run(base + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                       check=True, stdout=subprocess.DEVNULL)
    return base + ["kafka.Kafka", str(props)]


def keys_on_every_partition(tag: str, partitions: int, per_partition: int) -> list[str]:
    """Keys ``<tag>-<n>`` that the default partitioner (murmur2 of the key, as kafka-python and the
    Java client use) puts ``per_partition`` times on each of ``partitions``: a load that gives every
    consumer of a group work, whatever partitions it is assigned (scale tests and benches)."""
    from kafka.partitioner.default import murmur2

    counts, out, i = [0] * partitions, [], 0
    while min(counts) < per_partition:
        key = f"{tag}-{i}"
        p = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
        if counts[p] < per_partition:
            counts[p] += 1
            out.append(key)
        i += 1
    return out
